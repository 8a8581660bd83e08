"""The main process's picture of the engine that plays in the audio process.

Why a second engine: the status, the pedal lights and the saver need what
the tracks are (states, tables, pages), and the audio process must not spend
its interpreter lock telling them. The callback leaves the engine's
checkpoint, meters and pages in shared memory (core/durable.py,
core/memory.py) and its timing on the board (live/shared.py); a `Mirror` is
an engine built over the same memory that never runs, into which `refresh`
restores the newest checkpoint, so everything reads it through the same
`EngineView` as before. It never writes a page (the memory holds state when it
is built: core/memory.py `holds_state`), and each reader (the status, the
saver's thread) has its own.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from looper.config import Config
from looper.config.engine import engine_settings
from looper.core.durable import Checkpoint, fresh_slot, restore
from looper.core.engine import Engine
from looper.core.memory import Memory
from looper.core.messages import Message
from looper.core.view import EngineView
from looper.live.shared import (
    BLOCKS,
    HIST_STEP,
    LOAD_WINDOW,
    MESSAGES,
    STAMP,
    WORST,
    XRUNS,
    Board,
)
from looper.live.status import Status, TrackStatus


class Mirror:
    """An engine over the shared memory that follows the checkpoint and never runs."""

    def __init__(self, config: Config, latency: int, memory: Memory, board: Board) -> None:
        if not memory.holds_state:
            raise ValueError("the audio process has not written its engine yet")
        self.engine = Engine(engine_settings(config, latency), memory)
        self.view = EngineView(self.engine)
        self.checkpoint = Checkpoint(memory)
        self.slot = fresh_slot(memory)
        self.board = board
        self.heard = int(board.ints[MESSAGES])  # messages before this mirror are not news

    def refresh(self) -> None:
        if self.checkpoint.read(self.slot):
            restore(self.engine, self.slot)

    @property
    def stamp(self) -> float:
        """The monotonic time the callback last ran at."""
        return float(self.board.floats[STAMP])

    @property
    def blocks(self) -> int:
        return int(self.board.ints[BLOCKS])

    def news(self) -> list[tuple[int, Message]]:
        """The engine's messages since the last call, each with its 1-based bar."""
        said, self.heard = self.board.said(self.heard)
        g = self.view.grid
        return [(max(0, g.bar_index(m[0])) + 1, m) for m in said]

    def status(self, latency_ms: float, block: int, audio_pid: int | None) -> Status:
        """The status now (after `refresh`); the meters' peaks since the last one."""
        view, board = self.view, self.board
        g = view.grid
        frame = view.frame
        meters = view.take_meters()
        tracks = tuple(
            TrackStatus(
                number=tr.number,
                state=tr.state.value,
                bars=tr.bars,
                level=meters.tracks[tr.number - 1],
                pending=tr.pending.word if tr.pending else None,
                volume=tr.volume,
                layers=tr.layers,
            )
            for tr in view.tracks()
        )
        count = self.blocks
        n = min(count, LOAD_WINDOW)
        period = block / view.sample_rate
        load = float(np.median(board.durations[:n])) / period if n else 0.0
        return Status(
            frame=frame,
            sample_rate=view.sample_rate,
            bpm=g.bpm,
            beats_per_bar=g.beats_per_bar,
            bar=max(0, g.bar_index(frame)) + 1,
            beat=g.beat_in_bar(frame) + 1,
            tracks=tracks,
            xruns=int(board.ints[XRUNS]),
            load=load,
            load_max=float(board.floats[WORST]) / period,
            load_p99=_percentile(board.hist, 0.99) / period,
            load_p999=_percentile(board.hist, 0.999) / period,
            blocks=count,
            rss_mb=rss_mb(audio_pid),
            latency_ms=latency_ms,
            block=block,
            input_channels=view.input_channels,
            input_levels=meters.inputs,
            output_levels=meters.outputs,
            clips=meters.clips,
        )


def _percentile(hist: np.ndarray, q: float) -> float:
    """Seconds below which a fraction q of the callbacks so far finished (bin upper edge)."""
    total = int(hist.sum())
    if not total:
        return 0.0
    return (int(np.searchsorted(np.cumsum(hist), q * total)) + 1) * HIST_STEP


def rss_mb(pid: int | None) -> float:
    """Resident memory of a process, from /proc (Linux); 0 where unknown."""
    try:
        pages = int(Path(f"/proc/{pid or 'self'}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
