"""The `looper` command. The only module that prints."""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from looper.config import Config, ConfigError, load_config

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
COMMANDS = ("run", "render", "check", "devices", "monitor")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="looper",
        description="A live looper for the stage, played with the feet.",
        epilog="`looper --config FILE` is the same as `looper run --config FILE`.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="play live with the audio interface and the footswitch")
    run.add_argument("--config", required=True, type=Path, help="the pedalboard YAML")

    render = sub.add_parser("render", help="play a recorded performance through the engine")
    render.add_argument("--config", required=True, type=Path)
    render.add_argument("--input", required=True, type=Path, help="what the performer played")
    render.add_argument("--midi", required=True, type=Path, help="the pedal stomps, a MIDI file")
    render.add_argument("--output", required=True, type=Path, help="32-bit float WAV to write")
    render.add_argument("--tail-bars", type=int, default=0, metavar="N", help="N bars more")
    render.add_argument("--no-click", action="store_true", help="leave the click out")
    render.add_argument("--stems", type=Path, metavar="DIR", help="also write each track's loop")

    check = sub.add_parser("check", help="validate the config and show the pedal map")
    check.add_argument("--config", required=True, type=Path)

    sub.add_parser("devices", help="list the audio devices and MIDI input ports")

    monitor = sub.add_parser("monitor", help="show what each pedal message does, without audio")
    monitor.add_argument("--config", required=True, type=Path)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in and args_in[0] not in COMMANDS and args_in[0] not in ("-h", "--help"):
        args_in.insert(0, "run")
    parser = _parser()
    args = parser.parse_args(args_in)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    console = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    if args.command == "devices":  # the one command that needs no config
        return _devices(console, err)
    try:
        config = load_config(args.config)
    except ConfigError as error:
        err.print(f"[bold red]{args.config}: the config has mistakes; nothing was started:[/]")
        for problem in error.problems:
            err.print(str(problem), markup=False)
        return EXIT_USAGE
    handlers = {"render": _render, "check": _check, "run": _run, "monitor": _monitor}
    return handlers[args.command](args, config, console, err)


def _render(args: argparse.Namespace, config: Config, out: Console, err: Console) -> int:
    from looper.render import RenderError, render

    if args.tail_bars < 0:
        err.print("--tail-bars: found a negative number; allowed: 0 or more bars")
        return EXIT_USAGE
    try:
        result = render(
            config,
            args.input,
            args.midi,
            args.output,
            tail_bars=args.tail_bars,
            click=not args.no_click,
            stems_dir=args.stems,
        )
    except RenderError as error:
        err.print(str(error), markup=False)
        return EXIT_USAGE
    seconds = result.frames / result.sample_rate
    out.print(f"wrote {args.output}: {seconds:.2f} s, {len(result.events)} pedal command(s)")
    for frame, text in result.messages:
        out.print(f"  at {frame / result.sample_rate:8.3f} s: {text}", markup=False)
    for stem in result.stems:
        out.print(f"wrote {stem}")
    return EXIT_OK


def _check(args: argparse.Namespace, config: Config, out: Console, err: Console) -> int:
    table = Table(title=f"{args.config}: pedal map")
    for column in ("switch", "gesture", "action", "arguments"):
        table.add_column(column)
    for pedal, binding in zip(config.pedals, config.bindings(), strict=True):
        shown = {k: getattr(pedal, k) for k in ("track", "bars", "value")}
        if binding.continuous:
            shown["value"] = "from the cc (0-127 -> 0.0-1.0)"
        if pedal.action == "backloop":
            shown["bars"] = binding.command.bars
        if pedal.action == "reset" and pedal.track is None:
            shown["track"] = "all"
        args_text = ", ".join(f"{k}: {v}" for k, v in shown.items() if v is not None)
        table.add_row(binding.switch, binding.gesture, binding.action, args_text)
    out.print(table)
    a, c = config.audio, config.clicktrack
    out.print(
        f"{c.bpm:g} bpm, {c.beats_per_bar} beats a bar, {config.tracks.count} tracks, "
        f"{a.sample_rate} Hz, block {a.block_size}, inputs {list(a.inputs)}, "
        f"outputs {list(a.outputs)}, click on {list(c.outputs)}"
    )
    out.print("config OK")
    return EXIT_OK


def _run(args: argparse.Namespace, config: Config, out: Console, err: Console) -> int:
    from looper.live import run

    return run(config, args.config, out, err)


def _devices(out: Console, err: Console) -> int:
    """What audio.input_device, audio.output_device and midi.input can name."""
    from looper.midi import is_through, list_inputs

    try:
        import sounddevice as sd
    except OSError as error:  # no PortAudio library
        err.print(f"audio: PortAudio is not available ({error})", markup=False)
    else:
        table = Table(title="audio devices (audio.input_device / output_device: index or name)")
        for column in ("index", "name", "host API", "in", "out", "default"):
            table.add_column(column)
        defaults: dict[str, int] = {}
        for kind in ("input", "output"):
            with contextlib.suppress(sd.PortAudioError):  # no default device of that kind
                defaults[kind] = sd.query_devices(kind=kind)["index"]
        apis = sd.query_hostapis()
        for device in sd.query_devices():
            index = device["index"]
            default = ", ".join(kind for kind, i in defaults.items() if i == index)
            table.add_row(
                str(index),
                escape(device["name"]),  # "USB Audio [hw:1,0]" is not markup
                apis[device["hostapi"]]["name"],
                str(device["max_input_channels"]),
                str(device["max_output_channels"]),
                default,
            )
        if table.row_count:
            out.print(table)
        else:
            out.print("audio devices: none found (is the sound card plugged in, or JACK running?)")
    out.print("MIDI input ports (midi.input: part of a name; midi.backend: alsa or jack):")
    for backend, ports in list_inputs("auto").items():
        if isinstance(ports, str):
            out.print(f"  {backend}: {ports}", markup=False)
            continue
        out.print(f"  {backend}:" + ("" if ports else " no ports"), markup=False)
        for name in ports:
            note = " (through port: skipped when midi.input is null)" if is_through(name) else ""
            out.print(f"    {name}{note}", markup=False)
    return EXIT_OK


def _monitor(args: argparse.Namespace, config: Config, out: Console, err: Console) -> int:
    """Each pedal message and what it fires, as the live looper would, until Ctrl-C."""
    from looper.midi import PortState, watch

    try:
        events = watch(config, threading.Event())
    except ValueError as error:  # bindings no message could honour
        err.print(f"{args.config}: the pedal bindings cannot work: {error}", markup=False)
        return EXIT_USAGE
    try:
        out.print(f"looper monitor: {args.config}; press the pedals, Ctrl-C stops.", markup=False)
        with contextlib.closing(events):  # closes the port however the loop ends
            for event in events:
                if isinstance(event, PortState):
                    out.print(event.text, markup=False)
                else:
                    fired = "; ".join(event.fired) or "no command"
                    out.print(f"{event.message or '(time passed)'}: {fired}", markup=False)
    except KeyboardInterrupt:
        pass
    return EXIT_OK
