"""`python -m looper.rig.bench`: what the engine's audio callback costs, and against its peer.

Sections, in the order they run (`--only` picks some):

- callback: `Engine.process` timed block by block with `time.perf_counter_ns()` on the
  standard stage workload (below) at block sizes 32 to 1024, 48 kHz.
- peer: the same measure for the callback of `backlooper` (the nearest Python peer,
  from PyPI) on the equivalent workload, and the ratio of our median to its median.
- scaling: the standard workload at 64 frames with 1 to 64 tracks.
- render: seconds of audio rendered per second of wall time, for a 10-minute
  performance through `Engine.process` in 4096-frame blocks (what `looper render` does).
- memory: peak resident memory of a 1-minute and a 60-minute rendered performance,
  each in a fresh subprocess; they must match within 5%.
- alloc: `tracemalloc` around many callbacks in steady state (a separate, untimed run):
  net bytes per block, and whether they grow with the number of blocks.

The standard stage workload: 8 stereo tracks looping 4, 1, 2, 3, 1, 2, 4 and 8 bars at
120 bpm, the first one overdubbing, click on, monitor on, 5 ms latency, history
recording. It is built with real commands (a Backloop per track once 9 bars of history
are held, then an Overdub) and run until every track plays, before anything is timed.
As the live audio process does, garbage collection is frozen (`gc.freeze()`) after set-up.

The machine this runs on is shared: read medians and ratios, not single timings.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import resource
import subprocess
import sys
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from functools import partial
from time import perf_counter_ns, time
from typing import Any

import numpy as np

from looper.config import parse_config
from looper.core.commands import Backloop, Overdub
from looper.core.engine import Engine
from looper.core.grid import Grid
from looper.core.settings import EngineSettings
from looper.core.track import MAX_LAYERS
from looper.core.tracks import State
from looper.core.view import EngineView
from looper.tools.render import RENDER_BLOCK

RATE = 48_000
BPM = 120.0
#: Loop lengths in bars, track by track (cycled past 8 tracks); track 1 overdubs.
LOOP_BARS = (4, 1, 2, 3, 1, 2, 4, 8)
DUB_TRACK = 0
#: Bars of history before the first backloop: enough for the longest loop, whole.
HISTORY_BARS = 9
STANDARD_TRACKS = 8
MONITOR = 0.5
LATENCY_SECONDS = 0.005
LATENCY_FRAMES = round(LATENCY_SECONDS * RATE)
BLOCK_SIZES = (32, 64, 128, 256, 1024)
TRACK_COUNTS = (1, 8, 16, 32, 64)
TARGET_BLOCK = 64
SIGNAL_SECONDS = 7.3  # what the performer plays, cycled: not a whole number of bars
SECTIONS = ("callback", "peer", "scaling", "render", "memory", "alloc")
#: The engine's net allocation may move by this much over the alloc run (free lists,
#: the bounded status deque) before it counts as growing.
ALLOC_SLACK_BYTES = 4096
TABLE_WIDTH = 132  # the callback table's columns, unshortened

Record = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Plan:
    """How long each section runs."""

    blocks: int = 20_000  # timed blocks per configuration; the alloc run's length too
    warmup: int = 2_000
    render_minutes: float = 10.0
    render_repeats: int = 3
    memory_minutes: tuple[float, float] = (1.0, 60.0)


FULL = Plan()
QUICK = Plan(
    blocks=1_000, warmup=100, render_minutes=1.0, render_repeats=1, memory_minutes=(0.5, 2.0)
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
    "alloc": Goal(
        "net allocation does not grow: bytes gained from a quarter of the run to its end",
        ALLOC_SLACK_BYTES,
    ),
}


# ---- the workload -------------------------------------------------------------------


def performance_signal() -> np.ndarray:
    """What the performer plays: stereo noise at -20 dBFS (float32, as the card gives it)."""
    rng = np.random.default_rng(7)
    return (0.1 * rng.standard_normal((round(SIGNAL_SECONDS * RATE), 2))).astype(np.float32)


def blocks_of(signal: np.ndarray, block: int) -> list[np.ndarray]:
    """The signal cut into views of `block` frames, made once so feeding them allocates nothing."""
    return [signal[i : i + block] for i in range(0, len(signal) - block + 1, block)]


STAGE_CONFIG = f"""
audio: {{sample_rate: {RATE}, inputs: [1, 2], outputs: [1, 2], monitor: {MONITOR}}}
clicktrack: {{bpm: {BPM}, enabled: true, outputs: [1, 2]}}
"""


def stage_settings(tracks: int, block: int = RENDER_BLOCK) -> EngineSettings:
    """The stage's settings from a config, as the looper builds them (defaults: the schema's)."""
    config = parse_config(STAGE_CONFIG, "bench")
    return EngineSettings.from_config(
        config, LATENCY_FRAMES, tracks=tracks, max_block=max(RENDER_BLOCK, block)
    )


def submit_stage(engine: Engine) -> None:
    """The stage performance's commands: a backloop per track early in bar 9, then an overdub.

    Each press is half a beat into its bar, so it snaps to the downbeat just passed: the
    backloops take the bars before bar 9 and the overdub layers from bar 10 on.
    """
    view = EngineView(engine)
    g = view.grid
    press = g.origin + HISTORY_BARS * g.bar + g.beat // 2
    for i in range(view.track_count):
        engine.submit(Backloop(i, LOOP_BARS[i % len(LOOP_BARS)]), press + i)
    engine.submit(Overdub(DUB_TRACK), press + g.bar)


def stage_ready(engine: Engine) -> bool:
    """Every track plays its loop, and the dub track overdubs, with nothing left waiting."""
    return all(
        tr.state is (State.OVERDUBBING if tr.number - 1 == DUB_TRACK else State.PLAYING)
        and tr.pending is None
        and tr.bars == LOOP_BARS[(tr.number - 1) % len(LOOP_BARS)]
        for tr in EngineView(engine).tracks()
    )


def stage_engine(tracks: int, signal: np.ndarray, block: int = RENDER_BLOCK) -> Engine:
    """An engine running the standard stage workload on `tracks` tracks, ready to time."""
    engine = Engine(stage_settings(tracks, block))
    submit_stage(engine)
    views = blocks_of(signal, RENDER_BLOCK)
    out = np.zeros((RENDER_BLOCK, engine.settings.out_channels), dtype=np.float32)
    view = EngineView(engine)
    give_up = (HISTORY_BARS + 4) * view.grid.bar
    i = 0
    while not stage_ready(engine):
        if view.frame > give_up:
            states = [tr.state.value for tr in view.tracks()]
            raise RuntimeError(f"the stage workload did not start: {states}")
        engine.process(views[i % len(views)], out)
        i += 1
    return engine


def fill_undo(engine: Engine, signal: np.ndarray) -> None:
    """Play on until the overdubbing track holds all its undo layers (one per pass)."""
    view = EngineView(engine)
    dub = view.track(DUB_TRACK)
    views = blocks_of(signal, RENDER_BLOCK)
    out = np.zeros((RENDER_BLOCK, engine.settings.out_channels), dtype=np.float32)
    give_up = view.frame + (MAX_LAYERS + 2) * dub.bars * view.grid.bar
    i = 0
    while dub.layers < MAX_LAYERS:
        if view.frame > give_up or dub.state is not State.OVERDUBBING:
            raise RuntimeError(f"the overdub did not fill its undo layers: {dub.layers}")
        engine.process(views[i % len(views)], out)
        i += 1
        dub = view.track(DUB_TRACK)


# ---- timing -------------------------------------------------------------------------


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


def measure_engine(name: str, tracks: int, block: int, plan: Plan, signal: np.ndarray) -> Record:
    engine = stage_engine(tracks, signal, block)
    out = np.zeros((block, engine.settings.out_channels), dtype=np.float32)
    ns = time_blocks(engine.process, blocks_of(signal, block), out, plan)
    return record(name, tracks, block, ns)


def callback_section(plan: Plan, signal: np.ndarray) -> list[Record]:
    records = []
    for block in BLOCK_SIZES:
        progress(f"callback: {STANDARD_TRACKS} tracks, block {block}")
        r = measure_engine("callback", STANDARD_TRACKS, block, plan, signal)
        if block == TARGET_BLOCK:
            r["targets"] = [
                GOALS["median"].check(r["load"]),
                GOALS["p999"].check(r["p999_us"] / r["period_us"]),
            ]
        records.append(r)
    return records


def scaling_section(plan: Plan, signal: np.ndarray) -> list[Record]:
    records = []
    for tracks in TRACK_COUNTS:
        progress(f"scaling: {tracks} tracks, block {TARGET_BLOCK}")
        r = measure_engine("scaling", tracks, TARGET_BLOCK, plan, signal)
        if tracks == TRACK_COUNTS[-1]:
            r["targets"] = [GOALS["tracks"].check(r["load"])]
        records.append(r)
    return records


# ---- the peer: backlooper -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FakeStreamTime:
    """What sounddevice hands a callback as `time`: PortAudio's stream times, in seconds."""

    currentTime: float
    inputBufferAdcTime: float
    outputBufferDacTime: float


