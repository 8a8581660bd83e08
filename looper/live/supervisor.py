"""The main process of `looper run`: it starts the audio and MIDI processes and watches them.

A `Session` (driven by the CLI) starts the audio process (`looper.live.audio`)
and, once that runs, the MIDI process (`looper.midi.process`); it restarts the
MIDI process if it dies, forwards what the pedal lights show, gathers the
status and the lines to show, and shuts everything down. It prints nothing:
each `tick` returns what the CLI draws.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import queue
import signal
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, replace
from types import TracebackType

from looper.config import Config
from looper.core.messages import words
from looper.live.audio import Failure, Ready, audio_process
from looper.live.status import Status
from looper.sessions.plan import SessionPlan

START_TIMEOUT = 20.0
STOP_TIMEOUT = 0.8
MIDI_QUICK_DEATH = 2.0  # seconds: a MIDI process dying sooner failed at start
MIDI_RETRIES = 3


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

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()

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
                lines.extend(
                    f"bar {bar}: {words(code, args)}"
                    for bar, code, args in self.latest.engine_messages
                )
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
            status = replace(
                self.latest, midi=self.midi_text, messages=tuple(self.said), engine_messages=()
            )
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


@contextlib.contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event that Ctrl-C (SIGINT) and SIGTERM set while the block runs, instead of raising
    in the middle of a draw; the previous handlers come back after it."""
    stopping = threading.Event()
    previous = {
        s: signal.signal(s, lambda *_: stopping.set()) for s in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield stopping
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
