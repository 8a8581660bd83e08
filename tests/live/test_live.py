"""`looper --config` live, on a real audio server with no hardware (`jackd -d dummy`).

The looper runs as a subprocess on a private JACK server; the harness (a JACK
client) plays a self-describing signal into its input, stomps a virtual pedal
(a JACK MIDI port) and records its outputs. Output 1 carries the loops, output
2 the click, so every loop can be checked against the click sample-exactly.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from live_looper import Looper, run
from signals import live_frame_of as decode
from signals import live_ramp

from looper.rig.harness import Harness
from looper.rig.jackserver import JackServer
from looper.rig.timeline import next_downbeat

pytestmark = pytest.mark.jack

RATE = 48000
BAR = RATE  # 240 bpm in 4/4: a bar is one second
BEAT = BAR // 4
DEMO = Path(__file__).resolve().parents[2] / "configs" / "demo"

CONFIG = f"""
audio: {{sample_rate: {RATE}, block_size: 128, inputs: [1], outputs: [1], monitor: 0,
        latency_ms: 0, history_seconds: 20}}
clicktrack: {{bpm: 240, beats_per_bar: 4, volume: 0.5, outputs: [2]}}
tracks: {{count: 2, crossfade_ms: 0, memory_seconds: 60}}
midi: {{backend: jack, input: "harness:pedal"}}
pedals:
  - {{note: 60, action: backloop, track: 1, bars: 2}}
  - {{note: 61, action: record, track: 2}}
  - {{note: 62, action: toggle, track: 2}}
  - {{note: 63, action: reset, track: 2}}
"""


@pytest.fixture
def jack_server(jack_server_module: JackServer) -> JackServer:
    """One server for the module: each looper exits cleanly; the test that kills a client
    (the MIDI process) starts a server of its own."""
    return jack_server_module


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "live.yaml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def looper(jack_server: JackServer, harness: Harness, config: Path) -> Iterator[Looper]:
    with Looper(jack_server, "--config", str(config), harness=harness) as live:
        yield live
        if live.running:
            live.stop()
    assert live.proc.returncode == 0, live.text()


def test_backloop_repeats_the_bars_before_the_snapped_downbeat_in_phase_with_the_click(
    looper: Looper, harness: Harness
) -> None:
    clip = harness.play(live_ramp(9 * BAR), at=harness.frame_after(0.2))
    two_bars_in = clip.start + 2 * BAR + BEAT  # two whole bars of input before the downbeat
    d = next_downbeat(harness, BAR, not_before=two_bars_in)
    stomp = d + BAR // 5  # early in the bar: the loop ends at d
    harness.stomp(60, stomp)
    harness.run_until(d + 5 * BAR)
    rec = harness.recording
    y = rec[:, 0]
    u = decode(y)
    played = np.flatnonzero(u >= 0)
    first = int(played[0])
    assert stomp < first <= stomp + 4 * 128 + RATE // 500  # within a few periods of the stomp
    loop = slice(first, d + 5 * BAR)
    # The loop repeats with a period of exactly two bars...
    np.testing.assert_array_equal(y[first + 2 * BAR : d + 5 * BAR], y[first : d + 3 * BAR])
    # ...it is two contiguous bars of the input, wrapping exactly on the click's downbeats...
    steps = np.diff(u[loop])
    wraps = np.flatnonzero(steps != 1) + first + 1
    assert set(np.diff(wraps)) == {2 * BAR}
    assert (steps[steps != 1] == 1 - 2 * BAR).all()
    assert all((w - d) % BAR == 0 for w in wraps), "the loop wraps on the click's downbeat"
    # ...and they are the two bars that ended at the snapped downbeat d (input path: a few periods).
    end = clip.start + int(u[wraps[0] - 1]) + 1  # harness frame after the loop's last frame
    assert 0 <= d - end <= 4 * 128


def test_record_toggle_and_reset(looper: Looper, harness: Harness) -> None:
    clip = harness.play(live_ramp(16 * BAR), at=harness.frame_after(0.2))
    d1 = next_downbeat(harness, BAR, not_before=clip.start + BEAT)
    harness.stomp(61, d1 + BAR // 5)  # record starts at d1
    harness.stomp(61, d1 + 3 * BAR - BAR // 10)  # last quarter: ends at d1 + 3 bars
    harness.stomp(62, d1 + 6 * BAR + BAR // 2)  # toggle: stops at d1 + 7 bars
    harness.stomp(62, d1 + 8 * BAR + BAR // 2)  # toggle: plays from the top at d1 + 9 bars
    reset = d1 + 11 * BAR + BAR // 3
    harness.stomp(63, reset)
    harness.run_until(d1 + 13 * BAR)
    y = harness.recording[:, 0]
    u = decode(y)
    assert not y[: d1 + 3 * BAR].any(), "silent while recording"
    start = d1 + 3 * BAR
    assert u[start - 1] == -1 and u[start] >= 0, "plays from the recording's end, on the downbeat"
    three = y[start : start + 3 * BAR]
    assert (np.diff(u[start : start + 3 * BAR]) == 1).all(), "three contiguous bars of input"
    np.testing.assert_array_equal(y[start + 3 * BAR : d1 + 7 * BAR], three[:BAR])  # it repeats
    assert not y[d1 + 7 * BAR : d1 + 9 * BAR].any(), "stopped at the downbeat"
    np.testing.assert_array_equal(y[d1 + 9 * BAR : d1 + 11 * BAR], three[: 2 * BAR])  # from the top
    silent = np.flatnonzero(u[d1 + 11 * BAR :] == -1)
    assert reset < d1 + 11 * BAR + silent[0] <= reset + 4 * 128 + RATE // 500
    assert not y[reset + 1024 :].any(), "reset is immediate"


def tree_of(pid: int) -> list[int]:
    """A process and all its descendants."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            pids += tree_of(int(child))
    return pids


