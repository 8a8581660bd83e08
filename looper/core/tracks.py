"""Track state, and what each command does in each state, as one table.

The engine looks up (state, command type) in `TRANSITIONS` and runs the
`Action` found; a cell that is missing means the command does nothing in that
state (the engine says so in a status message). Tests walk every cell.

`Action` is an enum, not a name: core/actions.py maps each member to its code
through static tables, so a reader (and mypy) can follow a command to the
lines that run it. The track itself, with its layer tables, is core/track.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from looper.core.commands import (
    Backloop,
    Command,
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


class State(Enum):
    EMPTY = "empty"
    WAITING = "waiting"
    RECORDING = "recording"
    PLAYING = "playing"
    STOPPED = "stopped"
    MUTED = "muted"
    OVERDUBBING = "overdubbing"


class Action(Enum):
    """What a command does to a track; the value is the code a status message carries."""

    CAPTURE = 1  # backloop: history bars become the loop
    ARM = 2  # record start
    CLOSE = 3  # record end, then play
    CLOSE_DUB = 4  # record end, then overdub
    CLOSE_STOP = 5  # record end, then stop
    CANCEL = 6  # drop a recording in progress
    DUB_ON = 7
    DUB_OFF = 8
    START = 9  # play from the top at the next downbeat
    STOP = 10
    MUTE = 11
    UNMUTE = 12
    UNDO = 13
    REDO = 14
    RESET = 15

    @property
    def word(self) -> str:
        """The action as the status and messages name it: "close_dub", "capture", ..."""
        return self.name.lower()


S = State
A = Action
#: (state, command type) -> the action it runs (core/actions.py has each one's code).
TRANSITIONS: dict[tuple[State, type[Command]], Action] = {
    (S.EMPTY, Backloop): A.CAPTURE,
    (S.EMPTY, Record): A.ARM,
    (S.EMPTY, Redo): A.REDO,
    (S.EMPTY, Reset): A.RESET,
    (S.WAITING, Backloop): A.CAPTURE,
    (S.WAITING, Record): A.ARM,
    (S.WAITING, Reset): A.RESET,
    (S.RECORDING, Record): A.CLOSE,
    (S.RECORDING, Overdub): A.CLOSE_DUB,
    (S.RECORDING, Stop): A.CLOSE_STOP,
    (S.RECORDING, Toggle): A.CLOSE,
    (S.RECORDING, Undo): A.CANCEL,
    (S.RECORDING, Reset): A.RESET,
    (S.PLAYING, Backloop): A.CAPTURE,
    (S.PLAYING, Record): A.ARM,
    (S.PLAYING, Overdub): A.DUB_ON,
    (S.PLAYING, Play): A.START,
    (S.PLAYING, Stop): A.STOP,
    (S.PLAYING, Toggle): A.STOP,
    (S.PLAYING, Mute): A.MUTE,
    (S.PLAYING, Undo): A.UNDO,
    (S.PLAYING, Redo): A.REDO,
    (S.PLAYING, Reset): A.RESET,
    (S.OVERDUBBING, Overdub): A.DUB_OFF,
    (S.OVERDUBBING, Stop): A.STOP,
    (S.OVERDUBBING, Toggle): A.STOP,
    (S.OVERDUBBING, Undo): A.UNDO,
    (S.OVERDUBBING, Reset): A.RESET,
    (S.STOPPED, Backloop): A.CAPTURE,
    (S.STOPPED, Record): A.ARM,
    (S.STOPPED, Play): A.START,
    (S.STOPPED, Toggle): A.START,
    (S.STOPPED, Undo): A.UNDO,
    (S.STOPPED, Redo): A.REDO,
    (S.STOPPED, Reset): A.RESET,
    (S.MUTED, Backloop): A.CAPTURE,
    (S.MUTED, Record): A.ARM,
    (S.MUTED, Play): A.START,
    (S.MUTED, Stop): A.STOP,
    (S.MUTED, Toggle): A.STOP,
    (S.MUTED, Mute): A.UNMUTE,
    (S.MUTED, Undo): A.UNDO,
    (S.MUTED, Redo): A.REDO,
    (S.MUTED, Reset): A.RESET,
}


#: The commands the table speaks of (every other command is global or state-free).
TRACK_COMMANDS: tuple[type[Command], ...] = (
    Backloop,
    Record,
    Overdub,
    Play,
    Stop,
    Toggle,
    Mute,
    Undo,
    Redo,
    Reset,
)


@dataclass(slots=True)
class Pending:
    """An action waiting for its frame; pressing the same pedal again cancels it."""

    action: Action
    frame: int
    command: object
    bar: int = 0  # the bar a record or overdub start/end snapped to, as a frame
    bars: int = 0  # how many bars a capture takes
