"""`python -m looper.rig.bench`: what the engine's audio callback costs, and against its peer.

Sections, in the order they run (`--only` picks some):

- callback: `Engine.process` timed block by block with `time.perf_counter_ns()` on the
  standard stage workload at block sizes 32 to 1024, 48 kHz.
- peer: the same measure for the callback of `backlooper` (the nearest Python peer,
  from PyPI) on the equivalent workload, and the ratio of our median to its median.
- scaling: the standard workload at 64 frames with 1 to 64 tracks.
- render: seconds of audio rendered per second of wall time, for a 10-minute
  performance through `Engine.process` in 4096-frame blocks (what `looper render` does).
- memory: peak resident memory of a 1-minute and a 60-minute rendered performance,
  each in a fresh subprocess; they must match within 5%.
- alloc: `tracemalloc` around many callbacks in steady state (a separate, untimed run):
  net bytes per block, and whether they grow with the number of blocks.
- live: CPU per block of the looper's processes on a dummy JACK server, beside
  SooperLooper's, interleaved (`live`); skipped with `--quick` unless `--only live`.

The standard stage workload is `looper.rig.workload` (the soak plays the same one live).
It is run until every track plays before anything is timed. The pieces: `measure` (the
plan, the targets, per-block timing), `peer` (backlooper), `report` (the tables; loaded
only to print them, so the memory section's fresh processes do not load rich).

The machine this runs on is shared: read medians and ratios, not single timings.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import sys
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from time import perf_counter_ns

import numpy as np

from looper.core.engine import Engine
from looper.rig.measure import (
    BLOCK_SIZES,
    FULL,
    GOALS,
    QUICK,
    TARGET_BLOCK,
    TRACK_COUNTS,
    Plan,
    Record,
    progress,
    record,
    time_blocks,
)
from looper.rig.peer import peer_section
from looper.rig.workload import (
    RATE,
    STANDARD_TRACKS,
    blocks_of,
    fill_undo,
    performance_signal,
    stage_engine,
    stage_settings,
    submit_stage,
)
from looper.tools.render import RENDER_BLOCK

SECTIONS = ("callback", "peer", "scaling", "render", "memory", "alloc", "live")


# ---- timing -------------------------------------------------------------------------


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
        "--no-realtime",
        action="store_true",
        help="with --soak: JACK without realtime scheduling (default: -R where allowed)",
    )
    parser.add_argument(
        "--periods",
        type=count(16),
        nargs="+",
        default=[128],
        metavar="FRAMES",
        help="with --soak: the block sizes to soak at, each in turn (default 128)",
    )
    return parser.parse_args(argv)


def soak(minutes: float, periods: Sequence[int], realtime: bool, as_json: bool) -> int:
    """The live soak at each block size: the native baseline, then the looper."""
    from looper.rig.feeder import NativeError
    from looper.rig.soak import SoakError, report, run

    for block in periods:
        progress(f"soak: {minutes:g} min native baseline, then {minutes:g} min looper, {block}")
        try:
            result = run(minutes, block, realtime)
        except (SoakError, NativeError) as error:
            print(f"soak: {error}", file=sys.stderr)
            return 1
        if as_json:
            added = {"added_per_minute": result.added_per_minute}
            print(json.dumps({"name": "soak", **asdict(result), **added}), flush=True)
        else:
            print(report(result), flush=True)
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
        return soak(args.soak, args.periods, not args.no_realtime, args.json)
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
    if "live" in sections and (args.only or not args.quick):
        from looper.rig.live import live_section

        emit(live_section(plan))
    if not args.json:
        from looper.rig.report import print_tables

        print_tables(records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
