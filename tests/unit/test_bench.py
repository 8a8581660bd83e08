"""The benchmark tool measures what it says: its workload, its output, its subprocesses.

Correctness only: no wall-clock time is asserted anywhere.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from looper.core.track import MAX_LAYERS
from looper.core.tracks import State
from looper.rig import bench, measure, peer, workload

REQUIRED = {
    "name": str,
    "tracks": int,
    "block": int,
    "sample_rate": int,
    "median_us": float,
    "p99_us": float,
    "p999_us": float,
    "max_us": float,
    "period_us": float,
    "load": float,
}
TIMING = {"median_us", "p99_us", "p999_us", "max_us", "load"}
TIMED = {"callback", "peer", "scaling", "render"}


@pytest.fixture(scope="module")
def lines() -> list[dict]:
    """One quick run of every section, as JSON lines."""
    from contextlib import redirect_stdout
    from io import StringIO

    out = StringIO()
    with redirect_stdout(out):
        assert bench.main(["--json", "--quick", "--blocks", "40", "--warmup", "5"]) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


@pytest.fixture(scope="module")
def signal() -> np.ndarray:
    return workload.performance_signal()


def test_every_line_has_the_required_keys_with_sane_types(lines: list[dict]) -> None:
    assert {line["name"] for line in lines} == {*TIMED, "memory", "alloc"}
    for line in lines:
        assert set(REQUIRED) <= set(line), line["name"]
        timed = line["name"] in TIMED and "skipped" not in line
        for key, kind in REQUIRED.items():
            if key in TIMING and not timed:
                assert line[key] is None, (line["name"], key)  # measured, not timed
            elif "skipped" not in line or key in ("name", "tracks", "sample_rate"):
                assert isinstance(line[key], kind), (line["name"], key, line[key])
                assert kind is str or line[key] > 0, (line["name"], key)
        if timed:
            assert line["blocks"] > 0
            assert line["median_us"] <= line["p99_us"] <= line["p999_us"] <= line["max_us"]
            assert line["load"] == pytest.approx(line["median_us"] / line["period_us"])
            assert line["period_us"] == pytest.approx(line["block"] / 48000 * 1e6)
        for target in line["targets"]:
            assert set(target) == {"target", "value", "limit", "met"}
            assert isinstance(target["met"], bool)


def test_the_runs_cover_the_block_sizes_and_track_counts(lines: list[dict]) -> None:
    def configs(name: str) -> list[tuple[int, int]]:
        return [(line["tracks"], line["block"]) for line in lines if line["name"] == name]

    assert configs("callback") == [(8, b) for b in measure.BLOCK_SIZES]
    assert configs("scaling") == [(t, 64) for t in measure.TRACK_COUNTS]
    assert all(line["blocks"] == 40 for line in lines if line["name"] in ("callback", "scaling"))
    (render,) = (line for line in lines if line["name"] == "render")
    assert render["block"] == 4096 and render["realtime_factor"] > 0
    assert render["blocks"] == bench.render_blocks(measure.QUICK.render_minutes)


def test_every_target_is_checked_once(lines: list[dict]) -> None:
    texts = [t["target"] for line in lines for t in line["targets"]]
    peer_ran = any(line["name"] == "peer" and "skipped" not in line for line in lines)
    # --quick leaves out the live section (it starts JACK servers) unless --only asks for it
    assert not any(line["name"] == "live" for line in lines)
    wanted = {
        goal.text
        for key, goal in measure.GOALS.items()
        if (peer_ran or key != "peer") and not key.startswith("live")
    }
    assert sorted(texts) == sorted(wanted)


def test_the_peer_is_compared_block_by_block_or_skipped_with_a_reason(lines: list[dict]) -> None:
    peers = [line for line in lines if line["name"] == "peer"]
    if any("skipped" in line for line in peers):
        assert all(isinstance(line["skipped"], str) and line["skipped"] for line in peers)
        return
    callback = {line["block"]: line for line in lines if line["name"] == "callback"}
    assert [line["block"] for line in peers] == list(measure.BLOCK_SIZES)
    for line in peers:
        ours = callback[line["block"]]["median_us"]
        assert line["ratio"] == pytest.approx(ours / line["median_us"])


def test_memory_and_allocation_lines(lines: list[dict]) -> None:
    short, long = (line for line in lines if line["name"] == "memory")
    assert (short["minutes"], long["minutes"]) == measure.QUICK.memory_minutes
    assert short["peak_rss_kib"] > 0 and long["peak_rss_kib"] > 0
    assert long["ratio_to_shorter"] == pytest.approx(long["peak_rss_kib"] / short["peak_rss_kib"])
    (alloc,) = (line for line in lines if line["name"] == "alloc")
    assert alloc["alloc_blocks"] == [10, 40]
    assert isinstance(alloc["grows"], bool)
    assert alloc["growth_bytes"] == alloc["net_bytes"][1] - alloc["net_bytes"][0]
    assert alloc["transient_max_bytes"] >= alloc["transient_median_bytes"] >= 0


def test_the_standard_workload_plays_eight_tracks_one_overdubbing(signal: np.ndarray) -> None:
    engine = workload.stage_engine(8, signal, 64)
    out = np.zeros((64, engine.settings.out_channels), dtype=np.float32)
    for x in workload.blocks_of(signal, 64)[:200]:  # and goes on doing so while timed
        engine.process(x, out)
    states = [tr.state for tr in engine.tracks]
    assert len(states) == 8
    assert states.count(State.PLAYING) == 7
    assert states.count(State.OVERDUBBING) == 1
    assert engine.tracks[workload.DUB_TRACK].dubbing
    assert [tr.bars for tr in engine.tracks] == list(workload.LOOP_BARS)
    assert len({tr.bars for tr in engine.tracks}) > 1  # loops of different lengths
    assert all(tr.pending is None and tr.env_to > 0 for tr in engine.tracks)
    assert engine.click_enabled and engine.monitor > 0 and engine.latency > 0
    assert engine.ring.last_bar >= workload.HISTORY_BARS  # the history goes on recording
    assert engine.settings.inputs == (0, 1) and engine.settings.outputs == (0, 1)
    assert np.abs(out).max() > 0


def test_the_scaling_workload_has_as_many_tracks_playing(signal: np.ndarray) -> None:
    engine = workload.stage_engine(64, signal, 64)
    assert len(engine.tracks) == 64
    assert sum(tr.state is State.OVERDUBBING for tr in engine.tracks) == 1
    assert all(tr.has_loop for tr in engine.tracks)


def test_the_alloc_run_starts_with_the_undo_stack_full(signal: np.ndarray) -> None:
    engine = workload.stage_engine(8, signal)
    workload.fill_undo(engine, signal)
    dub = engine.tracks[workload.DUB_TRACK]
    assert dub.count == MAX_LAYERS and dub.state is State.OVERDUBBING


def test_the_memory_subprocess_returns_a_positive_number() -> None:
    assert bench.measure_peak_rss(0.02) > 0


def test_the_peer_plays_its_loops_and_frees_its_shared_memory(signal: np.ndarray) -> None:
    audio = pytest.importorskip("backlooper.audio")
    stream = peer.peer_stream(audio, 64, signal)
    names = list(stream._storage._memory_handles)
    try:
        out = np.zeros((64, 2), dtype=np.float32)
        for x in workload.blocks_of(signal, 64)[:20]:
            stream.callback(x, out, 64, peer.PEER_TIME, None)
        assert np.abs(out).max() > 0
        assert stream.latency_seconds == pytest.approx(workload.LATENCY_SECONDS)
    finally:
        peer.close_peer(stream)
    assert names and not any((Path("/dev/shm") / name).exists() for name in names)


def test_a_peer_that_cannot_be_imported_is_skipped_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, signal: np.ndarray
) -> None:
    monkeypatch.setitem(sys.modules, "backlooper.audio", None)
    (line,) = peer.peer_section(measure.QUICK, signal, [])
    assert line["name"] == "peer" and "backlooper cannot be imported" in line["skipped"]
    assert line["median_us"] is None


def test_the_table_lists_every_target_even_unmeasured(capsys: pytest.CaptureFixture) -> None:
    assert bench.main(["--quick", "--blocks", "20", "--warmup", "2", "--only", "callback"]) == 0
    text = capsys.readouterr().out
    assert "Callback cost" in text and "Targets" in text
    assert text.count("not measured") == len(measure.GOALS) - 2


def test_the_soak_plays_the_same_workload_live() -> None:
    from looper.config import parse_config
    from looper.core.commands import Backloop, Overdub

    config = parse_config(workload.stage_config(128, "soak:pedal"), "soak.yaml")
    commands = [binding.command for binding in config.bindings()]
    assert commands == [
        *(Backloop(i, bars) for i, bars in enumerate(workload.LOOP_BARS)),
        Overdub(workload.DUB_TRACK),
    ]
    notes = [binding.number for binding in config.bindings()]
    assert notes == [workload.STAGE_NOTES + i for i in range(8)] + [workload.DUB_NOTE]
    assert config.tracks.count == workload.STANDARD_TRACKS == len(workload.LOOP_BARS)
    assert config.clicktrack.bpm == workload.BPM and config.audio.monitor == workload.MONITOR
    assert config.audio.latency_ms / 1000 == pytest.approx(workload.LATENCY_SECONDS)
    assert config.audio.sample_rate == workload.RATE and config.audio.block_size == 128
