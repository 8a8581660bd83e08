"""The bench's measuring tools: a plan of how long to run, the targets, per-block timing.

Every section times through `time_blocks`, so every figure is taken the same way: untimed
warm-up blocks first, then garbage collection frozen (`gc.freeze()`, as the live audio
process does after set-up) while `time.perf_counter_ns()` brackets each call. A result
line (`Record`) is a plain dict, as `--json` prints it.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter_ns
from typing import Any

import numpy as np

from looper.rig.workload import RATE

BLOCK_SIZES = (32, 64, 128, 256, 1024)
TRACK_COUNTS = (1, 8, 16, 32, 64)
TARGET_BLOCK = 64
#: The engine's net allocation may move by this much over the alloc run (free lists,
#: the bounded status deque) before it counts as growing.
ALLOC_SLACK_BYTES = 4096

Record = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Plan:
    """How long each section runs."""

    blocks: int = 20_000  # timed blocks per configuration; the alloc run's length too
    warmup: int = 2_000
    render_minutes: float = 10.0
    render_repeats: int = 3
    memory_minutes: tuple[float, float] = (1.0, 60.0)
    live_seconds: float = 30.0  # measured per live run, once its loops play
    live_repeats: int = 3  # live runs of each looper per block size, interleaved


FULL = Plan()
QUICK = Plan(
    blocks=1_000,
    warmup=100,
    render_minutes=1.0,
    render_repeats=1,
    memory_minutes=(0.5, 2.0),
    live_seconds=5.0,
    live_repeats=1,
)


@dataclass(frozen=True, slots=True)
class Goal:
    """What a target asks of one measured value: at most `limit`, or at least it."""

    text: str
    limit: float
    at_least: bool = False

    def check(self, value: float) -> dict[str, Any]:
        """The target as a result line carries it."""
        met = value >= self.limit if self.at_least else value <= self.limit
        return {"target": self.text, "value": value, "limit": self.limit, "met": met}


#: The targets, in the order the table lists them; a record carries those it measures.
GOALS = {
    "median": Goal("standard workload at 64 frames: median <= 5% of the period", 0.05),
    "p999": Goal("standard workload at 64 frames: p99.9 <= 20% of the period", 0.20),
    "peer": Goal("standard workload at 64 frames: our median / backlooper's <= 0.1", 0.1),
    "tracks": Goal("64 tracks at 64 frames: median <= 25% of the period", 0.25),
    "render": Goal("offline render >= 500x real time", 500.0, at_least=True),
    "memory": Goal("peak memory of the short and the long session: within 5%", 0.05),
    "live64": Goal(
        "live at 64 frames: all looper processes / SooperLooper, CPU per block <= 1", 1.0
    ),
    "live128": Goal(
        "live at 128 frames: all looper processes / SooperLooper, CPU per block <= 1", 1.0
    ),
    "alloc": Goal(
        "net allocation does not grow: bytes gained from a quarter of the run to its end",
        ALLOC_SLACK_BYTES,
    ),
}


def time_blocks(
    process: Callable[[np.ndarray, np.ndarray], object],
    views: list[np.ndarray],
    out: np.ndarray,
    plan: Plan,
) -> np.ndarray:
    """Nanoseconds of each of `plan.blocks` calls, after `plan.warmup` untimed ones."""
    for i in range(plan.warmup):
        process(views[i % len(views)], out)
    ns = np.zeros(plan.blocks, dtype=np.int64)
    gc.collect()
    gc.freeze()  # as the live audio process does after set-up
    try:
        for i in range(plan.blocks):
            x = views[(plan.warmup + i) % len(views)]
            start = perf_counter_ns()
            process(x, out)
            ns[i] = perf_counter_ns() - start
    finally:
        gc.unfreeze()  # let the engines of earlier runs go
    return ns


def record(
    name: str, tracks: int, block: int | None, ns: np.ndarray | None, **extra: Any
) -> Record:
    """One result line: the configuration and its per-block times (null when not timed)."""
    period = None if block is None else block / RATE * 1e6
    timing: dict[str, float | None] = dict.fromkeys(
        ("median_us", "p99_us", "p999_us", "max_us", "load")
    )
    if ns is not None and period is not None:
        median, p99, p999 = (float(v) / 1000 for v in np.percentile(ns, [50, 99, 99.9]))
        timing = {
            "median_us": median,
            "p99_us": p99,
            "p999_us": p999,
            "max_us": float(ns.max()) / 1000,
            "load": median / period,
        }
    return {
        "name": name,
        "tracks": tracks,
        "block": block,
        "sample_rate": RATE,
        "blocks": 0 if ns is None else len(ns),
        "period_us": period,
        **timing,
        "targets": [],
        **extra,
    }


def progress(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)
