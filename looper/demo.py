"""The live demo: the looper on a private dummy JACK server, played by a scripted performer.

A JACK client stands in for the performer: it plays the demo phrase
(configs/demo/input.wav) into the looper from a click downbeat, stomps the
pedal sequence of configs/demo/pedals.mid on a JACK MIDI port, and records
what the looper plays. The looper runs as `looper --config configs/demo/demo.yaml`
with its status on this terminal. Writes out/demo.wav and out/demo.png.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

from looper.config import Config, load_config
from looper.grid import Grid
from looper.jackrig import Harness, JackServer, downbeats
from looper.render import read_midi

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "configs" / "demo"
SECONDS = 29.0  # of the phrase and its stomps: the demo ends by itself in about 30 s


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m looper.demo", description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "out", help="where demo.wav/png go")
    parser.add_argument("--seconds", type=float, default=SECONDS, help="how much to play")
    args = parser.parse_args(argv)
    config = load_config(DEMO / "demo.yaml")
    phrase, rate = sf.read(str(DEMO / "input.wav"), dtype="float32")
    phrase = phrase[: round(args.seconds * rate)]
    stomps = [(t, m) for t, m in read_midi(DEMO / "pedals.mid") if t < args.seconds - 0.5]
    args.out.mkdir(parents=True, exist_ok=True)

    with JackServer(sample_rate=rate, period=config.audio.block_size) as server:
        with Harness(server, name="performer", seconds=args.seconds + 20) as performer:
            print(f"demo: JACK server '{server.name}' (dummy driver) is up; starting the looper")
            looper = subprocess.Popen(
                [sys.executable, "-m", "looper", "--config", str(DEMO / "demo.yaml")],
                env={**os.environ, **server.env},
                stdin=subprocess.DEVNULL,
            )
            try:
                performer.connect_outputs("^looper:in_")
                performer.connect_inputs("^looper:out_")
                performer.connect_pedal("^looper:")
                start = _first_downbeat(performer, config)
                performer.play(phrase, at=start, channels=(0,))
                for t, message in stomps:
                    performer.send_midi(message.bytes(), start + round(t * rate))
                performer.run_until(start + len(phrase))
            finally:
                looper.send_signal(signal.SIGINT)
                code = looper.wait(10)
            recording = performer.recording[start : start + len(phrase)]
    wav = args.out / "demo.wav"
    sf.write(str(wav), recording, rate, subtype="FLOAT")
    png = _plot(recording, rate, config, stomps, args.out / "demo.png")
    print(f"demo: the looper exited with status {code}; wrote {wav} and {png}")
    return code


def _first_downbeat(performer: Harness, config: Config) -> int:
    """Wait for the looper's click and return a downbeat a little ahead, to start on."""
    bar = Grid.from_bpm(performer.samplerate, config.clicktrack.bpm, 4).bar
    performer.run_until(performer.frame + 2 * bar)
    beats = downbeats(performer.recording[:, 1], performer.frame - 2 * bar)
    if not len(beats):
        raise SystemExit("demo: no click came from the looper; is it running?")
    first = int(beats[-1])
    while first < performer.frame + performer.samplerate // 2:
        first += bar
    return first


def _plot(recording: np.ndarray, rate: int, config: Config, stomps: list, path: Path) -> Path:
    """The waveform with the bar grid, each stomp, and each track's loop region marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = Grid.from_bpm(rate, config.clicktrack.bpm, config.clicktrack.beats_per_bar)
    t = np.arange(len(recording)) / rate
    fig, ax = plt.subplots(figsize=(14, 4))
    ax.plot(t, recording[:, 0], lw=0.3, color="#1f4e79", label="output 1")
    for k in range(int(len(recording) / grid.bar) + 1):
        ax.axvline(k * grid.bar / rate, color="#bbbbbb", lw=0.6, zorder=0)
    bindings = {(b.kind, b.number, b.gesture): b for b in config.bindings()}
    colours = ["#e07b39", "#3a9d5d", "#8e5ea2", "#c94c4c"]
    for at, message in stomps:
        if message.type != "note_on":
            continue
        ax.axvline(at, color="red", lw=0.8, ls="--")
        binding = bindings.get(("note", message.note, "press"))
        if binding is None or binding.action != "backloop":
            continue
        end = grid.snap(round(at * rate), config.tracks.late_press)
        begin = end - binding.command.bars * grid.bar
        colour = colours[binding.command.track % len(colours)]
        ax.axvspan(begin / rate, end / rate, color=colour, alpha=0.15)
        ax.text(begin / rate, 0.95, f" track {binding.command.track + 1} loop", color=colour)
    ax.set_xlabel("seconds (grey lines: bars of the click; red dashes: stomps)")
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlim(0, len(recording) / rate)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


if __name__ == "__main__":
    sys.exit(main())
