"""A read-only view of a running engine: what the status, the saver and the stems read.

The status publisher and the session saver run on other threads than the
callback, so they may read only what is safe to read while it runs, and only
through here: plain numbers, small copies (lists of page ids, `TrackInfo`
values) and the page array read-only. Nothing here writes the engine, except
`take_messages`, which empties the outbox, and `take_meters`, which resets the
peaks (the one reader takes them).

A reader copying pages must check afterwards that the engine did not reuse
them meanwhile (the session saver does: see sessions/saver.py); the view
gives the page ids and the pages, not a lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from looper.core.playback import seam
from looper.core.tracks import Action, State

if TYPE_CHECKING:
    from looper.core.engine import Engine
    from looper.core.grid import Grid
    from looper.core.messages import Message
    from looper.core.meters import MeterReading


@dataclass(frozen=True, slots=True)
class TrackInfo:
    """One track as the status shows it."""

    number: int  # 1-based
    state: State
    bars: int
    layers: int  # layers up to the one playing
    pending: Action | None  # what waits for its frame
    volume: float


class EngineView:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # ---- clock and set-up -----------------------------------------------------------

    @property
    def frame(self) -> int:
        return self._engine.frame

    @property
    def sample_rate(self) -> int:
        return self._engine.sample_rate

    @property
    def channels(self) -> int:
        """Recorded channels: what a loop or the history holds."""
        return self._engine.channels

    @property
    def grid(self) -> Grid:
        """The grid now (a new object after a tempo change: compare with `is`)."""
        return self._engine.grid

    @property
    def latency_frames(self) -> int:
        return self._engine.latency

    @property
    def crossfade_frames(self) -> int:
        return self._engine.xfade

    @property
    def click_volume(self) -> float:
        return self._engine.click_volume

    @property
    def click_enabled(self) -> bool:
        return self._engine.click_enabled

    @property
    def input_channels(self) -> tuple[int, ...]:
        """The recorded channels as `audio.inputs` numbers them (from 1)."""
        return tuple(ch + 1 for ch in self._engine.settings.inputs)

    # ---- tracks ---------------------------------------------------------------------

    @property
    def track_count(self) -> int:
        return len(self._engine.tracks)

    def tracks(self) -> tuple[TrackInfo, ...]:
        return tuple(self.track(i) for i in range(len(self._engine.tracks)))

    def track(self, index: int) -> TrackInfo:
        e = self._engine
        tr = e.tracks[index]
        pending = tr.pending
        return TrackInfo(
            number=tr.index + 1,
            state=tr.state,
            bars=tr.bars,
            layers=tr.layers,
            pending=pending.action if pending is not None else None,
            volume=tr.volume,
        )

    # ---- pages ----------------------------------------------------------------------

    @property
    def pages(self) -> np.ndarray:
        """Every page (pages x frames x channels), read-only; a tempo change cuts new ones."""
        pages = self._engine.pool.pages.view()
        pages.flags.writeable = False
        return pages

    def loop_pages(self, index: int) -> list[int]:
        """The pages of a track's current loop, in order (empty when it has none)."""
        tr = self._engine.tracks[index]
        return [int(p) for p in tr.table[tr.top, : tr.bars]] if tr.has_loop else []

    def settled_pages(self, index: int) -> list[int]:
        """A loop that holds still, for a copy: its pages, then its lead-in page (-1: none).

        While overdubbing, the layer below the pass being written; empty without a loop."""
        return self._engine.tracks[index].settled()

    def writing_page(self) -> int:
        """The history page of the bar being written (-1: none)."""
        ring = self._engine.ring
        return ring.page(ring.last_bar)

    def history_bars(self) -> range:
        """The history's whole bars, oldest first (the bar being written is left out)."""
        ring = self._engine.ring
        return range(ring.oldest_bar, ring.last_bar)

    def history_page(self, bar: int) -> int:
        """The page holding history bar `bar` (-1: not, or no longer, held)."""
        return self._engine.ring.page(bar)

    def history_pages(self) -> list[int]:
        return [self.history_page(k) for k in self.history_bars()]

    # ---- copies (not realtime) ------------------------------------------------------

    def loop(self, index: int) -> np.ndarray | None:
        """A copy of a track's current loop (frames x channels), for stems."""
        pages = self.loop_pages(index)
        return np.concatenate([self._engine.pool.pages[p] for p in pages]) if pages else None

    def stem(self, index: int) -> np.ndarray | None:
        """A copy of a track's current loop with its seam in it, as sessions save loops."""
        audio = self.loop(index)
        if audio is None:
            return None
        tr = self._engine.tracks[index]
        return self.with_seam(audio, int(tr.pre[tr.top]))

    def with_seam(self, audio: np.ndarray, pre: int) -> np.ndarray:
        """A copy of a loop with its seam crossfade played into it (pre: its lead-in page).

        Saved loops carry their seam this way: loaded again, a loop is its own lead-in,
        so it wraps exactly as it did when it was made.
        """
        e = self._engine
        x = e.xfade
        out = audio.copy()
        if x:
            bar = e.grid.bar
            lead = (e.pool.zero if pre < 0 else e.pool.pages[pre])[bar - x :]
            seam(audio[-x:], lead, e.ramp, out[-x:])
        return out

    # ---- the outbox -----------------------------------------------------------------

    def take_meters(self) -> MeterReading:
        """The peaks since the last call (input, track, output) and the clips so far.

        Resets the peaks: the one reader takes them, as with the messages."""
        return self._engine.meters.take()

    def take_messages(self) -> list[Message]:
        """The engine's messages since the last call, oldest first: (frame, code, args)."""
        out = self._engine.messages
        taken = []
        while out:
            taken.append(out.popleft())
        return taken
