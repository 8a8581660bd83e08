"""The `looper` command. The only module that prints."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from looper import arguments
from looper.config import Config, ConfigError, load_config
from looper.core.commands import Backloop
from looper.errors import LooperError

if TYPE_CHECKING:
    from looper.live.supervisor import Session

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
DRAW_SECONDS = 1 / 15
SHOWN_PROBLEMS = 100
COMMANDS = ("run", "render", "check", "devices", "monitor", "demo", "calibrate", "learn")


def _fail(err: Console, code: int, *lines: str | Text) -> int:
    """Say why on stderr, a line each; the exit code."""
    for text in lines:
        err.print(text)
    return code


def _first(problems: Sequence[object]) -> list[str]:
    """The first SHOWN_PROBLEMS problems, and how many more: a wrong file can have thousands."""
    shown = [str(p) for p in problems[:SHOWN_PROBLEMS]]
    more = len(problems) - len(shown)
    return [*shown, f"... and {more} more (is this the right file?)"] if more else shown


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; a Ctrl-C outside `run` (which handles its own) ends it quietly, 130."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _main(argv: Sequence[str] | None) -> int:
    signal.signal(signal.SIGINT, signal.default_int_handler)  # KeyboardInterrupt, caught above
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in and args_in[0] not in COMMANDS and args_in[0] not in ("-h", "--help"):
        args_in.insert(0, "run")
    parser = arguments.parser()
    args = parser.parse_args(args_in)
    if args.command != "run":  # `run` sets its own at once; elsewhere they end the program
        for s in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(s) is not signal.SIG_IGN:
                signal.signal(s, signal.SIG_DFL)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    # No markup: what is printed is text (paths, device names like "USB Audio [hw:1,0]").
    console = Console(markup=False, highlight=False, soft_wrap=True)
    err = Console(stderr=True, markup=False, highlight=False, soft_wrap=True)
    if args.command == "devices":  # the commands that need no config
        return _devices(console, err)
    if args.command == "demo":
        return _demo(args, console, err)
    try:
        config = load_config(args.config)
    except ConfigError as error:
        heading = Text(f"{args.config}: the config has mistakes; nothing was started:", "bold red")
        return _fail(err, EXIT_USAGE, heading, *_first(error.problems))
    handlers = {
        "render": _render,
        "check": _check,
        "run": _run,
        "monitor": _monitor,
        "calibrate": _calibrate,
        "learn": _learn,
    }
    try:
        return handlers[args.command](args, config, console, err)
    except LooperError as error:  # meant for the performer: its text, never a traceback
        return _fail(err, EXIT_FAIL, str(error))


def _render(args: argparse.Namespace, config: Config, out: Console, err: Console) -> int:
    from looper.tools.render import RenderError, render

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
        return _fail(err, EXIT_USAGE, str(error))
    seconds = result.frames / result.sample_rate
    out.print(f"wrote {args.output}: {seconds:.2f} s, {len(result.events)} pedal command(s)")
    for frame, text in result.messages:
        out.print(f"  at {frame / result.sample_rate:8.3f} s: {text}")
    for stem in result.stems:
        out.print(f"wrote {stem}")
    return EXIT_OK


def _check(args: argparse.Namespace, config: Config, out: Console, err: Console) -> int:
    table = Table("switch", "gesture", "action", "arguments", title=f"{args.config}: pedal map")
    for pedal, binding in zip(config.pedals, config.bindings(), strict=True):
        shown = {k: getattr(pedal, k) for k in ("track", "bars", "value")}
        if binding.continuous:
            shown["value"] = "from the cc (0-127 -> 0.0-1.0)"
        if isinstance(binding.command, Backloop):
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
    """Play live until Ctrl-C, SIGTERM or SIGHUP: a live screen on a terminal, else a line per
    change. The loops are saved at every exit (to --session DIR, else the last session)."""
    from looper.live.audio import Failure
    from looper.live.children import stop_on_signals
    from looper.live.screen import summary
    from looper.live.supervisor import Session
    from looper.sessions.manifest import SessionError
    from looper.sessions.plan import last_session, plan_run

    with stop_on_signals() as stopping:  # from the first moment: no traceback, ever
        if args.latency_ms is not None:
            if not 0 <= args.latency_ms <= 1000:
                why = f"--latency-ms: found {args.latency_ms:g}; allowed: 0 to 1000 ms"
                return _fail(err, EXIT_USAGE, why)
            audio = config.audio.model_copy(update={"latency_ms": args.latency_ms})
            config = config.model_copy(update={"audio": audio})
        if args.server_timeout is not None and not args.server_timeout > 0:
            why = f"--server-timeout: found {args.server_timeout:g}; allowed: more than 0 s"
            return _fail(err, EXIT_USAGE, why)
        chosen = last_session() if args.session == Path("last") else args.session
        try:  # before any audio: a damaged session stops here, untouched
            config, plan, note = plan_run(config, args.config, chosen)
        except SessionError as error:
            why = (
                "this session cannot be played; nothing was started and nothing in it was changed:"
            )
            return _fail(err, EXIT_USAGE, f"{chosen}: {why}", *error.problems)
        if note is not None:
            out.print(note)
        keep = plan.directory if plan.directory is not None else last_session()
        with Session(config, plan, keep, args.server_timeout) as session:
            if stopping.signal is not None:
                return EXIT_INTERRUPTED if stopping.signal == signal.SIGINT else EXIT_OK
            started = session.start(stopping.event)
            if started is None:  # a signal during start-up
                return EXIT_INTERRUPTED if stopping.signal == signal.SIGINT else EXIT_OK
            if isinstance(started, Failure):
                return _fail(err, EXIT_FAIL, started.text)
            out.print(
                f"looper: {args.config} on '{started.device}', block {started.block}, "
                f"latency {started.latency_ms:.1f} ms. Ctrl-C stops."
            )
            sessions = plan.describe(any(pedal.action == "save" for pedal in config.pedals))
            if sessions is not None:
                out.print(sessions)
            fatal = _perform(session, stopping.event, out)
            saved = session.save_at_exit()
            if session.latest is not None:
                out.print(summary(session.latest))
            out.print(saved or f"no loop to save; {keep} is as it was")
            if fatal is not None:
                return _fail(err, EXIT_FAIL, fatal)
            return EXIT_OK


def _perform(session: Session, stopping: threading.Event, out: Console) -> str | None:
    """Draw each tick until `stopping`: the live screen on a terminal, else a line per change.
    Why the session must end, if it must."""
    from rich.live import Live

    from looper.live.screen import changes, line, screen

    live = Live(console=out, auto_refresh=False) if out.is_terminal else None
    shown = None
    with live if live is not None else contextlib.nullcontext():
        while not stopping.wait(DRAW_SECONDS):
            tick = session.tick()
            if live is None:
                for text in tick.lines:
                    out.print(text)
            if tick.fatal:
                return tick.fatal
            if tick.status is None:
                continue
            if live is not None:
                live.update(screen(tick.status), refresh=True)
            elif changes(shown, tick.status):
                out.print(line(tick.status))
                shown = tick.status
    return None


def _demo(args: argparse.Namespace, out: Console, err: Console) -> int:
    try:
        from looper.rig.demo import DemoError, perform
        from looper.rig.jackserver import JackServerError
        from looper.rig.ports import HarnessError
    except (ImportError, OSError) as error:
        need = "the demo needs JACK (Debian's jackd2) and the dev extras: run scripts/demo"
        return _fail(err, EXIT_FAIL, f"demo: {error}; {need}, which installs both")

    out.print("demo: starting a private JACK server (dummy driver) and the looper on it")
    try:
        result = perform(args.out, args.seconds)
    except (DemoError, HarnessError, JackServerError) as error:
        return _fail(err, EXIT_FAIL, f"demo: {error}")
    out.print(
        f"demo: the looper on '{result.server}' exited with status {result.code}; "
        f"wrote {result.wav} and {result.png}"
    )
    return result.code


def _devices(out: Console, err: Console) -> int:
    """What audio.input_device, audio.output_device and midi.input can name."""
    from looper.live.device import DeviceError, devices, sounddevice
    from looper.midi.backend import list_inputs
    from looper.midi.ports import is_through

    try:
        found = devices(sounddevice())
    except DeviceError as error:  # no PortAudio library
        err.print(str(error))
    else:
        table = Table(
            *("index", "name", "host API", "in", "out", "default"),
            title="audio devices (audio.input_device / output_device: index or name)",
        )
        for d in found:
            row = (d.index, d.name, d.host_api, d.inputs, d.outputs, d.default)
            table.add_row(*map(str, row))
        if found:
            out.print(table)
        else:
            out.print("audio devices: none found (is the sound card plugged in, or JACK running?)")
    out.print("MIDI input ports (midi.input: part of a name; midi.backend: alsa or jack):")
    for backend, ports in list_inputs("auto").items():
        if isinstance(ports, str):
            out.print(f"  {backend}: {ports}")
            continue
        out.print(f"  {backend}:" + ("" if ports else " no ports"))
        for name in ports:
            note = " (through port: skipped when midi.input is null)" if is_through(name) else ""
            out.print(f"    {name}{note}")
    return EXIT_OK


def _monitor(args: argparse.Namespace, config: Config, out: Console, err: Console) -> int:
    """Each pedal message and what it fires, as the live looper would, until Ctrl-C."""
    from looper.midi.process import Heard, watch

    try:
        events = watch(config, threading.Event())
    except ValueError as error:  # bindings no message could honour
        return _fail(err, EXIT_USAGE, f"{args.config}: the pedal bindings cannot work: {error}")
    try:
        out.print(f"looper monitor: {args.config}; press the pedals, Ctrl-C stops.")
        with contextlib.closing(events):  # closes the port however the loop ends
            for event in events:
                if isinstance(event, Heard):
                    fired = "; ".join(event.fired) or "no command"
                    out.print(f"{event.message or '(time passed)'}: {fired}")
                else:  # the port's state (no lights: watch is given none)
                    out.print(event.text)
    except KeyboardInterrupt:
        pass
    return EXIT_OK


def _calibrate(args: argparse.Namespace, config: Config, out: Console, err: Console) -> int:
    """Measure the round trip with a cable, so loops line up with the click on this rig."""
    from looper.tools.calibrate import CalibrationError, advice, calibrate, save_plot, write_latency

    a = config.audio
    out.print(
        f"calibrate: loud clicks on output {a.outputs[0]}, recording input {a.inputs[0]} "
        "(cable one to the other; keep speakers and ears away)"
    )
    try:
        result = calibrate(config)
        save_plot(result, args.plot)
    except CalibrationError as error:
        return _fail(err, EXIT_FAIL, str(error))
    except OSError as error:  # the plot could not be written
        return _fail(err, EXIT_FAIL, f"{args.plot}: cannot write the plot: {error}")
    onsets = result.onsets
    xruns = f" ({result.xruns} xrun(s) during the measurement)" if result.xruns else ""
    out.print(f"plot: {args.plot}{xruns}")
    if onsets.problem is not None:
        return _fail(err, EXIT_FAIL, f"{onsets.problem}\n{advice(config)}")
    lat = onsets.latencies
    out.print(
        f"round-trip latency: {onsets.frames} frames = {onsets.ms:.3f} ms at {a.sample_rate} Hz "
        f"on '{result.device}' (median of {len(lat)} of {len(onsets.emitted)} clicks; "
        f"min {lat.min()}, max {lat.max()} frames)"
    )
    if not args.write:
        out.print("--write puts it into the config as audio.latency_ms")
        return EXIT_OK
    try:
        value = write_latency(args.config, onsets.ms)
    except CalibrationError as error:
        return _fail(err, EXIT_FAIL, str(error))
    out.print(f"wrote audio.latency_ms: {value} to {args.config}")
    return EXIT_OK


def _learn(args: argparse.Namespace, config: Config, out: Console, err: Console) -> int:
    """Ask for each action's switch, then add what was stomped to the config (or print it)."""
    from looper.tools import learn

    try:
        steps = learn.steps(config.tracks.count, args.actions, args.tracks)
    except learn.LearnError as error:
        return _fail(err, EXIT_USAGE, str(error))
    board = learn.Board.read(args.config, config)
    out.print(
        f"looper learn: {args.config}; stomp each switch when asked (Ctrl-C: quit, write nothing)"
    )
    try:
        with learn.Inputs(config.midi) as inputs:
            for text in learn.walk(steps, board, inputs, config.midi.debounce_ms):
                out.print(text)
    except KeyboardInterrupt:
        out.print(f"interrupted: nothing written to {args.config}")
        return EXIT_OK
    items = board.items()
    if not items:
        out.print(f"nothing learned: {args.config} unchanged")
    elif args.print:
        out.print(f"for the pedals list of {args.config} (not written):")
        out.print(learn.snippet(items), end="")
    else:
        try:
            learn.write(args.config, items)
        except learn.LearnError as error:
            return _fail(err, EXIT_FAIL, str(error))
        out.print(f"wrote {len(items)} binding(s) to {args.config}")
    return EXIT_OK
