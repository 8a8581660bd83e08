"""The bench's tables: its result lines (`Record`s) as a person reads them, with rich.

One printer per section, each given the lines of its own section, and the targets
last: every target is listed, measured or not, so a partial run (`--only`) says what it
left out.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Sequence

import numpy as np
from rich.console import Console
from rich.table import Table

from looper.rig.measure import GOALS, TARGET_BLOCK, Record
from looper.rig.workload import RATE
from looper.tools.render import RENDER_BLOCK

TABLE_WIDTH = 132  # the callback table's columns, unshortened
TIMING_COLUMNS = (
    "period µs",
    "median µs",
    "p99 µs",
    "p99.9 µs",
    "max µs",
    "load",
    "p99.9/period",
)


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


def timing_table(title: str, first: str, extra: Sequence[str] = ()) -> Table:
    """A table of per-block timings, keyed by its `first` column."""
    table = Table(title=title)
    for column in (first, *TIMING_COLUMNS, *extra):
        table.add_column(column, justify="right")
    return table


def print_tables(records: list[Record]) -> None:
    console = Console(highlight=False, width=max(TABLE_WIDTH, Console().width))
    by_name: dict[str, list[Record]] = {}
    for r in records:
        by_name.setdefault(r["name"], []).append(r)
    console.print(f"machine: {machine()}")
    peers = {r["block"]: r for r in by_name.get("peer", []) if "skipped" not in r}
    if "callback" in by_name:
        print_callback(console, by_name["callback"], peers)
    elif peers:
        print_peer(console, peers)
    for r in by_name.get("peer", []):
        if "skipped" in r:
            console.print(f"peer skipped: {r['skipped']}")
    printers: tuple[tuple[str, Callable[[Console, list[Record]], None]], ...] = (
        ("scaling", print_scaling),
        ("render", print_render),
        ("memory", print_memory),
        ("alloc", print_alloc),
        ("live", print_live),
    )
    for name, printer in printers:
        if by_name.get(name):
            printer(console, by_name[name])
    print_targets(console, records)


def print_callback(console: Console, lines: list[Record], peers: dict[int, Record]) -> None:
    table = timing_table(
        "Callback cost: standard workload (8 stereo tracks, 1 overdubbing, click, "
        f"monitor, 5 ms latency), {RATE} Hz, {lines[0]['blocks']} blocks",
        "block",
        ("backlooper median µs", "ours / backlooper"),
    )
    for r in lines:
        peer = peers.get(r["block"])
        table.add_row(
            str(r["block"]),
            *timing_row(r),
            us(peer["median_us"]) if peer else "-",
            f"{peer['ratio']:.3f}" if peer and peer["ratio"] is not None else "-",
        )
    console.print(table)


def print_peer(console: Console, peers: dict[int, Record]) -> None:
    """The peer's own timings, when ours were not measured to sit beside them."""
    table = timing_table("Peer: backlooper's callback, 8 tracks", "block")
    for block, r in peers.items():
        table.add_row(str(block), *timing_row(r))
    console.print(table)


def print_scaling(console: Console, lines: list[Record]) -> None:
    table = timing_table(f"Scaling: the standard workload at {TARGET_BLOCK} frames", "tracks")
    for r in lines:
        table.add_row(str(r["tracks"]), *timing_row(r))
    console.print(table)


def print_render(console: Console, lines: list[Record]) -> None:
    for r in lines:
        console.print(
            f"Render ({r['via']}, {RENDER_BLOCK}-frame blocks, {r['minutes']:g}-minute "
            f"8-track performance, median of {r['repeats']}): "
            f"[bold]{r['realtime_factor']:,.0f}x real time[/]; per block median "
            f"{us(r['median_us'])} µs, p99.9 {us(r['p999_us'])} µs, max {us(r['max_us'])} µs"
        )


def print_memory(console: Console, lines: list[Record]) -> None:
    sizes = ", ".join(f"{r['minutes']:g} min: {r['peak_rss_kib'] / 1024:,.1f} MiB" for r in lines)
    console.print(
        f"Peak resident memory (fresh process each): {sizes}; "
        f"ratio {lines[-1]['ratio_to_shorter']:.4f}"
    )


def print_alloc(console: Console, lines: list[Record]) -> None:
    for r in lines:
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


def print_live(console: Console, lines: list[Record]) -> None:
    """The live section as a markdown table (the README holds it), and what was skipped."""
    by_block: dict[int, dict[str, Record]] = {}
    for r in lines:
        by_block.setdefault(r["block"], {})[r["subject"]] = r
    first = lines[0]
    console.print(
        f"Live, CPU per block (µs; /proc utime+stime over {first['seconds']:g} s once the "
        "loops play; median of interleaved runs; the looper: the stage workload fed by the "
        "native client; SooperLooper: 8 stereo loops, one overdubbing):",
        markup=False,
        soft_wrap=True,
    )
    console.print(
        "| block | period µs | looper audio process | all looper processes | SooperLooper "
        "| all looper / SooperLooper | runs |\n|---|---|---|---|---|---|---|",
        markup=False,
        soft_wrap=True,
    )
    for block, pair in by_block.items():
        ours, theirs = pair.get("looper", {}), pair.get("sooperlooper", {})
        ratio = ours.get("ratio_to_sooperlooper")
        runs = ", ".join(
            f"{name} {' / '.join(f'{v:.0f}' for v in r.get('all_us', []))}"
            for name, r in pair.items()
        )
        console.print(
            f"| {block} | {us(block / RATE * 1e6)} "
            f"| {us(ours.get('audio_median_us'))} | {us(ours.get('all_median_us'))} "
            f"| {us(theirs.get('all_median_us'))} "
            f"| {'-' if ratio is None else f'{ratio:.2f}'} | {runs} |",
            markup=False,
            soft_wrap=True,
        )
    for r in lines:
        if "skipped" in r:
            console.print(f"live: {r['subject']} skipped: {r['skipped']}", markup=False)


def print_targets(console: Console, records: list[Record]) -> None:
    """Every target, in GOALS order: its measured value and verdict, or "not measured"."""
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
