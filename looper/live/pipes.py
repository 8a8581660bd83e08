"""How the live processes talk besides shared memory: pipes, and nothing that can hang.

Why pipes: a multiprocessing Queue or Event is a semaphore (left in /dev/shm
by a killed process) plus a feeder thread, and setting an Event that a dead
process was waiting on blocks for ever: the shutdown that hung. A pipe's
reader sees end-of-file when every writer is gone, however they went; a
writer to a dead reader gets an error, not a wait. So:

- each child gets the read end of a `life` pipe, and the main process's
  closing its end is "stop" (readable means stop: the audio process polls it,
  the MIDI process waits on it with its port, looper/midi/process.py);
- what a child reports comes up a pipe the main process polls: the audio
  process's Ready or Failure (sent once, waited for), the MIDI process's
  events, written without blocking (`PipeOutbox`): a main process that does
  not read for a while loses words for the screen, never a stomp (commands go
  by the ring; a `save` too, which the callback counts on the board);
- what the main process forwards (the pedal lights) goes down a pipe it
  writes without blocking (a full pipe drops the message, and the lights are
  sent again whole);
- the MIDI process's commands go into the shared command ring (`RingOutbox`).

Each adapter has the one method its user calls (`put`), so the MIDI
process's loop does not know which transport it has.
"""

from __future__ import annotations

import os
from multiprocessing.connection import Connection
from typing import Any

from looper.core.commands import Command
from looper.live.shared import CommandRing, Mapping


class PipeOutbox:
    """Sends that never wait: False when the message was dropped (the pipe full, or its
    reader gone). Each message is one write of less than PIPE_BUF bytes (a light's state, a
    stomp's words), which a pipe takes whole or not at all."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        os.set_blocking(conn.fileno(), False)

    def put(self, item: Any) -> bool:
        try:
            self.conn.send(item)
        except OSError:  # BlockingIOError: full; BrokenPipeError: its reader is gone
            return False
        return True


class RingOutbox:
    """Commands into the shared ring, from the one process that writes it (picklable: the
    child maps the memory by its path)."""

    def __init__(self, path: str, size: int, offset: int, length: int) -> None:
        self.where = (path, size, offset, length)
        self._ring: CommandRing | None = None

    def __getstate__(self) -> tuple[str, int, int, int]:
        return self.where

    def __setstate__(self, where: tuple[str, int, int, int]) -> None:
        self.where = where
        self._ring = None

    def put(self, item: tuple[Command, float | None]) -> bool:
        if self._ring is None:
            path, size, offset, length = self.where
            mapping = Mapping(size, path)
            self._ring = CommandRing(memoryview(mapping.map)[offset : offset + length])
        return self._ring.push(*item)
