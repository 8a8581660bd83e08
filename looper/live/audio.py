"""The audio process: the one sounddevice stream and the one Engine.

Its callback (`Callback`) takes stamped commands from an in-process deque (a
pump thread feeds it from the multiprocessing queue, so the callback makes no
system call for them), renders the block, and records its own duration. Its
main thread publishes a status snapshot about 30 times a second, outside the
callback; a `save` goes to the saver's thread, never to the callback.

`looper.api.AudioStream` drives its engine through the same `Callback` and
opens its stream through the same `looper.live.device.open_stream`: one way to
open a device and drive the engine.
"""

from __future__ import annotations

import gc
import os
import queue
import signal
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from looper.config import Config
from looper.config.engine import engine_settings
from looper.core.commands import Command, Save
from looper.core.engine import Engine
from looper.core.messages import Args, MessageCode
from looper.core.settings import latency_frames
from looper.core.view import EngineView
from looper.live.status import Status, TrackStatus
from looper.sessions.plan import SessionPlan
from looper.sessions.saver import Saver

PUBLISH_SECONDS = 1 / 30
LOAD_WINDOW = 512  # callback durations kept for the median
HIST_STEP = 1e-5  # the session histogram of callback durations: 10 us bins...
HIST_BINS = 10_000  # ...up to 100 ms, the last bin holding anything longer


@dataclass(frozen=True, slots=True)
class Ready:
    """The audio process is running: what it opened."""

    device: str
    latency_ms: float
    block: int


@dataclass(frozen=True, slots=True)
class Failure:
    """The audio process could not start; the text names the problem and the fix."""

    text: str


#: A command and the `time.monotonic()` of the stomp that made it; None: no stomp to
#: time from (the API's calls), the command takes effect at the next block.
Stamped = tuple[Command, float | None]


class Callback:
    """The realtime body: stamped commands in, engine, timing out. Allocates nothing that grows.

    The inbox is a deque that other threads append to (appends are atomic), so the
    callback takes commands without a lock or a system call.
    """

    def __init__(self, sample_rate: int) -> None:
        self.engine: Engine | None = None  # attached once the stream's latency is known
        self.rate = sample_rate
        self.inbox: deque[Stamped] = deque()
        self.durations = np.zeros(LOAD_WINDOW, dtype=np.float64)
        self.hist = np.zeros(HIST_BINS, dtype=np.int64)
        self.count = 0
        self.worst = 0.0
        self.xruns = 0

    def __call__(
        self, indata: np.ndarray, outdata: np.ndarray, frames: int, when: Any, status: Any
    ) -> None:
        start = time.perf_counter()
        if status:
            self.xruns += 1
        engine = self.engine
        if engine is None:
            outdata.fill(0.0)
            return
        if self.inbox:
            now = time.monotonic()
            while self.inbox:
                command, stamp = self.inbox.popleft()
                frame = engine.frame
                pressed = None if stamp is None else frame - round((now - stamp) * self.rate)
                engine.submit(command, frame, pressed)
        engine.process(indata, outdata)
        spent = time.perf_counter() - start
        self.durations[self.count % LOAD_WINDOW] = spent
        self.hist[min(int(spent / HIST_STEP), HIST_BINS - 1)] += 1
        self.count += 1
        if spent > self.worst:
            self.worst = spent


def pump_commands(commands: Any, inbox: deque[Stamped], stop: Any, saver: Saver | None) -> None:
    """Move stamped commands from the process queue to the callback's deque.

    `save` goes to the saver's thread instead: writing files has no place in the callback
    (without a saver, as under the API, there is nowhere to save and it is dropped).
    """
    while not stop.is_set():
        try:
            item = commands.get(timeout=0.1)
        except queue.Empty:
            continue
        except (EOFError, OSError):
            return
        if isinstance(item[0], Save):
            if saver is not None:
                saver.ask()
        else:
            inbox.append(item)


def _percentile(hist: np.ndarray, q: float) -> float:
    """Seconds below which a fraction q of the callbacks so far finished (bin upper edge)."""
    total = int(hist.sum())
    if not total:
        return 0.0
    return (int(np.searchsorted(np.cumsum(hist), q * total)) + 1) * HIST_STEP


def _rss_mb() -> float:
    """Resident memory of this process, from /proc (Linux); 0 where unknown."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _snapshot(
    cb: Callback,
    view: EngineView,
    block: int,
    latency_ms: float,
    said: list[str],
    rss_start: float,
    engine_said: list[tuple[int, MessageCode, Args]],
) -> Status:
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
    n = min(cb.count, LOAD_WINDOW)
    period = block / view.sample_rate
    load = float(np.median(cb.durations[:n])) / period if n else 0.0
    return Status(
        frame=frame,
        sample_rate=view.sample_rate,
        bpm=g.bpm,
        beats_per_bar=g.beats_per_bar,
        bar=max(0, g.bar_index(frame)) + 1,
        beat=g.beat_in_bar(frame) + 1,
        tracks=tracks,
        xruns=cb.xruns,
        load=load,
        load_max=cb.worst / period,
        load_p99=_percentile(cb.hist, 0.99) / period,
        load_p999=_percentile(cb.hist, 0.999) / period,
        blocks=cb.count,
        rss_mb=_rss_mb(),
        rss_start_mb=rss_start,
        latency_ms=latency_ms,
        block=block,
        messages=tuple(said),
        engine_messages=tuple(engine_said),
        input_channels=view.input_channels,
        input_levels=meters.inputs,
        output_levels=meters.outputs,
        clips=meters.clips,
    )


def audio_process(config: Config, commands: Any, out: Any, stop: Any, plan: SessionPlan) -> None:
    """The audio child: open the stream, run the engine, publish status until `stop`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out.cancel_join_thread()
    from looper.live.device import DeviceError, device_name, open_stream

    a = config.audio
    cb = Callback(a.sample_rate)
    try:
        stream = open_stream(config, cb)
    except DeviceError as error:
        out.put(Failure(str(error)))
        return
    latency = latency_frames(a.latency_ms, a.sample_rate, sum(stream.latency))
    try:
        engine = Engine(engine_settings(config, latency))
        plan.restore(engine)  # the saved loops, before the stream starts
    except ValueError as error:
        stream.close()
        out.put(Failure(str(error)))
        return
    cb.engine = engine
    saver = Saver(engine, plan)
    pump = threading.Thread(
        target=pump_commands, args=(commands, cb.inbox, stop, saver), daemon=True
    )
    pump.start()
    sys.setswitchinterval(0.0005)  # hand the GIL to the callback's thread quickly
    gc.collect()
    gc.freeze()
    latency_ms = latency * 1000 / a.sample_rate
    view = EngineView(engine)
    rss_start = _rss_mb()
    with stream:
        name = device_name(stream)
        out.put(Ready(name, latency_ms, a.block_size))
        while not stop.wait(PUBLISH_SECONDS):
            g = view.grid  # the engine's messages go as codes; the main process words them
            engine_said = [
                (max(0, g.bar_index(frame)) + 1, code, args)
                for frame, code, args in view.take_messages()
            ]
            said = []
            while saver.messages:
                bar = max(0, view.grid.bar_index(view.frame)) + 1
                said.append(f"bar {bar}: {saver.messages.popleft()}")
            out.put(_snapshot(cb, view, a.block_size, latency_ms, said, rss_start, engine_said))
