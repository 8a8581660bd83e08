"""Every seam is clean, whatever made the loop (issue 9).

Each case renders offline with a continuous tone on the input and measures the
largest step between two frames in a window around every wrap of the loop: it
must be at most twice the tone's own largest step. The tone is -6 dBFS; where
an overdub layers it again and again, the input is quieter by the number of
copies the loop ends up holding, so the loop is never louder than that tone
and its own step never larger (the bound stays the tone's).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from engine_helpers import BAR, RATE, main, render, said
from test_render import write_midi

from looper.config import parse_config
from looper.config.engine import engine_settings
from looper.core.commands import Backloop, Command, Overdub, Play, Record, Redo, SetTempo, Undo
from looper.core.engine import Engine
from looper.core.tracks import State
from looper.core.view import EngineView
from looper.tools.render import render as render_files

XFADE = 200  # frames at 1000 frames/s: the seam crossfade
TONE_HZ = 7.3  # not a whole number of periods in a bar: the seam has a phase to mend


def tone(n: int, amplitude: float = 0.5, rate: int = RATE, hz: float = TONE_HZ) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * hz * np.arange(n) / rate)).astype(np.float32)


def max_step(y: np.ndarray) -> float:
    return float(np.abs(np.diff(y)).max())


#: The -6 dBFS tone's own largest step between two frames.
STEP = max_step(tone(4 * BAR))


def wrap_steps(y: np.ndarray, first: int, length: int, xfade: int = XFADE) -> list[float]:
    """The largest step around each wrap from `first` on: the seam and a little after."""
    return [
        max_step(y[w - xfade - 2 : w + 3]) for w in range(first, len(y) - 3, length) if w > xfade
    ]


def assert_clean_wraps(engine: Engine, y: np.ndarray, track: int = 0, least: int = 2) -> None:
    tr = engine.tracks[track]
    length = tr.bars * engine.grid.bar
    steps = wrap_steps(y, tr.anchor + length, length)
    assert len(steps) >= least
    assert max(steps) <= 2 * STEP, [round(s, 3) for s in steps]


def assert_no_page_held_after_clear(engine: Engine) -> None:
    """Every reference a layer or a lead-in took is given back."""
    for tr in engine.tracks:
        tr.clear()
    assert not engine.pool.refs.any() and engine.pool.debt == 0


def run(
    script: list[tuple[int, Command]], n: int, amplitude: float = 0.5, **settings: object
) -> tuple[Engine, np.ndarray]:
    """Render over the tone (at `amplitude`) with the seam crossfade; the first main output."""
    engine, out = render(script, n, signal=tone(n, amplitude), crossfade_frames=XFADE, **settings)
    return engine, main(out)


@pytest.mark.parametrize("latency", [0, 37])
@pytest.mark.parametrize("bar", [1, 0])  # 0: the session's first bar, led in by what came before
def test_a_backloop_wraps_cleanly(latency: int, bar: int) -> None:
    engine, y = run([((bar + 2) * BAR + 100, Backloop(0, 2))], 10 * BAR, latency_frames=latency)
    assert_clean_wraps(engine, y)


@pytest.mark.parametrize("latency", [0, 37])
def test_a_backloop_of_the_first_bar_after_a_tempo_change_wraps_cleanly(latency: int) -> None:
    """The history restarts with the new grid; what was played before it leads into bar 0."""
    script: list[tuple[int, Command]] = [(BAR + 300, SetTempo(100))]
    engine, _ = run(script, 2 * BAR)
    origin, bar = engine.grid.origin, engine.grid.bar
    script.append((origin + 2 * bar + 100, Backloop(0, 2)))
    engine, y = run(script, origin + 10 * bar, latency_frames=latency)
    assert engine.grid.origin == origin and engine.tracks[0].anchor == origin + 2 * bar
    assert_clean_wraps(engine, y)


def test_a_recording_after_the_count_in_wraps_cleanly() -> None:
    script: list[tuple[int, Command]] = [(BAR + 300, Record(0)), (5 * BAR + 800, Record(0))]
    engine, y = run(script, 14 * BAR, count_in_bars=1, latency_frames=37)
    assert engine.tracks[0].bars == 3
    assert_clean_wraps(engine, y)


def test_a_backloop_of_the_oldest_bar_held_wraps_cleanly() -> None:
    """The ring keeps the bar before its oldest as that bar's lead-in."""
    p = 14 * BAR + 100  # 20 s of history at 1000 frames/s is 10 bars (+1 being written)
    engine, y = run([(p, Backloop(0, 16))], 40 * BAR)
    assert engine.tracks[0].bars == 10
    assert_clean_wraps(engine, y)


