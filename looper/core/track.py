"""One track: its state, loop layers, recording, overdub pass and gain envelope.

`Track` owns its layer bookkeeping: the stack of page tables (push, pop, free,
drop the oldest, step for undo and redo), the pages a recording holds, the
page an overdub pass swapped in, and each layer's lead-in page (held by the
layer, so undo and redo keep every layer's seam; a recording holds its own
from the arm, so a recording longer than the history keeps it). It is handed
the engine's `PagePool` once and counts references there itself, so no other
module touches a layer table or a reference count. The engine decides *when*
(frames, the grid); the track does *what* to its tables. Every field is
declared in `__init__` (slots): nothing is added later. Playback
(core/playback.py) reads the tables directly in the per-segment path, where a
method call would cost.

Each layer has its own anchor (`anchors`, pushed, popped and dropped with the
tables), so an undo or a redo of a replace brings each loop back where it
was; `anchor` is the playing layer's, kept beside it for the per-segment
path, and `place` moves both. The track's tails (core/tail.py) play what it
played before a change, fading out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from looper.core.pages import PagePool
from looper.core.tail import TAILS, Tail
from looper.core.tracks import Pending, State

if TYPE_CHECKING:
    from looper.core.history import HistoryRing

#: Undo layers kept per track; the oldest is dropped past this.
MAX_LAYERS = 32
#: The anchor of a loaded loop, which never played: its first `play` starts it from its top.
UNPLACED = -(2**62)


class Track:
    """One track: its state, loop layers, recording, overdub pass and gain envelope."""

    __slots__ = (
        "anchor",
        "anchors",
        "count",
        "dub_from",
        "dub_old",
        "dub_page",
        "dub_pre",
        "dub_renewed",
        "dub_slot",
        "dub_until",
        "dubbing",
        "env_at",
        "env_from",
        "env_to",
        "fresh",
        "index",
        "latched",
        "latched_start",
        "nbars",
        "pending",
        "pool",
        "pre",
        "rec_bar",
        "rec_count",
        "rec_pages",
        "rec_pre",
        "state",
        "state_before_rec",
        "table",
        "tails",
        "top",
        "volume",
    )

    def __init__(self, index: int, max_bars: int, pool: PagePool, volume: float = 1.0) -> None:
        self.index = index
        self.pool = pool  # the engine's: the track counts its references there
        self.state = State.EMPTY
        self.pending: Pending | None = None
        self.volume = volume
        # Layers: a stack of page tables; layers above `top` can be redone.
        self.table = np.full((MAX_LAYERS, max_bars), -1, dtype=np.int64)
        self.nbars = np.zeros(MAX_LAYERS, dtype=np.int64)
        # Each layer's lead-in: the page whose last crossfade frames led into its bar 0, which
        # the seam fades into (core/playback.py); only those last frames are ever read.
        self.pre = np.full(MAX_LAYERS, -1, dtype=np.int64)
        self.fresh = np.zeros(MAX_LAYERS, dtype=np.int64)  # pages an overdub pass wrote anew
        self.top = -1
        self.count = 0
        self.anchor = 0  # output frame where loop position 0 sits; loops are whole bars
        self.anchors = np.zeros(MAX_LAYERS, dtype=np.int64)  # each layer's
        self.tails = tuple(Tail() for _ in range(TAILS))
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
        self.rec_pre = -1  # the page that led into the recording: the loop's lead-in
        self.state_before_rec = State.EMPTY
        # Overdub: performance-time bars [dub_from, dub_until) are layered in; the bar being
        # layered reads page `dub_old` and writes page `dub_page`, slot `dub_slot` of the top.
        self.dub_from = 0
        self.dub_until = 0
        self.dubbing = False
        self.dub_old = -1
        self.dub_page = -1
        self.dub_slot = 0
        # A pass that writes bar 0 renews the top layer's lead-in; `dub_pre` is the one it
        # replaced (still the layer below's), put back if that bar is undone.
        self.dub_pre = -1
        self.dub_renewed = False

    @property
    def bars(self) -> int:
        return int(self.nbars[self.top]) if self.top >= 0 else 0

    @property
    def has_loop(self) -> bool:
        return self.top >= 0

    @property
    def layers(self) -> int:
        """Layers up to the one playing (what undo can still take away)."""
        return max(0, self.top + 1)

    @property
    def evictable(self) -> bool:
        """Whether an undo layer can go to make room: never the one an overdub pass builds on."""
        return self.top >= 1 and not (self.dubbing and self.top <= 1)

    def settled(self) -> list[int]:
        """The loop's pages, then its lead-in page (-1: none); while overdubbing, those of the
        layer below the pass being written. Empty when there is no such layer."""
        layer = self.top - 1 if self.dubbing else self.top
        if layer < 0:
            return []
        return [*(int(p) for p in self.table[layer, : self.nbars[layer]]), int(self.pre[layer])]

    # ---- layers ---------------------------------------------------------------------

    def push_layer(self, copy: bool) -> int:
        """A new top layer (a copy of the one below, or empty); redo layers go."""
        pool = self.pool
        for layer in range(self.top + 1, self.count):
            self.free_layer(layer)
        self.count = self.top + 1
        if self.top + 1 == MAX_LAYERS:
            self.drop_oldest()
        new = self.top + 1
        if copy and self.top >= 0:
            n = int(self.nbars[self.top])
            self.table[new, :n] = self.table[self.top, :n]
            for i in range(n):
                pool.ref(int(self.table[new, i]))
            self.nbars[new] = n
            self.pre[new] = self.pre[self.top]
            pool.ref(int(self.pre[new]))
            self.anchors[new] = self.anchor
        self.fresh[new] = 0
        self.top = new
        self.count = new + 1
        return new

    def free_layer(self, layer: int) -> None:
        pool = self.pool
        for i in range(int(self.nbars[layer])):
            pool.unref(int(self.table[layer, i]))
        pool.unref(int(self.pre[layer]))
        self.table[layer].fill(-1)
        self.nbars[layer] = 0
        self.pre[layer] = -1

    def place(self, anchor: int) -> None:
        """Loop position 0 of the playing layer sits at output frame `anchor`."""
        self.anchor = anchor
        if self.top >= 0:
            self.anchors[self.top] = anchor

    def _follow(self) -> None:
        """The playing layer changed: its anchor is the track's."""
        if self.top >= 0:
            self.anchor = int(self.anchors[self.top])

    def undo_layer(self) -> None:
        """Play the layer below; the top one stays, for redo (-1 below: no loop)."""
        self.top -= 1
        self._follow()

    @property
    def can_redo(self) -> bool:
        return self.top + 1 < self.count

    def redo_layer(self) -> None:
        self.top += 1
        self._follow()

    def pop_layer(self) -> None:
        self.free_layer(self.top)
        self.top -= 1
        self.count = self.top + 1
        self._follow()

    def drop_oldest(self) -> None:
        """Free layer 0 and move the others down, row by row: no temporary array."""
        self.free_layer(0)
        for layer in range(self.count - 1):
            self.table[layer] = self.table[layer + 1]
            self.nbars[layer] = self.nbars[layer + 1]
            self.pre[layer] = self.pre[layer + 1]
            self.fresh[layer] = self.fresh[layer + 1]
            self.anchors[layer] = self.anchors[layer + 1]
        last = self.count - 1
        self.table[last].fill(-1)
        self.nbars[last] = 0
        self.pre[last] = -1
        self.top -= 1
        self.count -= 1

    def clear(self) -> None:
        """Every layer and recorded page goes; the track is empty and silent."""
        for layer in range(self.count):
            self.free_layer(layer)
        self.drop_recording()
        self.top = -1
        self.count = 0
        self.pending = None
        self.dubbing = False
        self.state = State.EMPTY
        self.env_from = self.env_to = 0.0

    # ---- a new loop -----------------------------------------------------------------

    def cut_tails(self) -> None:
        """Every tail ends now, fading or not (the pages are about to be cut anew)."""
        for tail in self.tails:
            if tail.held:
                tail.release(self.pool)

    def capture(self, ring: HistoryRing, first: int, n: int, anchor: int) -> None:
        """History bars [first, first + n) become a new layer, shared with the ring, its
        position 0 at output frame `anchor`."""
        pool = self.pool
        layer = self.push_layer(copy=False)
        for i in range(n):
            page = ring.page(first + i)
            self.table[layer, i] = page
            pool.ref(page)
        self.nbars[layer] = n
        self.pre[layer] = ring.page(first - 1)
        pool.ref(int(self.pre[layer]))
        self.place(anchor)

    def close_recording(self, n: int, anchor: int) -> None:
        """The first n recorded bars become a new layer (the rest go), led in by `rec_pre`,
        its position 0 at `anchor`."""
        for i in range(n, self.rec_count):
            self.pool.unref(int(self.rec_pages[i]))
        layer = self.push_layer(copy=False)
        self.table[layer, :n] = self.rec_pages[:n]
        self.nbars[layer] = n
        self.pre[layer] = self.rec_pre  # its reference passes to the layer
        self.rec_pre = -1
        self.rec_count = 0
        self.place(anchor)

    def load(self, audio: np.ndarray, bar: int) -> None:
        """Saved audio (whole bars, its seam in it) becomes the only layer, its own lead-in."""
        pool = self.pool
        n = len(audio) // bar
        layer = self.push_layer(copy=False)
        for i in range(n):
            page = pool.alloc()
            pool.ref(page)
            pool.pages[page] = audio[i * bar : (i + 1) * bar]
            self.table[layer, i] = page
        self.nbars[layer] = n
        self.pre[layer] = self.table[layer, n - 1]
        pool.ref(int(self.pre[layer]))
        self.place(UNPLACED)

    # ---- recording and overdub ------------------------------------------------------

    @property
    def can_record(self) -> bool:
        """Whether one more bar fits this track's recording table."""
        return self.rec_count < len(self.rec_pages)

    def start_recording(self, bar: int) -> None:
        """A recording from history bar `bar` on; it holds no page yet."""
        self.rec_bar = bar
        self.rec_count = 0

    def record(self, page: int) -> None:
        """Hold a history page as the recording's next bar."""
        self.rec_pages[self.rec_count] = page
        self.rec_count += 1
        self.pool.ref(page)

    def lead_recording(self, page: int) -> None:
        """`page` led into the recording (held from now, so a recording longer than the
        history keeps it): it becomes the loop's lead-in when the recording closes."""
        self.pool.unref(self.rec_pre)
        self.rec_pre = page
        self.pool.ref(page)

    def drop_recording(self) -> None:
        for i in range(self.rec_count):
            self.pool.unref(int(self.rec_pages[i]))
        self.rec_count = 0
        self.pool.unref(self.rec_pre)
        self.rec_pre = -1

    def dub_slot_page(self, j: int) -> None:
        """Bar j of the top layer gets a fresh page for the overdub pass to write."""
        pool = self.pool
        old = int(self.table[self.top, j])
        page = pool.alloc()
        pool.ref(page)
        self.table[self.top, j] = page
        pool.unref(old)  # the layer below still holds it
        self.fresh[self.top] += 1
        self.dub_old, self.dub_page, self.dub_slot = old, page, j
        self.dub_renewed = False

    def renew_lead_in(self) -> tuple[int, int]:
        """The top layer gets a fresh lead-in page, its pass writing bar 0: (old, new).

        The caller writes the new page's last crossfade frames; the old page stays the
        layer below's, and comes back if `undub_slot` undoes the bar."""
        pool = self.pool
        old = int(self.pre[self.top])
        page = pool.alloc()
        pool.ref(page)
        self.pre[self.top] = page
        pool.unref(old)  # the layer below still holds it
        self.dub_pre, self.dub_renewed = old, True
        return old, page

    def undub_slot(self) -> None:
        """The bar the pass began last goes back to what it was (and bar 0's lead-in)."""
        pool = self.pool
        self.table[self.top, self.dub_slot] = self.dub_old
        pool.ref(self.dub_old)
        pool.unref(self.dub_page)
        self.fresh[self.top] -= 1
        if self.dub_renewed:
            pool.ref(self.dub_pre)
            pool.unref(int(self.pre[self.top]))
            self.pre[self.top] = self.dub_pre
            self.dub_renewed = False

    @property
    def pass_empty(self) -> bool:
        """The top layer's overdub pass wrote nothing."""
        return bool(self.fresh[self.top] == 0)