#: A stream whose input reached the card 2.5 ms ago and whose output leaves in 2.5 ms:
#: backlooper derives its latency (5 ms, as ours) from these.
PEER_TIME = FakeStreamTime(
    currentTime=1.0,
    inputBufferAdcTime=1.0 - LATENCY_SECONDS / 2,
    outputBufferDacTime=1.0 + LATENCY_SECONDS / 2,
)


def peer_stream(audio: Any, block: int, signal: np.ndarray) -> Any:
    """backlooper's AudioStream with its 8 tracks looping over a pre-recorded history.

    No device is opened: the stream is only constructed (its constructor opens none),
    and the state its first callbacks and its session would set is set directly: the
    time origin, 9 bars of history written through its own `write`, the click grid,
    and a loop per track (`set_start_end_loop`, as its session does for a backloop).
    Its storage is shared memory, one segment per 10000 frames; `close_peer` frees it.
    """
    stream = audio.AudioStream(channels=2, block_size=block, sample_rate=RATE)
    quiet = logging.getLogger("looper.rig.bench.peer")
    quiet.setLevel(logging.CRITICAL)
    stream._logger = quiet  # set by its run(); its callback warns when a block is slow
    origin = time()
    stream._samples_origin.value = origin
    bar = Grid.from_bpm(RATE, BPM, audio.BEATS_PER_BAR).bar
    history = np.resize(signal, (HISTORY_BARS * bar, 2)).astype(np.float64)
    stream.write(origin, history)
    stream._current_index = len(history)
    stream.clicktrack_bpm = BPM
    stream.clicktrack_origin = origin
    end = len(history)
    for track, bars in enumerate(LOOP_BARS):
        start = end - bars * bar
        stream.set_start_end_loop(origin + start / RATE, origin + end / RATE, track_id=track)
    return stream


