"""The audio process: the one sounddevice stream, the one Engine, and nothing else.

Why so bare: the callback needs the interpreter lock, and any other thread in
this process that holds it (a status publisher, a queue's feeder thread, a
saver) makes the realtime thread wait at normal priority: every late block
profiled before this design lost its time waiting for that lock. So the
callback takes commands from a ring in shared memory (`live/shared.py`),
writes what the status needs (its timing, the engine's messages) to the
board there, and leaves the meters and the checkpoint of the engine in that
memory too (core/memory.py, core/durable.py); the main process reads them and
saves from them. This process's main thread sleeps on a pipe from the main
process, which reaches end-of-file when the main process wants it gone (or
is gone): no primitive that a dead peer could leave blocked. Garbage
collection is off once set up.

Taking over: the memory holds the loops of the audio process before this one
(it died, or the audio server went away). The engine is built over it,
restores the checkpoint, and renders the frames since that process's last
block as silence before the stream starts (`Engine.skip`), then, in the first
callback, the few more that passed while the stream started: every loop goes
on in phase with the grid.

`looper.api.AudioStream` drives its engine through the same `Callback` (with a
ring of its own) and opens its stream through the same
`looper.live.device.open_stream`: one way to open a device and drive the engine.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import signal
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from looper.config import Config
from looper.config.engine import engine_settings
from looper.core.commands import Save
from looper.core.durable import Checkpoint, fresh_slot, restore
from looper.core.engine import Engine
from looper.core.settings import latency_frames
from looper.live.shared import FRAME, SAVES, STAMP, Board, CommandRing, Mapping
from looper.sessions.plan import SessionPlan

WATCH_SECONDS = 0.25  # how often the main thread looks whether the stream still runs
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True, slots=True)
class Ready:
    """The audio process is running: what it opened."""

    device: str
    latency_ms: float
    block: int
    latency_frames: int  # the engine's: every later audio process keeps it
    took_over: bool  # it took over loops from one before it


@dataclass(frozen=True, slots=True)
class Failure:
    """The audio process could not start (or its stream stopped); the text names the
    problem and the fix. `device`: the device or the audio server is not there (worth
    retrying, once it was there before), rather than a config it cannot run."""

    text: str
    device: bool = False


class Callback:
    """The realtime body: commands in, engine, timing out. Allocates nothing that grows."""

    def __init__(self, sample_rate: int, ring: CommandRing, board: Board) -> None:
        self.engine: Engine | None = None  # attached once the stream's latency is known
        self.checkpoint: Checkpoint | None = None  # live: the engine's state kept after blocks
        self.rate = sample_rate
        self.ring = ring
        self.board = board
        # Taking over: the frame and the monotonic time of the old process's last block.
        self.resume: tuple[int, float] | None = None

    def __call__(self, indata: Any, outdata: Any, frames: int, when: Any, status: Any) -> None:
        start = time.perf_counter()
        now = time.monotonic()
        engine = self.engine
        if engine is None:
            outdata.fill(0.0)
            return
        board = self.board
        if self.resume is not None:
            engine.skip(max(0, resume_frame(self.resume, now, self.rate, frames) - engine.frame))
            self.resume = None
        frame = engine.frame
        ring = self.ring
        while ring.pending():
            command, stamp = ring.pop()
            if type(command) is Save:  # the main process saves, when it sees the count
                board.ints[SAVES] += 1
                continue
            pressed = None if stamp is None else frame - round((now - stamp) * self.rate)
            engine.submit(command, frame, pressed)
        engine.process(indata, outdata)
        if self.checkpoint is not None:
            self.checkpoint.after_block(engine)
        messages = engine.messages
        while messages:
            board.say(messages.popleft())
        board.block(frame, now, time.perf_counter() - start, bool(status))


def _orphan_dies() -> None:
    """Die with the main process, whatever kills it (Linux; elsewhere the pipe's end-of-file
    does it, a moment later)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def child_signals() -> None:
    """A child of the main process: Ctrl-C and a closed terminal reach the whole group, and
    the main process decides; SIGTERM still ends the child (the main process carries on)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    _orphan_dies()


def audio_process(
    config: Config,
    latency: int | None,
    shared: tuple[str, int],
    plan: SessionPlan,
    report: Connection,
    life: Connection,
) -> None:
    """The audio child: open the stream, take over or start the engine, run until `life`
    ends. `latency`: the engine's latency in frames, known after the first start."""
    child_signals()
    a = config.audio
    mapping = Mapping(shared[1], shared[0])
    memory, ring, board = mapping.views(engine_settings(config, 0))
    cb = Callback(a.sample_rate, ring, board)
    from looper.live.device import DeviceError, device_name, open_stream

    try:
        stream = open_stream(config, cb)
    except DeviceError as error:
        report.send(Failure(str(error), device=True))
        return
    if latency is None:
        latency = latency_frames(a.latency_ms, a.sample_rate, sum(stream.latency))
    try:
        engine = Engine(engine_settings(config, latency), memory)
        took_over = _take_over(engine, board, a.block_size)
        if took_over is None:
            plan.restore(engine)  # the saved loops, before the stream starts
    except ValueError as error:
        stream.close()
        report.send(Failure(str(error)))
        return
    checkpoint = Checkpoint(memory)
    checkpoint.commit(engine)
    if took_over is None:
        board.clock(engine.frame, time.monotonic())
    cb.engine, cb.checkpoint, cb.resume = engine, checkpoint, took_over
    sys.setswitchinterval(0.0005)  # hand the lock to the callback's thread quickly
    gc.collect()
    gc.freeze()
    gc.disable()
    stream.start()
    name = device_name(stream)
    ready = Ready(name, latency * 1000 / a.sample_rate, a.block_size, latency, bool(took_over))
    report.send(ready)
    while not life.poll(WATCH_SECONDS):
        if not stream.active:  # the audio server went away
            report.send(Failure("the audio server stopped", device=True))
            os._exit(0)  # closing a stream of a dead server can hang in PortAudio
    stream.close()


def resume_frame(last: tuple[int, float], now: float, rate: int, block: int) -> int:
    """The frame to render at monotonic time `now`, when the block of frame `last[0]` was
    rendered at `last[1]`: the time between them in whole blocks, since both callbacks run
    at the device's period boundaries (so, jitter under half a block, it is exact)."""
    frame, stamp = last
    return frame + round((now - stamp) * rate / block) * block


def _take_over(engine: Engine, board: Board, block: int) -> tuple[int, float] | None:
    """Restore the checkpoint an earlier audio process left, and render the frames since its
    last block as silence (up to a block before now: the first callback does the rest);
    that block's frame and time, or None when the memory holds none (the first start)."""
    slot = fresh_slot(engine.memory)
    if not engine.memory.holds_state or not Checkpoint(engine.memory).read(slot):
        return None
    restore(engine, slot)
    last = (int(board.ints[FRAME]), float(board.floats[STAMP]))
    engine.skip(
        max(
            0,
            resume_frame(last, time.monotonic(), engine.sample_rate, block) - block - engine.frame,
        )
    )
    return last
