"""Saving a running session: the saver thread and the copies out of a running engine.

Saving never runs in the audio process. The main process hands each `save`
(a stomp, a change of the loops, the exit) to a `Saver` thread, which copies
the loops and the history out of the page pool in shared memory bar by bar
while the callback keeps running, through an engine that mirrors the
playing one (looper/live/mirror.py): `refresh` brings the mirror up to date
with the callback's newest checkpoint, and after each copy the saver checks
that the engine did not reuse the page meanwhile. The copies, a `Snapshot` of
plain data, go to `looper.sessions.store.write_session`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import soundfile as sf

from looper.core.engine import Engine
from looper.core.tracks import State
from looper.core.view import EngineView
from looper.sessions.manifest import SessionError
from looper.sessions.plan import SessionPlan
from looper.sessions.store import SavedLoop, Snapshot, counted, write_session

RETRY_SECONDS = 0.005


class Saver:
    """Saves the session on its own thread when asked, so no reader of the status waits.

    The thread starts with the object and lives as long as the process. `ask` queues a
    save (to the plan's target, or a given directory); `save` writes one now, on the
    caller's thread; one lock keeps two saves from writing at once.
    """

    def __init__(
        self, engine: Engine, plan: SessionPlan, refresh: Callable[[], None] = lambda: None
    ) -> None:
        self.engine = engine
        self.plan = plan
        self.refresh = refresh  # brings `engine` up to date (a mirror: looper/live/mirror.py)
        self.messages: deque[str] = deque(maxlen=16)  # for the status; the session drains it
        self._asked = threading.Event()
        self._to: Path | None = None
        self._lock = threading.Lock()
        threading.Thread(target=self._run, name="looper-saver", daemon=True).start()

    def ask(self, directory: Path | None = None) -> None:
        """One save (a stomp: the plan's target; a change of the loops: `directory`); asks
        during a save make one more save."""
        self._to = directory
        self._asked.set()

    def _run(self) -> None:
        while True:
            self._asked.wait()
            self._asked.clear()
            try:
                text = self.save(self._to)
            except Exception as error:  # a bug: say so, and keep saving at later asks
                text = f"session NOT saved: {error!r}"
            self.messages.append(text)

    def save(self, directory: Path | None = None, wait: float | None = None) -> str:
        """Write the session now (to the plan's target without `directory`); what happened,
        in words. `wait`: how long a loop still changing is waited for (default: a bar and
        a second)."""
        with self._lock:
            now = datetime.now().astimezone()
            directory = self.plan.target(now) if directory is None else directory
            try:
                self.refresh()
                snap = snapshot(self.engine, self.refresh, wait)
                write_session(directory, snap, now)
            except SessionError as error:
                return f"session NOT saved to {directory}: {error}"
            except (OSError, sf.LibsndfileError) as error:
                return f"session NOT saved to {directory}: {error} (is the disk full or read-only?)"
        seconds = len(snap.history) / snap.sample_rate
        notes = "".join(f"; {note}" for note in snap.notes)
        return (
            f"session saved to {directory} ({counted(len(snap.loops), 'loop')}, "
            f"{seconds:.0f} s of history){notes}"
        )


# ---- copies out of a running engine ------------------------------------------------


def snapshot(
    engine: Engine, refresh: Callable[[], None] = lambda: None, wait: float | None = None
) -> Snapshot:
    """Copy the loops and the history out of the engine, bar by bar, off the callback.

    The callback may run between any two bytecodes of this function, so every
    copy is checked afterwards against the engine's tables and taken again
    (or, for history, dropped) if the engine reused a page during it. Everything
    is read through the engine's read-only `EngineView`.
    """
    view = EngineView(engine)
    grid, pages = view.grid, view.pages
    loops: list[SavedLoop] = []
    notes: list[str] = []
    for index in range(view.track_count):
        loop = _copy_loop(view, index, pages, refresh, wait)
        if loop is not None:
            loops.append(loop)
            if loop.state == State.OVERDUBBING.value:
                notes.append(f"track {loop.number} without its overdub pass in progress")
    history = _copy_history(view, pages, refresh)
    if view.grid is not grid:
        raise SessionError(["the tempo changed while saving (that empties every track)"])
    return Snapshot(
        sample_rate=view.sample_rate,
        bpm=grid.bpm,
        beats_per_bar=grid.beats_per_bar,
        bar=grid.bar,
        channels=view.channels,
        loops=tuple(loops),
        history=history,
        notes=tuple(notes),
    )


def _copy_loop(
    view: EngineView,
    index: int,
    pages: np.ndarray,
    refresh: Callable[[], None],
    wait: float | None,
) -> SavedLoop | None:
    """A copy of the track's loop once it holds still: not changed, no bar still arriving.

    A loop's last bar can still be arriving for the latency after it was
    captured; that is shorter than a bar, so waiting a bar and a second suffices.
    """
    patience = view.grid.bar / view.sample_rate + 1.0 if wait is None else wait
    deadline = time.monotonic() + patience
    while True:
        info = view.track(index)
        state, volume = info.state.value, float(info.volume)
        held = view.settled_pages(index)
        if not held:
            return None
        if view.writing_page() not in held[:-1]:
            audio = view.with_seam(_copy_pages(pages, held[:-1]), held[-1])
            refresh()
            if view.settled_pages(index) == held:
                return SavedLoop(index + 1, state, volume, audio)
        if time.monotonic() > deadline:
            raise SessionError([f"track {index + 1} kept changing while saving; save again"])
        time.sleep(RETRY_SECONDS)
        refresh()


def _copy_pages(pages: np.ndarray, held: list[int]) -> np.ndarray:
    bar = pages.shape[1]
    out = np.empty((len(held) * bar, pages.shape[2]), dtype=np.float32)
    for i, page in enumerate(held):
        np.copyto(out[i * bar : (i + 1) * bar], pages[page])  # releases the GIL
        time.sleep(0)  # and let the callback's thread have it between bars
    return out


def _copy_history(view: EngineView, pages: np.ndarray, refresh: Callable[[], None]) -> np.ndarray:
    """The history's whole bars, oldest first; a bar the ring reused while copying is dropped.

    The ring overwrites its oldest bar as each new bar begins, so only the
    first bars can be lost, and only when a bar begins during the copy.
    """
    bars = view.history_bars()  # the bar being written is left out
    bar = pages.shape[1]
    out = np.empty((len(bars) * bar, pages.shape[2]), dtype=np.float32)
    kept_from = 0
    for i, k in enumerate(bars):
        page = view.history_page(k)
        if page >= 0:
            np.copyto(out[i * bar : (i + 1) * bar], pages[page])
            refresh()
        if page < 0 or view.history_page(k) != page:
            kept_from = i + 1
        time.sleep(0)
    return out[kept_from * bar :]
