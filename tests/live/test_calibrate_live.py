"""Calibrate, live: on a dummy JACK server (the pure part is tests/unit/test_calibrate.py)."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from live_looper import Looper
from test_calibrate import RATE

from looper.config import load_config
from looper.rig.harness import Harness
from looper.rig.jackserver import JackServer
from looper.rig.ports import open_client

pytestmark = pytest.mark.jack

# ---- on a dummy JACK server -------------------------------------------------------


class DelayLine:
    """A JACK client ``delay``: ``delay:out`` is ``delay:in`` exactly `frames` frames later."""

    def __init__(self, server: JackServer, frames: int) -> None:
        self.client = open_client(server, "delay")
        self.inport = self.client.inports.register("in")
        self.outport = self.client.outports.register("out")
        self.frames = frames
        self.ring = np.zeros(frames + 8192, dtype=np.float32)  # room for a block beyond the delay
        self.pos = 0
        self.client.set_process_callback(self._process)
        self.client.activate()

    def _process(self, n: int) -> None:
        x, y, ring = self.inport.get_array(), self.outport.get_array(), self.ring
        w, r = self.pos % len(ring), (self.pos - self.frames) % len(ring)
        k = min(n, len(ring) - w)  # write this block first: a delay below n reads part of it
        ring[w : w + k], ring[: n - k] = x[:k], x[k:]
        k = min(n, len(ring) - r)
        y[:k], y[k:] = ring[r : r + k], ring[: n - k]
        self.pos += n

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()


def calibrate(
    server: JackServer, harness: Harness, config: Path, delay: int | None, *extra: str
) -> subprocess.CompletedProcess[str]:
    """`looper calibrate` as a subprocess, its output fed back through a delay (None: not)."""
    plot = config.with_suffix(".png")
    args = ("calibrate", "--config", str(config), "--plot", str(plot), *extra)
    line = DelayLine(server, delay) if delay is not None else None
    try:
        with Looper(server, *args, ready=None) as proc:
            if line is not None:  # the clicks start half a second after the looper's ports appear
                while proc.running and len(harness.client.get_ports("^looper:")) < 2:
                    time.sleep(0.005)
                if proc.running:
                    harness.connect("looper:out_0", "delay:in")
                    harness.connect("delay:out", "looper:in_0")
                    for source in harness.client.get_all_connections("looper:in_0"):
                        if source.name != "delay:out":  # PortAudio's own system:capture_1
                            harness.client.disconnect(source, "looper:in_0")
            code = proc.wait(90)
    finally:
        if line is not None:
            line.close()
    return subprocess.CompletedProcess(proc.args, code, proc.stdout, proc.stderr)


@pytest.fixture
def jack_server(jack_server_module: JackServer) -> JackServer:
    """One server for the module: each calibration and delay line closes its JACK client."""
    return jack_server_module


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "calibrate.yaml"
    path.write_text(
        "# the rig\n"
        f"audio: {{sample_rate: {RATE}, block_size: 128, inputs: [1], outputs: [1], "
        "latency_ms: 0}  # measured\n"
        "clicktrack: {outputs: [1]}\n"
    )
    return path


def measured(result: subprocess.CompletedProcess[str]) -> int:
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    found = re.search(r"round-trip latency: (\d+) frames", result.stdout)
    assert found, result.stdout
    return int(found[1])


def test_calibrate_measures_a_loopback_of_known_delay(
    jack_server: JackServer, harness: Harness, config: Path
) -> None:
    base = measured(calibrate(jack_server, harness, config, 0))
    # PortAudio's JACK stream plays a block one period after its callback filled it, and
    # the cycle looper -> delay -> looper costs JACK another period.
    assert base == 2 * harness.blocksize
    for delay in (100, 4800):
        assert abs(measured(calibrate(jack_server, harness, config, delay)) - (base + delay)) <= 1
    result = calibrate(jack_server, harness, config, 1000, "--write")
    frames = measured(result)
    assert abs(frames - (base + 1000)) <= 1
    assert "wrote audio.latency_ms: " in result.stdout
    assert round(load_config(config).audio.latency_ms * RATE / 1000) == frames
    assert config.read_text().startswith("# the rig\n") and "}  # measured\n" in config.read_text()
    assert config.with_suffix(".png").stat().st_size > 10_000


def test_calibrate_without_a_loopback_says_so_and_exits_1(
    jack_server: JackServer, harness: Harness, config: Path
) -> None:
    result = calibrate(jack_server, harness, config, None, "--write")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "no onsets found" in result.stderr
    assert "cable output 1 to input 1" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "latency_ms: 0}" in config.read_text()  # nothing written
