"""The live soak: the looper for minutes on a dummy JACK server, with the stage workload.

A harness client plays the stage workload's signal into the looper, continuously,
stomps its eight backloops and leaves its dub track overdubbing (looper.rig.workload:
the same workload the bench times offline), then stops the looper
and reads the session line it prints at exit: xruns, callback time
percentiles, resident memory after set-up and at the end.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from looper.errors import LooperError
from looper.rig.harness import Harness
from looper.rig.jackserver import JackServer
from looper.rig.timeline import next_downbeat
from looper.rig.workload import (
    BEATS_PER_BAR,
    BPM,
    DUB_NOTE,
    HISTORY_BARS,
    LOOP_BARS,
    RATE,
    STAGE_NOTES,
    STANDARD_TRACKS,
    performance_signal,
    stage_config,
)

BLOCK = 128
SOAK = "soak"  # the harness client's name: the looper listens to its pedal
BAR = round(RATE * 60 / BPM) * BEATS_PER_BAR

SESSION = re.compile(
    r"session: (?P<blocks>\d+) blocks of (?P<block>\d+) frames, (?P<xruns>\d+) xruns; callback "
    r"time p50 (?P<p50>[\d.]+)%, p99 (?P<p99>[\d.]+)%, p99.9 (?P<p999>[\d.]+)%, max "
    r"(?P<max>[\d.]+)% of the block period; audio process memory (?P<rss0>[\d.]+) MB after "
    r"set-up, (?P<rss1>[\d.]+) MB at the end"
)


class SoakError(LooperError, RuntimeError):
    """The soak could not run or the looper did not report its session."""


@dataclass(frozen=True, slots=True)
class SoakResult:
    minutes: float
    realtime: bool
    blocks: int
    block: int
    xruns: int
    p50: float  # callback time as % of the block period
    p99: float
    p999: float
    max: float
    rss_start_mb: float
    rss_end_mb: float
    states: str  # the looper's last status line: every track's state


def run(minutes: float, realtime: bool = False) -> SoakResult:
    """Soak the looper for `minutes` of the stage workload; the result of its session line.

    `realtime` runs the JACK server and its clients' process threads at SCHED_FIFO, as on
    a stage machine set up for audio (root, or rtprio granted).
    """
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "soak.yaml"
        config.write_text(stage_config(BLOCK, f"{SOAK}:pedal"))
        log = Path(tmp) / "looper.log"
        with (
            JackServer(sample_rate=RATE, period=BLOCK, realtime=realtime) as server,
            Harness(server, name=SOAK, seconds=30) as harness,
            log.open("w") as out,
        ):
            looper = subprocess.Popen(
                [sys.executable, "-m", "looper", "--config", str(config)],
                env=server.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            try:
                _perform(harness, minutes, log)
            finally:
                looper.send_signal(signal.SIGINT)
                looper.wait(20)
        text = log.read_text()
    match = SESSION.search(text)
    if match is None:
        raise SoakError(f"the looper printed no session line:\n{text[-2000:]}")
    states = [line for line in text.splitlines() if line.startswith("bar ")]
    g = match.groupdict()
    return SoakResult(
        minutes=minutes,
        realtime=realtime,
        blocks=int(g["blocks"]),
        block=int(g["block"]),
        xruns=int(g["xruns"]),
        p50=float(g["p50"]),
        p99=float(g["p99"]),
        p999=float(g["p999"]),
        max=float(g["max"]),
        rss_start_mb=float(g["rss0"]),
        rss_end_mb=float(g["rss1"]),
        states=states[-1] if states else "",
    )


def _perform(harness: Harness, minutes: float, log: Path) -> None:
    """Play, stomp the workload in, and keep playing until the time is up."""
    harness.connect_outputs("^looper:in_")
    harness.connect_inputs("^looper:out_")
    deadline = time.monotonic() + 30
    while "MIDI: listening" not in log.read_text():
        if time.monotonic() > deadline:
            raise SoakError(f"the looper did not open the pedal port:\n{log.read_text()[-2000:]}")
        time.sleep(0.1)
    clip = performance_signal()
    at = next_downbeat(harness, BAR)  # before anything plays: the outputs carry the click alone
    harness.play(clip, at=at)
    stomp = at + HISTORY_BARS * BAR + BAR // 8  # the history, then every loop at once
    for i in range(len(LOOP_BARS[:STANDARD_TRACKS])):
        harness.stomp(STAGE_NOTES + i, stomp + i * 480)
    harness.stomp(DUB_NOTE, stomp + BAR)  # overdub on, and left on
    end = at + round(minutes * 60 * RATE)
    next_clip = at + len(clip)
    while next_clip < end:
        harness.run_until(next_clip - RATE * 3)
        harness.play(clip, at=next_clip)
        next_clip += len(clip)
    harness.run_until(end)
