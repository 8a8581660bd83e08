"""The checkpoint (core/durable.py): an engine taken over by a new one plays on exactly.

A performance is rendered twice: once straight through, once stopped at a block
end, its memory handed to a new engine that restores the checkpoint and goes
on. From that frame on the two outputs are the same, sample for sample,
whatever was going on at the handover (a recording, an overdub, an action
waiting for its downbeat, a tail fading). With a gap (`Engine.skip`), the new
engine matches a straight render whose input was silent over the gap.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from engine_helpers import BAR, BASE
from signals import ramp

from looper.core import durable
from looper.core.commands import (
    Backloop,
    Command,
    Overdub,
    Play,
    Record,
    Reset,
    Stop,
    TrackVolume,
    Undo,
)
from looper.core.durable import Checkpoint, fresh_slot, restore
from looper.core.engine import Engine
from looper.core.memory import Memory, memory_bytes
from looper.core.tail import Tail
from looper.core.track import Track

SETTINGS = replace(BASE, crossfade_frames=40)
BLOCK = 64
N = 30 * BAR


def _at(bars: float) -> int:
    return round(bars * BAR)


SCRIPT: list[tuple[int, Command]] = [
    (_at(3.02), Backloop(0, 2)),
    (_at(4.1), Record(1)),
    (_at(6.05), Record(1)),
    (_at(7.01), Overdub(0)),
    (_at(9.03), Overdub(0)),
    (_at(10.2), Undo(0)),
    (_at(10.5), Stop(1)),
    (_at(12.4), Play(1)),
    (_at(12.6), TrackVolume(0, 0.5)),
    (_at(14.0), Reset(0)),
    (_at(15.02), Backloop(2, 1)),
    (_at(17.1), Record(3)),
]


def _run(
    e: Engine,
    x: np.ndarray,
    out: np.ndarray,
    start: int,
    end: int,
    script: list[tuple[int, Command]] = SCRIPT,
) -> None:
    """Blocks from `start` to `end`, each command submitted in the block it falls in, as the
    live callback does; a checkpoint after every block."""
    cp = Checkpoint(e.memory)
    for i in range(start, end, BLOCK):
        for frame, command in script:
            if i <= frame < i + BLOCK:
                e.submit(command, frame)
        e.process(x[i : i + BLOCK], out[i : i + BLOCK])
        cp.after_block(e)


def _straight(x: np.ndarray, script: list[tuple[int, Command]] = SCRIPT) -> np.ndarray:
    out = np.zeros((N, SETTINGS.out_channels), dtype=np.float32)
    _run(Engine(SETTINGS), x, out, 0, N, script)
    return out


def _handed_over(x: np.ndarray, at: int, gap: int = 0) -> np.ndarray:
    out = np.zeros((N, SETTINGS.out_channels), dtype=np.float32)
    first = Engine(SETTINGS)
    _run(first, x, out, 0, at)
    second = Engine(SETTINGS, first.memory)  # the memory outlives the first engine
    slot = fresh_slot(second.memory)
    assert Checkpoint(second.memory).read(slot)
    restore(second, slot)
    assert second.frame == at
    second.skip(gap)
    _run(second, x, out, at + gap, N)
    return out


INPUT = ramp(N)


@pytest.mark.parametrize(
    "bars",
    [
        pytest.param(5.0, id="recording"),
        pytest.param(8.0, id="overdubbing"),
        pytest.param(10.55, id="stop-waiting"),
        pytest.param(14.0, id="reset-tail"),
        pytest.param(17.5, id="three-tracks"),
    ],
)
def test_a_new_engine_plays_on_sample_exactly(bars: float) -> None:
    at = _at(bars) // BLOCK * BLOCK
    assert np.array_equal(_handed_over(INPUT, at)[at:], _straight(INPUT)[at:])


def test_the_handover_is_not_trivially_silent() -> None:
    out = _straight(INPUT)
    assert np.count_nonzero(out[_at(20) :, 0]) > BAR  # loops play after every handover point


@pytest.mark.parametrize("bars", [8.0, 17.5])
def test_after_a_gap_loops_are_in_phase_and_the_gap_is_silent_history(bars: float) -> None:
    at = _at(bars) // BLOCK * BLOCK
    gap = 3 * BAR + 17
    silent = INPUT.copy()
    silent[at : at + gap] = 0.0
    unheard = [(f, c) for f, c in SCRIPT if not at <= f < at + gap]  # no pedal in the gap
    expected = _straight(silent, unheard)
    assert np.array_equal(_handed_over(INPUT, at, gap)[at + gap :], expected[at + gap :])


def test_a_torn_slot_is_never_read() -> None:
    """The writer died in the middle of a copy: the slot it wrote is odd, the newest whole."""
    x = INPUT
    out = np.zeros((N, SETTINGS.out_channels), dtype=np.float32)
    first = Engine(SETTINGS)
    _run(first, x, out, 0, _at(8))
    cp = Checkpoint(first.memory)
    newest = int(first.memory.head[2])
    torn = first.memory.slots[1 - newest]
    first.memory.head[1 - newest] += 1  # odd: a copy under way...
    torn["ints"].fill(-7)  # ...half done
    slot = fresh_slot(first.memory)
    assert cp.read(slot)
    assert np.array_equal(slot["ints"], first.memory.slots[newest]["ints"])


def test_a_new_engine_over_memory_that_holds_loops_touches_no_page() -> None:
    out = np.zeros((N, SETTINGS.out_channels), dtype=np.float32)
    first = Engine(SETTINGS)
    _run(first, INPUT, out, 0, _at(8))
    pages = first.memory.pages.copy()
    Engine(SETTINGS, first.memory)
    assert np.array_equal(first.memory.pages, pages)


def test_a_fresh_memory_has_no_checkpoint() -> None:
    memory = Memory(SETTINGS)
    assert not Checkpoint(memory).read(fresh_slot(memory))


def test_a_shared_buffer_has_the_layout_of_private_arrays() -> None:
    buffer = memoryview(bytearray(memory_bytes(SETTINGS)))
    shared, private = Memory(SETTINGS, buffer), Memory(SETTINGS)
    assert shared.shared and not private.shared
    assert shared.pages.shape == private.pages.shape
    for a, b in zip(shared.slots, private.slots, strict=True):
        assert {n: v.shape for n, v in a.items()} == {n: v.shape for n, v in b.items()}
    shared.pages[-1] = 1.5  # the last array ends inside the buffer
    assert shared.slots[1]["t3.rec_pages"].shape[0] > 0


def test_every_field_of_a_track_and_a_tail_is_carried_or_given() -> None:
    d = durable
    carried = d.TRACK_INTS + d.TRACK_FLOATS + d.TRACK_STATES + d.TRACK_ARRAYS + d.TRACK_GIVEN
    assert sorted(carried) == sorted(Track.__slots__)
    assert sorted(d.TAIL_INTS + d.TAIL_FLOATS) == sorted(Tail.__slots__)
