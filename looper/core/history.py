"""The always-on recording: the last bars of input, one pool page per bar.

Indexed in performance time tau = input frame - latency, the output frame the
performer was hearing when they played it, so history bar k is exactly what
was played against output bar k. Memory is fixed: the ring has a set number
of slots and gives its oldest page back as each new bar begins; until every
slot holds a page, the pool keeps the missing ones free for it (`ring_due`).

Each bar a loop can take has its lead-in held with it (the bar before: what
the seam fades into, core/playback.py): one slot more than the bars a loop may
reach keeps the oldest one's, and when the history (re)starts, bar
`first_bar - 1` holds what was played just before it (core/tempo.py,
`lead_first_bar`); no loop takes that bar itself.
"""

from __future__ import annotations

import numpy as np

from looper.core.pages import PagePool

NO_BAR = np.iinfo(np.int64).min


class HistoryRing:
    def __init__(self, pool: PagePool, slots: int) -> None:
        self.pool = pool
        self.slots = slots
        self._page = np.full(slots, -1, dtype=np.int64)
        self._bar = np.full(slots, NO_BAR, dtype=np.int64)
        self.first_bar = 0  # no bar before this one holds anything (a reset or the start)
        self.last_bar = -1  # the bar being written
        pool.ring_due = slots

    def clear(self, first_bar: int) -> None:
        """Forget everything; recording begins again with bar `first_bar`."""
        for slot in range(self.slots):
            if self._page[slot] >= 0:
                self.pool.ring_drop(int(self._page[slot]))
        self._page.fill(-1)
        self._bar.fill(NO_BAR)
        self.first_bar = first_bar
        self.last_bar = first_bar - 1
        self.pool.ring_due = self.slots

    def begin_bar(self, bar: int) -> int:
        """Start writing history bar `bar` on a fresh page; the oldest page leaves."""
        slot = bar % self.slots
        old = int(self._page[slot])
        if old >= 0:
            self.pool.ring_drop(old)
        else:
            self.pool.ring_due -= 1
        page = self.pool.ring_take()
        self._page[slot] = page
        self._bar[slot] = bar
        self.last_bar = bar
        return page

    def adopt(self, bar: int, page: int) -> None:
        """History bar `bar` is `page`, recorded elsewhere: the first loop's last bar, held
        as the lead-in of the bar after it (an overdub's first pass renews its lead-in
        from it). Only into an empty slot, after `clear`."""
        slot = bar % self.slots
        self.pool.ring_due -= 1
        self.pool.ring_adopt(page)
        self._page[slot] = page
        self._bar[slot] = bar

    def page(self, bar: int) -> int:
        """The page holding history bar `bar`, or -1 when it is not (or no longer) here."""
        slot = bar % self.slots
        return int(self._page[slot]) if self._bar[slot] == bar else -1

    @property
    def oldest_bar(self) -> int:
        """The oldest bar a loop may take; the one before it stays held as its lead-in."""
        return max(self.first_bar, self.last_bar - self.slots + 2)
