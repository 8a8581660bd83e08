"""The pure halves of the soak and the bench's live section: /proc arithmetic, the native
client's report line, OSC encoding, the stage stomps, the live table."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from looper.rig import feeder, live, measure, procstat, report, sooperlooper, workload
from looper.rig.soak import all_playing

# A /proc/PID/stat line whose comm holds a space and a parenthesis, as a thread name may.
STAT = (
    "4242 (audio (x) 1) S 4200 4200 4200 0 -1 4194560 1200 0 0 0 "
    "1234 567 0 0 -2 0 9 0 100 2000000 500 18446744073709551615 1 1 0 0 0 0 0 16781312 "
    "17002 0 0 0 17 1 11 1 0 0 0"
)


def test_ticks_are_utime_plus_stime_after_the_comm() -> None:
    fields = procstat.stat_fields(STAT)
    assert fields[0] == "S" and fields[1] == "4200"
    assert procstat.stat_ticks(STAT) == 1234 + 567
    assert int(fields[38]) == procstat.SCHED_FIFO  # policy: field 41 of proc(5)


def test_cpu_per_block_is_cpu_seconds_over_the_blocks_the_interval_held() -> None:
    # 375 ticks of 10 ms = 3.75 s of CPU over 10 s of 64-frame blocks at 48 kHz (7,500)
    assert procstat.cpu_per_block_us(375, 10.0, 48_000, 64, hz=100) == pytest.approx(500.0)
    # the same CPU at 128 frames covers half the blocks: twice as much per block
    assert procstat.cpu_per_block_us(375, 10.0, 48_000, 128, hz=100) == pytest.approx(1000.0)
    assert procstat.cpu_per_block_us(0, 10.0, 48_000, 64, hz=100) == 0.0


def test_the_tree_and_the_ticks_of_this_process() -> None:
    import os

    tree = procstat.descendants(os.getppid())
    assert tree[0] == os.getppid() and os.getpid() in tree
    assert procstat.ticks([os.getpid()]) >= 0
    assert procstat.ticks([2**22 + 7]) == 0  # a process that is not there counts nothing


def test_the_native_clients_report_line_parses() -> None:
    text = (
        "feeder feed: running as soak\nfeeder feed: xrun 1 at 2.57 s\n"
        "feeder feed: 11259 blocks of 128 frames at 48000 Hz, 2 xruns, input peak 0.495, "
        "heard 11258 blocks, 9 stomps sent\n"
    )
    r = feeder.parse_report(text)
    assert (r.mode, r.blocks, r.block, r.rate, r.xruns) == ("feed", 11259, 128, 48000, 2)
    assert (r.peak, r.heard, r.stomps) == (0.495, 11258, 9)
    with pytest.raises(feeder.NativeError, match="printed no report"):
        feeder.parse_report("feeder feed: running as soak\n")


def test_the_stage_stomps_backloop_every_track_then_overdub() -> None:
    stomps = feeder.stage_stomps()
    frames = [f for f, _ in stomps]
    assert frames == sorted(frames)
    notes = [n for _, n in stomps]
    assert notes == [workload.STAGE_NOTES + i for i in range(8)] + [workload.DUB_NOTE]
    longest = max(workload.LOOP_BARS) * feeder.BAR
    assert frames[0] > longest and frames[0] >= workload.HISTORY_BARS * feeder.BAR
    assert frames[-1] - frames[0] == feeder.BAR  # the overdub a bar after the first backloop


def test_osc_messages_are_padded_and_big_endian() -> None:
    data = sooperlooper.osc_message("/sl/0/hit", "record")
    assert data == b"/sl/0/hit\0\0\0,s\0\0record\0\0"
    data = sooperlooper.osc_message("/set", "tempo", 120.0, 3)
    assert len(data) % 4 == 0
    assert data.endswith(struct.pack(">f", 120.0) + struct.pack(">i", 3))
    assert sooperlooper.osc_parse(data) == ("/set", ["tempo", 120.0, 3])
    with pytest.raises(sooperlooper.PeerError, match="type 'b'"):
        sooperlooper.osc_parse(b"/x\0\0,b\0\0\0\0\0\0")


def test_a_status_line_with_every_track_playing() -> None:
    line = (
        "bar 20.3 | 120.00 bpm | 1:overdubbing 4b | 2:playing 1b | 3:playing 2b | "
        "4:playing 3b | 5:playing 1b | 6:playing 2b | 7:playing 4b | 8:playing 8b | xruns 4"
    )
    assert all_playing(line, 8)
    assert not all_playing(line.replace("3:playing 2b", "3:empty"), 8)


def test_the_live_records_take_medians_and_the_ratio_of_all_processes() -> None:
    samples = {
        "looper": [(100.0, 300.0), (120.0, 200.0), (110.0, 250.0)],
        "sooperlooper": [(125.0, 125.0), (100.0, 100.0), (150.0, 150.0)],
    }
    ours, theirs = live._records(64, measure.FULL, samples, {})
    assert ours["audio_median_us"] == 110.0 and ours["all_median_us"] == 250.0
    assert theirs["all_median_us"] == 125.0
    assert ours["ratio_to_sooperlooper"] == 2.0
    (target,) = ours["targets"]
    assert target["target"] == measure.GOALS["live64"].text and not target["met"]


def test_a_skipped_peer_gives_no_ratio_and_the_table_says_why(
    capsys: pytest.CaptureFixture[str],
) -> None:
    samples: dict[str, list[live.Sample]] = {"looper": [(100.0, 200.0)], "sooperlooper": []}
    lines = live._records(128, measure.QUICK, samples, {"sooperlooper": "not found"})
    assert "ratio_to_sooperlooper" not in lines[0] and lines[0]["targets"] == []
    from rich.console import Console

    report.print_live(Console(width=200), lines)
    text = capsys.readouterr().out
    row = next(line for line in text.splitlines() if line.startswith("| 128 |"))
    assert row.split(" | ")[2:6] == ["100.0", "200.0", "-", "-"]
    assert "sooperlooper skipped: not found" in text


def test_the_rig_frees_the_jack_registry_places_of_dead_servers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from looper.rig import jackserver as js

    registry = bytearray(js.REGISTRY_HEAD + 8 * js.REGISTRY_ENTRY)

    def place(k: int, pid: int, name: bytes) -> None:
        at = js.REGISTRY_HEAD + k * js.REGISTRY_ENTRY
        registry[at : at + 4] = pid.to_bytes(4, "little")
        registry[at + 4 : at + 4 + len(name)] = name

    place(0, os.getpid(), b"jack-0:alive:")
    place(3, 2**22 + 12345, b"jack-0:dead:")  # beyond pid_max: no such process
    path = tmp_path / "jack-shm-registry"
    path.write_bytes(bytes(registry))
    monkeypatch.setattr(js, "REGISTRY", path)
    assert js._forget_dead_servers()
    after = path.read_bytes()
    assert b"jack-0:alive:" in after and b"jack-0:dead:" not in after
    assert not js._forget_dead_servers()  # nothing more to free
