"""What processes cost, read from /proc: CPU ticks, process trees, realtime threads.

CPU per block is the CPU time a process used over an interval (utime + stime of
/proc/PID/stat, every thread's, in clock ticks) divided by the blocks the server ran in
it, which at a steady block rate is the interval's seconds times rate / block. The pure
arithmetic (`stat_ticks`, `cpu_per_block_us`) is apart from the reading.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

PROC = Path("/proc")
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
SCHED_FIFO, SCHED_RR = 1, 2


def stat_fields(text: str) -> list[str]:
    """The fields of a /proc/PID/stat line after `comm` (which may hold spaces and
    parentheses): field 3 of proc(5), the state, is element 0."""
    return text[text.rindex(")") + 2 :].split()


def stat_ticks(text: str) -> int:
    """utime + stime (fields 14 and 15 of proc(5)) of a /proc/PID/stat line."""
    fields = stat_fields(text)
    return int(fields[11]) + int(fields[12])


def cpu_per_block_us(
    ticks: int, seconds: float, rate: int, block: int, hz: int = TICKS_PER_SECOND
) -> float:
    """Microseconds of CPU per block: `ticks` used over `seconds` of blocks at `rate`/`block`."""
    blocks = seconds * rate / block
    return ticks / hz / blocks * 1e6


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:  # the process (or thread) has gone
        return None


def ticks(pids: Iterable[int]) -> int:
    """The CPU ticks the processes used so far, together (those that have gone count 0)."""
    total = 0
    for pid in pids:
        text = _read(PROC / str(pid) / "stat")
        if text is not None:
            total += stat_ticks(text)
    return total


def descendants(pid: int) -> list[int]:
    """`pid` and every process under it, parents first."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            text = _read(entry / "stat")
            if text is not None:
                children.setdefault(int(stat_fields(text)[1]), []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop(0)
        tree.append(p)
        todo += sorted(children.get(p, []))
    return tree


def maps_library(pid: int, name: str) -> bool:
    """Whether the process has a shared library whose path holds `name` mapped."""
    text = _read(PROC / str(pid) / "maps")
    return text is not None and name in text


def realtime_threads(pid: int) -> int:
    """How many of the process's threads run SCHED_FIFO or SCHED_RR (field 41 of proc(5))."""
    count = 0
    for task in (PROC / str(pid) / "task").glob("*"):
        text = _read(task / "stat")
        if text is not None and int(stat_fields(text)[38]) in (SCHED_FIFO, SCHED_RR):
            count += 1
    return count
