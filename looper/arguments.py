"""The `looper` command's arguments: every command and option, with its help text.

Apart from looper/cli.py (which runs the commands and is the one module that
prints) so that the parser can be read, and tested, on its own.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def parser() -> argparse.ArgumentParser:
    """The parser of every command."""
    parser = argparse.ArgumentParser(
        prog="looper",
        description="A live looper for the stage, played with the feet.",
        epilog="`looper --config FILE` is the same as `looper run --config FILE`.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="play live with the audio interface and the footswitch")
    run.add_argument("--config", required=True, type=Path, help="the pedalboard YAML")
    run.add_argument(
        "--latency-ms",
        type=float,
        metavar="MS",
        help="round-trip latency to compensate, overriding audio.latency_ms",
    )
    run.add_argument(
        "--session",
        type=Path,
        metavar="DIR",
        help="play the session saved in DIR (its loops come back stopped), and save there; "
        "a new or empty DIR starts a new session; `last`: the loops of the last run",
    )
    run.add_argument(
        "--server-timeout",
        type=float,
        metavar="SECONDS",
        help="when the audio server is gone this long, save and exit 1 (default: wait)",
    )

    render = sub.add_parser("render", help="play a recorded performance through the engine")
    render.add_argument("--config", required=True, type=Path)
    render.add_argument("--input", required=True, type=Path, help="what the performer played")
    render.add_argument("--midi", required=True, type=Path, help="the pedal stomps, a MIDI file")
    render.add_argument(
        "--output", required=True, type=Path, help="the file to write: .wav, .flac or .ogg"
    )
    render.add_argument("--tail-bars", type=int, default=0, metavar="N", help="N bars more")
    render.add_argument("--no-click", action="store_true", help="leave the click out")
    render.add_argument("--stems", type=Path, metavar="DIR", help="also write each track's loop")

    demo = sub.add_parser("demo", help="the live demo on a private dummy JACK server")
    demo.add_argument("--out", type=Path, default=Path("out"), help="where demo.wav/png go")
    demo.add_argument("--seconds", type=float, default=26.0, help="how much of it to play")

    check = sub.add_parser("check", help="validate the config and show the pedal map")
    check.add_argument("--config", required=True, type=Path)

    sub.add_parser("devices", help="list the audio devices and MIDI input ports")

    monitor = sub.add_parser("monitor", help="show what each pedal message does, without audio")
    monitor.add_argument("--config", required=True, type=Path)

    learn = sub.add_parser("learn", help="bind the pedals by stomping them, into the config")
    learn.add_argument("--config", required=True, type=Path)
    learn.add_argument(
        "--actions",
        metavar="A,B",
        help="the actions to ask for (default: backloop,record,overdub,undo,reset,tap_tempo)",
    )
    learn.add_argument("--tracks", metavar="1,2", help="the tracks to ask for (default: all)")
    learn.add_argument("--print", action="store_true", help="print the bindings, do not write")

    calibrate = sub.add_parser(
        "calibrate", help="measure the round-trip latency, output cabled to input"
    )
    calibrate.add_argument("--config", required=True, type=Path)
    calibrate.add_argument("--write", action="store_true", help="put it in audio.latency_ms")
    calibrate.add_argument(
        "--plot",
        type=Path,
        default=Path("out/calibration.png"),
        metavar="PNG",
        help="where the plot of the recording goes (default: out/calibration.png)",
    )
    return parser
