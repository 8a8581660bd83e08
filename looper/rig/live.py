"""The bench's live section: CPU per block of the looper's processes, beside SooperLooper's.

At each block size (64 and 128 frames) one private dummy JACK server runs (the rig's
default: --sync, not realtime; scheduling changes when CPU is used, not how much), and
on it, in turn, `plan.live_repeats` times each: the looper (`looper run` with the stage workload as
its config, fed and stomped by the native feeder: no Python client in the graph, and
nothing but the feeder's own MIDI to set the loops up), then SooperLooper (8 stereo loops
recorded from the same feeder and set playing over OSC, looper.rig.sooperlooper). Each
run measures, once its loops all play, the CPU its processes use for `plan.live_seconds`
(/proc utime + stime, looper.rig.procstat): the looper's audio process (the one that has
PortAudio mapped) and all its processes together (main, audio, MIDI, multiprocessing's
resource tracker); SooperLooper is one process. Medians of the interleaved runs.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from looper.rig import procstat
from looper.rig.feeder import Feeder
from looper.rig.jackserver import JackServer
from looper.rig.measure import GOALS, Plan, Record, progress, record
from looper.rig.soak import (
    LOG,
    SOAK,
    SoakError,
    all_playing,
    audio_processes,
    fed_looper,
    last_status,
)
from looper.rig.sooperlooper import NAME, PeerError, SooperLooper
from looper.rig.workload import RATE, STANDARD_TRACKS, performance_signal

LIVE_BLOCKS = (64, 128)
SUBJECTS = ("looper", "sooperlooper")
#: Seconds for the looper to start and take its loops (the stomps come after 10 bars)
STAGE_TIMEOUT = 90.0

#: (audio process, all processes) CPU µs per block, one measured run
Sample = tuple[float, float]


def sample(audio: int, pids: list[int], seconds: float, block: int) -> Sample:
    """CPU per block of `audio` and of all `pids` over the next `seconds`."""
    a0, all0, t0 = procstat.ticks([audio]), procstat.ticks(pids), time.monotonic()
    time.sleep(seconds)
    a1, all1, t1 = procstat.ticks([audio]), procstat.ticks(pids), time.monotonic()
    return (
        procstat.cpu_per_block_us(a1 - a0, t1 - t0, RATE, block),
        procstat.cpu_per_block_us(all1 - all0, t1 - t0, RATE, block),
    )


def _wait_stage(log: Path, proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Until the looper's status line shows every track playing (or overdubbing)."""
    deadline = time.monotonic() + timeout
    while True:
        text = log.read_text(errors="replace")
        if all_playing(last_status(text), STANDARD_TRACKS):
            return
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SoakError(f"the looper's stage workload did not start:\n{text[-1500:]}")
        time.sleep(0.2)


def looper_run(server: JackServer, block: int, seconds: float) -> Sample:
    """The looper live with the stage workload; CPU per block once every loop plays."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        fed_looper(server, block, Path(tmp)) as (looper, feeder),
    ):
        _wait_stage(Path(tmp) / LOG, looper, STAGE_TIMEOUT)
        audio = audio_processes(looper.pid)
        pids = procstat.descendants(looper.pid)
        if len(audio) != 1:
            raise SoakError(f"found {len(audio)} audio processes (PortAudio mapped) in {pids}")
        result = sample(audio[0], pids, seconds, block)
        feeder.stop()
    return result


def sooperlooper_run(server: JackServer, block: int, seconds: float) -> Sample:
    """SooperLooper with 8 loops playing from the feeder's signal; CPU per block."""
    ins = (f"{NAME}:common_in_1", f"{NAME}:common_in_2")
    outs = (f"{NAME}:common_out_1", f"{NAME}:common_out_2")
    with (
        SooperLooper(server.env, server.name) as sl,
        Feeder(
            "feed", server.env, name=SOAK, to=ins, source=outs, signal=performance_signal()
        ) as feeder,
    ):
        feeder.wait_running()
        sl.perform()
        result = sample(sl.pid, [sl.pid], seconds, block)
        feeder.stop()
    return result


RUNS: dict[str, Callable[[JackServer, int, float], Sample]] = {
    "looper": looper_run,
    "sooperlooper": sooperlooper_run,
}


def live_section(plan: Plan) -> list[Record]:
    """Interleaved runs (looper, SooperLooper, looper, ...) at each block size; medians."""
    records = []
    for block in LIVE_BLOCKS:
        samples: dict[str, list[Sample]] = {s: [] for s in SUBJECTS}
        skipped: dict[str, str] = {}
        with JackServer(sample_rate=RATE, period=block) as server:
            for k in range(plan.live_repeats):
                for subject in SUBJECTS:
                    if subject in skipped:
                        continue
                    progress(f"live: {subject} at {block} frames, run {k + 1}")
                    try:
                        samples[subject].append(RUNS[subject](server, block, plan.live_seconds))
                    except (PeerError, SoakError) as error:
                        skipped[subject] = str(error).splitlines()[0]
        records += _records(block, plan, samples, skipped)
    return records


def _records(
    block: int, plan: Plan, samples: dict[str, list[Sample]], skipped: dict[str, str]
) -> list[Record]:
    lines = []
    medians: dict[str, float] = {}
    for subject in SUBJECTS:
        runs = samples[subject]
        extra: dict[str, object] = {"subject": subject, "seconds": plan.live_seconds}
        if runs:
            audio, every = (float(np.median([r[i] for r in runs])) for i in (0, 1))
            medians[subject] = every
            extra |= {
                "audio_us": [r[0] for r in runs], "all_us": [r[1] for r in runs],
                "audio_median_us": audio, "all_median_us": every,
            }  # fmt: skip
        if subject in skipped:
            extra["skipped"] = skipped[subject]
        lines.append(record("live", STANDARD_TRACKS, block, None, **extra))
    if len(medians) == 2:
        ratio = medians["looper"] / medians["sooperlooper"]
        lines[0]["ratio_to_sooperlooper"] = ratio
        lines[0]["targets"] = [GOALS[f"live{block}"].check(ratio)]
    return lines
