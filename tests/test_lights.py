"""Pedal lights: each light shows its track's state, sent only when it changes.

* pure: which messages `Lights` sends for a sequence of track states and beat
  phases (changes only, in order, one per target, waiting blinks), what the main
  process forwards for a status (`shown_by`), which port is the footswitch's own
  output (`device_port`);
* live: the whole looper (`python -m looper`) on a dummy JACK server, stomped by
  the harness, whose `lights` port records what the looper's MIDI process sends.

Nothing here asserts how fast anything runs: the live test checks the messages,
their order, and that none arrives before what caused it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from looper.config import parse_config
from looper.midi import Lights, device_port, lights_of, shown_by
from looper.status import Status, TrackStatus

if TYPE_CHECKING:  # the JACK modules load in the fixtures: the pure tests run without libjack
    from looper.harness import Harness
    from looper.jackserver import JackServer

# -- pure: no port, no clock ---------------------------------------------------------------

PEDALS = """
tracks: {count: 3}
pedals:
  - {note: 60, action: backloop, track: 1, feedback: {note: 60}}
  - {note: 60, gesture: hold, action: reset, track: 1, feedback: {note: 60}}
  - {note: 61, action: record, track: 2, feedback: {note: 61, blink: false}}
  - {note: 62, action: play, track: 3, feedback: {cc: 20, channel: 3, values: {playing: 100}}}
"""

EMPTY = ("empty", "empty", "empty")


def on(note: int, value: int) -> list[int]:
    return [0x90, note, value]


def lights() -> Lights:
    return Lights(lights_of(parse_config(PEDALS, "pedalboard.yaml")))


def test_a_binding_sharing_a_target_adds_no_light() -> None:
    found = lights_of(parse_config(PEDALS, "pedalboard.yaml"))
    assert [(light.target, light.track) for light in found] == [
        ((1, "note", 60), 0),
        ((1, "note", 61), 1),
        ((3, "cc", 20), 2),
    ]


def test_every_light_once_at_start_then_only_changes_in_order() -> None:
    ls = lights()
    assert ls.changes() == [on(60, 0), on(61, 0), [0xB2, 20, 0]]  # all empty, before any status
    assert ls.changes() == []
    ls.show((EMPTY, True))
    assert ls.changes() == []
    ls.show((("playing", "recording", "playing"), True))
    assert ls.changes() == [on(60, 127), on(61, 127), [0xB2, 20, 100]]
    ls.show((("muted", "playing", "stopped"), True))
    assert ls.changes() == [on(60, 64), [0xB2, 20, 0]]  # recording -> playing: both 127
    ls.show((("overdubbing", "playing", "stopped"), True))
    assert ls.changes() == [on(60, 127)]


def test_a_reopened_port_gets_every_light_again() -> None:
    ls = lights()
    ls.show((("playing", "empty", "empty"), True))
    assert ls.changes() == [on(60, 127), on(61, 0), [0xB2, 20, 0]]
    ls.forget()
    assert ls.changes() == [on(60, 127), on(61, 0), [0xB2, 20, 0]]


def test_waiting_blinks_with_the_beat_unless_blink_is_false() -> None:
    ls = lights()
    ls.changes()
    sent = []
    for lit in (True, False, True, True, False):
        ls.show((("waiting", "waiting", "empty"), lit))
        sent += ls.changes()
    ls.show((("playing", "recording", "empty"), False))
    sent += ls.changes()
    assert sent == [on(60, 127), on(61, 127), on(60, 0), on(60, 127), on(60, 0), on(60, 127)]


def status(states: tuple[str, ...], bar: int, beat: int, beats_per_bar: int = 3) -> Status:
    tracks = tuple(
        TrackStatus(n + 1, state, 0, 0.0, None, 1.0, 0) for n, state in enumerate(states)
    )
    return Status(0, 48000, 120.0, beats_per_bar, bar, beat, tracks, 0, 0.0, 0.0, 0.0, 256)


def test_waiting_lights_are_lit_on_every_other_beat_across_odd_bars() -> None:
    waiting = ("waiting", "playing")
    beats = [(bar, beat) for bar in (1, 2) for beat in (1, 2, 3)]
    assert [shown_by(status(waiting, *b))[1] for b in beats] == [
        True,
        False,
        True,
        False,  # bar 2, beat 1: beat 4 since the origin
        True,
        False,
    ]
    assert shown_by(status(waiting, 2, 1)) == (waiting, False)
    assert {shown_by(status(("playing", "empty"), *b))[1] for b in beats} == {True}


def test_the_footswitch_lights_go_to_its_own_device() -> None:
    alsa_outputs = [
        "Midi Through:Midi Through Port-0 14:0",
        "nanoKONTROL2:nanoKONTROL2 MIDI 1 28:0",
        "FCB1010:FCB1010 MIDI 1 24:0",
    ]
    assert device_port(alsa_outputs, "FCB1010:FCB1010 MIDI 1 24:0") == 2
    assert device_port(["looper:midi_in", "harness:lights"], "harness:pedal") == 1
    assert device_port(["looper:midi_in", "harness:lights"], "looper-01:x") is None  # not ours
    assert device_port(alsa_outputs, "FCB:FCB 1 20:0") is None


# -- live: the whole looper on a dummy JACK server --------------------------------------------

RATE = 48000
BAR = 2 * RATE  # 120 bpm in 4/4
BEAT = BAR // 4
PERIOD = 128
HOLD_MS = 600
TIMEOUT = 30.0

CONFIG = f"""
audio: {{sample_rate: {RATE}, block_size: {PERIOD}, inputs: [1], outputs: [1], monitor: 0,
        latency_ms: 0, history_seconds: 20}}
