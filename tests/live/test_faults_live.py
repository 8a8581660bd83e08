"""Faults on stage, live: the audio process killed or crashing, the audio server gone and
back, signals at start-up and while playing, a save racing a kill.

Each test runs `looper run` on a private dummy JACK server that is not --sync
(a client killed without closing would stall a sync server's graph for about
20 s), with the harness playing a self-describing ramp, stomping and
recording. A two-bar backloop plays on track 1; after a fault the recording
is compared with that loop sample for sample, at the phase it had before.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from live_looper import Looper
from signals import live_ramp
from test_live import mapped, tree_of

from looper.rig.harness import Harness
from looper.rig.jackserver import JackServer
from looper.rig.timeline import next_downbeat

pytestmark = pytest.mark.jack

RATE = 48000
BAR = RATE  # 240 bpm in 4/4
BEAT = BAR // 4
LOOP = 2 * BAR

CONFIG = f"""
audio: {{sample_rate: {RATE}, block_size: 128, inputs: [1], outputs: [1], monitor: 0,
        latency_ms: 0, history_seconds: 10}}
clicktrack: {{bpm: 240, beats_per_bar: 4, volume: 0.5, outputs: [2]}}
tracks: {{count: 2, crossfade_ms: 0, memory_seconds: 30}}
midi: {{backend: jack, input: "harness:pedal"}}
pedals:
  - {{note: 60, action: backloop, track: 1, bars: 2}}
  - {{note: 64, action: save}}
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "live.yaml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def server() -> Iterator[JackServer]:
    """Not --sync; a client timeout of 500 ms, jackd's own default (the rig's 2 s suits a
    loaded machine's slow clients, and holds a killed client's place as long)."""
    with JackServer(sync=False, client_timeout_ms=500) as s:
        yield s


def _loop_playing(live: Looper, harness: Harness) -> int:
    """A two-bar backloop on track 1, heard once through; the downbeat it plays from."""
    clip = harness.play(live_ramp(4 * BAR), at=harness.frame_after(0.2))
    d = next_downbeat(harness, BAR, not_before=clip.start + LOOP + BEAT)
    harness.stomp(60, d + BAR // 5)
    harness.run_until(d + 2 * LOOP)
    live.wait_for("1:playing 2b")
    return d


def _audio_pid(live: Looper) -> int:
    """The audio process: the one of the looper's that has PortAudio loaded."""
    found = [p for p in tree_of(live.proc.pid) if mapped([p], "libportaudio")]
    assert len(found) == 1, found
    return found[0]


def _expected(harness: Harness, d: int, frames: range) -> np.ndarray:
    """What the loop plays at `frames`, from its second pass (sample-exact before the fault)."""
    y = harness.recording[:, 0]
    cycle = y[d + LOOP : d + 2 * LOOP]
    return cycle[(np.asarray(frames) - d) % LOOP]


def _shift(harness: Harness, d: int, at: int, span: int) -> int:
    """The s for which the recording over [at, at + span) is the loop played s frames late,
    sample for sample, in at least 9 of every 10 JACK periods: a late cycle of this loaded
    machine's graph (a JACK xrun) reaches the harness as silence or as the period before,
    whoever made it. Fails when no s within eight periods fits."""
    period = harness.blocksize
    y = harness.recording[at : at + span, 0]
    n = span // period * period
    heard = y[:n].reshape(-1, period)
    for s in range(-8 * period, 8 * period + 1):
        played = _expected(harness, d, range(at - s, at - s + n)).reshape(-1, period)
        if np.mean((heard == played).all(axis=1)) >= 0.9:
            return s
    raise AssertionError("no shift of the loop fits what was heard")


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGSEGV])
def test_a_dead_audio_process_is_replaced_and_every_loop_plays_on_in_phase(
    server: JackServer, config: Path, how: int
) -> None:
    """Back within 2 s; then the loop and the click are exactly what they would have been,
    together: the same shift s for both (the engine's grid and its loops did not part).
    s is a few JACK periods at most: the new process counts the time since the old one's
    last block in whole periods, exact when its first callback runs on time; this dummy
    server, catching up on the cycles it lost to the dead client, can run it two periods
    late (and a client joining anew may run before or after the harness in a cycle:
    harness -> looper -> harness is a loop of ports)."""
    with Harness(server) as harness:
        live = Looper(server, "--config", str(config), harness=harness)
        try:
            d = _loop_playing(live, harness)
            old = _audio_pid(live)
            killed = harness.frame
            os.kill(old, how)
            live.wait_for("the audio runs again")
            assert _audio_pid(live) != old
            harness.wait_frames(3 * LOOP)
        finally:
            code = live.stop()
        assert code == 0, live.text()
        assert "the audio process ended (killed by signal" in live.text()
        y = harness.recording
        back = killed + int(np.flatnonzero(y[killed : killed + 4 * RATE, 0] == 0)[-1]) + 1
        assert back - killed <= 2 * RATE, "back within 2 s"
        assert _shift(harness, d, d + LOOP, killed - 512 - d - LOOP) == 0  # before: exact
        s = _shift(harness, d, back, 2 * LOOP)
        assert abs(s) <= 4 * 128, "within a few JACK periods of where it was"
        bar = back + BAR - (back - d) % BAR  # a downbeat after the gap, as the loop says
        then = d + BAR  # one before the kill
        click, before = y[bar + s : bar + s + BAR, 1], y[then : then + BAR, 1]
        heard = click != 0
        np.testing.assert_array_equal(click[heard], before[heard])  # the click moved with it