def close_peer(stream: Any) -> None:
    """Free the shared memory the stream made (its storage has no garbage collection)."""
    for memory in stream._storage._memory_handles.values():
        memory.unlink()
        memory.close()
    stream._loop_start_end_times.shm.unlink()
    stream._loop_start_end_times.shm.close()


def peer_section(plan: Plan, signal: np.ndarray, ours: Sequence[Record]) -> list[Record]:
    """backlooper's callback per block size; a `skipped` line, never a crash, if it fails."""
    try:
        import backlooper.audio as audio  # imports sounddevice: needs PortAudio
    except Exception as error:  # any reason the peer cannot load (no PortAudio...) skips it
        return [skipped_peer(f"backlooper cannot be imported: {type(error).__name__}: {error}")]
    medians = {r["block"]: r["median_us"] for r in ours}
    records = []
    for block in BLOCK_SIZES:
        progress(f"peer: backlooper, 8 tracks, block {block}")
        try:
            stream = peer_stream(audio, block, signal)
            try:
                out = np.zeros((block, 2), dtype=np.float32)
                callback = partial(
                    stream.callback, frames=block, callback_time=PEER_TIME, status=None
                )
                ns = time_blocks(callback, blocks_of(signal, block), out, plan)
            finally:
                close_peer(stream)
        except Exception as error:  # a foreign package's failure is reported, not raised
            records.append(
                skipped_peer(f"backlooper's callback failed: {type(error).__name__}: {error}")
            )
            return records
        r = record("peer", STANDARD_TRACKS, block, ns, peer=f"backlooper {peer_version()}")
        ours_median = medians.get(block)
        r["ratio"] = None if ours_median is None else ours_median / r["median_us"]
        if block == TARGET_BLOCK and r["ratio"] is not None:
            r["targets"] = [GOALS["peer"].check(r["ratio"])]
        records.append(r)
    return records


