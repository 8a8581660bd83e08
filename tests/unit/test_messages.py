"""Every message code in words: the texts the performer reads (and other tests match)."""

from __future__ import annotations

import pytest

from looper.core.commands import Overdub, Reset
from looper.core.messages import COMMAND_CODES, STATE_CODES, MessageCode, words
from looper.core.tracks import Action, State

M = MessageCode
TEXTS = [
    (M.DOES_NOTHING, (2, COMMAND_CODES[Overdub], STATE_CODES[State.EMPTY]),
     "track 2: overdub does nothing while empty"),
    (M.DOES_NOTHING, (1, COMMAND_CODES[Reset], STATE_CODES[State.WAITING]),
     "track 1: reset does nothing while waiting"),
    (M.CANCELLED, (3, Action.CLOSE_DUB.value), "track 3: close_dub cancelled"),
    (M.NO_TEMPO_YET, (), "no tempo yet: record the first loop (clicktrack.bpm is auto)"),
    (M.NO_WHOLE_BAR, (1,), "track 1: no whole bar of history yet"),
    (M.MEMORY_FULL, (4,), "track 4: loop memory full (raise tracks.memory_seconds)"),
    (M.FIRST_LOOP_TOO_SHORT, (), "that first loop is too short for the latency and crossfade"),
    (M.TEMPO_FROM_FIRST_LOOP, (91.4285714,), "tempo 91.43 bpm from the first loop"),
    (M.RECORDING_DROPPED, (1,), "track 1: recording dropped"),
    (M.NOTHING_TO_REDO, (2,), "track 2: nothing to redo"),
    (M.RECORDING_CLOSED_FULL, (1,), "track 1: loop memory full, recording closed"),
    (M.OVERDUB_ENDED_FULL, (1,), "track 1: loop memory full, overdub ended"),
    (M.BUSY_LOOP_NOT_SET, (1, STATE_CODES[State.OVERDUBBING]),
     "track 1: busy overdubbing; loop not set"),
    (M.TEMPO_NEEDS_EMPTY, (), "tempo changes only while every track is empty"),
    (M.TOO_FAST, (300.0,), "300.0 bpm is too fast for the latency and crossfade"),
    (M.TEMPO, (120.0,), "tempo 120.00 bpm"),
    (M.INPUT_NOT_FINITE, (2,), "input 2 sent NaN or Inf samples: they are silenced"),
    (M.FIRST_LOOP_BUSY, (3, 1), "track 3: not recorded: track 1 is recording the first loop"),
    (M.TOO_SLOW, (20.0,), "20.0 bpm is too slow for the loop memory (raise tracks.memory_seconds)"),
    (M.FIRST_LOOP_TOO_LONG, (),
     "that first loop is too long for the slowest tempo or the loop memory "
     "(raise tracks.memory_seconds)"),
]  # fmt: skip


def test_every_code_has_a_text_here() -> None:
    assert {code for code, _, _ in TEXTS} == set(MessageCode)


@pytest.mark.parametrize(("code", "args", "text"), TEXTS)
def test_words(code: MessageCode, args: tuple[float, ...], text: str) -> None:
    assert words(code, args) == text