@pytest.mark.parametrize("bars", [2, 12])  # 12: longer than the 10 bars of history
def test_a_recorded_loop_wraps_cleanly(bars: int) -> None:
    end = (1 + bars) * BAR + 100
    engine, y = run([(BAR + 100, Record(0)), (end, Record(0))], end + 3 * bars * BAR)
    assert engine.tracks[0].bars == bars
    assert_clean_wraps(engine, y)


@pytest.mark.parametrize("latency", [0, 37])
def test_an_overdub_across_several_wraps_keeps_every_wrap_clean(latency: int) -> None:
    # one bar overdubbed four times over: five copies of the input in the end
    script: list[tuple[int, Command]] = [(2 * BAR + 100, Backloop(0, 1))]
    script += [(3 * BAR + 50, Overdub(0)), (7 * BAR + 50, Overdub(0))]
    engine, y = run(script, 11 * BAR, amplitude=0.1, latency_frames=latency)
    assert engine.tracks[0].layers == 5
    assert_clean_wraps(engine, y, least=8)


@pytest.mark.parametrize("latency", [0, 37])
def test_an_overdub_that_starts_mid_loop_keeps_every_wrap_clean(latency: int) -> None:
    # a 3-bar loop (bars 1-3), overdubbed from its second bar for two passes and a bit
    script: list[tuple[int, Command]] = [(4 * BAR + 100, Backloop(0, 3))]
    script += [(5 * BAR + 50, Overdub(0)), (12 * BAR + 50, Overdub(0))]
    engine, y = run(script, 19 * BAR, amplitude=0.125, latency_frames=latency)
    assert engine.tracks[0].layers == 4  # the loop, then one layer per pass over bar 0
    assert_clean_wraps(engine, y, least=4)


def test_undone_and_redone_layers_keep_their_own_clean_seams() -> None:
    script: list[tuple[int, Command]] = [(2 * BAR + 100, Backloop(0, 1))]
    script += [(3 * BAR + 50, Overdub(0)), (5 * BAR + 50, Overdub(0))]
    # undo twice, then redo twice, mid-bar (the switches themselves are not wraps)
    script += [(7 * BAR + 1000, Undo(0)), (9 * BAR + 1000, Undo(0))]
    script += [(11 * BAR + 1000, Redo(0)), (13 * BAR + 1000, Redo(0))]
    engine, y = run(script, 16 * BAR, amplitude=1 / 6)
    assert engine.tracks[0].layers == 3
    assert_clean_wraps(engine, y, least=12)
    assert_no_page_held_after_clear(engine)


def test_an_undone_pass_over_bar_0_gives_the_lead_in_back() -> None:
    """An overdub ended early takes back the bar 0 it had begun, and that bar's lead-in."""
    script: list[tuple[int, Command]] = [(2 * BAR + 100, Backloop(0, 2))]
    script += [(3 * BAR + 50, Overdub(0)), (4 * BAR + 50, Overdub(0))]
    engine, y = run(script, 12 * BAR, amplitude=0.25, late_press=100)
    tr = engine.tracks[0]
    assert tr.layers == 2 and not tr.dubbing
    assert_clean_wraps(engine, y)
    assert_no_page_held_after_clear(engine)