def skipped_peer(reason: str) -> Record:
    return record("peer", STANDARD_TRACKS, None, None, skipped=reason)


def peer_version() -> str:
    from importlib.metadata import version

    return version("backlooper")


# ---- offline render and memory ------------------------------------------------------


def render_performance(minutes: float, signal: np.ndarray, ns: np.ndarray | None = None) -> float:
    """Render a `minutes`-long stage performance in 4096-frame blocks; the wall seconds.

    The commands are submitted at frame 0 and the whole performance goes through the
    engine, set-up included. Input is the signal cycled and each block's output goes to
    the same buffer, so nothing but the engine holds memory that grows with the length.
    With `ns` (one slot per block), each block's nanoseconds go there.
    """
    engine = Engine(stage_settings(STANDARD_TRACKS))
    submit_stage(engine)
    views = blocks_of(signal, RENDER_BLOCK)
    out = np.zeros((RENDER_BLOCK, engine.settings.out_channels), dtype=np.float32)
    total = round(minutes * 60 * RATE)
    start = perf_counter_ns()
    for i, done in enumerate(range(0, total, RENDER_BLOCK)):
        m = min(RENDER_BLOCK, total - done)
        x, y = views[i % len(views)][:m], out[:m]
        if ns is None:
            engine.process(x, y)
        else:
            t0 = perf_counter_ns()
            engine.process(x, y)
            ns[i] = perf_counter_ns() - t0
    return (perf_counter_ns() - start) / 1e9


def render_blocks(minutes: float) -> int:
    return -(-round(minutes * 60 * RATE) // RENDER_BLOCK)


def render_section(plan: Plan, signal: np.ndarray) -> list[Record]:
    progress(f"render: {plan.render_minutes:g} min x {plan.render_repeats}")
    per_run = render_blocks(plan.render_minutes)
    ns = np.zeros(per_run * plan.render_repeats, dtype=np.int64)
    walls = [
        render_performance(plan.render_minutes, signal, ns[k * per_run : (k + 1) * per_run])
        for k in range(plan.render_repeats)
    ]
    factor = plan.render_minutes * 60 / float(np.median(walls))
    r = record(
        "render",
        STANDARD_TRACKS,
        RENDER_BLOCK,
        ns,
        minutes=plan.render_minutes,
        repeats=plan.render_repeats,
        via="Engine.process",
        realtime_factor=factor,
    )
    r["targets"] = [GOALS["render"].check(factor)]
    return [r]


def session_peak_rss(minutes: float) -> int:
    """Render a session in this process; its peak resident memory in KiB (run it fresh)."""
    render_performance(minutes, performance_signal())
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure_peak_rss(minutes: float) -> int:
    """Peak resident memory (KiB) of a `minutes`-long session in a fresh Python process.

    A shell forks the process: Linux keeps the peak of the memory a process replaced at
    exec, and a child started straight from this process (vfork, then exec) would report
    this process's peak when that is higher than its own (1 GB here gives 1 GB there).
    """
    code = f"from looper.rig.bench import session_peak_rss; print(session_peak_rss({minutes!r}))"
    command = ["/bin/sh", "-c", '"$0" "$@"; exit $?', sys.executable, "-c", code]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1])


