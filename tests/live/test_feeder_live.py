"""The native JACK client (looper/rig/native/feeder.c) on a dummy server, and the soak and
the bench's live section that stand on it.

It is built by scripts/build-native (what scripts/bootstrap calls); without a C compiler
or the JACK headers these tests skip, saying so. Runs last a few seconds; nothing here
asserts a time or a count of xruns, only that every count is there and sane.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from looper.rig import soak
from looper.rig.feeder import FEEDER, ROOT, Feeder, FeederReport
from looper.rig.jackserver import JackServer

pytestmark = pytest.mark.jack

RATE = 48000
BAR = RATE  # 240 bpm in 4/4
CONFIG = f"""
audio: {{sample_rate: {RATE}, block_size: 128, inputs: [1, 2], outputs: [1, 2], monitor: 0.5,
        latency_ms: 0, history_seconds: 10}}
clicktrack: {{bpm: 240, beats_per_bar: 4, volume: 0.3, outputs: [1, 2]}}
tracks: {{count: 1, crossfade_ms: 5, memory_seconds: 10}}
midi: {{backend: jack, input: "{soak.SOAK}:pedal"}}
pedals:
  - {{note: 60, action: backloop, track: 1, bars: 1}}
"""


@pytest.fixture(scope="module", autouse=True)
def built() -> None:
    subprocess.run([str(ROOT / "scripts" / "build-native")], check=True)
    if not FEEDER.exists():
        pytest.skip("the native JACK client is not built (no C compiler or JACK headers)")


def sane(report: FeederReport, mode: str) -> None:
    assert report.mode == mode and report.block == 128 and report.rate == RATE
    assert report.blocks > 0
    assert isinstance(report.xruns, int) and 0 <= report.xruns <= report.blocks
    assert 0 <= report.heard <= report.blocks


def test_feed_through_the_native_pass_through(jack_server: JackServer) -> None:
    ins, outs = ("pass:in_1", "pass:in_2"), ("pass:out_1", "pass:out_2")
    with Feeder("pass", jack_server.env, name="pass") as passer:
        passer.wait_running()
        with Feeder(
            "feed", jack_server.env, name="soak", to=ins, source=outs,
            stomps=[(0, 60), (4800, 61)], pedal="pass:midi_in",
        ) as feeder:  # fmt: skip
            feeder.wait_running()
            time.sleep(2)
            fed = feeder.stop()
        passed = passer.stop()
    sane(fed, "feed")
    sane(passed, "pass")
    assert passed.blocks >= fed.blocks  # it ran before the feeder and after it
    assert fed.stomps == 2 and passed.stomps == 0
    assert fed.heard > 0 and fed.peak == pytest.approx(0.1, abs=1e-3)  # its sine, back


def test_feed_a_looper_and_stomp_it(jack_server: JackServer, tmp_path: Path) -> None:
    config = tmp_path / "feed.yaml"
    config.write_text(CONFIG)
    log = tmp_path / "looper.log"
    with log.open("wb") as out:
        looper = soak.start_looper(config, jack_server.env, out)
        try:
            with Feeder(
                "feed", jack_server.env, name=soak.SOAK,
                to=soak.LOOPER_INPUTS, source=soak.LOOPER_OUTPUTS, stomps=[(2 * BAR, 60)],
            ) as feeder:  # fmt: skip
                feeder.wait_running()
                deadline = time.monotonic() + 60
                while "1:playing" not in log.read_text(errors="replace"):
                    assert looper.poll() is None and time.monotonic() < deadline, log.read_text()
                    time.sleep(0.2)
                fed = feeder.stop()
        finally:
            soak.stop_looper(looper)
    sane(fed, "feed")
    assert fed.stomps == 1 and fed.heard > 0  # the click and the monitor came back
    session = soak.SESSION.search(log.read_text())
    assert session is not None and int(session["xruns"]) >= 0 and int(session["blocks"]) > 0


def test_the_soak_reports_both_phases() -> None:
    result = soak.run(0.1, 128, realtime=True)
    assert result.baseline.subject == "baseline" and result.looper.subject == "looper"
    for phase in (result.baseline, result.looper):
        sane(phase.feeder, "feed")
        assert phase.minutes > 0 and phase.late_cycles >= 0
    assert result.baseline.realtime == result.looper.realtime  # the same server settings
    text = soak.report(result)
    counts = re.findall(r"xruns (\d+) \((-?[\d.]+)/min\)", text)
    assert len(counts) == 2
    for (xruns, per_minute), phase in zip(counts, (result.baseline, result.looper), strict=True):
        assert int(xruns) == phase.feeder.xruns
        assert float(per_minute) == pytest.approx(phase.per_minute, abs=0.01)
    added = re.search(r"the looper adds ([+-][\d.]+) xruns/min", text)
    assert added is not None
    assert float(added[1]) == pytest.approx(result.added_per_minute, abs=0.01)


def test_sooperlooper_takes_the_workload_over_osc(jack_server: JackServer) -> None:
    import shutil

    from looper.rig import live

    if shutil.which("sooperlooper") is None:
        pytest.skip("sooperlooper is not installed (scripts/bootstrap installs it)")
    audio, every = live.sooperlooper_run(jack_server, 128, 1.0)
    assert audio == every and audio > 0  # one process, and it did work
