"""The master stage (volume, limiter, meters, clip counter) and input hygiene, rendered offline.

At 48 kHz with a 437 Hz tone, as a performer would hear it: the tone's own largest
step between two frames is its amplitude times 2 pi 437 / 48000 (0.029 at -6 dBFS).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from engine_helpers import said

from looper.config import parse_config
from looper.config.engine import engine_settings
from looper.core.commands import Backloop, Command
from looper.core.engine import Engine
from looper.core.master import CELL, float32_ceiling
from looper.core.meters import MeterReading
from looper.core.view import EngineView

RATE = 48_000
BAR = 96_000  # 120 bpm, 4/4
FREQ = 437.0
STEP = 2 * np.pi * FREQ / RATE  # a unit tone's largest step, nearly

CONFIG = """
audio: {sample_rate: 48000, inputs: [1, 2], outputs: [1, 2], history_seconds: 10}
clicktrack: {bpm: 120, enabled: false, outputs: [1, 2]}
tracks: {count: 8, crossfade_ms: 10, memory_seconds: 60}
"""


def engine(master: str = "", audio: str = "", **overrides: object) -> Engine:
    """An engine from CONFIG, with a `master:` section and `audio:` keys added."""
    text = CONFIG + (f"master: {{{master}}}\n" if master else "")
    if audio:
        text = text.replace("history_seconds: 10}", f"history_seconds: 10, {audio}}}")
    return Engine(engine_settings(parse_config(text, "test_master"), 0, **overrides))


def tone(n: int, amplitude: float, channels: int = 2) -> np.ndarray:
    y = amplitude * np.sin(2 * np.pi * FREQ * np.arange(n) / RATE)
    return np.repeat(y[:, None], channels, axis=1).astype(np.float32)


def run(
    e: Engine, x: np.ndarray, script: Sequence[tuple[int, Command]] = (), block: int = 256
) -> np.ndarray:
    for frame, command in script:
        e.submit(command, frame)
    out = np.zeros((len(x), e.settings.out_channels), dtype=np.float32)
    for i in range(0, len(x), block):
        e.process(x[i : i + block], out[i : i + block])
    return out


def max_step(y: np.ndarray) -> float:
    return float(np.abs(np.diff(y, axis=0)).max())


#: Eight backloops of the bar just played, half a beat into bar 2: all eight play from bar 2.
EIGHT = [(BAR + 12_000 + i, Backloop(i, 1)) for i in range(8)]


@pytest.mark.parametrize("ceiling_db", [-0.3, -6.0])
def test_eight_loops_at_minus_6_dbfs_never_exceed_the_ceiling(ceiling_db: float) -> None:
    e = engine(f"ceiling_db: {ceiling_db}", audio="monitor: 1.0")
    out = run(e, tone(4 * BAR, 0.5), EIGHT)
    assert np.abs(out).max() <= 10 ** (ceiling_db / 20)
    loud = out[2 * BAR + 4800 :, 0]  # the eight loops and the monitor, after the first ramp
    assert np.abs(loud).max() >= 0.9 * 10 ** (ceiling_db / 20), "turned down, not silenced"


def test_without_the_limiter_eight_loops_go_over_full_scale_and_the_clips_are_counted() -> None:
    e = engine("limiter: false", audio="monitor: 1.0")
    out = run(e, tone(4 * BAR, 0.5), EIGHT)
    over = int((np.abs(out) > 1.0).sum())
    assert np.abs(out).max() > 4.0  # nine tones in phase
    assert over > 0 and EngineView(e).take_meters().clips == over


def test_the_limiter_counts_the_clips_it_saved() -> None:
    e = engine(audio="monitor: 1.0")
    x = np.full((3000, 2), 0.1, dtype=np.float32)
    x[1000:1007, 0] = 1.5  # 7 samples over full scale on one channel
    x[2000, 1] = -1.25
    out = run(e, x)
    assert EngineView(e).take_meters().clips == 8
    assert np.abs(out).max() <= 10 ** (-0.3 / 20)


def test_a_tone_below_the_ceiling_passes_bit_exactly() -> None:
    x = tone(3 * BAR, 0.45)
    limited = run(engine(audio="monitor: 1.0"), x, EIGHT[:1])
    plain = run(engine("limiter: false", audio="monitor: 1.0"), x, EIGHT[:1])
    assert 0.85 < np.abs(plain).max() <= float32_ceiling(10 ** (-0.3 / 20))  # near, not over
    np.testing.assert_array_equal(limited, plain)
    np.testing.assert_array_equal(plain[: BAR + 12_000], x[: BAR + 12_000])  # the monitor alone


def test_the_gain_comes_down_smoothly_on_a_steady_tone_above_the_ceiling_and_goes_back() -> None:
    n = RATE // 2
    x = tone(n, 1.5)
    half = n // 2
    x[half:] *= 1 / 3  # then at 0.5, below the ceiling (the input's own step is there)
    out = run(engine(audio="monitor: 1.0"), x, block=64)[:, 0]
    ceiling = 10 ** (-0.3 / 20)
    assert np.abs(out).max() <= ceiling
    after = 2 * CELL  # the first ramp: one cell to see the peak, one to turn it down
    assert max_step(out[after:half]) <= 2 * ceiling * STEP  # the limited tone's own, twice
    assert max_step(out[half:]) <= 2 * 0.5 * STEP  # and the release: the quiet tone's own
    steady = out[RATE // 10 : half]
    assert np.abs(steady).max() >= 0.99 * ceiling  # held at the ceiling, not pumping below it
    np.testing.assert_array_equal(out[-RATE // 10 :], x[-RATE // 10 :, 0])  # released to 1.0


def test_master_volume_scales_exactly() -> None:
    x = tone(3 * BAR, 0.5)
    full = run(engine("limiter: false", audio="monitor: 0.5"), x, EIGHT[:2])
    turned = run(engine("limiter: false, volume: 0.3", audio="monitor: 0.5"), x, EIGHT[:2])
    np.testing.assert_array_equal(turned, full * np.float32(0.3))


def test_the_meters_read_the_peaks_since_the_last_reading() -> None:
    e = engine(audio="monitor: 0.5")
    view = EngineView(e)
    x = tone(2 * BAR, 0.5)
    x[:, 1] *= 0.5
    run(e, x, [(BAR + 12_000, Backloop(2, 1))])
    m = view.take_meters()
    assert m.inputs == pytest.approx((0.5, 0.25), abs=1e-4)
    assert m.tracks[2] == pytest.approx(0.5, abs=1e-4) and m.tracks[:2] == (0.0, 0.0)
    # loop and monitor in phase: 0.5 + 0.25 on output 1, 0.25 + 0.125 on output 2
    assert m.outputs == pytest.approx((0.75, 0.375), abs=1e-3)
    assert m.clips == 0
    assert view.take_meters() == MeterReading((0.0, 0.0), (0.0,) * 8, (0.0, 0.0), 0)  # reset


@pytest.mark.parametrize(("inputs", "said_as"), [("[1, 2]", 2), ("[3, 4]", 4)])
def test_nan_and_inf_on_input_2_become_silence_and_are_said_once(inputs: str, said_as: int) -> None:
    text = CONFIG.replace("inputs: [1, 2]", f"inputs: {inputs}, monitor: 1.0")
    e = Engine(engine_settings(parse_config(text, "test_master"), 0))
    x = tone(3 * BAR, 0.5, channels=said_as)
    second = x.shape[1] - 1
    bad = [1000, 50_000, 50_001, 90_000, BAR + 500]
    x[bad[0], second] = np.nan
    x[bad[1], second] = np.inf
    x[bad[2], second] = -np.inf
    x[bad[3], second] = np.nan
    x[bad[4], second] = np.nan  # in the bar after: said once still
    out = run(e, x, [(BAR + 12_000, Backloop(0, 1))])
    assert np.isfinite(out).all() and np.abs(out).max() <= 1.0
    history = e.history(0, 2 * BAR)
    assert np.isfinite(history).all()
    assert (history[bad, 1] == 0).all() and (history[[10, 2000], 1] != 0).all()
    loop = EngineView(e).loop(0)
    assert loop is not None and np.isfinite(loop).all() and (loop[bad[:4], 1] == 0).all()
    np.testing.assert_array_equal(out[bad[:4], 1], 0)  # the monitor heard silence there
    assert said(e) == [f"input {said_as} sent NaN or Inf samples: they are silenced"]


def test_random_bursts_in_random_blocks_never_pass_the_ceiling_and_come_out_the_same() -> None:
    rng = np.random.default_rng(9)
    n = RATE
    x = (rng.standard_normal((n, 2)) * 0.2).astype(np.float32)
    for start in rng.integers(0, n - 2000, 12):  # bursts up to +12 dB over full scale
        x[start : start + int(rng.integers(1, 2000))] *= rng.uniform(1, 20)
    outs = []
    for sizes in ([64], [1, 63, 4097], rng.integers(1, 700, 50).tolist()):
        e = engine(audio="monitor: 1.0")
        out = np.zeros_like(x)
        i = k = 0
        while i < n:
            m = int(sizes[k % len(sizes)])
            e.process(x[i : i + m], out[i : i + m])
            i, k = i + m, k + 1
        outs.append(out)
    assert np.abs(outs[0]).max() <= 10 ** (-0.3 / 20)
    assert np.abs(outs[0]).max() < np.abs(x).max() / 2  # it acted
    for other in outs[1:]:
        np.testing.assert_array_equal(other, outs[0])
