"""Peak meters and the clip counter: arrays the callback max-accumulates, a reader takes.

The callback only ever raises a peak (`np.maximum` into a preallocated array)
and adds to the clip count; the status publisher takes a `MeterReading` (small
copies) through `EngineView.take_meters`, which resets the peaks, so each
reading is the loudest sample since the one before. The clip count is never
reset: it is the session's total, so one clip still shows minutes later.

The reader and the callback do not lock: a peak that lands between the copy and
the reset is lost to that reading. A meter is for the eye, and the next block
brings the next peak.

What each meter reads (the engine measures; see core/engine.py, core/master.py):

- inputs: each recorded channel, after input hygiene (a NaN reads as the 0 it became);
- tracks: what each track adds to the mix, after its gain;
- outputs: each output channel as the card gets it (after the master volume and limiter);
- clips: output samples (one per channel and frame) over full scale after the master
  volume, before the limiter: with the limiter on, what it saved from clipping; with
  it off, what the card clipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class MeterReading:
    """The peaks since the last reading (linear, 1.0 is full scale) and the clips so far."""

    inputs: tuple[float, ...]  # one per recorded channel, in `audio.inputs` order
    tracks: tuple[float, ...]  # one per track
    outputs: tuple[float, ...]  # one per output channel of the card, from channel 1
    clips: int


class Meters:
    """The peaks the callback raises, and the clip count it adds to.

    The input and output peaks are kept per frame of the block (max_block x channels),
    raised elementwise, and reduced to one peak per channel by the reader: an elementwise
    `np.maximum` is the cheapest thing the callback can do (a reduction along the
    frames costs three times as much). The track peaks are one per track.
    """

    __slots__ = ("_clips", "_lane_peaks", "inputs", "outputs", "tracks")

    def __init__(self, peaks: tuple[np.ndarray, ...], clips: np.ndarray) -> None:
        """`peaks`: the input (max_block x inputs), track and output (max_block x outputs)
        arrays, and `clips` a one-number array: the engine's memory's (core/memory.py), so a
        reader in another process sees them too."""
        self.inputs, self.tracks, self.outputs = peaks
        self._clips = clips
        self._lane_peaks = np.zeros(len(self.tracks), dtype=np.float32)

    @property
    def clips(self) -> int:
        return int(self._clips[0])

    @clips.setter
    def clips(self, value: int) -> None:
        self._clips[0] = value

    def raise_tracks(self, lanes: np.ndarray) -> None:
        """Raise each track's peak from its lane (tracks x frames x channels; made |x| here)."""
        np.abs(lanes, out=lanes)
        np.maximum.reduce(lanes, axis=(1, 2), out=self._lane_peaks)
        np.maximum(self.tracks, self._lane_peaks, out=self.tracks)

    def take(self) -> MeterReading:
        """Copy the peaks and reset them (not realtime)."""
        return MeterReading(
            inputs=_taken(self.inputs),
            tracks=_taken(self.tracks),
            outputs=_taken(self.outputs),
            clips=self.clips,
        )


def _taken(peaks: np.ndarray) -> tuple[float, ...]:
    """One peak per channel (or track), and the array reset."""
    values = peaks.max(axis=0) if peaks.ndim == 2 else peaks.copy()
    peaks.fill(0.0)
    return tuple(float(v) for v in values)