clicktrack: {{bpm: 120, beats_per_bar: 4, volume: 0.5, outputs: [2]}}
tracks: {{count: 2, crossfade_ms: 0, memory_seconds: 60, late_press: 0.25}}
midi: {{backend: jack, input: "harness:pedal", output: "harness:lights", hold_ms: {HOLD_MS}}}
pedals:
  - {{note: 60, action: backloop, track: 1, feedback: {{note: 60}}}}
  - {{note: 60, gesture: hold, action: reset, track: 1, feedback: {{note: 60}}}}
  - {{note: 61, action: record, track: 2, feedback: {{note: 61}}}}
"""


@dataclass
class Pedalboard:
    """The harness as the footswitch (with a `lights` input) and the looper's output."""

    harness: Harness
    log: Path

    def wait(self, done: Callable[[], bool]) -> None:
        """Wait (up to TIMEOUT) until `done()`; fail with the looper's output if it never is."""
        deadline = time.monotonic() + TIMEOUT
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting; looper said:\n{self.log.read_text()}")
            time.sleep(0.05)


@pytest.fixture
def pedalboard(jack_server: JackServer, tmp_path: Path) -> Iterator[Pedalboard]:
    """The looper running on `jack_server`, its lights port open on the harness."""
    from looper.harness import Harness

    config = tmp_path / "lights.yaml"
    config.write_text(CONFIG)
    log = tmp_path / "looper.log"
    with Harness(jack_server, midi_in=True) as harness, log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "looper", "--config", str(config)],
            env={**os.environ, **jack_server.env},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        board = Pedalboard(harness, log)
        try:
            harness.connect_outputs("^looper:in_")
            harness.connect_inputs("^looper:out_")
            board.wait(lambda: "MIDI: pedal lights to 'harness:lights' (JACK)" in log.read_text())
            yield board
            proc.send_signal(signal.SIGINT)
            assert proc.wait(TIMEOUT) == 0, log.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert "Traceback" not in log.read_text()


def test_the_looper_lights_each_pedal_with_its_track_state(pedalboard: Pedalboard) -> None:
    from looper.harness import downbeats

    h = pedalboard.harness
    h.wait_frames(BAR + BEAT)
    d = int(downbeats(h.recording[:, 1], h.frame - BAR - BEAT)[-1])
    while d < h.frame_after(0.5):
        d += BAR
    record = d + BEAT + BEAT // 5  # beat 2, past late_press: waits for d + BAR, blinking
    h.stomp(61, record)
    h.stomp(61, d + 2 * BAR + BEAT // 5)  # closes at d + 2 bars: playing, still lit
    backloop = d + 3 * BAR + BEAT // 5  # early in the bar: loops at once
    h.stomp(60, backloop)
    hold = d + 4 * BAR
    h.stomp(60, hold, hold=RATE)  # held past hold_ms: reset track 1
    h.run_until(hold + RATE)
    expected = [
        (0, on(60, 0)),  # at start, every light once
        (0, on(61, 0)),
        (d + 2 * BEAT, on(61, 127)),  # waiting, lit on beat 3 (beats 2 and 4 are unlit)...
        (d + 3 * BEAT, on(61, 0)),
        (d + BAR, on(61, 127)),  # ...recording from the downbeat
        (backloop, on(60, 127)),
        (hold + RATE * HOLD_MS // 1000, on(60, 0)),
    ]
    pedalboard.wait(lambda: len(h.received) >= len(expected))
    got = h.received
    assert [list(data) for _, data in got] == [message for _, message in expected]
    grid = 4 * PERIOD  # the click is recorded a few periods after the looper's grid
    for (frame, data), (cause, _) in zip(got, expected, strict=True):
        assert frame >= cause - grid, f"{data.hex(' ')} at {frame}, before its cause at {cause}"
    h.assert_clean()
