"""Where a frame becomes sound: a track's loop played into the bus, its seam and its gain.

Playback runs in output time t. A track reads one page per output bar,
chosen (latched) at the bar's start, so a change of layer never lands inside
a bar. Any change of what a track plays goes through its gain envelope (a
linear ramp over the crossfade); when the audio itself changes at once (a
reset, a replace, an undo), `let_go` first hands what was playing to a tail
(core/tail.py) that fades it out under the new audio's fade-in. The loop's
last crossfade frames fade into the audio that led into its first bar (the
seam), so nothing clicks.

These are module functions of the engine, not methods of a helper object:
`play` runs once per sounding track per segment, and a module function costs
no more than the method it was, with no extra layer of calls. They write into
the engine's preallocated buffers (`scratch`, `gain`) and allocate nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from looper.core.tail import Tail
from looper.core.tempo import FAR
from looper.core.track import Track
from looper.core.tracks import State

if TYPE_CHECKING:
    from looper.core.engine import Engine

CLICK_SECONDS = 0.03
#: The states in which a track's loop is played (at its envelope's gain, maybe 0).
SOUNDING = (State.PLAYING, State.OVERDUBBING, State.MUTED, State.STOPPED, State.RECORDING)


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


def source(
    e: Engine, page: int, page_start: int, pos: int, length: int, pre: int, t: int, n: int
) -> np.ndarray:
    """n frames of a loop from output frame t: bar `page` (begun at `page_start`), at loop
    position `pos`; in its last crossfade frames faded into its lead-in `pre` (the seam)."""
    pages = e.pool.pages
    off = t - page_start
    src = pages[page, off : off + n]
    x = e.xfade
    if x and pos >= length - x:
        bar = e.grid.bar
        q = pos - (length - x)
        lead = e.pool.zero if pre < 0 else pages[pre]
        src = seam(src, lead[bar - x + q : bar - x + q + n], e.ramp[q : q + n], e.scratch[:n])
    return src


def ramped(e: Engine, src: np.ndarray, start: float, to: float, j: int, bus: np.ndarray) -> None:
    """Add src to the bus under a gain ramping from `start` to `to`, j frames into the ramp."""
    n = len(bus)
    gain = e.gain[:n]
    np.multiply(e.ramp[j : j + n], to - start, out=gain)
    gain += start
    out = e.scratch[:n]
    np.multiply(src, gain[:, None], out=out)
    np.add(bus, out, out=bus)


def play(e: Engine, tr: Track, t: int, bus: np.ndarray) -> None:
    """Add one track's loop for this segment to the bus."""
    n = len(bus)
    x = e.xfade
    ramping = x and t < tr.env_at + x
    if not ramping and tr.env_to == 0.0:
        return
    length = tr.bars * e.grid.bar
    pos = (t - tr.anchor) % length
    src = source(e, tr.latched, tr.latched_start, pos, length, int(tr.pre[tr.top]), t, n)
    if ramping:
        ramped(e, src, tr.env_from, tr.env_to, t - tr.env_at, bus)
    elif tr.env_to == 1.0:  # full volume, the common case: one pass
        np.add(bus, src, out=bus)
    else:
        out = e.scratch[:n]
        np.multiply(src, tr.env_to, out=out)
        np.add(bus, out, out=bus)


def play_tail(e: Engine, tail: Tail, t: int, bus: np.ndarray) -> None:
    """Add a fading tail for this segment to the bus (it ends at a segment boundary)."""
    if t >= tail.start + e.grid.bar:  # the bar after the one it began in
        tail.page, tail.nxt, tail.start = tail.nxt, tail.page, tail.start + e.grid.bar
        e.changed = True  # its pages are in the checkpoint (core/durable.py)
    pos = (t - tail.anchor) % tail.length
    src = source(e, tail.page, tail.start, pos, tail.length, tail.pre, t, len(bus))
    ramped(e, src, tail.gain, 0.0, t - tail.at, bus)


def let_go(e: Engine, tr: Track, t: int) -> None:
    """What the track plays is about to change at t: a tail goes on with it, fading out.

    Call it before the tables change (the tail reads the pages they hold now); then
    `resume` or `sound` fades the new audio in. Silent audio needs no tail."""
    x = e.xfade
    if not x or not tr.has_loop or tr.state not in SOUNDING:
        return
    gain = envelope(e, tr, t)
    if gain == 0.0:
        return
    tail = _free_tail(e, tr, t)
    bar = e.grid.bar
    if t >= tr.latched_start + bar:  # at a downbeat, before the engine latches its page
        latch(e, tr, t)
    length = tr.bars * bar
    pos = (t - tr.anchor) % length
    nxt = int(tr.table[tr.top, (pos // bar + 1) % tr.bars])
    pre = int(tr.pre[tr.top])
    tail.hold(e.pool, tr.latched, nxt, pre, tr.latched_start, tr.anchor, length, gain, t, t + x)
    e.tail_end = min(e.tail_end, t + x)
    e.tails_until = max(e.tails_until, t + x)


def _free_tail(e: Engine, tr: Track, t: int) -> Tail:
    """A tail that holds nothing; when all of them fade, the quietest at t is cut for it."""
    quietest, least = tr.tails[0], 2.0
    for tail in tr.tails:
        if tail.held and tail.until <= t:  # faded, not yet given back
            tail.release(e.pool)
        if not tail.held:
            return tail
        level = tail.gain * (1.0 - float(e.ramp[t - tail.at]))
        if level < least:
            quietest, least = tail, level
    quietest.release(e.pool)
    return quietest


def end_tails(e: Engine, t: int) -> None:
    """The tails that have faded by t give their pages back; the next end is found."""
    nearest = FAR
    for tr in e.tracks:
        for tail in tr.tails:
            if tail.held:
                if tail.until <= t:
                    tail.release(e.pool)
                else:
                    nearest = min(nearest, tail.until)
    e.tail_end = nearest


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


def resume(e: Engine, tr: Track, t: int) -> None:
    """After a change (`let_go`): the loop, if any, fades in from silence to the gain the
    track was heading for; a track that was fading out stays silent."""
    if tr.has_loop:
        latch(e, tr, t)
        fade(e, tr, t, tr.env_to, start=0.0)
    else:
        tr.env_from = tr.env_to = 0.0