@pytest.mark.parametrize("latency", [0, 37])
def test_the_bpm_auto_first_loop_wraps_cleanly_with_sound_at_the_stomp(latency: int) -> None:
    p1, length = 1270, 2100  # one 4-beat bar of 2100 frames, the tone near its peak at p1
    script: list[tuple[int, Command]] = [(p1, Record(0)), (p1 + length, Record(0))]
    engine, y = run(script, p1 + 8 * length, bpm_auto=True, latency_frames=latency)
    assert engine.grid.bar == length and engine.tracks[0].bars == 1
    assert_clean_wraps(engine, y, least=5)


def test_a_loaded_loop_made_from_an_overdubbed_one_wraps_cleanly() -> None:
    script: list[tuple[int, Command]] = [(2 * BAR + 100, Backloop(0, 1))]
    script += [(3 * BAR + 50, Overdub(0)), (5 * BAR + 50, Overdub(0))]
    made, _ = run(script, 7 * BAR, amplitude=1 / 6)
    stem = EngineView(made).stem(0)
    assert stem is not None
    loaded, _ = render([], 0, crossfade_frames=XFADE)
    loaded.load_loop(0, stem)
    loaded.submit(Play(0), 0)
    out = np.zeros((6 * BAR, 2), np.float32)
    loaded.process(np.zeros((6 * BAR, 1), np.float32), out)
    assert_clean_wraps(loaded, main(out), least=4)


STEM_RATE = 8000
STEM_CONFIG = f"""
audio: {{sample_rate: {STEM_RATE}, inputs: [1], outputs: [1], monitor: 0, history_seconds: 30}}
clicktrack: {{bpm: 120, outputs: [2], enabled: false}}
tracks: {{count: 1, crossfade_ms: 10, memory_seconds: 60}}
pedals:
  - {{note: 60, action: backloop, track: 1, bars: 1}}
"""


def test_a_stem_written_by_render_wraps_cleanly_played_as_a_loop(tmp_path: Path) -> None:
    bar = 2 * STEM_RATE
    x = tone(4 * bar, rate=STEM_RATE, hz=58.4)
    sf.write(str(tmp_path / "in.wav"), x, STEM_RATE, subtype="FLOAT")
    write_midi(tmp_path / "p.mid", [(2 * bar / STEM_RATE + 0.05, 60, 0.1)])
    config = parse_config(STEM_CONFIG, "c.yaml")
    stems = tmp_path / "stems"
    files = (tmp_path / "in.wav", tmp_path / "p.mid", tmp_path / "o.wav")
    render_files(config, *files, stems_dir=stems)
    stem = sf.read(str(stems / "track1.wav"), dtype="float32", always_2d=True)[0]
    assert len(stem) == bar
    engine = Engine(replace(engine_settings(config, 0), click_enabled=False))
    engine.load_loop(0, stem)
    engine.submit(Play(0), 0)
    out = np.zeros((5 * bar, 2), np.float32)
    engine.process(np.zeros((5 * bar, 1), np.float32), out)
    y = out[:, 0]
    xfade = engine.xfade
    steps = [max_step(y[w - xfade - 2 : w + 3]) for w in range(bar, 5 * bar - 3, bar)]
    assert max(steps) <= 2 * max_step(x), [round(s, 3) for s in steps]


@pytest.mark.parametrize("memory, ends", [(12, True), (16, False)])
def test_an_overdub_that_fills_the_memory_keeps_its_seams_and_its_references(
    memory: int, ends: bool
) -> None:
    """Each pass over bar 0 takes two pages (the bar, the lead-in); undo layers make room,
    and when none is left the overdub ends (12 s), else it goes on, the oldest going (16 s)."""
    script: list[tuple[int, Command]] = [(2 * BAR + 100, Backloop(0, 1))]
    script += [(3 * BAR + 50, Overdub(0))]
    engine, y = run(script, 16 * BAR, amplitude=0.03, memory_seconds=memory)
    assert ("track 1: loop memory full, overdub ended" in said(engine)) is ends
    assert engine.tracks[0].state is (State.PLAYING if ends else State.OVERDUBBING)
    assert_clean_wraps(engine, y, least=12)
    assert_no_page_held_after_clear(engine)
