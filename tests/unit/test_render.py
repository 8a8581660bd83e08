"""`looper render` and `looper check` end to end, on real WAV and MIDI files."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import mido
import numpy as np
import pytest
import soundfile as sf
from signals import ramp

from looper.cli import main
from looper.config import parse_config
from looper.core.commands import Backloop, Undo
from looper.tools.render import MAX_TAIL_BARS, RenderError, read_midi, render

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "configs" / "demo"
RATE = 8000
BAR = 4 * RATE // 2  # 120 bpm: a beat is half a second

CONFIG = f"""
audio: {{sample_rate: {RATE}, inputs: [1], outputs: [1], monitor: 0, history_seconds: 30}}
clicktrack: {{bpm: 120, outputs: [2], enabled: true}}
tracks: {{count: 2, crossfade_ms: 0, memory_seconds: 60}}
midi: {{hold_ms: 600, double_ms: 300}}
pedals:
  - {{note: 60, action: backloop, track: 1}}
  - {{note: 61, action: backloop, track: 2, bars: 1}}
  - {{note: 61, gesture: hold, action: undo, track: 2}}
"""


def write_midi(path: Path, stomps: list[tuple[float, int, float]], bpm: float = 120) -> Path:
    """A type-0 MIDI file of (seconds, note, held seconds) at a fixed tempo."""
    midi = mido.MidiFile(type=0, ticks_per_beat=960)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    tempo = mido.bpm2tempo(bpm)
    track.append(mido.MetaMessage("set_tempo", tempo=tempo))
    events = []
    for at, note, held in stomps:
        events += [(at, mido.Message("note_on", note=note, velocity=90))]
        events += [(at + held, mido.Message("note_off", note=note))]
    now = 0
    for at, message in sorted(events, key=lambda e: e[0]):
        tick = round(mido.second2tick(at, 960, tempo))
        track.append(message.copy(time=tick - now))
        now = tick
    midi.save(str(path))
    return path


def ramp_wav(path: Path, frames: int, rate: int = RATE, channels: int = 1) -> np.ndarray:
    data = ramp(frames, channels, wrap=3900, unit=2**-12)  # under the limiter's ceiling
    sf.write(str(path), data, rate, subtype="FLOAT")
    return data


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "c.yaml").write_text(CONFIG)
    ramp_wav(tmp_path / "in.wav", 6 * BAR)
    write_midi(tmp_path / "p.mid", [(2 * BAR / RATE + 0.05, 60, 0.1)])
    return {"config": tmp_path / "c.yaml", "input": tmp_path / "in.wav", "midi": tmp_path / "p.mid"}


def test_render_writes_the_loop_sample_exactly_at_the_midi_frame(
    files: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out.wav"
    code = main(["render", *_args(files), "--output", str(out), "--no-click", "--tail-bars", "2"])
    assert code == 0
    y, rate = sf.read(str(out), dtype="float32", always_2d=True)
    assert rate == RATE and sf.info(str(out)).subtype == "FLOAT"
    assert len(y) == 8 * BAR and y.shape[1] == 2
    x = sf.read(str(files["input"]), dtype="float32")[0]
    p = 2 * BAR + round(0.05 * RATE)
    t = np.arange(p, 8 * BAR)
    np.testing.assert_array_equal(y[:p, 0], 0)
    np.testing.assert_array_equal(y[p:, 0], x[(t - 2 * BAR) % (2 * BAR)])
    assert not y[:, 1].any(), "--no-click leaves the click out"


def test_the_click_marks_the_grid_the_loops_follow(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.wav"
    assert main(["render", *_args(files), "--output", str(out)]) == 0
    y = sf.read(str(out), dtype="float32", always_2d=True)[0]
    onsets = np.flatnonzero((np.abs(y[:, 1]) > 0) & (np.abs(np.roll(y[:, 1], 1)) == 0))
    assert list(onsets[:9]) == [
        k * BAR // 4 + 1 for k in range(9)
    ]  # sin(0) = 0: sound from frame 1


def test_stems_hold_each_track_loop(files: dict[str, Path], tmp_path: Path) -> None:
    stems = tmp_path / "stems"
    assert (
        main(["render", *_args(files), "--output", str(tmp_path / "o.wav"), "--stems", str(stems)])
        == 0
    )
    loop = sf.read(str(stems / "track1.wav"), dtype="float32")[0]
    x = sf.read(str(files["input"]), dtype="float32")[0]
    np.testing.assert_array_equal(loop, x[: 2 * BAR])
    assert not (stems / "track2.wav").exists()


def test_nan_and_inf_in_the_input_file_are_silenced_and_said_once(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    x = ramp_wav(files["input"], 6 * BAR)[:, 0]
    bad = [100, 2 * RATE, 3 * RATE + 7]  # in the two bars the backloop takes
    x[bad[0]], x[bad[1]], x[bad[2]] = np.nan, np.inf, -np.inf
    sf.write(str(files["input"]), x, RATE, subtype="FLOAT")
    out = tmp_path / "out.wav"
    args = ["--output", str(out), "--no-click", "--tail-bars", "2"]
    assert main(["render", *_args(files), *args]) == 0
    y = sf.read(str(out), dtype="float32", always_2d=True)[0][:, 0]
    assert np.isfinite(y).all()
    p = 2 * BAR + round(0.05 * RATE)
    t = np.arange(p, 8 * BAR)
    clean = x[(t - 2 * BAR) % (2 * BAR)]
    clean[~np.isfinite(clean)] = 0.0
    np.testing.assert_array_equal(y[p:], clean)  # the loop holds silence where they were
    printed = capsys.readouterr().out
    assert printed.count("input 1 sent NaN or Inf samples: they are silenced") == 1


def test_a_wav_of_another_sample_rate_is_refused(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ramp_wav(files["input"], BAR, rate=44100)
    out = tmp_path / "o.wav"
    assert main(["render", *_args(files), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert "44100" in err and "audio.sample_rate" in err and "does not resample" in err
    assert not out.exists()


def test_a_wav_with_too_few_channels_is_refused(
    tmp_path: Path, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    files["config"].write_text(CONFIG.replace("inputs: [1]", "inputs: [1, 2]"))
    assert main(["render", *_args(files), "--output", str(tmp_path / "o.wav")]) == 2
    assert "audio.inputs uses channel 2" in capsys.readouterr().err


@pytest.mark.parametrize("which", ["input", "midi"])
def test_missing_or_broken_files_are_reported_without_a_traceback(
    which: str, files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files[which].write_bytes(b"not a file of that kind")
    assert main(["render", *_args(files), "--output", str(tmp_path / "o.wav")]) == 2
    err = capsys.readouterr().err
    assert str(files[which]) in err and "Traceback" not in err


def test_a_bad_config_exits_2_naming_the_line(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files["config"].write_text(
        CONFIG.replace("action: backloop, track: 1}", "action: backlop, track: 1}")
    )
    assert main(["render", *_args(files), "--output", str(tmp_path / "o.wav")]) == 2
    err = capsys.readouterr().err
    assert ":7: pedals[0].action: found 'backlop'" in err and "did you mean 'backloop'" in err


def test_a_hold_reaches_the_engine_late_but_stamped_at_the_stomp(
    files: dict[str, Path], tmp_path: Path
) -> None:
    stomps = [(1 * BAR / RATE + 0.1, 61, 0.05), (2 * BAR / RATE + 0.1, 61, 0.9)]
    write_midi(files["midi"], stomps)
    config = parse_config(files["config"].read_text(), "c.yaml")
    result = render(config, files["input"], files["midi"], tmp_path / "o.wav")
    events = [(e.frame, e.stamp, e.command) for e in result.events]
    press = BAR + round(0.1 * RATE)
    hold = 2 * BAR + round(0.1 * RATE)
    assert events == [
        (press + round(0.05 * RATE), press, Backloop(1, 1)),  # a tap: known at the release
        (hold + round(0.6 * RATE), hold, Undo(1)),  # a hold: known after hold_ms
    ]


def test_a_save_pedal_is_reported_not_acted_on_offline(
    files: dict[str, Path], tmp_path: Path
) -> None:
    files["config"].write_text(CONFIG + "  - {note: 64, action: save}\n")
    write_midi(files["midi"], [(0.5, 64, 0.1)])
    config = parse_config(files["config"].read_text(), "c.yaml")
    result = render(config, files["input"], files["midi"], tmp_path / "o.wav")
    assert [text for _, text in result.messages] == [
        "save ignored: render writes no session (--stems)"
    ]


def test_the_midi_files_tempo_map_gives_the_seconds(files: dict[str, Path], tmp_path: Path) -> None:
    midi = mido.MidiFile(type=1, ticks_per_beat=100)
    meta, notes = mido.MidiTrack(), mido.MidiTrack()
    midi.tracks += [meta, notes]
    meta.append(mido.MetaMessage("set_tempo", tempo=1_000_000, time=0))  # 60 bpm: 1 s a beat
    meta.append(mido.MetaMessage("set_tempo", tempo=250_000, time=200))  # then 240 bpm
    notes.append(mido.Message("note_on", note=60, velocity=90, time=600))  # 2 s + 4 * 0.25 s
    notes.append(mido.Message("note_off", note=60, time=10))
    midi.save(str(files["midi"]))
    config = parse_config(files["config"].read_text(), "c.yaml")
    result = render(config, files["input"], files["midi"], tmp_path / "o.wav")
    assert [e.stamp for e in result.events] == [3 * RATE]


def test_the_demo_loops_repeat_in_time_with_the_click(tmp_path: Path) -> None:
    text = (DEMO / "demo.yaml").read_text().replace("monitor: 1.0", "monitor: 0.0")
    text = text.replace("crossfade_ms: 10", "crossfade_ms: 0")  # seams are tested in test_engine
    config = parse_config(text, "demo.yaml")
    out = tmp_path / "demo.wav"
    render(config, DEMO / "input.wav", DEMO / "pedals.mid", out, click=False, tail_bars=2)
    y = sf.read(str(out), dtype="float32", always_2d=True)[0][:, 0]
    x = sf.read(str(DEMO / "input.wav"), dtype="float32")[0]
    bar = 2 * config.audio.sample_rate
    stomp = round(read_midi(DEMO / "pedals.mid")[0][0] * config.audio.sample_rate)
    assert 3 * bar < stomp < 3 * bar + bar // 4  # a little late: snaps back to bar 3
    # Bars 3 to 5: track 1 alone, the riff of bars 1-2 looping on the click's downbeats.
    t = np.arange(stomp, 5 * bar)
    np.testing.assert_array_equal(y[stomp : 5 * bar], x[bar + (t - 3 * bar) % (2 * bar)])
    # After the undo (a hold from bar 8): track 1 is the riff again, track 2 the melody.
    t = np.arange(8 * bar + bar // 2, 9 * bar)
    want = x[bar + (t - 3 * bar) % (2 * bar)] + x[3 * bar + (t - 5 * bar) % (2 * bar)]
    np.testing.assert_allclose(y[8 * bar + bar // 2 : 9 * bar], want, atol=1e-6)
    # Track 2 stopped at bar 9 and played again from its top at bar 11.
    t = np.arange(9 * bar, 11 * bar)
    np.testing.assert_array_equal(y[9 * bar : 11 * bar], x[bar + (t - 3 * bar) % (2 * bar)])
    t = np.arange(11 * bar, 12 * bar)
    want = x[bar + (t - 3 * bar) % (2 * bar)] + x[3 * bar + (t - 11 * bar) % (2 * bar)]
    np.testing.assert_allclose(y[11 * bar : 12 * bar], want, atol=1e-6)


def test_check_prints_the_pedal_map(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--config", str(ROOT / "configs" / "pedalboard.yaml")]) == 0
    out = capsys.readouterr().out
    assert "note 60" in out and "backloop" in out and "config OK" in out


def _args(files: dict[str, Path]) -> list[str]:
    return [
        "--config",
        str(files["config"]),
        "--input",
        str(files["input"]),
        "--midi",
        str(files["midi"]),
    ]


# ---- bad paths, formats, tails and MIDI files ------------------------------------------------


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("which", "how"),
    [("input", "same path"), ("input", "another spelling"), ("input", "link"), ("midi", "link")],
)
def test_the_output_never_overwrites_what_the_render_reads(
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    which: str,
    how: str,
) -> None:
    target = files[which]
    (tmp_path / "sub").mkdir()
    out = {
        "same path": target,
        "another spelling": tmp_path / "sub" / ".." / target.name,
        "link": tmp_path / "out.wav",
    }[how]
    if how == "link":
        out.symlink_to(target)
    before = digest(target)
    assert main(["render", *_args(files), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"is the --{which} file" in err and "render never writes over what it reads" in err
    assert digest(target) == before


def test_stems_never_overwrite_the_input(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files["input"].rename(tmp_path / "track1.wav")
    files["input"] = tmp_path / "track1.wav"
    args = ["--output", str(tmp_path / "o.wav"), "--stems", str(tmp_path)]
    assert main(["render", *_args(files), *args]) == 2
    assert f"{tmp_path}/track1.wav: is the --input file" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("ext", "kind", "subtype"), [("flac", "FLAC", "PCM_24"), ("ogg", "OGG", "VORBIS")]
)
def test_flac_and_ogg_are_written_by_the_extension(
    files: dict[str, Path], tmp_path: Path, ext: str, kind: str, subtype: str
) -> None:
    wav, other = tmp_path / "out.wav", tmp_path / f"out.{ext.upper()}"
    for out in (wav, other):
        assert main(["render", *_args(files), "--output", str(out), "--tail-bars", "1"]) == 0
    info = sf.info(str(other))
    assert (info.format, info.subtype, info.frames) == (kind, subtype, 7 * BAR)
    y, z = (sf.read(str(p), dtype="float32")[0] for p in (wav, other))
    if kind == "FLAC":  # lossless, to 24 bits
        np.testing.assert_allclose(z, y, atol=2**-23)
    else:
        assert np.abs(z).max() > 0.5 * np.abs(y).max()


@pytest.mark.parametrize(
    ("name", "found"),
    [("out.mp3", "the extension '.mp3'"), ("out", "no extension"), ("dir", "is a directory")],
)
def test_another_format_or_a_directory_is_refused_naming_the_formats(
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    found: str,
) -> None:
    (tmp_path / "dir").mkdir()
    assert main(["render", *_args(files), "--output", str(tmp_path / name)]) == 2
    err = capsys.readouterr().err
    assert found in err and "name.wav, name.flac, name.ogg" in err and "Traceback" not in err
    assert not (tmp_path / name).is_file()


@pytest.mark.parametrize("bars", ["-1", str(MAX_TAIL_BARS + 1), str(10**12)])
def test_a_tail_beyond_the_limit_is_refused_before_any_work(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], bars: str
) -> None:
    out = tmp_path / "o.wav"
    assert main(["render", *_args(files), "--output", str(out), "--tail-bars", bars]) == 2
    assert (
        f"--tail-bars: found {bars}; allowed: 0 to {MAX_TAIL_BARS} bars" in capsys.readouterr().err
    )
    assert not out.exists()


def patched_header(path: Path, offset: int, value: int) -> Path:
    data = bytearray(path.read_bytes())
    data[offset : offset + 2] = value.to_bytes(2, "big")
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (lambda p: patched_header(p, 8, 2), "found a type 2 MIDI file"),
        (lambda p: patched_header(p, 12, 0xE728), "found SMPTE time"),  # -25 fps, 40 per frame
        (lambda p: patched_header(p, 12, 0), "found 0 ticks per beat"),
        (lambda p: p.write_bytes(b"MThd"), "not a MIDI file (no MThd header)"),
    ],
    ids=["type_2", "smpte", "zero_division", "cut_short"],
)
def test_midi_files_the_render_cannot_time_are_refused(
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    damage: Any,
    said: str,
) -> None:
    damage(files["midi"])
    assert main(["render", *_args(files), "--output", str(tmp_path / "o.wav")]) == 2
    err = capsys.readouterr().err
    assert f"{files['midi']}: {said}" in err and "Traceback" not in err


def test_a_real_type_2_file_is_refused() -> None:
    path = Path(tempfile.mkdtemp()) / "t2.mid"
    midi = mido.MidiFile(type=2)
    midi.tracks.append(mido.MidiTrack([mido.Message("note_on", note=60)]))
    midi.save(str(path))
    with pytest.raises(RenderError, match="found a type 2 MIDI file"):
        read_midi(path)


@pytest.mark.parametrize("which", ["input", "midi"])
@pytest.mark.parametrize("what", ["fifo", "dev_zero"])
def test_a_fifo_or_a_device_is_refused_without_hanging(
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    which: str,
    what: str,
) -> None:
    files[which].unlink()
    if what == "fifo":
        os.mkfifo(files[which])
    else:
        files[which].symlink_to("/dev/zero")
    assert main(["render", *_args(files), "--output", str(tmp_path / "o.wav")]) == 2
    kind = "a FIFO (named pipe)" if what == "fifo" else "a character device"
    assert f"{files[which]}: found {kind}; allowed: a regular file" in capsys.readouterr().err