def _left(pids: list[int], within: float) -> list[str]:
    """The processes still running after `within` seconds, by command line."""
    deadline = time.monotonic() + within
    while True:
        left = []
        for pid in pids:
            with contextlib.suppress(OSError):
                left.append(Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " "))
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def mapped(pids: list[int], needle: str) -> set[str]:
    """The mapped files of these processes whose path contains `needle`."""
    names: set[str] = set()
    for pid in pids:
        for entry in Path(f"/proc/{pid}/maps").read_text().splitlines():
            if needle in entry:
                names.add(entry.split(None, 5)[-1].strip())
    return names


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signals_stop_cleanly_leaving_no_child_and_nothing_in_dev_shm(
    jack_server: JackServer, harness: Harness, config: Path, how: int
) -> None:
    """The loops' memory is a memfd (the kernel frees it with its last holder): nothing of
    the looper's is ever in /dev/shm, and every process of its tree ends."""
    live = Looper(jack_server, "--config", str(config), harness=harness)
    try:
        harness.wait_frames(RATE // 2)
        tree = tree_of(live.proc.pid)
        ours = mapped(tree, "/dev/shm/")
        loops = mapped(tree, "memfd:looper")
    finally:
        code = live.stop(how)
    assert len(tree) >= 3 and loops, "the check sees the main, audio and MIDI processes' memory"
    assert code == 0, live.text()
    assert "Traceback" not in live.text()
    assert not {name for name in ours if "jack" not in name}, f"in /dev/shm: {ours}"
    assert not _left(tree, within=2.0), "a child is left"
    assert not harness.client.get_ports("^looper:"), "the stream is closed"


def test_a_bad_config_exits_2_with_the_line_before_the_server_sees_a_client(
    jack_server: JackServer, harness: Harness, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(CONFIG.replace("action: toggle", "action: togle"))
    clients_before = {p.name.split(":")[0] for p in harness.client.get_ports()}
    result = run(jack_server, "--config", str(bad))
    assert result.returncode == 2
    line = (
        CONFIG.replace("action: toggle", "action: togle")
        .splitlines()
        .index("  - {note: 62, action: togle, track: 2}")
    )
    assert f"{bad}:{line + 1}: pedals[2].action: found 'togle'" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert {p.name.split(":")[0] for p in harness.client.get_ports()} == clients_before


def test_the_live_demo_plays_loops_in_time_and_exits_by_itself(tmp_path: Path) -> None:
    result = run(None, "demo", "--out", str(tmp_path), timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    y, rate = sf.read(str(tmp_path / "demo.wav"), dtype="float32", always_2d=True)
    x = sf.read(str(DEMO / "input.wav"), dtype="float32")[0]
    bar = 2 * rate
    assert len(y) == 13 * bar
    # Bar 4 of the recording: the riff of bars 1-2 looping on track 1, exactly on the click's
    # grid (the config compensates the round trip); the melody played live, heard through the
    # monitor one round trip late; and the click.
    t = np.arange(4 * bar, 5 * bar)
    loop = x[bar + (t - 3 * bar) % (2 * bar)]
    beat = bar // 4
    frame = np.arange(bar)
    seam = frame >= bar - round(0.01 * rate)  # the loop's 10 ms crossfade ends this bar
    between_clicks = (frame % beat > 0.04 * rate) & ~seam
    round_trips = []
    for delay in range(0, 4 * 256 + 1, 256):
        residue = y[4 * bar : 5 * bar, 0] - loop - x[4 * bar - delay : 5 * bar - delay]
        if not (np.abs(residue[between_clicks]) > 1e-4).any():
            round_trips.append(delay)
    assert round_trips == [512], "loop on the grid; the dry input two JACK periods late"
    assert (tmp_path / "demo.png").stat().st_size > 10_000


def test_an_audio_device_that_cannot_be_opened_is_named_with_the_ones_there_are(
    jack_server: JackServer, tmp_path: Path
) -> None:
    config = tmp_path / "nodevice.yaml"
    config.write_text(
        CONFIG.replace("block_size: 128,", "block_size: 128, input_device: Scarlett,")
    )
    result = run(jack_server, "--config", str(config))
    assert result.returncode == 1
    assert "'Scarlett'" in result.stderr and "system" in result.stderr
    assert "looper devices" in result.stderr and "Traceback" not in result.stderr


def children(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task").iterdir()
    return [int(c) for task in tasks for c in (task / "children").read_text().split()]


def test_a_dead_midi_process_is_restarted_and_the_pedal_works_again(tmp_path: Path) -> None:
    # Not --sync: a client killed without closing would stall a sync server's graph.
    with JackServer(sync=False) as server, Harness(server) as harness:
        config = tmp_path / "live.yaml"
        config.write_text(CONFIG)
        live = Looper(server, "--config", str(config), harness=harness)
        try:
            midi = [
                c
                for c in children(live.proc.pid)
                if "rtmidi" in Path(f"/proc/{c}/maps").read_text()
            ]
            assert len(midi) == 1
            os.kill(midi[0], signal.SIGKILL)
            live.wait_for("restarted it")
            deadline = time.monotonic() + 60  # the new MIDI process opens the pedal again
            while live.text().count("MIDI: listening") < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert live.text().count("MIDI: listening") >= 2, live.text()
            harness.play(live_ramp(4 * BAR), at=harness.frame_after(0.2))
            harness.wait_frames(2 * BAR + BEAT)
            harness.stomp(60, harness.frame_after(0.3))
            live.wait_for("backloop track 1")
        finally:
            code = live.stop()
        assert code == 0, live.text()
