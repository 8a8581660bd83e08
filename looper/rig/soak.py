"""The live soak: how many xruns the looper adds to what the machine makes on its own.

Two phases of the same minutes, each on a fresh private dummy JACK server of the same
settings (realtime where the machine allows it, `--sync` as the rig's servers run):

1. baseline: the native feeder (looper/rig/feeder.py) plays the stage workload's signal
   and its stomps through the native pass-through client and reads it back;
2. looper: the same feeder plays the same signal into `looper run` (the stage workload
   as a config, `workload.stage_config`), stomps its eight backloops and its overdub on
   the pedal port the looper listens to, and reads its outputs.

No Python client is in the graph besides the looper, so the baseline's xruns are the
machine's (timer, scheduler, other jobs) and the difference is the looper's. Each phase
counts the xruns the server reported to the feeder and the late cycles jackd's dummy
driver logged; the looper phase adds the looper's own session line (its callback's
xruns, callback time percentiles, memory) and its last status line.
"""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from looper.errors import LooperError
from looper.rig import procstat
from looper.rig.feeder import Feeder, FeederReport, end_process, stage_stomps
from looper.rig.jackserver import JackServer
from looper.rig.workload import RATE, performance_signal, stage_config

SOAK = "soak"  # the feeder's client name: the looper listens to its pedal
PASS = "pass"
LOG = "looper.log"  # what the looper prints, in the phase's directory
LOOPER_INPUTS = ("looper:in_0", "looper:in_1")  # PortAudio's names for the looper's ports
LOOPER_OUTPUTS = ("looper:out_0", "looper:out_1")
PLAYING = re.compile(r"\d+:(playing|overdubbing) \d+b")

SESSION = re.compile(
    r"session: (?P<blocks>\d+) blocks of (?P<block>\d+) frames, (?P<xruns>\d+) xruns; callback "
    r"time p50 (?P<p50>[\d.]+)%, p99 (?P<p99>[\d.]+)%, p99.9 (?P<p999>[\d.]+)%, max "
    r"(?P<max>[\d.]+)% of the block period; audio process memory (?P<rss0>[\d.]+) MB after "
    r"set-up, (?P<rss1>[\d.]+) MB at the end"
)


class SoakError(LooperError, RuntimeError):
    """The soak could not run or the looper did not report its session."""


@dataclass(frozen=True, slots=True)
class Phase:
    """One client under test for the soak's minutes."""

    subject: str  # "baseline" or "looper"
    feeder: FeederReport
    late_cycles: int  # jackd's dummy driver: cycles that ended after their time
    realtime: bool  # jackd ran threads at SCHED_FIFO/RR

    @property
    def minutes(self) -> float:
        return self.feeder.blocks * self.feeder.block / self.feeder.rate / 60

    @property
    def per_minute(self) -> float:
        return self.feeder.xruns / self.minutes if self.minutes else 0.0


@dataclass(frozen=True, slots=True)
class SoakResult:
    minutes: float
    block: int
    baseline: Phase
    looper: Phase
    session: dict[str, float]  # the looper's session line: blocks, xruns, p50 ... rss1
    states: str  # the looper's last status line: every track's state
    looper_realtime_threads: int  # in its audio process, while it played

    @property
    def added_per_minute(self) -> float:
        return self.looper.per_minute - self.baseline.per_minute


def run(minutes: float, block: int = 128, realtime: bool = True) -> SoakResult:
    """The baseline, then the looper, `minutes` each at `block` frames; what each counted.

    `realtime` asks jackd for SCHED_FIFO (-R); whether it got it is in each phase.
    """
    baseline = _baseline(minutes, block, realtime)
    with tempfile.TemporaryDirectory() as tmp:
        return _looper(minutes, block, realtime, baseline, Path(tmp))


def _server(block: int, realtime: bool) -> JackServer:
    return JackServer(sample_rate=RATE, period=block, realtime=realtime)


def _feeder(
    server: JackServer, to: tuple[str, ...], source: tuple[str, ...], pedal: str | None = None
) -> Feeder:
    return Feeder(
        "feed", server.env, name=SOAK, to=to, source=source,
        signal=performance_signal(), stomps=stage_stomps(), pedal=pedal,
    )  # fmt: skip


def _play(minutes: float, **procs: subprocess.Popen[bytes]) -> None:
    """Let the graph run for `minutes`, failing early if a client under test ends."""
    deadline = time.monotonic() + minutes * 60
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise SoakError(f"the {name} ended after it started (exit {proc.returncode})")
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))


def _phase(subject: str, server: JackServer, report: FeederReport) -> Phase:
    late = server.log.count("XRun")  # the dummy driver logs one line per late cycle
    assert server.proc is not None
    rt = procstat.realtime_threads(server.proc.pid) > 0
    return Phase(subject, report, late, rt)


