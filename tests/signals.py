"""The self-describing test signal: every frame says which input frame it is.

`ramp` gives frame u the value (u % wrap + 1) * unit, times a gain per channel: never 0,
so silence is told from signal, and exact in float32 (every value is a whole number of
`unit`s below 2**24), so a loop, a session file or a recording through a live server is
checked sample by sample against the very frames it must hold, and `frame_of` reads
back which ones those are. Every test signal is one of its forms:

* offline, at the engine's 1000 Hz test rate: unit 1, frame u carries u + 1
  (`engine_helpers.ramp_input`; a session's `gains=(1, -1)` tells its channels apart);
* through audio files and the seed API: a unit of 2**-12 or 2**-15 keeps it in [-1, 1];
* live, through JACK: `live_ramp`, a unit of 2**-20 (values in (0, 1] for 21 s at
  48 kHz, then it wraps), decoded by `live_frame_of`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: The live signal wraps after this many frames: 21.8 s at 48 kHz, longer than any live test.
LIVE_WRAP = 2**20


def ramp(
    frames: int,
    channels: int = 1,
    *,
    gains: Sequence[float] | None = None,
    start: int = 0,
    wrap: int | None = None,
    unit: float = 1.0,
) -> np.ndarray:
    """frames x channels float32: frame u (from `start`) carries (u % wrap + 1) * unit.

    Channel c is that times `gains[c]` (then there are len(gains) channels); without
    gains every channel carries the same value.
    """
    u = np.arange(start, start + frames, dtype=np.int64)
    value = ((u if wrap is None else u % wrap) + 1) * unit
    factors = np.ones(channels) if gains is None else np.asarray(gains, dtype=np.float64)
    return (value[:, None] * factors[None, :]).astype(np.float32)


def frame_of(values: np.ndarray, unit: float = 1.0) -> np.ndarray:
    """The ramp frame each sample carries (gain 1; modulo the wrap); -1 for silence."""
    return np.where(values != 0, np.round(values / unit).astype(np.int64) - 1, -1)


def live_ramp(
    frames: int, channels: int = 1, *, gains: Sequence[float] | None = None
) -> np.ndarray:
    """The ramp for audio through a live server: values in (0, 1] per unit gain."""
    return ramp(frames, channels, gains=gains, wrap=LIVE_WRAP, unit=1 / LIVE_WRAP)


def live_frame_of(values: np.ndarray) -> np.ndarray:
    """Input frame (relative to the clip's start) of each sample of a live ramp; -1 for silence."""
    return frame_of(values, 1 / LIVE_WRAP)


def tone(frames: int, rate: int = 48000, hz: float = 437.0, db: float = -6.0) -> np.ndarray:
    """A continuous sine (mono, float32): the measuring tone for clicks at events and seams."""
    u = np.arange(frames, dtype=np.float64)
    return (10 ** (db / 20) * np.sin(2 * np.pi * hz * u / rate)).astype(np.float32)
