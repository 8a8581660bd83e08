"""Grid arithmetic: whole-frame beats, bar starts, and the snap of a press."""

from __future__ import annotations

import pytest

from looper.core.grid import Grid


@pytest.mark.parametrize(
    ("rate", "bpm", "beat", "exact"),
    [
        (48000, 120, 24000, 120.0),
        (44100, 120, 22050, 120.0),
        (48000, 140, 20571, 48000 * 60 / 20571),  # 20571.43 frames: the beat is rounded
        (44100, 97.3, 27194, 44100 * 60 / 27194),
    ],
)
def test_a_beat_is_a_whole_number_of_frames_and_the_tempo_is_what_that_gives(
    rate: int, bpm: float, beat: int, exact: float
) -> None:
    grid = Grid.from_bpm(rate, bpm, 4)
    assert grid.beat == beat and grid.bar == 4 * beat
    assert grid.bpm == pytest.approx(exact, rel=0, abs=1e-12)


G = Grid(1000, 500, 4, origin=100)  # bars of 2000 frames starting at frame 100


@pytest.mark.parametrize(
    ("frame", "index", "start", "next_bar", "next_beat", "beat_in_bar"),
    [
        (100, 0, 100, 100, 100, 0),
        (101, 0, 100, 2100, 600, 0),
        (2099, 0, 100, 2100, 2100, 3),
        (2100, 1, 2100, 2100, 2100, 0),
        (2600, 1, 2100, 4100, 2600, 1),
        (99, -1, -1900, 100, 100, 3),  # before the origin: bar -1
        (-1900, -1, -1900, -1900, -1900, 0),
    ],
)
def test_bar_and_beat_arithmetic(
    frame: int, index: int, start: int, next_bar: int, next_beat: int, beat_in_bar: int
) -> None:
    assert G.bar_index(frame) == index
    assert G.bar_start(frame) == start
    assert G.next_bar(frame) == next_bar
    assert G.next_beat(frame) == next_beat
    assert G.beat_in_bar(frame) == beat_in_bar
    assert G.next_beat_after(frame) > frame


@pytest.mark.parametrize(
    ("frame", "late", "snap"),
    [
        (2100, 0.75, 2100),  # on the downbeat
        (2100 + 1499, 0.75, 2100),  # the last frame of the first three quarters
        (2100 + 1500, 0.75, 4100),  # the first frame of the last quarter: the coming one
        (4099, 0.75, 4100),
        (2100 + 999, 0.5, 2100),
        (2100 + 1000, 0.5, 4100),
        (2100 + 1999, 1.0, 2100),  # late_press 1: always the downbeat just passed
    ],
)
def test_snap_means_the_downbeat_just_passed_unless_the_press_is_late(
    frame: int, late: float, snap: int
) -> None:
    assert G.snap(frame, late) == snap