def _baseline(minutes: float, block: int, realtime: bool) -> Phase:
    with _server(block, realtime) as server:
        passer = Feeder("pass", server.env, name=PASS)
        with passer:
            passer.wait_running()
            ins, outs = (f"{PASS}:in_1", f"{PASS}:in_2"), (f"{PASS}:out_1", f"{PASS}:out_2")
            with _feeder(server, ins, outs, f"{PASS}:midi_in") as feeder:
                feeder.wait_running()
                _play(minutes, feeder=feeder.proc, passthrough=passer.proc)
                report = feeder.stop()
                phase = _phase("baseline", server, report)
            passer.stop()
    return phase


def _looper(minutes: float, block: int, realtime: bool, baseline: Phase, tmp: Path) -> SoakResult:
    with _server(block, realtime) as server, fed_looper(server, block, tmp) as (looper, feeder):
        _play(minutes / 2, feeder=feeder.proc, looper=looper)
        threads = sum(procstat.realtime_threads(pid) for pid in audio_processes(looper.pid))
        _play(minutes / 2, feeder=feeder.proc, looper=looper)
        phase = _phase("looper", server, feeder.stop())
    text = (tmp / LOG).read_text(errors="replace")
    match = SESSION.search(text)
    if match is None:
        raise SoakError(f"the looper printed no session line:\n{text[-2000:]}")
    return SoakResult(
        minutes=minutes,
        block=block,
        baseline=baseline,
        looper=phase,
        session={k: float(v) for k, v in match.groupdict().items()},
        states=last_status(text),
        looper_realtime_threads=threads,
    )


@contextlib.contextmanager
def fed_looper(
    server: JackServer, block: int, tmp: Path
) -> Iterator[tuple[subprocess.Popen[bytes], Feeder]]:
    """`looper run` with the stage workload at `block` frames, fed and stomped by the feeder.

    It prints to `tmp / LOG`; on leaving, the feeder is gone and the looper stopped.
    """
    config = tmp / "stage.yaml"
    config.write_text(stage_config(block, f"{SOAK}:pedal"))
    with (tmp / LOG).open("wb") as out:
        looper = start_looper(config, server.env, out)
        try:
            with _feeder(server, LOOPER_INPUTS, LOOPER_OUTPUTS) as feeder:
                feeder.wait_running()
                yield looper, feeder
        finally:
            stop_looper(looper)


def audio_processes(pid: int) -> list[int]:
    """The looper's processes under `pid` that hold the sound device (PortAudio mapped)."""
    return [p for p in procstat.descendants(pid) if procstat.maps_library(p, "libportaudio")]


def last_status(text: str) -> str:
    """The looper's last status line in what it printed ("" before its first)."""
    lines = [line for line in text.replace("\r", "\n").splitlines() if line.startswith("bar ")]
    return lines[-1] if lines else ""


def start_looper(config: Path, env: dict[str, str], out: IO[bytes]) -> subprocess.Popen[bytes]:
    """`looper run --config CONFIG`, printing to `out`, with Ctrl-C's default behaviour.

    A job started in the background of a shell inherits SIGINT ignored, and Python then
    keeps it so: the child gets SIGINT's default back, so `stop_looper` works from there.
    """
    return subprocess.Popen(
        [sys.executable, "-m", "looper", "run", "--config", str(config)],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def stop_looper(looper: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Ctrl-C, as a performer stops it (it prints its session line); a kill if it hangs."""
    end_process(looper, signal.SIGINT, timeout)


def all_playing(status: str, tracks: int) -> bool:
    """Whether a status line shows `tracks` tracks each playing or overdubbing a loop."""
    return len(PLAYING.findall(status)) == tracks


def report(result: SoakResult) -> str:
    """The soak's lines, as the rig prints them."""
    b, lo, s = result.baseline, result.looper, result.session
    rt = "realtime (SCHED_FIFO)" if b.realtime and lo.realtime else "not realtime"
    return (
        f"soak: {result.minutes:g} min per phase at {result.block} frames, 48 kHz, dummy JACK "
        f"--sync, {rt}; the looper's audio process had "
        f"{result.looper_realtime_threads} realtime threads\n"
        f"  baseline (native feeder -> native pass-through): {b.feeder.blocks:,d} blocks, "
        f"xruns {b.feeder.xruns} ({b.per_minute:.2f}/min), jackd late cycles {b.late_cycles}\n"
        f"  looper (native feeder -> looper run, stage workload): {lo.feeder.blocks:,d} blocks, "
        f"xruns {lo.feeder.xruns} ({lo.per_minute:.2f}/min), jackd late cycles "
        f"{lo.late_cycles}; the looper's own count {s['xruns']:.0f} in {s['blocks']:,.0f} blocks\n"
        f"  the looper adds {result.added_per_minute:+.2f} xruns/min over the baseline "
        f"({lo.feeder.xruns - b.feeder.xruns:+d} in {result.minutes:g} min)\n"
        f"  callback time, % of the {result.block}-frame period: p50 {s['p50']:.1f}, "
        f"p99 {s['p99']:.1f}, p99.9 {s['p999']:.1f}, max {s['max']:.1f}\n"
        f"  audio process resident memory: {s['rss0']:.1f} MB after set-up, "
        f"{s['rss1']:.1f} MB at the end\n"
        f"  last status: {result.states}"
    )
