"""Sessions: save the loops and the history, load them at the next start.

Offline, an engine built from a config plays a self-describing input (input
frame u carries u + 1 on channel 1 and -(u + 1) on channel 2), so a saved or
reloaded loop is checked sample-exactly against the frames it must hold. Live,
on a dummy JACK server, a `save` stomp writes the session and a second looper
started with the same `--session DIR` plays it again from a downbeat.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from signals import ramp
from test_bad_config import SHAPES, places, with_value

from looper.cli import main
from looper.config import Config, parse_config
from looper.config.engine import engine_settings
from looper.core.commands import Backloop, Command, Overdub, Play, Reset, Stop, TrackVolume
from looper.core.engine import Engine
from looper.core.tracks import State
from looper.sessions import store
from looper.sessions.manifest import SessionError
from looper.sessions.plan import SessionPlan, with_session_tempo
from looper.sessions.saver import Saver, snapshot
from looper.sessions.store import read_session, write_session

RATE = 8000
BAR = 8000  # 240 bpm in 4/4 at 8 kHz: a beat is 2000 frames
CREATED = datetime(2025, 3, 1, 20, 30, 5, tzinfo=UTC)

CONFIG = """
audio: {sample_rate: 8000, block_size: 256, inputs: [1, 2], outputs: [1, 2], latency_ms: 0,
        history_seconds: 20}
clicktrack: {bpm: 240, beats_per_bar: 4, enabled: false, outputs: [3]}
tracks: {count: 3, crossfade_ms: 0, memory_seconds: 60}
master: {limiter: false}  # the ramp is not audio: its values run to thousands
"""

#: Loop 1: input bars 1-2, playing. Loop 3: input bar 4, at half volume, stopped at bar 6.
SCRIPT: list[tuple[int, Command]] = [
    (3 * BAR + 100, Backloop(0, bars=2)),
    (5 * BAR + 100, Backloop(2, bars=1)),
    (5 * BAR + 200, TrackVolume(2, 0.5)),
    (5 * BAR + 300, Stop(2)),
]


def configured(**changes: str) -> Config:
    """CONFIG with some text replaced, e.g. configured(**{"count: 3": "count: 2"})."""
    text = CONFIG
    for old, new in changes.items():
        assert old in text
        text = text.replace(old, new)
    return parse_config(text, "pedalboard.yaml")


def played(n: int) -> np.ndarray:
    return ramp(n, gains=(1, -1))


def perform(engine: Engine, script: list[tuple[int, Command]], x: np.ndarray) -> np.ndarray:
    """Run `x` through the engine in blocks, the script's commands at their frames."""
    for frame, command in script:
        engine.submit(command, frame)
    out = np.zeros((len(x), engine.settings.out_channels), dtype=np.float32)
    for i in range(0, len(x), 256):
        engine.process(x[i : i + 256], out[i : i + 256])
    return out


def engine_for(config: Config) -> Engine:
    return Engine(engine_settings(config, 0))


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    """A session written from the engine after SCRIPT and 8 bars of input."""
    engine = engine_for(configured())
    perform(engine, SCRIPT, played(8 * BAR))
    directory = tmp_path / "gig"
    write_session(directory, snapshot(engine), CREATED)
    return directory


