"""Lights, live: on a dummy JACK server (the pure part is tests/unit/test_lights.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from live_looper import TIMEOUT, Looper
from test_lights import on

if TYPE_CHECKING:  # the JACK modules load in the fixtures
    from looper.rig.harness import Harness
    from looper.rig.jackserver import JackServer

pytestmark = pytest.mark.jack

# -- live: the whole looper on a dummy JACK server --------------------------------------------

RATE = 48000
BAR = 2 * RATE  # 120 bpm in 4/4
BEAT = BAR // 4
PERIOD = 128
HOLD_MS = 600

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
    looper: Looper

    def wait(self, done: Callable[[], bool]) -> None:
        """Wait (up to TIMEOUT) until `done()`; fail with the looper's output if it never is."""
        self.looper.wait_until(done, "the pedal's lights", TIMEOUT)


@pytest.fixture
def pedalboard(jack_server: JackServer, tmp_path: Path) -> Iterator[Pedalboard]:
    """The looper running on `jack_server`, its lights port open on the harness."""
    from looper.rig.harness import Harness

    config = tmp_path / "lights.yaml"
    config.write_text(CONFIG)
    with (
        Harness(jack_server, midi_in=True) as harness,
        Looper(
            jack_server,
            "--config",
            str(config),
            harness=harness,
            ready="MIDI: pedal lights to 'harness:lights' (JACK)",
        ) as looper,
    ):
        yield Pedalboard(harness, looper)
        assert looper.stop(timeout=TIMEOUT) == 0, looper.text()
    assert "Traceback" not in looper.text()


def test_the_looper_lights_each_pedal_with_its_track_state(pedalboard: Pedalboard) -> None:
    from looper.rig.timeline import next_downbeat

    h = pedalboard.harness
    d = next_downbeat(h, BAR)
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
