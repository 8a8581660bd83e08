"""Every track state x every track command, cell by cell.

Each state is reached by a real performance; the expected cells are written
out here from the contract, not read from looper.core.tracks.
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import BAR, render

from looper.core.commands import (
    Backloop,
    Mute,
    Overdub,
    Play,
    Record,
    Redo,
    Reset,
    Stop,
    Toggle,
    Undo,
)
from looper.core.tracks import TRACK_COMMANDS, TRANSITIONS, Action, State

E, W, R, P, S, M, D = (
    State.EMPTY,
    State.WAITING,
    State.RECORDING,
    State.PLAYING,
    State.STOPPED,
    State.MUTED,
    State.OVERDUBBING,
)

# How to reach each state (commands at frames), and the frame the tested command comes at.
# The command frame is 200 frames into bar 3 (snaps back to 6000) except for WAITING,
# which is reached by a late press and tested in the last quarter of the bar (snaps to 8000).
SETUPS: dict[State, tuple[list[tuple[int, object]], int]] = {
    E: ([], 3 * BAR + 200),
    W: ([(3 * BAR + 1600, Backloop(0, 2))], 3 * BAR + 1700),
    R: ([(3 * BAR + 100, Record(0))], 3 * BAR + 200),
    P: ([(3 * BAR + 100, Backloop(0, 2))], 3 * BAR + 200),
    S: ([(BAR + 100, Backloop(0, 1)), (BAR + 200, Stop(0))], 3 * BAR + 200),
    M: ([(3 * BAR + 100, Backloop(0, 2)), (3 * BAR + 150, Mute(0))], 3 * BAR + 200),
    D: ([(2 * BAR + 100, Backloop(0, 2)), (3 * BAR + 100, Overdub(0))], 3 * BAR + 200),
}

COMMANDS = {
    "backloop": Backloop(0, 2),
    "record": Record(0),
    "overdub": Overdub(0),
    "play": Play(0),
    "stop": Stop(0),
    "toggle": Toggle(0),
    "mute": Mute(0),
    "undo": Undo(0),
    "redo": Redo(0),
    "reset": Reset(0),
}

A = Action
# (state, command) -> (state right after, action still waiting or None)
EXPECTED: dict[tuple[State, str], tuple[State, Action | None]] = {
    (E, "backloop"): (P, None),
    (E, "record"): (R, None),
    (E, "overdub"): (E, None),
    (E, "play"): (E, None),
    (E, "stop"): (E, None),
    (E, "toggle"): (E, None),
    (E, "mute"): (E, None),
    (E, "undo"): (E, None),
    (E, "redo"): (E, None),
    (E, "reset"): (E, None),
    (W, "backloop"): (E, None),  # the same pedal again cancels
    (W, "record"): (W, A.ARM),
    (W, "overdub"): (W, A.CAPTURE),
    (W, "play"): (W, A.CAPTURE),
    (W, "stop"): (W, A.CAPTURE),
    (W, "toggle"): (W, A.CAPTURE),
    (W, "mute"): (W, A.CAPTURE),
    (W, "undo"): (E, None),  # undo cancels what waits
    (W, "redo"): (W, A.CAPTURE),
    (W, "reset"): (E, None),
    (R, "backloop"): (R, None),
    (R, "record"): (R, A.CLOSE),  # ends at least one bar after the start
    (R, "overdub"): (R, A.CLOSE_DUB),
    (R, "play"): (R, None),
    (R, "stop"): (R, A.CLOSE_STOP),
    (R, "toggle"): (R, A.CLOSE),
    (R, "mute"): (R, None),
    (R, "undo"): (E, None),
    (R, "redo"): (R, None),
    (R, "reset"): (E, None),
    (P, "backloop"): (P, None),
    (P, "record"): (R, None),
    (P, "overdub"): (D, None),
    (P, "play"): (P, A.START),
    (P, "stop"): (P, A.STOP),
    (P, "toggle"): (P, A.STOP),
    (P, "mute"): (M, None),
    (P, "undo"): (E, None),
    (P, "redo"): (P, None),
    (P, "reset"): (E, None),
    (S, "backloop"): (P, None),
    (S, "record"): (R, None),
    (S, "overdub"): (S, None),
    (S, "play"): (S, A.START),
    (S, "stop"): (S, None),
    (S, "toggle"): (S, A.START),
    (S, "mute"): (S, None),
    (S, "undo"): (E, None),
    (S, "redo"): (S, None),
    (S, "reset"): (E, None),
    (M, "backloop"): (P, None),
    (M, "record"): (R, None),
    (M, "overdub"): (M, None),
    (M, "play"): (M, A.START),
    (M, "stop"): (M, A.STOP),
    (M, "toggle"): (M, A.STOP),
    (M, "mute"): (P, None),
    (M, "undo"): (E, None),
    (M, "redo"): (M, None),
    (M, "reset"): (E, None),
    (D, "backloop"): (D, None),
    (D, "record"): (D, None),
    (D, "overdub"): (P, None),  # snaps back to the downbeat the overdub began on: nothing layered
    (D, "play"): (D, None),
    (D, "stop"): (D, A.STOP),
    (D, "toggle"): (D, A.STOP),
    (D, "mute"): (D, None),
    (D, "undo"): (P, None),
    (D, "redo"): (D, None),
    (D, "reset"): (E, None),
}


def test_the_table_covers_exactly_the_commands_tested() -> None:
    assert {type(c) for c in COMMANDS.values()} == set(TRACK_COMMANDS)
    assert len(EXPECTED) == len(State) * len(COMMANDS)
    assert {key[0] for key in TRANSITIONS} <= set(State)


@pytest.mark.parametrize(("state", "name"), sorted(EXPECTED, key=lambda k: (k[0].value, k[1])))
def test_transition(state: State, name: str) -> None:
    setup, at = SETUPS[state]
    engine, _ = render([*setup], at, block=256)  # output and state do not depend on the block
    assert engine.tracks[0].state is state, "the setup did not reach the state"
    engine.submit(COMMANDS[name], at)
    engine.process(np.zeros((1, 1), np.float32), np.zeros((1, 2), np.float32))
    tr = engine.tracks[0]
    want_state, want_pending = EXPECTED[(state, name)]
    assert tr.state is want_state
    assert (tr.pending.action if tr.pending else None) == want_pending
