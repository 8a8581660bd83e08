"""Where a frame becomes sound: a track's loop played into the bus, its seam and its gain.

Playback runs in output time t. A track reads one page per output bar,
chosen (latched) at the bar's start, so a change of layer never lands inside
a bar. Any change of what a track plays goes through its gain envelope (a
linear ramp over the crossfade), and the loop's last crossfade frames fade
into the audio that led into its first bar (the seam), so nothing clicks.

These are module functions of the engine, not methods of a helper object:
`play` runs once per sounding track per segment, and a module function costs
no more than the method it was, with no extra layer of calls. They write into
the engine's preallocated buffers (`scratch`, `gain`) and allocate nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from looper.core.track import Track

if TYPE_CHECKING:
    from looper.core.engine import Engine

CLICK_SECONDS = 0.03


def click_sounds(sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """The accented downbeat and the other beats: short decaying sine blips."""
    n = max(1, round(CLICK_SECONDS * sample_rate))
    t = np.arange(n) / sample_rate
    decay = np.exp(-t / (CLICK_SECONDS / 5))
    accent = (np.sin(2 * np.pi * 1760 * t) * decay).astype(np.float32)
    beat = (0.6 * np.sin(2 * np.pi * 1100 * t) * decay).astype(np.float32)
    return accent, beat


def seam(tail: np.ndarray, lead: np.ndarray, ramp: np.ndarray, out: np.ndarray) -> np.ndarray:
    """A loop's last frames fading into the audio that led into its first bar, into `out`."""
    np.subtract(lead, tail, out=out)
    out *= ramp[:, None]
    out += tail
    return out


def play(e: Engine, tr: Track, t: int, bus: np.ndarray) -> None:
    """Add one track's loop for this segment to the bus."""
    n = len(bus)
    x = e.xfade
    ramping = x and t < tr.env_at + x
    if not ramping and tr.env_to == 0.0:
        return
    bar = e.grid.bar
    pages = e.pool.pages
    length = tr.bars * bar
    pos = (t - tr.anchor) % length
    off = t - tr.latched_start
    src = pages[tr.latched, off : off + n]
    out = e.scratch[:n]
    if x and pos >= length - x:  # the seam: fade into the audio that led into the loop
        q = pos - (length - x)
        pre_page = tr.pre[tr.top]
        lead = e.pool.zero if pre_page < 0 else pages[pre_page]
        src = seam(src, lead[bar - x + q : bar - x + q + n], e.ramp[q : q + n], out)
    if ramping:
        gain = e.gain[:n]
        j = t - tr.env_at
        np.multiply(e.ramp[j : j + n], tr.env_to - tr.env_from, out=gain)
        gain += tr.env_from
        np.multiply(src, gain[:, None], out=out)
    elif tr.env_to == 1.0:  # full volume, the common case: one pass
        np.add(bus, src, out=bus)
        return
    else:
        np.multiply(src, tr.env_to, out=out)
    np.add(bus, out, out=bus)


def latch(e: Engine, tr: Track, t: int) -> None:
    """Choose the page output bar t reads; it holds until the next bar starts."""
    bar = e.grid.bar
    pos = (t - tr.anchor) % (tr.bars * bar)
    tr.latched = int(tr.table[tr.top, pos // bar])
    tr.latched_start = t - pos % bar


def envelope(e: Engine, tr: Track, t: int) -> float:
    """The track's gain at frame t."""
    j = t - tr.env_at
    if not e.xfade or j >= e.xfade:
        return tr.env_to
    return tr.env_from + (tr.env_to - tr.env_from) * float(e.ramp[j])


def fade(e: Engine, tr: Track, t: int, to: float, start: float | None = None) -> None:
    """Ramp the gain from where it is (or `start`) to `to`, over the crossfade from t."""
    tr.env_from = envelope(e, tr, t) if start is None else start
    tr.env_to = to
    tr.env_at = t
    if not e.xfade:
        tr.env_from = to


def sound(e: Engine, tr: Track, t: int) -> None:
    """Start hearing the loop at t, from silence."""
    latch(e, tr, t)
    fade(e, tr, t, tr.volume, start=0.0)
