"""The memory the main process owns and every audio and MIDI process maps.

Why shared memory: the loops must outlive the audio process, and nothing but
the callback may take the audio process's interpreter lock. So the main
process creates one anonymous mapping (`memfd_create`: nothing is ever in
/dev/shm, and the kernel frees it when the last process holding it ends,
however that happens) and its children open it through
/proc/<main pid>/fd/<fd>. It holds:

- the engine's memory (core/memory.py): the loop pages, the meters, the checkpoint;
- `CommandRing`: the MIDI process's commands to the callback, a single-producer
  single-consumer ring of float64 rows (core/wire.py), which the callback polls;
- `Board`: what the callback says each block (the frame and the clock it
  rendered at, its timing, xruns, the engine's messages, and how many `save`
  stomps came through the ring), read by the main process for the status.

Ordering: a ring row is written before the counter that publishes it, and a
counter is read before the row; on x86-64 stores are seen in order. On weakly
ordered CPUs (ARM) numpy gives no barrier; a torn command would be a
corrupted row, which `decode` may misread. The counters are int64 stores,
each atomic.
"""

from __future__ import annotations

import contextlib
import math
import mmap
import os
from collections.abc import Iterator

import numpy as np

from looper.core import wire
from looper.core.commands import Command
from looper.core.memory import ALIGN, Memory, memory_bytes
from looper.core.messages import Message, MessageCode
from looper.core.settings import EngineSettings

RING_ROWS = 256  # commands in flight: far more than a pedal can send in a block
ROW = wire.WIDTH + 1  # the command, then the monotonic stamp of the stomp (NaN: none)
MESSAGE_ROWS = 256
MESSAGE_ARGS = 4
LOAD_WINDOW = 512  # callback durations kept for the median
HIST_STEP = 1e-5  # the session histogram of callback durations: 10 us bins...
HIST_BINS = 10_000  # ...up to 100 ms, the last bin holding anything longer

# Board numbers, by index: ints then floats.
FRAME, BLOCKS, XRUNS, MESSAGES, SAVES = range(5)
STAMP, WORST = range(2)


