"""The main process's children: how one is started, told to stop, and killed; the signals.

Why: nothing here may block on a dead child (looper/live/pipes.py). A child is
started with the terminal's signals ignored (it inherits that through exec,
so a Ctrl-C while it imports is not a traceback on the performer's screen),
told to stop by closing its life pipe, given STOP_SECONDS, then killed.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from looper.config import Config
from looper.live.audio import child_signals
from looper.live.pipes import PipeOutbox, RingOutbox

STOP_SECONDS = 0.6  # how long a child is given to end once told, before it is killed


@dataclass
class Child:
    """A child process, the main process's end of its life pipe, and what it reports on."""

    process: mp.process.BaseProcess
    life: Connection
    report: Connection
    started: float = field(default_factory=time.monotonic)

    def alive(self) -> bool:
        return self.process.is_alive()

    def stop(self, seconds: float = STOP_SECONDS) -> None:
        """Tell it to go (end-of-file on its life pipe), wait a little, then kill it."""
        with contextlib.suppress(OSError):
            self.life.close()
        self.process.join(seconds)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(0.5)
        with contextlib.suppress(OSError):
            self.report.close()

    def ended(self) -> str:
        code = self.process.exitcode
        if code is not None and code < 0:
            return f"killed by signal {signal.Signals(-code).name}"
        return f"exit code {code}"


def spawn(ctx: Any, target: Any, name: str, *args: Any) -> Child:
    """Start a child with a life pipe and a report pipe (the target's last two arguments),
    the terminal's signals ignored while it starts (it inherits that, and sets its own
    once it runs)."""
    report_r, report_w = ctx.Pipe(duplex=False)
    life_r, life_w = ctx.Pipe(duplex=False)
    process = ctx.Process(target=target, args=(*args, report_w, life_r), name=name, daemon=True)
    before = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGHUP)}
    try:
        process.start()
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
    report_w.close()
    life_r.close()
    return Child(process, life_w, report_r)


@dataclass
class Stopping:
    """Set by SIGINT, SIGTERM or SIGHUP; `signal` says which came first."""

    event: threading.Event = field(default_factory=threading.Event)
    signal: int | None = None

    def set(self, signum: int) -> None:
        if self.signal is None:
            self.signal = signum
        self.event.set()


@contextlib.contextmanager
def stop_on_signals() -> Iterator[Stopping]:
    """Ctrl-C (SIGINT), SIGTERM and SIGHUP (the terminal closed; not when it was ignored
    at start, as `nohup` does) set a flag while the block runs, instead of raising in the
    middle of a draw; the previous handlers come back after it."""
    stopping = Stopping()
    kinds = [signal.SIGINT, signal.SIGTERM]
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:  # under nohup it stays ignored
        kinds.append(signal.SIGHUP)
    previous = {s: signal.signal(s, lambda signum, _: stopping.set(signum)) for s in kinds}
    try:
        yield stopping
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def midi_child(
    config: Config, commands: RingOutbox, lights: Connection, report: Connection, life: Connection
) -> None:
    """The MIDI process, on pipes: events up `report`, lights down `lights`, stop at the end
    of `life`."""
    from looper.midi.process import midi_process

    child_signals()
    midi_process(config, commands, PipeOutbox(report), life, lights)
