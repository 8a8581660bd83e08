"""The live demo: the looper on a private dummy JACK server, played by a scripted performer.

A JACK client stands in for the performer: it plays the demo phrase
(configs/demo/input.wav) into the looper from a click downbeat, stomps the
pedal sequence of configs/demo/pedals.mid on a JACK MIDI port, and records
what the looper plays. The looper runs as `looper --config configs/demo/demo.yaml`
with its status on this terminal. Writes out/demo.wav and out/demo.png.
`looper demo` runs it; `looper demo --render` renders the same performance offline.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np
import soundfile as sf

from looper.config import Config, load_config
from looper.core.commands import Backloop
from looper.core.grid import Grid
from looper.errors import LooperError
from looper.rig.harness import Harness
from looper.rig.jackserver import JackServer
from looper.rig.timeline import next_downbeat
from looper.tools.render import read_midi

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "configs" / "demo"
Stomp = tuple[float, mido.Message]  # seconds from the phrase's start, the pedal's message
SECONDS = 26.0  # the whole demo performance: it ends by itself in about 30 s


@dataclass(frozen=True, slots=True)
class DemoResult:
    code: int  # the looper's exit status
    wav: Path
    png: Path
    server: str


def perform(out_dir: Path, seconds: float = SECONDS) -> DemoResult:
    """Run the whole live demo; the looper's status shows on this process's terminal."""
    config = load_config(DEMO / "demo.yaml")
    phrase, rate = sf.read(str(DEMO / "input.wav"), dtype="float32")
    phrase = phrase[: round(seconds * rate)]
    stomps = [(t, m) for t, m in read_midi(DEMO / "pedals.mid") if t < seconds - 0.5]
    out_dir.mkdir(parents=True, exist_ok=True)
    with (
        JackServer(sample_rate=rate, period=config.audio.block_size) as server,
        Harness(server, name="performer", seconds=seconds + 20) as performer,
    ):
        # This setup's round trip: PortAudio's output latency (one period) plus the one
        # period JACK adds to the performer -> looper -> performer feedback path.
        round_trip_ms = 2 * config.audio.block_size * 1000 / rate
        looper = subprocess.Popen(
            [
                *(sys.executable, "-m", "looper", "--config", str(DEMO / "demo.yaml")),
                *("--latency-ms", f"{round_trip_ms:.4f}"),
            ],
            env=server.env,
            stdin=subprocess.DEVNULL,
        )
        try:
            performer.connect_outputs("^looper:in_")
            performer.connect_inputs("^looper:out_")
            _wait_for_pedal(performer)
            start = next_downbeat(performer, _grid(rate, config).bar)
            performer.play(phrase, at=start, channels=(0,))
            for t, message in stomps:
                performer.send_midi(message.bytes(), start + round(t * rate))
            performer.run_until(start + len(phrase))
        finally:
            looper.send_signal(signal.SIGINT)
            code = looper.wait(10)
        recording = performer.recording[start : start + len(phrase)]
        name = server.name
    wav = out_dir / "demo.wav"
    sf.write(str(wav), recording, rate, subtype="FLOAT")
    png = _plot(recording, rate, config, stomps, out_dir / "demo.png")
    return DemoResult(code, wav, png, name)


def _wait_for_pedal(performer: Harness, timeout: float = 30.0) -> None:
    """The looper's MIDI process finds the performer's pedal port and connects to it."""
    assert performer.pedal is not None
    deadline = time.monotonic() + timeout
    while not performer.client.get_all_connections(performer.pedal):
        if time.monotonic() > deadline:
            raise DemoError("the looper did not connect to the demo's pedal port")
        time.sleep(0.05)


class DemoError(LooperError, RuntimeError):
    """The demo could not run; the message says what went wrong."""


def _grid(rate: int, config: Config) -> Grid:
    """The demo config's click grid: the performer plays to a tempo it knows beforehand."""
    bpm = config.clicktrack.bpm
    if bpm == "auto":
        raise DemoError("the demo config needs a clicktrack.bpm, not auto")
    return Grid.from_bpm(rate, bpm, config.clicktrack.beats_per_bar)


def _plot(
    recording: np.ndarray, rate: int, config: Config, stomps: list[Stomp], path: Path
) -> Path:
    """The waveform with the bar grid, each stomp, and each track's loop region marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = _grid(rate, config)
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
        command = None if binding is None else binding.command
        if not isinstance(command, Backloop):
            continue
        end = grid.snap(round(at * rate), config.tracks.late_press)
        begin = end - command.bars * grid.bar
        colour = colours[command.track % len(colours)]
        ax.axvspan(begin / rate, end / rate, color=colour, alpha=0.15)
        ax.text(begin / rate, 0.95, f" track {command.track + 1} loop", color=colour)
    ax.set_xlabel("seconds (grey lines: bars of the click; red dashes: stomps)")
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlim(0, len(recording) / rate)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