def test_the_audio_server_stops_and_comes_back_with_the_loops_and_the_links(
    server: JackServer, config: Path
) -> None:
    harness = Harness(server)
    live = Looper(server, "--config", str(config), harness=harness)
    try:
        _loop_playing(live, harness)
        loop = harness.recording[:, 0].copy()
        harness.close()
        server.stop()
        live.wait_for("the audio server stopped", timeout=10)
        live.wait_for("waiting for the audio server")
        server.start()
        with Harness(server) as again:  # the same names: the looper connects to it again
            live.wait_for("the audio runs again", timeout=60)
            live.wait_for("connection(s) made again")
            again.wait_frames(2 * LOOP)
            y = again.recording[:, 0]
            heard = y[np.flatnonzero(y)[0] :][:LOOP]
    finally:
        code = live.stop()
    assert code == 0, live.text()
    assert len(heard) == LOOP
    values = set(np.unique(loop[np.flatnonzero(loop)]))
    assert set(np.unique(heard)) <= values, "the same loop plays on"
    steps = np.diff(heard.astype(np.float64)) * 2**20
    assert np.count_nonzero(np.abs(steps - 1) > 1e-3) <= 1, "contiguous, wrapping once at most"


def test_server_timeout_saves_and_exits_1(
    server: JackServer, config: Path, _state_home: Path
) -> None:
    harness = Harness(server)
    live = Looper(server, "--config", str(config), "--server-timeout", "2", harness=harness)
    try:
        _loop_playing(live, harness)
        harness.close()
        server.stop()
        code = live.wait(timeout=30)
    finally:
        live.kill()
    assert code == 1, live.text()
    kept = _state_home / "looper" / "last-session"
    assert f"session saved to {kept} (1 loop" in live.text()
    assert "no audio for 2 s (--server-timeout)" in live.stderr
    assert sf.info(str(kept / "track1.wav")).frames == LOOP
    assert "Traceback" not in live.text()


def test_a_save_racing_a_kill_is_whole_and_the_loop_plays_on(
    server: JackServer, tmp_path: Path
) -> None:
    config = tmp_path / "live.yaml"
    config.write_text(CONFIG)
    gig = tmp_path / "gig"
    with Harness(server) as harness:
        live = Looper(server, "--config", str(config), "--session", str(gig), harness=harness)
        try:
            d = _loop_playing(live, harness)
            harness.stomp(64, harness.frame_after(0.05))
            os.kill(_audio_pid(live), signal.SIGKILL)
            live.wait_for(f"session saved to {gig} (1 loop")
            live.wait_for("the audio runs again")
        finally:
            code = live.stop()
        assert code == 0, live.text()
        saved, _ = sf.read(str(gig / "track1.wav"), dtype="float32", always_2d=True)
        cycle = _expected(harness, d, range(d + LOOP, d + 2 * LOOP))
        # The harness hears the loop a JACK period or two late (this server is not --sync):
        # the saved loop is what was heard, from the loop's top.
        late = [r for r in range(257) if np.array_equal(saved[:, 0], np.roll(cycle, -r))]
        assert late, "the saved loop is the loop that played, whole"


