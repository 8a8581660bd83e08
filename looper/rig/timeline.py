"""What the harness schedules on its frame timeline, and what it reads back from a recording.

A `Clip` (audio on the harness outputs) and a `MidiEvent` (a message on its pedal port)
are made in the main thread and read by the process callback, which marks them reached,
sent, done or late; so their fields are plain slots, set once each side.
`downbeats` finds the looper's click in a recording; `next_downbeat` listens for it and
gives the downbeat a test, the soak or the demo starts on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from looper.rig.ports import HarnessError

if TYPE_CHECKING:
    from looper.rig.harness import Harness


class Clip:
    """A signal scheduled on the harness outputs."""

    __slots__ = ("channels", "data", "done", "late", "reached", "start")

    def __init__(self, data: np.ndarray, channels: tuple[int, ...], start: int | None) -> None:
        self.data = data  # channels x frames, C-contiguous float32
        self.channels = channels
        self.start = start  # None: the callback fills in the next block's start
        self.reached = False  # the callback has come to its start
        self.done = False
        self.late = False  # its beginning was due before the callback reached it

    @property
    def frames(self) -> int:
        return int(self.data.shape[1])

    @property
    def end(self) -> int | None:
        """The harness frame just after the clip (None until it has a start)."""
        return None if self.start is None else self.start + self.frames

    def __repr__(self) -> str:
        return f"<Clip {self.frames} frames at {self.start} on {self.channels}>"


class MidiEvent:
    """A raw MIDI message scheduled on the pedal port."""

    __slots__ = ("data", "frame", "late", "sent")

    def __init__(self, frame: int, data: bytes) -> None:
        self.frame = frame
        self.data = data
        self.sent = False
        self.late = False  # its frame had passed: it went out at offset 0 of a later block

    def __repr__(self) -> str:
        return f"<MidiEvent {self.data.hex(' ')} at {self.frame}>"


def downbeats(click: np.ndarray, start: int = 0) -> np.ndarray:
    """Frames of the looper's click downbeats in a recorded click channel.

    Every click starts with sin(0) = 0 at its beat's first frame; the downbeat is the
    accented one, louder than the others.
    """
    level = np.abs(click)
    onsets = np.flatnonzero((level[1:] > 0) & (level[:-1] == 0))  # the beat's own frame
    onsets = onsets[onsets >= start]
    if not len(onsets):
        return onsets
    peaks = np.array([level[f + 1 : f + 64].max() for f in onsets])
    frames: np.ndarray = onsets[peaks > 0.8 * peaks.max()].astype(np.int64)
    return frames


def next_downbeat(
    harness: Harness, bar: int, *, click: int = 1, not_before: int = 0, ahead: float = 0.5
) -> int:
    """A downbeat of the looper's click, at or after `not_before` and `ahead` s in the future.

    Listens for a bar and a quarter on harness input `click` (0-based), so at least one
    downbeat is recorded whole: the grid is exact in frames, so that one tells all the
    later ones. The frame is the harness's, the click as it arrives (one period or more
    after the looper's own grid).
    """
    listen = bar + bar // 4
    harness.wait_frames(listen)
    beats = downbeats(harness.recording[:, click], harness.frame - listen)
    if not len(beats):
        raise HarnessError(f"no click downbeat recorded on harness input {click + 1}")
    d = int(beats[-1])
    while d < not_before or d < harness.frame_after(ahead):
        d += bar
    return d