def memory_section(plan: Plan) -> list[Record]:
    records = []
    for minutes in plan.memory_minutes:
        progress(f"memory: a {minutes:g}-minute session in a fresh process")
        kib = measure_peak_rss(minutes)
        records.append(
            record("memory", STANDARD_TRACKS, RENDER_BLOCK, None, minutes=minutes, peak_rss_kib=kib)
        )
    short, long = (r["peak_rss_kib"] for r in records)
    ratio = long / short
    records[-1]["ratio_to_shorter"] = ratio
    records[-1]["targets"] = [GOALS["memory"].check(abs(ratio - 1))]
    return records


# ---- allocation ---------------------------------------------------------------------


def alloc_section(plan: Plan, signal: np.ndarray) -> list[Record]:
    """Net bytes the engine keeps per block, after a quarter of the run and after all of it.

    The run starts in steady state: the overdub has filled its undo stack, so each new
    pass over the loop drops the oldest layer, as it would an hour into a show.
    tracemalloc sees Python objects and numpy's buffers alike. Snapshots leave out what
    tracemalloc and this module allocate, so only the engine's own memory is counted.
    The transient peak is the most a single block had allocated at once above its start.
    """
    progress(f"alloc: tracemalloc over {plan.blocks} blocks of {TARGET_BLOCK}")
    engine = stage_engine(STANDARD_TRACKS, signal, TARGET_BLOCK)
    fill_undo(engine, signal)
    views = blocks_of(signal, TARGET_BLOCK)
    out = np.zeros((TARGET_BLOCK, engine.settings.out_channels), dtype=np.float32)
    for i in range(plan.warmup):
        engine.process(views[i % len(views)], out)
    checkpoints = (max(1, plan.blocks // 4), max(2, plan.blocks))
    transient = np.zeros(checkpoints[-1], dtype=np.int64)
    leave_out = [tracemalloc.Filter(False, path) for path in (tracemalloc.__file__, __file__)]
    gc.collect()
    gc.freeze()
    tracemalloc.start()
    try:
        snapshots = [tracemalloc.take_snapshot()]
        done = 0
        for upto in checkpoints:
            while done < upto:
                before = tracemalloc.get_traced_memory()[0]
                tracemalloc.reset_peak()
                engine.process(views[(plan.warmup + done) % len(views)], out)
                transient[done] = tracemalloc.get_traced_memory()[1] - before
                done += 1
            snapshots.append(tracemalloc.take_snapshot())
    finally:
        tracemalloc.stop()
        gc.unfreeze()
    snapshots = [s.filter_traces(leave_out) for s in snapshots]  # untraced: filters compile
    sizes = [sum(stat.size for stat in s.statistics("filename")) for s in snapshots]
    net_first, net_all = sizes[1] - sizes[0], sizes[2] - sizes[0]
    growth = sizes[2] - sizes[1]
    grows = not GOALS["alloc"].check(growth)["met"]
    sites = [
        f"{stat.traceback[0].filename}:{stat.traceback[0].lineno}: {stat.size_diff:+d} B"
        for stat in snapshots[2].compare_to(snapshots[1], "lineno")[:5]
        if stat.size_diff > 0
    ]
    r = record(
        "alloc",
        STANDARD_TRACKS,
        TARGET_BLOCK,
        None,
        alloc_blocks=checkpoints,
        net_bytes=[net_first, net_all],
        net_bytes_per_block=net_all / checkpoints[-1],
        growth_bytes=growth,
        grows=grows,
        transient_median_bytes=float(np.median(transient)),
        transient_max_bytes=int(transient.max()),
        growing_sites=sites if grows else [],
    )
    r["targets"] = [GOALS["alloc"].check(growth)]
    return [r]


# ---- output -------------------------------------------------------------------------


def progress(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{model}, {os.cpu_count()} cores; Python {platform.python_version()}, "
        f"numpy {np.__version__}"
    )


def print_tables(records: list[Record]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, width=max(TABLE_WIDTH, Console().width))
    by_name: dict[str, list[Record]] = {}
    for r in records:
        by_name.setdefault(r["name"], []).append(r)

    def us(value: float | None) -> str:
        return "-" if value is None else f"{value:,.1f}"

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.1f}%"

    def timing_row(r: Record) -> list[str]:
        return [
            us(r["period_us"]),
            us(r["median_us"]),
            us(r["p99_us"]),
            us(r["p999_us"]),
            us(r["max_us"]),
            pct(r["load"]),
            pct(None if r["p999_us"] is None else r["p999_us"] / r["period_us"]),
        ]

    timing_columns = (
        "period µs",
        "median µs",
        "p99 µs",
        "p99.9 µs",
        "max µs",
        "load",
        "p99.9/period",
    )
    console.print(f"machine: {machine()}")
    peers = {r["block"]: r for r in by_name.get("peer", []) if "skipped" not in r}
    if "callback" in by_name:
        table = Table(
            title=(
                "Callback cost: standard workload (8 stereo tracks, 1 overdubbing, click, "
                f"monitor, 5 ms latency), {RATE} Hz, {by_name['callback'][0]['blocks']} blocks"
            )
        )
        for column in ("block", *timing_columns, "backlooper median µs", "ours / backlooper"):
            table.add_column(column, justify="right")
        for r in by_name["callback"]:
            peer = peers.get(r["block"])
            table.add_row(
                str(r["block"]),
                *timing_row(r),
                us(peer["median_us"]) if peer else "-",
                f"{peer['ratio']:.3f}" if peer and peer["ratio"] is not None else "-",
            )
        console.print(table)
    if peers and "callback" not in by_name:
        table = Table(title="Peer: backlooper's callback, 8 tracks")
        for column in ("block", *timing_columns):
            table.add_column(column, justify="right")
        for block, r in peers.items():
            table.add_row(str(block), *timing_row(r))
        console.print(table)
    for r in by_name.get("peer", []):
        if "skipped" in r:
            console.print(f"peer skipped: {r['skipped']}")
    if "scaling" in by_name:
        table = Table(title=f"Scaling: the standard workload at {TARGET_BLOCK} frames")
        for column in ("tracks", *timing_columns):
            table.add_column(column, justify="right")
        for r in by_name["scaling"]:
            table.add_row(str(r["tracks"]), *timing_row(r))
        console.print(table)
    for r in by_name.get("render", []):
        console.print(
            f"Render ({r['via']}, {RENDER_BLOCK}-frame blocks, {r['minutes']:g}-minute "
            f"8-track performance, median of {r['repeats']}): "
            f"[bold]{r['realtime_factor']:,.0f}x real time[/]; per block median "
            f"{us(r['median_us'])} µs, p99.9 {us(r['p999_us'])} µs, max {us(r['max_us'])} µs"
        )
    memory = by_name.get("memory", [])
    if memory:
        sizes = ", ".join(
            f"{r['minutes']:g} min: {r['peak_rss_kib'] / 1024:,.1f} MiB" for r in memory
        )
        console.print(
            f"Peak resident memory (fresh process each): {sizes}; "
            f"ratio {memory[-1]['ratio_to_shorter']:.4f}"
        )
    for r in by_name.get("alloc", []):
        first, last = r["alloc_blocks"]
        console.print(
            f"Allocation (tracemalloc, {TARGET_BLOCK}-frame blocks): net {r['net_bytes'][0]:+,d} B "
            f"after {first} blocks, {r['net_bytes'][1]:+,d} B after {last} "
            f"({r['net_bytes_per_block']:+.2f} B/block); growth {r['growth_bytes']:+,d} B: "
            f"{'GROWS' if r['grows'] else 'does not grow'}; transient per block: median "
            f"{r['transient_median_bytes']:,.0f} B, max {r['transient_max_bytes']:,d} B"
        )
        for site in r["growing_sites"]:
            console.print(f"  grows at {site}")
    measured = {t["target"]: t for r in records for t in r["targets"]}
    table = Table(title="Targets")
    for column in ("target", "measured", "limit", ""):
        table.add_column(column)
    for goal in GOALS.values():
        t = measured.get(goal.text)
        if t is None:
            table.add_row(goal.text, "-", f"{goal.limit:g}", "not measured")
        else:
            verdict = "[green]met[/]" if t["met"] else "[bold red]NOT MET[/]"
            table.add_row(goal.text, f"{t['value']:.4g}", f"{goal.limit:g}", verdict)
    console.print(table)


# ---- the command --------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m looper.rig.bench",
        description="Time the engine's audio callback, its scaling, offline render speed, "
        "memory and allocation, against the targets and the backlooper peer.",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--quick", action="store_true", help="short runs, for a quick look")
    parser.add_argument(
        "--blocks", type=count(1), metavar="N", help="timed blocks per configuration"
    )
    parser.add_argument("--warmup", type=count(0), metavar="N", help="untimed blocks before timing")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=SECTIONS,
        metavar="SECTION",
        help=f"run only these sections ({', '.join(SECTIONS)})",
    )
    parser.add_argument(
        "--soak",
        type=float,
        metavar="MINUTES",
        help="instead: the looper live on a dummy JACK server for MINUTES (scripts/soak)",
    )
    parser.add_argument(
        "--realtime", action="store_true", help="with --soak: a realtime (SCHED_FIFO) JACK server"
    )
    return parser.parse_args(argv)


