"""A tail voice: what a track played before a change, fading out under what it plays now.

When what a track plays changes at once (a reset, a replace, an undo or a
redo, a play from the top), the outgoing audio does not stop: a tail goes on
reading it from where it was, its gain ramping from what the track's was to
silence over the crossfade, while the track's own envelope fades the
incoming audio in from silence over the same frames. The two ramps are
complements, so a change to the same audio sounds like no change at all.

A tail lasts the crossfade, shorter than a bar (the engine checks), so it
reads at most two pages of the old loop (the bar it was in and the next)
and the old loop's lead-in (its seam). It holds a pool reference on each,
taken when it starts and given back when it ends: pages a reset frees or an
undo drops go back to the pool only once nothing fades on them. Each track
has `TAILS` preallocated tails; a change while all of them still fade takes
over the quietest, cutting what is left of it (five changes of one track
within 10 ms: no pedal is that fast).
Ending is lazy: the engine releases a tail at the first segment at or past
its end, which is a segment boundary (core/engine.py), like a ramp's end.
"""

from __future__ import annotations

from looper.core.pages import PagePool

#: Tails per track: up to this many changes within one crossfade fade out together.
TAILS = 4


class Tail:
    """One fading voice: the pages it reads, where its loop sits, its gain and its span."""

    __slots__ = ("anchor", "at", "gain", "held", "length", "nxt", "page", "pre", "start", "until")

    def __init__(self) -> None:
        self.held = False  # whether it holds its pages (from `hold` until `release`)
        self.page = -1  # the page of the bar it is in, which began at output frame `start`
        self.start = 0
        self.nxt = -1  # the page of the bar after it
        self.pre = -1  # the old loop's lead-in, for its seam
        self.anchor = 0
        self.length = 0  # the old loop's length in frames
        self.gain = 0.0  # fading from this to 0 over the crossfade from `at`; silent at `until`
        self.at = 0
        self.until = 0

    def hold(
        self,
        pool: PagePool,
        page: int,
        nxt: int,
        pre: int,
        start: int,
        anchor: int,
        length: int,
        gain: float,
        at: int,
        until: int,
    ) -> None:
        """Start fading: reference the page, the next and the lead-in (from output frame
        `start`), which then outlive any layer that held them."""
        self.page, self.nxt, self.pre = page, nxt, pre
        pool.ref(page)
        pool.ref(nxt)
        pool.ref(pre)
        self.start, self.anchor, self.length = start, anchor, length
        self.gain, self.at, self.until = gain, at, until
        self.held = True

    def release(self, pool: PagePool) -> None:
        """It has ended (or is taken over): its pages go back to whoever else holds them."""
        pool.unref(self.page)
        pool.unref(self.nxt)
        pool.unref(self.pre)
        self.held = False
        self.until = 0
