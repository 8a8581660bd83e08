"""Live on stage: the audio process, the MIDI process and the main process that supervises them.

The audio process owns the sounddevice stream and the one Engine; its callback
takes stamped commands from an in-process deque (a pump thread feeds it from
the multiprocessing queue, so the callback makes no system call for them),
renders the block, and records its own duration. Its main thread publishes a
status snapshot about 30 times a second, outside the callback.

The main process (a `Session`, driven by the CLI) starts both children,
restarts the MIDI process if it dies, gathers the status and the lines to
show, and shuts everything down.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing as mp
import os
import queue
import signal
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from looper.config.schema import Config
from looper.core.commands import Save
from looper.core.engine import Engine, EngineSettings
from looper.live.status import Status, TrackStatus
from looper.sessions.store import Saver, SessionPlan

log = logging.getLogger("looper.live.supervisor")

PUBLISH_SECONDS = 1 / 30
LOAD_WINDOW = 512  # callback durations kept for the median
HIST_STEP = 1e-5  # the session histogram of callback durations: 10 us bins...
HIST_BINS = 10_000  # ...up to 100 ms, the last bin holding anything longer
START_TIMEOUT = 20.0
STOP_TIMEOUT = 0.8
MIDI_QUICK_DEATH = 2.0  # seconds: a MIDI process dying sooner failed at start
MIDI_RETRIES = 3


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


# ---- the audio process ------------------------------------------------------------


class Callback:
    """The realtime body: stamped commands in, engine, timing out. Allocates nothing that grows."""

    def __init__(self, sample_rate: int) -> None:
        self.engine: Engine | None = None  # attached once the stream's latency is known
        self.rate = sample_rate
        self.inbox: deque[tuple[Any, float]] = deque()
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
                engine.submit(command, frame, frame - round((now - stamp) * self.rate))
        engine.process(indata, outdata)
        spent = time.perf_counter() - start
        self.durations[self.count % LOAD_WINDOW] = spent
        self.hist[min(int(spent / HIST_STEP), HIST_BINS - 1)] += 1
        self.count += 1
        if spent > self.worst:
            self.worst = spent


def _pump(commands: Any, inbox: deque[tuple[Any, float]], stop: Any, saver: Saver) -> None:
    """Move stamped commands from the process queue to the callback's deque.

    `save` goes to the saver's thread instead: writing files has no place in the callback.
    """
    while not stop.is_set():
        try:
            item = commands.get(timeout=0.1)
        except queue.Empty:
            continue
        except (EOFError, OSError):
            return
        if isinstance(item[0], Save):
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
    cb: Callback, engine: Engine, block: int, latency_ms: float, said: list[str], rss_start: float
) -> Status:
    g = engine.grid
    frame = engine.frame
    pages = engine.pool.pages
    tracks = []
    for tr in engine.tracks:
        level = 0.0
        if tr.has_loop and tr.env_to > 0.0 and 0 <= tr.latched < len(pages):
            off = min(max(0, frame - tr.latched_start), g.bar - 1)
            level = float(np.abs(pages[tr.latched, off : off + 1024]).max()) * tr.env_to
        tracks.append(
            TrackStatus(
                number=tr.index + 1,
                state=tr.state.value,
                bars=tr.bars,
                level=level,
                pending=tr.pending.action if tr.pending else None,
                volume=tr.volume,
                layers=max(0, tr.top + 1),
            )
        )
    n = min(cb.count, LOAD_WINDOW)
    period = block / engine.sample_rate
    load = float(np.median(cb.durations[:n])) / period if n else 0.0
    return Status(
        frame=frame,
        sample_rate=engine.sample_rate,
        bpm=g.bpm,
        beats_per_bar=g.beats_per_bar,
        bar=max(0, g.bar_index(frame)) + 1,
        beat=g.beat_in_bar(frame) + 1,
        tracks=tuple(tracks),
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
    if a.latency_ms == "auto":
        latency_frames = round(sum(stream.latency) * a.sample_rate)
    else:
        latency_frames = round(a.latency_ms * a.sample_rate / 1000)
    try:
        engine = Engine(EngineSettings.from_config(config, latency_frames))
        plan.restore(engine)  # the saved loops, before the stream starts
    except ValueError as error:
        stream.close()
        out.put(Failure(str(error)))
        return
    cb.engine = engine
    saver = Saver(engine, plan)
    pump = threading.Thread(target=_pump, args=(commands, cb.inbox, stop, saver), daemon=True)
    pump.start()
    sys.setswitchinterval(0.0005)  # hand the GIL to the callback's thread quickly
    gc.collect()
    gc.freeze()
    latency_ms = latency_frames * 1000 / a.sample_rate
    rss_start = _rss_mb()
    with stream:
        name = device_name(stream)
        out.put(Ready(name, latency_ms, a.block_size))
        while not stop.wait(PUBLISH_SECONDS):
            said = []
            while engine.messages:
                frame, text = engine.messages.popleft()
                said.append(f"bar {max(0, engine.grid.bar_index(frame)) + 1}: {text}")
            while saver.messages:
                bar = max(0, engine.grid.bar_index(engine.frame)) + 1
                said.append(f"bar {bar}: {saver.messages.popleft()}")
            out.put(_snapshot(cb, engine, a.block_size, latency_ms, said, rss_start))


# ---- the main process -------------------------------------------------------------


class Session:
    """One `looper run`: starts and watches the children; the CLI draws what `tick` says."""

    def __init__(self, config: Config, plan: SessionPlan) -> None:
        self.config = config
        self.plan = plan  # where `save` writes, and the session loaded at start
        self.ctx = mp.get_context("spawn")
        self.commands = self.ctx.Queue()
        self.status = self.ctx.Queue()
        self.midi_events = self.ctx.Queue()
        self.lights = self.ctx.Queue()  # what the pedal lights show, to the MIDI process
        self.shown: tuple[tuple[str, ...], bool] | None = None  # last put on `lights`
        self.stop = self.ctx.Event()
        self.audio: mp.process.BaseProcess | None = None
        self.midi: mp.process.BaseProcess | None = None
        self.midi_started = 0.0
        self.midi_failures = 0  # quick deaths in a row
        self.midi_text = "MIDI: starting"
        self.said: deque[str] = deque(maxlen=6)
        self.latest: Status | None = None

    def start(self) -> Ready | Failure:
        """Start the audio process, and the MIDI process once the audio runs."""
        self.audio = self.ctx.Process(
            target=audio_process,
            args=(self.config, self.commands, self.status, self.stop, self.plan),
            name="looper-audio",
        )
        self.audio.start()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                first = self.status.get(timeout=0.2)
            except queue.Empty:
                if not self.audio.is_alive():
                    return Failure(
                        f"the audio process ended at start (exit code {self.audio.exitcode})"
                    )
                continue
            if isinstance(first, Ready):
                self._start_midi()
            if isinstance(first, Ready | Failure):
                return first
        return Failure(f"the audio device did not start within {START_TIMEOUT:.0f} s")

    def _start_midi(self) -> None:
        from looper.midi.process import midi_process

        self.midi = self.ctx.Process(
            target=midi_process,
            args=(self.config, self.commands, self.midi_events, self.stop, self.lights),
            name="looper-midi",
        )
        self.shown = None  # a new MIDI process starts dark: forward the lights again
        self.midi.start()
        self.midi_started = time.monotonic()

    def tick(self) -> Tick:
        """What happened since the last tick: new lines, the status, or a fatal error."""
        from looper.midi.keepers import LightsState, PortState
        from looper.midi.lights import shown_by
        from looper.midi.process import Heard

        lines: list[str] = []
        with contextlib.suppress(queue.Empty):
            while True:
                event = self.midi_events.get_nowait()
                if isinstance(event, PortState):
                    self.midi_text = event.text
                    lines.append(event.text)
                elif isinstance(event, Heard) and event.fired:
                    heard = f"{event.message} -> " if event.message else ""
                    lines.append(heard + "; ".join(event.fired))
                elif isinstance(event, LightsState):
                    lines.append(event.text)
        with contextlib.suppress(queue.Empty):
            while True:
                self.latest = self.status.get_nowait()
                lines.extend(self.latest.messages)
        if self.latest is not None and shown_by(self.latest) != self.shown:
            self.shown = shown_by(self.latest)
            self.lights.put(self.shown)
        if self.audio is not None and not self.audio.is_alive():
            return Tick(
                lines,
                None,
                f"the audio process ended unexpectedly (exit code {self.audio.exitcode})",
            )
        lines.extend(self._watch_midi())
        self.said.extend(lines)
        status = None
        if self.latest is not None:
            status = replace(self.latest, midi=self.midi_text, messages=tuple(self.said))
        return Tick(lines, status, None)

    def _watch_midi(self) -> list[str]:
        """Restart a MIDI process that died, unless it keeps dying as it starts."""
        if self.midi is None or self.midi.is_alive() or self.stop.is_set():
            return []
        quick = time.monotonic() - self.midi_started < MIDI_QUICK_DEATH
        self.midi_failures = self.midi_failures + 1 if quick else 1
        code = self.midi.exitcode
        if self.midi_failures > MIDI_RETRIES:
            self.midi = None
            self.midi_text = "MIDI: stopped after failing at start; loops keep playing"
            return [
                f"the MIDI process failed {MIDI_RETRIES + 1} times at start (exit code {code}); "
                "the loops keep playing; fix the midi section and restart looper"
            ]
        self._start_midi()
        return [f"the MIDI process ended (exit code {code}); restarted it"]

    def shutdown(self) -> None:
        self.stop.set()
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in (self.midi, self.audio):
            if child is not None:
                child.join(max(0.05, deadline - time.monotonic()))
        for child in (self.midi, self.audio):
            if child is not None and child.is_alive():
                child.terminate()
                child.join(0.5)
        for q in (self.commands, self.status, self.midi_events, self.lights):
            q.cancel_join_thread()
            q.close()


@dataclass(frozen=True, slots=True)
class Tick:
    lines: list[str]  # to show once: MIDI port changes, stomps heard, engine messages
    status: Status | None  # the latest snapshot with the MIDI state and recent lines
    fatal: str | None  # the audio process died: the session is over