def soak(minutes: float, realtime: bool, as_json: bool) -> int:
    """The live soak: xruns, callback time percentiles, memory at start and end."""
    from looper.rig.soak import SoakError, run

    try:
        result = run(minutes, realtime)
    except SoakError as error:
        print(f"soak: {error}", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps({"name": "soak", **asdict(result)}))
        return 0
    print(
        f"soak: {result.minutes:g} min live at {result.block} frames, 48 kHz, 8 tracks "
        f"(one overdubbing), click and monitor on; JACK "
        f"{'realtime' if result.realtime else 'not realtime'}\n"
        f"  blocks {result.blocks}, xruns {result.xruns}\n"
        f"  callback time, % of the {result.block}-frame period: p50 {result.p50:.1f}, "
        f"p99 {result.p99:.1f}, p99.9 {result.p999:.1f}, max {result.max:.1f}\n"
        f"  audio process resident memory: {result.rss_start_mb:.1f} MB after set-up, "
        f"{result.rss_end_mb:.1f} MB at the end\n"
        f"  last status: {result.states}"
    )
    return 0


def count(least: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least `least`."""

    def parse(text: str) -> int:
        value = int(text)
        if value < least:
            raise argparse.ArgumentTypeError(f"found {value}; allowed: at least {least}")
        return value

    return parse


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.soak is not None:
        return soak(args.soak, args.realtime, args.json)
    plan = QUICK if args.quick else FULL
    if args.blocks is not None:
        plan = replace(plan, blocks=args.blocks)
    if args.warmup is not None:
        plan = replace(plan, warmup=args.warmup)
    sections = args.only or SECTIONS
    signal = performance_signal()
    records: list[Record] = []

    def emit(new: list[Record]) -> list[Record]:
        records.extend(new)
        if args.json:
            for r in new:
                print(json.dumps(r), flush=True)
        return new

    callback = emit(callback_section(plan, signal)) if "callback" in sections else []
    if "peer" in sections:
        emit(peer_section(plan, signal, callback))
    if "scaling" in sections:
        emit(scaling_section(plan, signal))
    if "render" in sections:
        emit(render_section(plan, signal))
    if "memory" in sections:
        emit(memory_section(plan))
    if "alloc" in sections:
        emit(alloc_section(plan, signal))
    if not args.json:
        print_tables(records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