def _terminal_signals() -> None:
    """The signals as a terminal gives them: a test run as a background job (or under
    nohup) inherits SIGINT or SIGHUP ignored, and a signal ignored at exec stays ignored
    (the looper keeps an ignored SIGHUP ignored, as nohup asks)."""
    for s in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(s, signal.SIG_DFL)


def _group(server: JackServer, config: Path) -> subprocess.Popen[str]:
    """`looper --config` through its real entry point, in a process group of its own."""
    return subprocess.Popen(
        [sys.executable, "-m", "looper", "--config", str(config)],
        env=server.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=_terminal_signals,
    )


def _in_group(pgid: int) -> list[int]:
    """The live (not zombie) processes of process group `pgid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid and fields[0] != "Z":
                    found.append(int(entry.name))
    return found


def _none_left(pgid: int, within: float = 2.0) -> list[int]:
    deadline = time.monotonic() + within
    while (left := _in_group(pgid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


@pytest.mark.parametrize("group", [False, True], ids=["main", "group"])
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
@pytest.mark.parametrize("after", [0.3, 1.5])
def test_a_signal_at_start_up_ends_it_quietly_within_2_s(
    server: JackServer, config: Path, how: int, group: bool, after: float
) -> None:
    """Exit 0, or 130 for Ctrl-C before it plays. A signal in the interpreter's first
    moments, before any Python runs, ends it by the signal itself (the shell shows 128 +
    the signal): nothing has started then."""
    shm = set(os.listdir("/dev/shm"))
    proc = _group(server, config)
    time.sleep(after)
    if group:
        os.killpg(proc.pid, how)
    else:
        proc.send_signal(how)
    sent = time.monotonic()
    out, _ = proc.communicate(timeout=30)
    took = time.monotonic() - sent
    allowed = {0, -how, 130} if how == signal.SIGINT else {0, -how}
    assert proc.returncode in allowed, out
    assert took <= 2.0 + 1.0, f"{took:.1f} s to exit (2 s, and 1 s for this loaded machine)"
    assert "Traceback" not in out, out
    assert not _none_left(proc.pid), "a child is left"
    assert set(os.listdir("/dev/shm")) - shm <= {n for n in os.listdir("/dev/shm") if "jack" in n}


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_to_the_group_while_playing_saves_the_loops(
    server: JackServer, config: Path, how: int, _state_home: Path
) -> None:
    with Harness(server) as harness:
        live = Looper(server, "--config", str(config), harness=harness, group=True)
        try:
            _loop_playing(live, harness)
            os.killpg(live.proc.pid, how)
            code = live.wait()
        finally:
            live.kill()
    assert code == 0, live.text()
    kept = _state_home / "looper" / "last-session"
    assert f"session saved to {kept} (1 loop" in live.text()
    assert sf.info(str(kept / "track1.wav")).frames == LOOP
    assert "Traceback" not in live.text()
    assert not _none_left(live.proc.pid), "a child is left"


def test_an_audio_process_that_keeps_dying_as_it_starts_ends_the_session_saved(
    server: JackServer, config: Path, _state_home: Path
) -> None:
    """The playing one killed, then each new one as soon as it has PortAudio loaded: after
    the fourth death in a row the looper saves and exits 1, saying why."""
    with Harness(server) as harness:
        live = Looper(server, "--config", str(config), harness=harness)
        try:
            _loop_playing(live, harness)
            killed: set[int] = set()
            deadline = time.monotonic() + 60
            while live.running and time.monotonic() < deadline:
                with contextlib.suppress(OSError):  # a process that ended meanwhile
                    for pid in tree_of(live.proc.pid):
                        if pid not in killed and mapped([pid], "libportaudio"):
                            os.kill(pid, signal.SIGKILL)
                            killed.add(pid)
                time.sleep(0.01)
            code = live.wait()
        finally:
            live.kill()
    assert code == 1, live.text()
    assert "the audio process died 4 times as it started" in live.stderr
    kept = _state_home / "looper" / "last-session"
    assert f"session saved to {kept} (1 loop" in live.text()
    assert "Traceback" not in live.text()
