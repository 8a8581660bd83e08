"""Loops made from the history, overdub passes, and the loop memory they share.

This runs in performance time tau = t - latency: what arrives now was played
against output frame tau, so history bar k is what was played against output
bar k, and an overdub layers into the loop at the phase the performer heard.

When the memory is full, the oldest undo layer of some track goes (the
track asking first); only when none is left does the recording or overdub
stop, and the engine says so.

A pass that writes a loop's bar 0 also renews the layer's lead-in (the page
the seam fades into, core/playback.py), so the layer wraps into bar 0 as it
now sounds: the new lead-in's last crossfade frames are the old lead-in's
plus the input of the crossfade frames just before that bar 0 in
performance time (the end of history bar k - 1 when bar 0 is history bar
k). That input is what led into the layered bar 0, whether or not the pass
was layering yet; without a crossfade there is no seam and no new page. The
lead-in page is the layer's own (undo and redo keep it with the layer) and
takes its page like a bar of the pass: when neither fits, the overdub ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from looper.core.messages import MessageCode
from looper.core.playback import let_go, seam, sound
from looper.core.tempo import FAR, end_linear
from looper.core.track import Track
from looper.core.tracks import State

if TYPE_CHECKING:
    from looper.core.engine import Engine


def take(e: Engine, tr: Track, first: int, end: int, anchor: int, t: int) -> None:
    """History bars [first, end) become the track's loop, position 0 at `anchor`."""
    first = max(first, e.ring.oldest_bar)
    n = end - first
    if n <= 0 or not room(e, tr, captured=n + 1):
        if tr.state is State.WAITING:
            tr.state = State.EMPTY
        return
    let_go(e, tr, t)  # a loop it replaces fades out under the new one
    tr.capture(e.ring, first, n, anchor)
    tr.state = State.PLAYING
    tr.dubbing = False
    sound(e, tr, t)


def room(e: Engine, tr: Track, captured: int = 0) -> bool:
    """Make room for `captured` ring pages, evicting undo layers; False (said) when full."""
    if fits(e, tr, captured=captured):
        return True
    e.say(MessageCode.MEMORY_FULL, tr.index + 1)
    return False


def fits(e: Engine, tr: Track, fresh: int = 0, captured: int = 0) -> bool:
    """Evict undo layers until `fresh` new and `captured` ring pages fit; False when they don't."""
    while not e.pool.can_take(fresh=fresh, captured=captured):
        if not evict(e, tr):
            return False
    return True


def evict(e: Engine, tr: Track) -> bool:
    """Free the oldest undo layer of any track to make room; False when none is left."""
    for other in (tr, *e.tracks):
        if other.evictable:
            other.drop_oldest()
            return True
    return False


def clear(e: Engine, tr: Track) -> None:
    """Empty a track now (what it played fades out); a first loop it was recording is
    dropped with it."""
    if tr.state is State.RECORDING:
        end_linear(e)
    let_go(e, tr, e.frame)
    tr.clear()


def begin_dub(e: Engine, tr: Track, start: int, t: int) -> None:
    """Layer the input from performance frame `start` on, into a new undoable layer."""
    tr.dub_from = start
    tr.dub_until = FAR
    tr.dubbing = True
    tr.push_layer(copy=True)
    g = e.grid
    tau = t - e.latency
    k = g.bar_index(tau)
    filled = tau - g.origin - k * g.bar
    # The downbeat has passed: layer what was played since. On a bar's first frame the
    # history bar beginning now gives the pass its page; a second would free the first.
    if tau >= start and filled:
        dub_bar(e, tr, k, filled)


def end_dub(e: Engine, tr: Track, end: int, t: int) -> None:
    """Layer up to `end`; a bar already begun past `end` goes back to what it was."""
    tr.dub_until = end
    tau = t - e.latency
    if tr.dubbing and tau >= end:
        begun = e.grid.bar_start(tau)  # on its first frame, that bar is not layered yet
        if tau > begun >= tr.dub_from:
            tr.undub_slot()
            punch(e, tr, begun - e.grid.bar, fade_in=False)  # the last bar layered fades out
        tr.dubbing = False
    if not tr.dubbing and tr.pass_empty:
        tr.pop_layer()  # nothing was layered: no empty undo step


def dub_bar(e: Engine, tr: Track, k: int, filled: int) -> None:
    """History bar k begins (or is `filled` frames in): give the overdub a fresh page."""
    g = e.grid
    start = g.origin + k * g.bar
    if tr.dub_from < start and filled == 0:
        punch(e, tr, start - g.bar)  # the bar before is layered whole now
    if start >= tr.dub_until:
        tr.dubbing = False
        return
    if start < tr.dub_from:
        return
    j = ((start - tr.anchor) % (tr.bars * g.bar)) // g.bar
    if j == 0 and start > tr.dub_from:
        tr.push_layer(copy=True)  # each pass over the loop is one undoable layer
    lead = j == 0 and e.xfade > 0  # bar 0 renews the lead-in too
    if not fits(e, tr, fresh=2 if lead else 1):
        tr.dub_until = start
        punch(e, tr, start - g.bar, fade_in=False)
        tr.dubbing = False
        if tr.state is State.OVERDUBBING:  # a stop may have come first: it stays stopped
            tr.state = State.PLAYING
        e.say(MessageCode.OVERDUB_ENDED_FULL, tr.index + 1)
        return
    tr.dub_slot_page(j)
    pages = e.pool.pages
    if filled:
        old, page = tr.dub_old, tr.dub_page
        np.add(pages[old, :filled], pages[e.ring.page(k), :filled], out=pages[page, :filled])
    if lead:
        old, page = tr.renew_lead_in()
        x = g.bar - e.xfade
        was = (e.pool.zero if old < 0 else pages[old])[x:]
        before = e.ring.page(k - 1)  # the frames that led into this bar 0
        if before < 0:
            np.copyto(pages[page, x:], was)
        else:
            np.add(was, pages[before, x:], out=pages[page, x:])


def punch(e: Engine, tr: Track, bar_start: int, fade_in: bool = True) -> None:
    """The overdub's punch-in and punch-out are crossfaded, once the bar is layered whole.

    Layering starts and stops at a downbeat; where that is not the loop's top, the
    loop would step there from the bar without the new take to the bar with it. So
    the take fades in over the crossfade after the punch-in and out over the one
    before the punch-out: page = old + (page - old) x ramp, written back into the
    pass's page (played only on the next pass, so nothing heard changes mid-way).
    At the loop's top the seam crossfade (and the lead-in the pass renews) already
    joins them. `bar_start` is a performance frame; its bar is in the top layer. A bar
    is faded in once (`fade_in` is False when its punch-out comes later).
    """
    x = e.xfade
    if not x or tr.top < 1:
        return
    g = e.grid
    length = tr.bars * g.bar
    j = ((bar_start - tr.anchor) % length) // g.bar
    page, old = int(tr.table[tr.top, j]), int(tr.table[tr.top - 1, j])
    if page == old or page < 0:
        return  # not layered in this pass
    pages = e.pool.pages
    below = e.pool.zero if old < 0 else pages[old]
    if fade_in and bar_start == tr.dub_from and (bar_start - tr.anchor) % length:
        take = pages[page, :x]
        seam(below[:x], take, e.ramp, take)  # below + (take - below) * ramp
    end = bar_start + g.bar
    if end == tr.dub_until and (end - tr.anchor) % length:
        take = pages[page, g.bar - x :]
        seam(below[g.bar - x :], take, e.fall, take)
