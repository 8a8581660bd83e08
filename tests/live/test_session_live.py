"""Session, live: on a dummy JACK server (the pure part is tests/unit/test_session.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from live_looper import Looper
from signals import live_frame_of as decode
from signals import live_ramp
from test_live import BAR as LIVE_BAR
from test_live import BEAT as LIVE_BEAT

from looper.rig.harness import Harness
from looper.rig.jackserver import JackServer
from looper.rig.timeline import next_downbeat

pytestmark = pytest.mark.jack

# ---- live, on a dummy JACK server --------------------------------------------------

LIVE = """
audio: {sample_rate: 48000, block_size: 128, inputs: [1], outputs: [1], monitor: 0,
        latency_ms: 0, history_seconds: 20}
clicktrack: {bpm: BPM, beats_per_bar: 4, volume: 0.5, outputs: [2]}
tracks: {count: 2, crossfade_ms: 0, memory_seconds: 60}
midi: {backend: jack, input: "harness:pedal"}
pedals:
  - {note: 60, action: backloop, track: 1, bars: 2}
  - {note: 61, action: toggle, track: 1}
  - {note: 64, action: save}
"""


def test_live_save_then_play_the_session_again_from_a_downbeat(
    jack_server: JackServer, harness: Harness, tmp_path: Path
) -> None:
    first_config, second_config = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first_config.write_text(LIVE.replace("BPM", "240"))
    second_config.write_text(LIVE.replace("BPM", "100"))  # the session's 240 bpm wins
    gig = tmp_path / "gig"

    # First set: a backloop of two bars, then the save pedal while it plays.
    first = Looper(
        jack_server, "--config", str(first_config), "--session", str(gig), harness=harness
    )
    try:
        first.wait_for(f"session {gig}: new; save writes it there")
        clip = harness.play(live_ramp(6 * LIVE_BAR), at=harness.frame_after(0.2))
        d = next_downbeat(harness, LIVE_BAR, not_before=clip.start + 2 * LIVE_BAR + LIVE_BEAT)
        harness.stomp(60, d + LIVE_BAR // 5)  # the loop: the two bars before d, from d on
        harness.stomp(64, d + LIVE_BAR // 2)
        harness.run_until(d + 4 * LIVE_BAR)
        first.wait_for(f"session saved to {gig} (1 loop, ")
    finally:
        assert first.stop() == 0, first.text()
    y = harness.recording[:, 0]
    loop, rate = sf.read(str(gig / "track1.wav"), dtype="float32", always_2d=True)
    assert rate == 48000 and loop.shape == (2 * LIVE_BAR, 1)
    assert (np.diff(decode(loop[:, 0])) == 1).all(), "two contiguous bars of the input"
    np.testing.assert_array_equal(y[d + 2 * LIVE_BAR : d + 4 * LIVE_BAR], loop[:, 0])
    history, _ = sf.read(str(gig / "history.wav"), dtype="float32", always_2d=True)
    at = int(np.flatnonzero(history[:, 0] == loop[0, 0])[0])
    np.testing.assert_array_equal(history[at : at + 2 * LIVE_BAR], loop)  # played, and held
    manifest = yaml.safe_load((gig / "session.yaml").read_text())
    assert manifest["tracks"] == [
        {"number": 1, "state": "playing", "bars": 2, "volume": 1.0, "file": "track1.wav"}
    ]

    # Second set: the same session comes back stopped; a toggle plays it from the downbeat.
    second = Looper(
        jack_server, "--config", str(second_config), "--session", str(gig), harness=harness
    )
    try:
        second.wait_for("tempo 240.00 bpm, 4 beats a bar, from the session")
        second.wait_for(f"session {gig}, saved {manifest['created']}: 1 loop (track 1), stopped")
        second.wait_for("| 1:stopped 2b |")  # the status line
        d2 = next_downbeat(harness, LIVE_BAR, not_before=harness.frame)
        harness.stomp(61, d2 + LIVE_BAR // 5)  # plays from the next downbeat, d2 + 1 bar
        harness.run_until(d2 + 5 * LIVE_BAR)
        second.wait_for("1:playing 2b")
    finally:
        assert second.stop() == 0, second.text()
    y = harness.recording[:, 0]
    start = d2 + LIVE_BAR
    assert not y[d2:start].any(), "stopped until the downbeat"
    np.testing.assert_array_equal(y[start : start + 2 * LIVE_BAR], loop[:, 0])
    np.testing.assert_array_equal(y[start + 2 * LIVE_BAR : start + 4 * LIVE_BAR], loop[:, 0])
    # Every exit saves the session: the same loop again, now playing, and the new history.
    again, _ = sf.read(str(gig / "track1.wav"), dtype="float32", always_2d=True)
    np.testing.assert_array_equal(again, loop)
    assert yaml.safe_load((gig / "session.yaml").read_text())["tracks"][0]["state"] == "playing"
