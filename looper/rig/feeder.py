"""The rig's native JACK client (`native/feeder.c`), run as a subprocess: feed or pass.

A Python client in the JACK graph needs the interpreter lock in its process callback and
shares the machine's two cores with the looper's own interpreters, so its late cycles
cannot be told from the looper's. The feeder is plain C: `feed` plays the stage signal
into the client under test, reads its outputs and sends the workload's stomps on its
`pedal` port; `pass` is the baseline client under test, copying in_k to out_k. Both
count the xruns the server reports to them and print one line at exit (`REPORT`).

scripts/bootstrap builds it (scripts/build-native) into build/native/, ignored by git.
"""

from __future__ import annotations

import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from looper.errors import LooperError
from looper.rig.workload import (
    BEATS_PER_BAR,
    BPM,
    DUB_NOTE,
    HISTORY_BARS,
    LOOP_BARS,
    RATE,
    STAGE_NOTES,
    STANDARD_TRACKS,
)

ROOT = Path(__file__).resolve().parents[2]
NATIVE_DIR = ROOT / "build" / "native"
FEEDER = NATIVE_DIR / "feeder"
BAR = round(RATE * 60 / BPM) * BEATS_PER_BAR

REPORT = re.compile(
    r"feeder (?P<mode>feed|pass): (?P<blocks>\d+) blocks of (?P<block>\d+) frames at "
    r"(?P<rate>\d+) Hz, (?P<xruns>\d+) xruns, input peak (?P<peak>[\d.]+), heard "
    r"(?P<heard>\d+) blocks, (?P<stomps>\d+) stomps sent"
)


class NativeError(LooperError, RuntimeError):
    """The native client is not built, did not start, or printed no report."""


@dataclass(frozen=True, slots=True)
class FeederReport:
    mode: str
    blocks: int  # process cycles it ran
    block: int  # frames per cycle
    rate: int
    xruns: int  # xruns the server reported to it (jack_set_xrun_callback)
    peak: float  # the loudest sample that came back on its inputs
    heard: int  # cycles in which something non-zero came back
    stomps: int  # note-ons sent on its pedal port


def parse_report(text: str) -> FeederReport:
    """The feeder's exit line, found in its output."""
    match = REPORT.search(text)
    if match is None:
        raise NativeError(f"the native client printed no report:\n{text[-1500:]}")
    g = match.groupdict()
    return FeederReport(
        mode=g["mode"],
        blocks=int(g["blocks"]),
        block=int(g["block"]),
        rate=int(g["rate"]),
        xruns=int(g["xruns"]),
        peak=float(g["peak"]),
        heard=int(g["heard"]),
        stomps=int(g["stomps"]),
    )


def end_process(proc: subprocess.Popen[bytes], sig: int, timeout: float) -> None:
    """Send `sig` (if it still runs) and wait `timeout` seconds for it; then kill it."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def feeder_binary() -> Path:
    if not FEEDER.exists():
        raise NativeError(
            f"the native JACK client {FEEDER} is not built: run scripts/bootstrap "
            "(it needs gcc and libjack-jackd2-dev)"
        )
    return FEEDER


def stage_stomps() -> list[tuple[int, int]]:
    """The workload's stomps: (frame, note) from the pedal's connection, in frame order.

    The feeder plays from its start, before the looper listens to its pedal; after
    HISTORY_BARS + 1 bars more (the looper's history then holds the longest loop of the
    feeder's signal, whole, wherever its grid lies) every track's backloop, 10 ms apart,
    and a bar later the overdub.
    """
    at = (HISTORY_BARS + 1) * BAR + BAR // 8
    stomps = [(at + i * 480, STAGE_NOTES + i) for i in range(len(LOOP_BARS[:STANDARD_TRACKS]))]
    return [*stomps, (at + BAR, DUB_NOTE)]


class Feeder:
    """`feeder MODE` on `env`'s JACK server, until `stop()` (or `seconds`, if given).

    It connects its out_k to `to[k]` and `source[k]` to its in_k, and `pedal` to its pedal
    port when given (a looper connects itself); `stomps` are (frame, note) counted from
    the first cycle its pedal is connected in.
    """

    def __init__(
        self,
        mode: str,
        env: dict[str, str],
        *,
        name: str,
        to: Sequence[str] = (),
        source: Sequence[str] = (),
        signal: np.ndarray | None = None,
        stomps: Sequence[tuple[int, int]] = (),
        pedal: str | None = None,
        seconds: float = 0.0,
    ) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="feeder-")
        command = [str(feeder_binary()), mode, "-n", name, "-s", f"{seconds:g}"]
        if signal is not None:
            raw = Path(self._dir.name) / "signal.f32"
            np.ascontiguousarray(signal, dtype=np.float32).tofile(raw)
            command += ["-c", str(signal.shape[1]), "-i", str(raw)]
        for port in to:
            command += ["-o", port]
        for port in source:
            command += ["-r", port]
        for frame, note in stomps:
            command += ["-m", f"{frame}:{note}"]
        if pedal is not None:
            command += ["-M", pedal]
        self.log = Path(self._dir.name) / "feeder.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                command, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_running(self, timeout: float = 60.0) -> None:
        """Until it is active with its ports connected (it waits up to 30 s for theirs)."""
        deadline = time.monotonic() + timeout
        while "running as" not in self.output():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise NativeError(f"the native client did not start:\n{self.output()[-1500:]}")
            time.sleep(0.05)

    def stop(self, timeout: float = 20.0) -> FeederReport:
        """Stop it (SIGINT) and read its report."""
        end_process(self.proc, signal.SIGINT, timeout)
        try:
            return parse_report(self.output())
        finally:
            self._dir.cleanup()

    def __enter__(self) -> Feeder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._dir.cleanup()
