"""The seed API (`looper.api.AudioStream`) driven through its callback, offline."""

from __future__ import annotations

import numpy as np
import signals

from looper.api import AudioStream

RATE = 8000
BAR = 4 * RATE // 2  # 120 bpm


def stream() -> AudioStream:
    s = AudioStream(channels=2, block_size=256, sample_rate=RATE, history_seconds=10)
    s.clicktrack_volume = 0.0
    return s


def feed(s: AudioStream, x: np.ndarray, block: int = 256) -> np.ndarray:
    out = np.zeros_like(x)
    for i in range(0, len(x), block):
        s.callback(x[i : i + block], out[i : i + block], len(x[i : i + block]), None, None)
    return out


def ramp(n: int, first: int = 0) -> np.ndarray:
    """The ramp, wrapped under the master limiter's ceiling (-0.3 dBFS), which it never meets."""
    return signals.ramp(n, gains=(1, -1), start=first, wrap=31_000, unit=2**-15)


def test_read_returns_the_history_in_seconds_since_origin() -> None:
    s = stream()
    feed(s, ramp(3 * BAR))
    np.testing.assert_array_equal(s.read(0.5, 1.0), ramp(RATE // 2, RATE // 2))
    assert s.origin is not None


def test_write_overwrites_or_adds() -> None:
    s = stream()
    feed(s, ramp(2 * BAR))
    block = np.ones((100, 2), np.float32)
    s.write(1.0, block)
    np.testing.assert_array_equal(s.read(1.0, 1.0 + 100 / RATE), block)
    s.write(1.0, block, overwrite=False)
    np.testing.assert_array_equal(s.read(1.0, 1.0 + 100 / RATE), 2 * block)


def test_set_start_end_loop_loops_those_bars_and_reset_loop_stops_it() -> None:
    s = stream()
    x = ramp(6 * BAR)
    feed(s, x[: 3 * BAR])
    s.set_start_end_loop(BAR / RATE, 3 * BAR / RATE, track_id=1)
    out = feed(s, x[3 * BAR : 5 * BAR], block=1)
    t = np.arange(3 * BAR + 1, 5 * BAR)  # the first frame fades in from silence
    assert s.engine.tracks[1].bars == 2
    fade = s.engine.xfade
    pos = (t - 3 * BAR) % (2 * BAR)
    steady = (t >= 3 * BAR + fade) & (pos < 2 * BAR - fade)  # outside the fade-in and the seams
    np.testing.assert_array_equal(out[1:][steady], x[BAR + pos[steady]])
    s.reset_loop(1)
    tail = feed(s, x[5 * BAR :])
    assert not tail[fade:].any()  # silent once the loop has faded out (issue 9: no hard cut)
    assert s.engine.pool.refs.sum() == 0  # and its pages are free again


def test_the_properties_convert_frames_to_seconds() -> None:
    s = AudioStream(channels=1, sample_rate=RATE, latency_seconds=0.01)
    assert s.latency_seconds == 0.01
    assert s.clicktrack_bpm == 120.0 and s.clicktrack_origin == 0.0
    s.clicktrack_bpm = 100.0
    feed(s, np.zeros((RATE, 1), np.float32))
    assert abs(s.clicktrack_bpm - 100.0) < 0.01
    assert s.clicktrack_origin == 0.0  # the tempo changed on the very first beat
    s.clicktrack_volume = 0.25
    feed(s, np.zeros((1, 1), np.float32))
    assert s.clicktrack_volume == 0.25