def _round(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def _ring_bytes() -> int:
    return _round(2 * 8) + _round(RING_ROWS * ROW * 8)


def _board_bytes() -> int:
    return (
        _round(8 * 8)
        + _round(4 * 8)
        + _round(LOAD_WINDOW * 8)
        + _round(HIST_BINS * 8)
        + _round(MESSAGE_ROWS * (2 + MESSAGE_ARGS) * 8)
    )


def ring_span(settings: EngineSettings) -> tuple[int, int]:
    """Where the command ring is in the mapping: its offset and its length."""
    return memory_bytes(settings), _ring_bytes()


def live_bytes(settings: EngineSettings) -> int:
    return memory_bytes(settings) + _ring_bytes() + _board_bytes()


class Mapping:
    """The shared bytes: created by the main process, opened by path in its children."""

    def __init__(self, size: int, path: str | None = None) -> None:
        if path is None:
            self.fd = os.memfd_create("looper", os.MFD_CLOEXEC)
            os.ftruncate(self.fd, size)
            self.path = f"/proc/{os.getpid()}/fd/{self.fd}"
        else:
            self.fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
            self.path = path
        # Populate: every page is mapped now, so the callback never takes a page fault on it.
        self.map = mmap.mmap(self.fd, size, flags=mmap.MAP_SHARED | mmap.MAP_POPULATE)
        self.size = size

    def views(self, settings: EngineSettings) -> tuple[Memory, CommandRing, Board]:
        """The engine's memory, the command ring and the board, at their fixed offsets."""
        buffer = memoryview(self.map)
        engine, ring = ring_span(settings)
        return (
            Memory(settings, buffer[:engine]),
            CommandRing(buffer[engine : engine + ring]),
            Board(buffer[engine + ring :]),
        )

    def close(self) -> None:
        """Unmap and close (the memory lives on while another process holds it)."""
        with contextlib.suppress(BufferError):  # a view still alive: the exit unmaps it
            self.map.close()
        os.close(self.fd)


def _carve(
    buffer: memoryview | None, specs: list[tuple[type, tuple[int, ...]]]
) -> Iterator[np.ndarray]:
    """Arrays laid out one after the other in `buffer` (or zeros of their own)."""
    offset = 0
    for dtype, shape in specs:
        count = int(np.prod(shape))
        if buffer is None:
            yield np.zeros(shape, dtype=dtype)
        else:
            flat: np.ndarray = np.frombuffer(buffer, dtype=dtype, count=count, offset=offset)
            yield flat.reshape(shape)
        offset += _round(count * np.dtype(dtype).itemsize)


class CommandRing:
    """Commands with their stamps, one producer to one consumer, no lock.

    `counters[0]` counts rows written, `counters[1]` rows read; each side writes one.
    A full ring drops the command (the producer is told): a pedal cannot fill 256 rows
    in one block, so a full ring means the callback is not running.
    """

    def __init__(self, buffer: memoryview | None = None) -> None:
        self.counters, self.rows = _carve(
            buffer, [(np.int64, (2,)), (np.float64, (RING_ROWS, ROW))]
        )

    def push(self, command: Command, stamp: float | None) -> bool:
        head = int(self.counters[0])
        if head - int(self.counters[1]) >= RING_ROWS:
            return False
        row = self.rows[head % RING_ROWS]
        wire.encode(command, row)
        row[wire.WIDTH] = math.nan if stamp is None else stamp
        self.counters[0] = head + 1  # published: after the row
        return True

    def pending(self) -> bool:
        return bool(self.counters[0] != self.counters[1])

    def pop(self) -> tuple[Command, float | None]:
        """The oldest command and its stamp (call only when `pending`)."""
        tail = int(self.counters[1])
        row = self.rows[tail % RING_ROWS]
        command = wire.decode(row)
        stamp = float(row[wire.WIDTH])
        self.counters[1] = tail + 1
        return command, None if math.isnan(stamp) else stamp


class Board:
    """What the callback tells the main process: written each block, read at any time."""

    def __init__(self, buffer: memoryview | None = None) -> None:
        self.ints, self.floats, self.durations, self.hist, self.messages = _carve(
            buffer,
            [
                (np.int64, (8,)),
                (np.float64, (4,)),
                (np.float64, (LOAD_WINDOW,)),
                (np.int64, (HIST_BINS,)),
                (np.float64, (MESSAGE_ROWS, 2 + MESSAGE_ARGS)),
            ],
        )

    def block(self, frame: int, stamp: float, spent: float, xrun: bool) -> None:
        """One block rendered up to `frame` at monotonic time `stamp`, in `spent` seconds."""
        ints, floats = self.ints, self.floats
        count = int(ints[BLOCKS])
        self.durations[count % LOAD_WINDOW] = spent
        self.hist[min(int(spent / HIST_STEP), HIST_BINS - 1)] += 1
        if spent > floats[WORST]:
            floats[WORST] = spent
        if xrun:
            ints[XRUNS] += 1
        self.clock(frame, stamp)
        ints[BLOCKS] = count + 1

    def clock(self, frame: int, stamp: float) -> None:
        """Output frame `frame` was rendered at monotonic time `stamp`: what a taking-over
        process counts the time since from."""
        self.floats[STAMP] = stamp
        self.ints[FRAME] = frame

    def say(self, message: Message) -> None:
        frame, code, args = message
        n = int(self.ints[MESSAGES])
        row = self.messages[n % MESSAGE_ROWS]
        row[0], row[1] = frame, code
        row[2 : 2 + MESSAGE_ARGS] = math.nan
        for i, value in enumerate(args[:MESSAGE_ARGS]):
            row[2 + i] = value
        self.ints[MESSAGES] = n + 1

    def said(self, since: int) -> tuple[list[Message], int]:
        """The messages after the first `since`, and the count to pass next time; when more
        came than the board keeps, the oldest are gone."""
        n = int(self.ints[MESSAGES])
        out: list[Message] = []
        for k in range(max(since, n - MESSAGE_ROWS), n):
            row = self.messages[k % MESSAGE_ROWS]
            args = tuple(_number(float(v)) for v in row[2:] if not math.isnan(v))
            out.append((int(row[0]), MessageCode(int(row[1])), args))
        return out, n


def _number(value: float) -> float:
    """A message number as the engine gave it: a track or a count is a whole number."""
    return int(value) if value.is_integer() else value
