"""Loop memory as bar-sized pages carved from one preallocated block.

Loops are whole bars and bars sit on the grid, so a page boundary in a loop
always falls on a bar boundary in time. That makes capture zero-copy (a
backloop takes the history's pages), undo exact (a layer is a table of page
ids; an overdub pass writes fresh pages), and memory fixed for the session.
Pages are reference counted; the history ring holds one reference of its own.

Every alloc is preceded by a `can_take` check, and `can_take` keeps back what
the ring will need: the pages it has yet to take before it is full
(`ring_due`), a replacement for each ring page a track also holds (`debt`),
and one spare. So the ring can always advance, and `PoolFull` is a guard
that ordinary playing never reaches.
"""

from __future__ import annotations

import numpy as np

from looper.errors import LooperError


class PoolFull(LooperError, MemoryError):
    """No page can be given without starving the history ring."""


class PagePool:
    def __init__(self, memory: np.ndarray, channels: int, bar: int) -> None:
        """`memory`: float32 frames x channels, flat (core/memory.py); when shared, it may
        hold loops already, which the pool's books (restored by core/durable.py) describe."""
        self.channels = channels
        self._memory = memory
        self.zero = np.zeros((bar, channels), dtype=np.float32)
        self.carve(bar)

    def carve(self, bar: int) -> None:
        """Cut the memory into pages of `bar` frames; every page becomes free."""
        self.bar = bar
        count = len(self._memory) // (bar * self.channels)
        if count < 4:
            raise ValueError("loop memory holds fewer than 4 bars")
        self.pages = self._memory[: count * bar * self.channels].reshape(count, bar, self.channels)
        if len(self.zero) != bar:
            self.zero = np.zeros((bar, self.channels), dtype=np.float32)
        self.refs = np.zeros(count, dtype=np.int32)  # references from track layers
        self.in_ring = np.zeros(count, dtype=np.bool_)
        self._free = np.arange(count - 1, -1, -1, dtype=np.int32)  # a stack
        self._top = count
        self.debt = 0  # ring pages that tracks also hold: each needs a replacement later
        self.ring_due = 0  # pages the history ring will still take before it is full

    @property
    def flat(self) -> np.ndarray:
        """All the memory as one run of frames: what page k is, frames k*bar on."""
        usable = len(self._memory) // self.channels * self.channels
        return self._memory[:usable].reshape(-1, self.channels)

    @property
    def count(self) -> int:
        return len(self.pages)

    @property
    def free(self) -> int:
        return self._top

    def can_take(self, fresh: int = 0, captured: int = 0) -> bool:
        """Whether `fresh` new pages and `captured` ring pages leave the ring able to advance."""
        return self._top - fresh >= self.debt + self.ring_due + captured + 1

    def alloc(self) -> int:
        if self._top == 0:
            raise PoolFull
        self._top -= 1
        return int(self._free[self._top])

    def _release(self, page: int) -> None:
        if self.refs[page] == 0 and not self.in_ring[page]:
            self._free[self._top] = page
            self._top += 1

    def ref(self, page: int) -> None:
        if page < 0:
            return
        if self.refs[page] == 0 and self.in_ring[page]:
            self.debt += 1
        self.refs[page] += 1

    def unref(self, page: int) -> None:
        if page < 0:
            return
        self.refs[page] -= 1
        if self.refs[page] == 0:
            if self.in_ring[page]:
                self.debt -= 1
            self._release(page)

    def ring_take(self) -> int:
        page = self.alloc()
        self.in_ring[page] = True
        return page

    def ring_adopt(self, page: int) -> None:
        """The ring holds `page` too, a track's already: it needs a replacement later."""
        self.in_ring[page] = True
        if self.refs[page] > 0:
            self.debt += 1

    def ring_drop(self, page: int) -> None:
        self.in_ring[page] = False
        if self.refs[page] > 0:
            self.debt -= 1
        self._release(page)
