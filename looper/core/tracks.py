"""Track state, and what each command does in each state, as one table.

The engine looks up (state, command type) here and runs the named action; a
cell that is missing means the command does nothing in that state (the engine
says so in a status message). Tests walk every cell.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

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

#: Undo layers kept per track; the oldest is dropped past this.
MAX_LAYERS = 32


class State(Enum):
    EMPTY = "empty"
    WAITING = "waiting"
    RECORDING = "recording"
    PLAYING = "playing"
    STOPPED = "stopped"
    MUTED = "muted"
    OVERDUBBING = "overdubbing"


S = State
#: (state, command type) -> engine action. Actions: capture (backloop), arm (record start),
#: close / close_dub / close_stop (record end, then play / overdub / stop), dub_on, dub_off,
#: start (play from the top at the next downbeat), stop, mute, unmute, undo, redo, cancel
#: (drop a recording in progress), reset.
TRANSITIONS: dict[tuple[State, type], str] = {
    (S.EMPTY, Backloop): "capture",
    (S.EMPTY, Record): "arm",
    (S.EMPTY, Redo): "redo",
    (S.EMPTY, Reset): "reset",
    (S.WAITING, Backloop): "capture",
    (S.WAITING, Record): "arm",
    (S.WAITING, Reset): "reset",
    (S.RECORDING, Record): "close",
    (S.RECORDING, Overdub): "close_dub",
    (S.RECORDING, Stop): "close_stop",
    (S.RECORDING, Toggle): "close",
    (S.RECORDING, Undo): "cancel",
    (S.RECORDING, Reset): "reset",
    (S.PLAYING, Backloop): "capture",
    (S.PLAYING, Record): "arm",
    (S.PLAYING, Overdub): "dub_on",
    (S.PLAYING, Play): "start",
    (S.PLAYING, Stop): "stop",
    (S.PLAYING, Toggle): "stop",
    (S.PLAYING, Mute): "mute",
    (S.PLAYING, Undo): "undo",
    (S.PLAYING, Redo): "redo",
    (S.PLAYING, Reset): "reset",
    (S.OVERDUBBING, Overdub): "dub_off",
    (S.OVERDUBBING, Stop): "stop",
    (S.OVERDUBBING, Toggle): "stop",
    (S.OVERDUBBING, Undo): "undo",
    (S.OVERDUBBING, Reset): "reset",
    (S.STOPPED, Backloop): "capture",
    (S.STOPPED, Record): "arm",
    (S.STOPPED, Play): "start",
    (S.STOPPED, Toggle): "start",
    (S.STOPPED, Undo): "undo",
    (S.STOPPED, Redo): "redo",
    (S.STOPPED, Reset): "reset",
    (S.MUTED, Backloop): "capture",
    (S.MUTED, Record): "arm",
    (S.MUTED, Play): "start",
    (S.MUTED, Stop): "stop",
    (S.MUTED, Toggle): "stop",
    (S.MUTED, Mute): "unmute",
    (S.MUTED, Undo): "undo",
    (S.MUTED, Redo): "redo",
    (S.MUTED, Reset): "reset",
}

#: The commands the table speaks of (every other command is global or state-free).
TRACK_COMMANDS: tuple[type, ...] = (
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

    action: str
    frame: int
    command: object
    bar: int = 0  # the bar a record or overdub start/end snapped to, as a frame
    bars: int = 0  # how many bars a capture takes


class Track:
    """One track's loop layers, playback and envelope; the engine drives it."""

    def __init__(self, index: int, max_bars: int, volume: float = 1.0) -> None:
        self.index = index
        self.state = State.EMPTY
        self.pending: Pending | None = None
        self.volume = volume
        # Layers: a stack of page tables; layers above `top` can be redone.
        self.table = np.full((MAX_LAYERS, max_bars), -1, dtype=np.int64)
        self.nbars = np.zeros(MAX_LAYERS, dtype=np.int64)
        self.pre = np.full(MAX_LAYERS, -1, dtype=np.int64)  # page before the loop: crossfade
        self.fresh = np.zeros(MAX_LAYERS, dtype=np.int64)  # pages an overdub pass wrote anew
        self.top = -1
        self.count = 0
        self.anchor = 0  # output frame where loop position 0 sits; loops are whole bars
        # Playback reads one page per output bar, chosen at the bar's start.
        self.latched = -1
        self.latched_start = 0
        # Gain envelope: from `env_from` to `env_to` over the crossfade, starting at `env_at`.
        self.env_from = 0.0
        self.env_to = 0.0
        self.env_at = 0
        # Recording: history bars from `rec_bar` on are held in `rec_pages`.
        self.rec_bar = 0
        self.rec_pages = np.full(max_bars, -1, dtype=np.int64)
        self.rec_count = 0
        self.state_before_rec = State.EMPTY
        # Overdub: performance-time bars [dub_from, dub_until) are layered in.
        self.dub_from = 0
        self.dub_until = 0
        self.dubbing = False

    @property
    def bars(self) -> int:
        return int(self.nbars[self.top]) if self.top >= 0 else 0

    @property
    def has_loop(self) -> bool:
        return self.top >= 0