def contents(directory: Path) -> dict[str, str]:
    """Every file's digest, to see that nothing changed."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.iterdir())
        if p.is_file()
    }


# ---- save and load, offline --------------------------------------------------------


def test_a_saved_session_holds_each_loop_the_history_and_the_manifest(saved: Path) -> None:
    x = played(8 * BAR)
    assert sorted(os.listdir(saved)) == ["history.wav", "session.yaml", "track1.wav", "track3.wav"]
    assert yaml.safe_load((saved / "session.yaml").read_text()) == {
        "version": 1,
        "created": "2025-03-01T20:30:05+00:00",
        "sample_rate": RATE,
        "bpm": 240.0,
        "beats_per_bar": 4,
        "channels": 2,
        "history": {"file": "history.wav", "seconds": 7.0},
        "tracks": [
            {"number": 1, "state": "playing", "bars": 2, "volume": 1.0, "file": "track1.wav"},
            {"number": 3, "state": "stopped", "bars": 1, "volume": 0.5, "file": "track3.wav"},
        ],
    }
    for name, frames in [
        ("track1.wav", x[BAR : 3 * BAR]),
        ("track3.wav", x[4 * BAR : 5 * BAR]),
        ("history.wav", x[: 7 * BAR]),  # every whole bar; bar 7 was still being written
    ]:
        info = sf.info(str(saved / name))
        assert (info.samplerate, info.subtype) == (RATE, "FLOAT")
        audio, _ = sf.read(str(saved / name), dtype="float32", always_2d=True)
        np.testing.assert_array_equal(audio, frames)


def test_a_loaded_session_gives_stopped_tracks_that_play_their_loop_exactly(saved: Path) -> None:
    config = configured()
    loaded = read_session(saved, config)
    assert loaded is not None
    assert (loaded.bpm, loaded.beats_per_bar, loaded.sample_rate) == (240.0, 4, RATE)
    x = played(8 * BAR)
    assert [(loop.number, loop.volume) for loop in loaded.loops] == [(1, 1.0), (3, 0.5)]
    np.testing.assert_array_equal(loaded.loops[0].audio, x[BAR : 3 * BAR])
    np.testing.assert_array_equal(loaded.loops[1].audio, x[4 * BAR : 5 * BAR])

    engine = engine_for(config)
    SessionPlan(saved, saved.parent, loaded).restore(engine)
    assert [tr.state for tr in engine.tracks] == [State.STOPPED, State.EMPTY, State.STOPPED]
    assert [tr.bars for tr in engine.tracks] == [2, 0, 1]
    assert engine.tracks[2].volume == 0.5
    out = perform(engine, [(BAR // 2, Play(0))], np.zeros((6 * BAR, 2), dtype=np.float32))
    loop = x[BAR : 3 * BAR]
    assert not out[:BAR].any(), "stopped until the downbeat after the play"
    np.testing.assert_array_equal(out[BAR : 3 * BAR, :2], loop)
    np.testing.assert_array_equal(out[3 * BAR : 5 * BAR, :2], loop)


def test_the_performer_is_told_what_was_loaded_and_where_save_writes(saved: Path) -> None:
    loaded = read_session(saved, configured())
    assert SessionPlan(saved, saved.parent, loaded).describe(saving=True) == (
        f"session {saved}, saved 2025-03-01T20:30:05+00:00: 2 loops (track 1, 3), stopped; "
        "play or toggle starts a track on the next downbeat; save writes it there"
    )
    new = SessionPlan(saved.parent / "new", saved.parent)
    assert new.describe(saving=False).endswith("new; no pedal is bound to save")
    dated = SessionPlan(None, saved.parent / "sessions").describe(saving=True)
    assert dated == f"save writes the session to {saved.parent}/sessions/YYYY-MM-DD_hh-mm-ss"


def test_the_session_tempo_and_meter_replace_the_configs_and_say_so(saved: Path) -> None:
    config = configured(**{"bpm: 240, beats_per_bar: 4": "bpm: 100, beats_per_bar: 3"})
    loaded = read_session(saved, config)
    assert loaded is not None
    played_config, note = with_session_tempo(config, loaded)
    assert note is not None and "240.00 bpm, 4 beats a bar, from the session" in note
    assert "clicktrack says 100 bpm, 3" in note
    assert engine_for(played_config).grid.bar == BAR
    assert with_session_tempo(configured(), loaded)[1] is None


def test_an_overdub_in_progress_is_saved_with_its_whole_passes_only() -> None:
    engine = engine_for(configured())
    script = [(3 * BAR + 100, Backloop(0, bars=2)), (4 * BAR + 100, Overdub(0))]
    perform(engine, script, played(5 * BAR + 500))
    snap = snapshot(engine)
    assert engine.tracks[0].state is State.OVERDUBBING
    (loop,) = snap.loops
    assert loop.state == "overdubbing"
    x = played(5 * BAR)
    first_pass = np.concatenate([x[BAR : 2 * BAR], x[2 * BAR : 3 * BAR] + x[4 * BAR : 5 * BAR]])
    np.testing.assert_array_equal(loop.audio, first_pass)  # the second began at bar 5
    assert snap.notes == ("track 1 without its overdub pass in progress",)


def test_the_save_pedal_writes_a_new_dated_session_next_to_the_config(tmp_path: Path) -> None:
    engine = engine_for(configured())
    perform(engine, SCRIPT, played(8 * BAR))
    saver = Saver(engine, SessionPlan(None, tmp_path / "sessions"))
    text = saver.save()
    (directory,) = (tmp_path / "sessions").iterdir()
    assert text == f"session saved to {directory} (2 loops, 7 s of history)"
    assert read_session(directory, configured()) is not None


def test_saving_again_replaces_the_session_and_drops_a_reset_tracks_loop(saved: Path) -> None:
    engine = engine_for(configured())
    perform(engine, [*SCRIPT, (8 * BAR + 10, Reset(2))], played(9 * BAR))
    write_session(saved, snapshot(engine), CREATED)
    assert sorted(os.listdir(saved)) == ["history.wav", "session.yaml", "track1.wav"]
    loaded = read_session(saved, configured())
    assert loaded is not None and [loop.number for loop in loaded.loops] == [1]


def test_a_missing_or_empty_directory_is_a_new_session(tmp_path: Path) -> None:
    assert read_session(tmp_path / "new", configured()) is None
    (tmp_path / "empty").mkdir()
    assert read_session(tmp_path / "empty", configured()) is None
    (tmp_path / "empty" / ".track1.wav.looper-tmp").write_bytes(b"a save cut short")
    assert read_session(tmp_path / "empty", configured()) is None


def test_a_folder_that_is_not_a_session_is_neither_loaded_nor_written(tmp_path: Path) -> None:
    folder = tmp_path / "songs"
    folder.mkdir()
    (folder / "notes.txt").write_text("verse, chorus")
    engine = engine_for(configured())
    perform(engine, SCRIPT, played(8 * BAR))
    for attempt in (
        lambda: read_session(folder, configured()),
        lambda: write_session(folder, snapshot(engine), CREATED),
    ):
        with pytest.raises(SessionError, match="not a looper session") as error:
            attempt()
        assert str(folder) in str(error.value)
    assert os.listdir(folder) == ["notes.txt"]
    with pytest.raises(SessionError, match=r"notes\.txt: is a file; give --session a directory"):
        read_session(folder / "notes.txt", configured())


# ---- damaged sessions --------------------------------------------------------------


def rewrite(name: str, frames: int = 2 * BAR, rate: int = RATE, channels: int = 2) -> Callable:
    def damage(directory: Path) -> None:
        audio = np.ones((frames, channels), dtype=np.float32)
        sf.write(str(directory / name), audio, rate, subtype="FLOAT")

    return damage


def edit(old: str, new: str) -> Callable:
    def damage(directory: Path) -> None:
        path = directory / "session.yaml"
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new))

    return damage


def remove(name: str) -> Callable:
    return lambda directory: (directory / name).unlink()


def intact(directory: Path) -> None:
    """No damage: the config is what does not fit."""


def alias_bomb() -> str:
    """Nine lines that would expand to 9**9 values: the 'billion laughs'."""
    rows = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    rows += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    return "version: 1\n" + "\n".join(rows) + "\n"


def link(name: str, target: str) -> Callable:
    def damage(directory: Path) -> None:
        (directory / name).unlink()
        (directory / name).symlink_to(target)

    return damage


def fifo(name: str) -> Callable:
    def damage(directory: Path) -> None:
        (directory / name).unlink()
        os.mkfifo(directory / name)

    return damage


DAMAGE = {
    "manifest missing": (remove("session.yaml"), {}, "session.yaml: missing"),
    "invalid YAML": (edit("tracks:", "tracks: [\n"), {}, "session.yaml:13: YAML syntax error"),
    "not a mapping": (
        lambda d: (d / "session.yaml").write_text("[1, 2]"),
        {},
        "session.yaml: found list, not a mapping",
    ),
    "wrong version": (edit("version: 1", "version: 2"), {}, "session.yaml: version is 2; this"),
    "invalid field": (edit("bars: 2", "bars: two"), {}, "session.yaml: tracks[0].bars: found"),
    "file outside": (
        edit("file: track1.wav", "file: ../x.wav"),
        {},
        "session.yaml: tracks[0].file",
    ),
    "WAV missing": (remove("track1.wav"), {}, "track1.wav: missing"),
    "history missing": (remove("history.wav"), {}, "history.wav: missing"),
    "WAV rate": (rewrite("track1.wav", rate=16000), {}, "track1.wav: the sample rate is 16000"),
    "WAV channels": (rewrite("track1.wav", channels=1), {}, "track1.wav: has 1 channel(s)"),
    "not whole bars": (rewrite("track1.wav", frames=2 * BAR - 10), {}, "track1.wav: 15990 frames"),
    "bars differ": (rewrite("track1.wav", frames=3 * BAR), {}, "track1.wav: holds 3 bars"),
    "config rate": (
        intact,
        {"sample_rate: 8000": "sample_rate: 16000"},
        "session.yaml: sample_rate is 8000 Hz but audio.sample_rate is 16000",
    ),
    "config channels": (
        intact,
        {"inputs: [1, 2], outputs: [1, 2]": "inputs: [1], outputs: [1]"},
        "session.yaml: channels is 2 but audio.inputs records 1",
    ),
    "too many tracks": (
        intact,
        {"count: 3": "count: 2"},
        "session.yaml: tracks: track 3 but tracks.count is 2; set tracks.count: 3",
    ),
    # crafted manifests: read as the config is (bounded, no tags), ranged as the config is
    "tempo too fast": (edit("bpm: 240.0", "bpm: 1000.0"), {}, "session.yaml: bpm: found 1000.0"),
    "tempo too slow": (edit("bpm: 240.0", "bpm: 5"), {}, "session.yaml: bpm: found 5; allowed"),
    "tempo not a number": (edit("bpm: 240.0", "bpm: .nan"), {}, "session.yaml:5: YAML error"),
    "meter": (
        edit("beats_per_bar: 4", "beats_per_bar: 99"),
        {},
        "session.yaml: beats_per_bar: found 99; allowed: an integer from 1 to 16",
    ),
    "sample rate": (
        edit("sample_rate: 8000", "sample_rate: 1"),
        {},
        "session.yaml: sample_rate: found 1; allowed",
    ),
    "huge track number": (
        edit("number: 3", f"number: {10**20}"),
        {},
        f"session.yaml: tracks: track {10**20} but tracks.count is 3",
    ),
    "5000 digits": (
        edit("bars: 2", "bars: " + "9" * 5000),
        {},
        "session.yaml:14: YAML error: found a number",
    ),
    "key twice": (edit("channels: 2", "channels: 2\nchannels: 2"), {}, "session.yaml:8: found"),
    "tag": (edit("bpm: 240.0", "bpm: !!python/object:os.system x"), {}, "session.yaml:5: YAML"),
    "alias bomb": (
        lambda d: (d / "session.yaml").write_text(alias_bomb()),
        {},
        "session.yaml:2: YAML error: found more than 20,000 values",
    ),
    "deep nesting": (
        lambda d: (d / "session.yaml").write_text("tracks: " + "[" * 40 + "]" * 40),
        {},
        "session.yaml:1: YAML error: found lists or mappings nested over 32 deep",
    ),
    "over 1 MB": (
        lambda d: (d / "session.yaml").write_text("#" * 1_000_001),
        {},
        "session.yaml: found 1,000,001 bytes; allowed: at most 1,000,000 bytes",
    ),
    "manifest is /dev/zero": (
        link("session.yaml", "/dev/zero"),
        {},
        "session.yaml: found a character device; allowed: a regular file",
    ),
    "manifest is a FIFO": (
        fifo("session.yaml"),
        {},
        "session.yaml: found a FIFO (named pipe); allowed: a regular file",
    ),
    "WAV is /dev/zero": (
        link("track1.wav", "/dev/zero"),
        {},
        "track1.wav: found a character device; allowed: a regular file",
    ),
    "WAV is a FIFO": (fifo("track3.wav"), {}, "track3.wav: found a FIFO (named pipe)"),
}


@pytest.mark.parametrize("case", DAMAGE)
def test_a_damaged_session_is_refused_naming_the_file_and_left_untouched(
    saved: Path, case: str
) -> None:
    damage, changes, expected = DAMAGE[case]
    damage(saved)
    before = contents(saved)
    with pytest.raises(SessionError) as error:
        read_session(saved, configured(**changes))
    assert f"{saved}/{expected}" in str(error.value)
    assert contents(saved) == before


def test_loops_too_long_for_the_loop_memory_are_refused(tmp_path: Path) -> None:
    engine = engine_for(configured())
    perform(engine, [(13 * BAR + 100, Backloop(0, bars=12))], played(14 * BAR))
    write_session(tmp_path / "long", snapshot(engine), CREATED)
    small = configured(
        **{"history_seconds: 20": "history_seconds: 1", "memory_seconds: 60": "memory_seconds: 10"}
    )
    # 12 bars of loop, 3 pages of ring (1 s of history, the bar being written, the lead-in
    # of the oldest bar) and its spare: 16 bars of 1 s, less the 1 s of history
    with pytest.raises(SessionError, match=r"set tracks\.memory_seconds: 15 "):
        read_session(tmp_path / "long", small)
    assert read_session(tmp_path / "long", configured()) is not None


def test_the_looper_stops_before_any_audio_with_exit_2_on_a_damaged_session(
    saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "pedalboard.yaml"
    config.write_text(CONFIG)
    (saved / "track3.wav").unlink()
    before = contents(saved)
    assert main(["--config", str(config), "--session", str(saved)]) == 2
    err = capsys.readouterr().err
    assert "nothing was started and nothing in it was changed" in err
    assert f"{saved}/track3.wav: missing" in err
    assert "Traceback" not in err
    assert contents(saved) == before


def test_a_link_planted_at_a_temporary_name_is_not_followed(
    saved: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A save creates its files exclusively, without following links: a link planted where
    it writes (here at the name it is made to pick) fails the save, and its target and the
    session saved before stay as they were."""
    victim = tmp_path / "victim.txt"
    victim.write_text("someone else's file")
    planted = ".track1.wav.planted.looper-tmp"
    (saved / planted).symlink_to(victim)
    before = contents(saved)
    monkeypatch.setattr(store, "temporary_name", lambda name: planted)
    engine = engine_for(configured())
    perform(engine, SCRIPT, played(8 * BAR))
    with pytest.raises(SessionError, match=f"{planted}: something is there already"):
        write_session(saved, snapshot(engine), CREATED)
    assert victim.read_text() == "someone else's file"
    assert contents(saved) == before
    assert (saved / planted).is_symlink()


def test_each_save_writes_under_fresh_names_and_leaves_none_behind(saved: Path) -> None:
    names = {store.temporary_name("track1.wav") for _ in range(100)}
    assert len(names) == 100 and all(n.startswith(".track1.wav.") for n in names)
    assert not [p for p in os.listdir(saved) if p.endswith(".looper-tmp")]


def test_every_key_of_a_manifest_answers_every_wrong_shape_with_a_session_error(
    saved: Path,
) -> None:
    """The config's fuzz of shapes (test_bad_config), over every key of a saved manifest."""
    manifest = saved / "session.yaml"
    data = yaml.safe_load(manifest.read_text())
    tried = 0
    for at in places(data):
        for shape in [*SHAPES, 0, 1e300]:
            manifest.write_text(yaml.dump(with_value(data, at, shape), Dumper=yaml.CSafeDumper))
            try:
                read_session(saved, configured())
            except SessionError as error:
                assert all(problem.startswith(str(saved)) for problem in error.problems)
            tried += 1
    assert tried > 300
