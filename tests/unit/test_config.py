"""Config validation: the shipped file loads, defaults are right, and every mistake is
reported with its file, line, key path, what was found and what is allowed."""

from __future__ import annotations

import re
from pathlib import Path
from textwrap import dedent

import pytest
from pydantic import ValidationError

from looper.config import Config, ConfigError, Problem, load_config, parse_config
from looper.core.bindings import Binding, MidiTiming
from looper.core.commands import (
    Backloop,
    ClickToggle,
    ClickVolume,
    Record,
    Reset,
    SetTempo,
    TapTempo,
    TrackVolume,
    Undo,
)

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "configs" / "pedalboard.yaml"


def problems(text: str, filename: str = "test.yaml") -> list[Problem]:
    """The problems reported for a config text, which must be invalid."""
    with pytest.raises(ConfigError) as caught:
        parse_config(dedent(text), filename)
    return caught.value.problems


# --- valid configs -------------------------------------------------------------------------


def test_shipped_pedalboard_loads() -> None:
    config = load_config(SHIPPED)
    bindings = config.bindings()
    assert {b.switch for b in bindings} == {"note 60", "note 61", "note 62", "note 63", "cc 11"}
    assert Binding("note", 60, "press", "backloop", Backloop(track=0, bars=2)) in bindings
    assert Binding("note", 60, "double", "backloop", Backloop(track=0, bars=4)) in bindings
    assert Binding("note", 60, "hold", "reset", Reset(track=None)) in bindings
    assert Binding("note", 63, "press", "record", Record(track=3)) in bindings
    assert Binding("note", 63, "hold", "undo", Undo(track=3)) in bindings
    assert (
        Binding("cc", 11, "press", "track_volume", TrackVolume(0, 0.0), continuous=True) in bindings
    )


def test_shipped_pedalboard_examples_are_valid() -> None:
    """The commented "more actions" examples would load if uncommented."""
    text = SHIPPED.read_text(encoding="utf-8")
    at = text.index("# More actions")
    head, examples = text[:at], text[at:]
    config = parse_config(head + re.sub(r"^  # (- \{)", r"  \1", examples, flags=re.M), "x")
    assert len(config.pedals) > len(load_config(SHIPPED).pedals) + 5


@pytest.mark.parametrize(
    "text",
    ["", "# only a comment\n", "audio:\nclicktrack:\ntracks:\nmidi:\npedals:\n", "---\n"],
    ids=["empty", "comment", "empty_sections", "empty_document"],
)
def test_empty_config_gives_defaults(text: str) -> None:
    config = parse_config(text, "empty.yaml")
    assert config == Config()
    assert config.model_dump() == {
        "audio": {
            "input_device": None,
            "output_device": None,
            "sample_rate": 48000,
            "block_size": 256,
            "inputs": (1, 2),
            "outputs": (1, 2),
            "monitor": 0.0,
            "latency_ms": 0.0,
            "history_seconds": 60.0,
        },
        "clicktrack": {
            "bpm": 120.0,
            "beats_per_bar": 4,
            "count_in_bars": 0,
            "first_loop_bars": 1,
            "volume": 0.5,
            "enabled": True,
            "outputs": (1, 2),
        },
        "tracks": {
            "count": 4,
            "backloop_bars": 2,
            "late_press": 0.75,
            "crossfade_ms": 10.0,
            "memory_seconds": 300.0,
            "play_from": "phrase",
            "routing": (),
        },
        "master": {"volume": 1.0, "limiter": True, "ceiling_db": -0.3},
        "midi": {
            "input": None,
            "output": None,
            "backend": "auto",
            "virtual": False,
            "channel": None,
            "debounce_ms": 30.0,
            "hold_ms": 600.0,
            "double_ms": 300.0,
        },
        "pedals": (),
    }
    assert config.bindings() == ()
    assert config.midi_timing() == MidiTiming(
        None, debounce_ms=30.0, hold_ms=600.0, double_ms=300.0
    )


def test_values_are_kept_and_typed() -> None:
    config = parse_config(
        dedent("""\
            audio:
              input_device: Scarlett
              output_device: 3
              inputs: [1]
              latency_ms: auto
              monitor: 1
            clicktrack: {bpm: 90, outputs: [3]}
            midi: {channel: 10, debounce_ms: 5, hold_ms: 800, double_ms: 250}
        """),
        "x.yaml",
    )
    assert config.audio.input_device == "Scarlett"
    assert config.audio.output_device == 3
    assert config.audio.inputs == (1,)
    assert config.audio.latency_ms == "auto"
    assert config.audio.monitor == 1.0 and isinstance(config.audio.monitor, float)
    assert config.clicktrack.outputs == (3,)
    assert config.midi_timing() == MidiTiming(channel=10, debounce_ms=5, hold_ms=800, double_ms=250)


def test_config_is_frozen() -> None:
    config = parse_config("tracks: {count: 2}", "x.yaml")
    with pytest.raises(ValidationError):
        config.tracks.count = 3  # type: ignore[misc]


def test_bindings_are_built_with_defaults_resolved() -> None:
    config = parse_config(
        dedent("""\
            tracks: {count: 3, backloop_bars: 4}
            pedals:
              - {note: 60, action: backloop, track: 1}
              - {note: 60, gesture: hold, action: backloop, track: 3, bars: 8}
              - {note: 61, action: reset}
              - {note: 61, gesture: hold, action: reset, track: 2}
              - {cc: 11, action: track_volume, track: 2}
              - {cc: 12, action: click_volume}
              - {program: 0, action: click_volume, value: 0.25}
              - {program: 1, action: tempo, value: 95}
              - {program: 2, gesture: double, action: tap_tempo}
              - {note: 62, gesture: release, action: click}
        """),
        "x.yaml",
    )
    assert config.bindings() == (
        Binding("note", 60, "press", "backloop", Backloop(track=0, bars=4)),
        Binding("note", 60, "hold", "backloop", Backloop(track=2, bars=8)),
        Binding("note", 61, "press", "reset", Reset(track=None)),
        Binding("note", 61, "hold", "reset", Reset(track=1)),
        Binding("cc", 11, "press", "track_volume", TrackVolume(1, 0.0), continuous=True),
        Binding("cc", 12, "press", "click_volume", ClickVolume(0.0), continuous=True),
        Binding("program", 0, "press", "click_volume", ClickVolume(0.25)),
        Binding("program", 1, "press", "tempo", SetTempo(bpm=95.0)),
        Binding("program", 2, "double", "tap_tempo", TapTempo()),
        Binding("note", 62, "release", "click", ClickToggle()),
    )


# --- one mistake, located exactly ----------------------------------------------------------

# (text, line, key path, what the message must contain besides "found" and "allowed")
MISTAKES = {
    "unknown_key": (
        """\
        audio:
          sample_rate: 48000
          monitr: 0.5
        """,
        3,
        "audio.monitr",
        ["found unknown key 'monitr'", "monitor, latency_ms", "did you mean 'monitor'?"],
    ),
    "unknown_section": (
        """\
        tracks: {count: 2}
        pedal: []
        """,
        2,
        "pedal",
        [
            "found unknown key 'pedal'",
            "audio, clicktrack, tracks, master, midi, pedals",
            "'pedals'",
        ],
    ),
    "wrong_type": (
        """\
        clicktrack:
          bpm: fast
        """,
        2,
        "clicktrack.bpm",
        ["found 'fast'", "a number from 20 to 300"],
    ),
    "bool_for_integer": (
        """\
        tracks:
          count: yes
        """,
        2,
        "tracks.count",
        ["found true", "an integer from 1 to 64"],
    ),
    "string_for_bool": (
        """\
        midi:
          virtual: 'no'
        """,
        2,
        "midi.virtual",
        ["found 'no'", "true or false"],
    ),
    "out_of_range": (
        """\
        tracks:
          backloop_bars: 2
          count: 300
        """,
        3,
        "tracks.count",
        ["found 300; allowed: an integer from 1 to 64"],
    ),
    "late_press_zero": (
        """\
        tracks: {late_press: 0}
        """,
        1,
        "tracks.late_press",
        ["found 0", "above 0 and at most 1"],
    ),
    "latency_misspelled": (
        """\
        audio:
          latency_ms: atuo
        """,
        2,
        "audio.latency_ms",
        ["found 'atuo'", "a number from 0 to 1000 or auto", "did you mean 'auto'?"],
    ),
    "backend": (
        """\
        midi:
          backend: jak
        """,
        2,
        "midi.backend",
        ["found 'jak'", "auto, alsa, jack", "did you mean 'jack'?"],
    ),
    "channel_out_of_range": (
        """\
        audio:
          inputs:
            - 1
            - 65
        """,
        4,
        "audio.inputs[1]",
        ["found 65", "a channel number from 1 to 64"],
    ),
    "channel_twice": (
        """\
        clicktrack:
          outputs: [3, 3]
        """,
        2,
        "clicktrack.outputs",
        ["found [3, 3]", "each channel once (3 repeated)"],
    ),
    "no_channels": (
        """\
        audio:
          outputs: []
        """,
        2,
        "audio.outputs",
        ["found []", "a list of channel numbers"],
    ),
    "channels_not_a_list": (
        """\
        audio:
          inputs: 1
        """,
        2,
        "audio.inputs",
        ["found 1", "a list of channel numbers"],
    ),
    "section_not_a_mapping": (
        """\
        tracks: 4
        """,
        1,
        "tracks",
        ["found 4", "a mapping with the keys count, backloop_bars"],
    ),
    "top_level_not_a_mapping": (
        """\
        - audio
        """,
        1,
        "",
        ["found ['audio']", "a mapping with the sections audio, clicktrack"],
    ),
    "pedals_empty_mapping": (
        """\
        pedals: {}
        """,
        1,
        "pedals",
        ["found {}", "a list of bindings"],
    ),
    "pedals_not_a_list": (
        """\
        pedals:
          note: 60
        """,
        1,
        "pedals",
        ["found {note: 60}", "a list of bindings"],
    ),
    "debounce_swallows_double": (
        """\
        midi:
          debounce_ms: 300
        """,
        2,
        "midi.debounce_ms",
        ["found 300, not below double_ms (300)", "less than double_ms"],
    ),
    "duplicate_yaml_key": (
        """\
        audio:
          sample_rate: 44100
          block_size: 128
          sample_rate: 48000
        """,
        4,
        "audio.sample_rate",
        ["found the key 'sample_rate' again (first at line 2)", "each key once"],
    ),
    "misspelled_action": (
        """\
        pedals:
          - note: 60
            action: bakloop
            track: 1
        """,
        3,
        "pedals[0].action",
        ["found 'bakloop'", "backloop, record, overdub", "did you mean 'backloop'?"],
    ),
    "missing_action": (
        """\
        pedals:
          - note: 60
            track: 1
        """,
        2,
        "pedals[0].action",
        ["found no action", "backloop, record"],
    ),
    "misspelled_gesture": (
        """\
        pedals:
          - {note: 60, gesture: dubble, action: click}
        """,
        2,
        "pedals[0].gesture",
        ["found 'dubble'", "press, release, hold, double", "did you mean 'double'?"],
    ),
    "unknown_pedal_key": (
        """\
        pedals:
          - note: 60
            action: backloop
            trak: 1
        """,
        4,
        "pedals[0].trak",
        ["found unknown key 'trak'", "note, cc, program", "did you mean 'track'?"],
    ),
    "same_message_and_gesture": (
        """\
        pedals:
          - {note: 60, action: backloop, track: 1}
          - {note: 61, action: backloop, track: 2}
          - {note: 60, gesture: press, action: record, track: 2}
        """,
        4,
        "pedals[2].note",
        ["found note 60 press again (already bound at line 2, pedals[0])", "one binding per"],
    ),
    "track_out_of_range": (
        """\
        tracks: {count: 2}
        pedals:
          - note: 60
            action: backloop
            track: 3
        """,
        5,
        "pedals[0].track",
        ["found 3", "a track number from 1 to 2 (tracks.count is 2)"],
    ),
    "track_zero": (
        """\
        pedals:
          - {note: 60, action: undo, track: 0}
        """,
        2,
        "pedals[0].track",
        ["found 0", "a track number from 1 up, all, or null"],
    ),
    "all_on_a_track_action": (
        """\
        pedals:
          - note: 60
            action: mute
            track: all
        """,
        4,
        "pedals[0].track",
        ["found 'all'", "a track number from 1 to 4 ('all' is for reset only)"],
    ),
    "argument_not_taken": (
        """\
        pedals:
          - note: 60
            action: record
            track: 1
            bars: 4
        """,
        5,
        "pedals[0].bars",
        ["found bars, which record does not take", "allowed: track"],
    ),
    "argument_on_action_without_arguments": (
        """\
        pedals:
          - {note: 60, action: tap_tempo, track: 1}
        """,
        2,
        "pedals[0].track",
        ["found track, which tap_tempo does not take", "allowed: no arguments"],
    ),
    "missing_track": (
        """\
        pedals:
          - note: 60
            action: record
        """,
        2,
        "pedals[0].track",
        ["found no track for record", "a track number from 1 to 4"],
    ),
    "tempo_without_value": (
        """\
        pedals:
          - note: 60
            action: tempo
        """,
        2,
        "pedals[0].value",
        ["found no value for tempo", "a tempo from 20 to 300 bpm"],
    ),
    "volume_out_of_range": (
        """\
        pedals:
          - note: 60
            action: click_volume
            value: 2
        """,
        4,
        "pedals[0].value",
        ["found 2", "a volume from 0.0 to 1.0"],
    ),
    "no_message": (
        """\
        pedals:
          - action: click
        """,
        2,
        "pedals[0]",
        ["found none of note, cc, program", "exactly one of note, cc, program"],
    ),
    "two_messages": (
        """\
        pedals:
          - note: 60
            cc: 64
            action: click
        """,
        3,
        "pedals[0].cc",
        ["found note and cc", "exactly one of note, cc, program"],
    ),
    "note_bound_to_continuous_action": (
        """\
        pedals:
          - note: 60
            action: track_volume
            track: 1
        """,
        2,
        "pedals[0].note",
        ["found note 60 for track_volume without a value", "a cc", "a fixed value"],
    ),
    "continuous_with_hold": (
        """\
        pedals:
          - cc: 11
            gesture: hold
            action: click_volume
        """,
        3,
        "pedals[0].gesture",
        ["found 'hold' for click_volume following a cc", "press"],
    ),
    "cc_continuous_and_switch": (
        """\
        pedals:
          - {cc: 11, action: click_volume}
          - {cc: 11, gesture: double, action: click}
        """,
        3,
        "pedals[1].cc",
        ["found cc 11 used as a switch here and as a continuous control at line 2", "one use"],
    ),
    "release_on_program": (
        """\
        pedals:
          - program: 3
            gesture: release
            action: click
        """,
        3,
        "pedals[0].gesture",
        ["found 'release' on a program change", "press, double"],
    ),
    "yaml_syntax": (
        """\
        audio:
          inputs: [1, 2
        midi:
          channel: 1
        """,
        3,
        "",
        ["YAML syntax error", "while parsing a flow sequence at line 2"],
    ),
    "yaml_tab": (
        """\
        audio:
        \tsample_rate: 48000
        """,
        2,
        "",
        ["YAML syntax error", "found character '\\t'"],
    ),
}


@pytest.mark.parametrize(("text", "line", "path", "contains"), MISTAKES.values(), ids=MISTAKES)
def test_mistake_is_located(text: str, line: int, path: str, contains: list[str]) -> None:
    [problem] = problems(text, "configs/pedalboard.yaml")
    assert (problem.file, problem.line, problem.path) == ("configs/pedalboard.yaml", line, path)
    for part in contains:
        assert part in problem.message
    if "YAML" not in problem.message:
        assert "found " in problem.message and "; allowed: " in problem.message


def test_problem_format() -> None:
    [problem] = problems(MISTAKES["misspelled_action"][0], "configs/pedalboard.yaml")
    assert str(problem) == (
        "configs/pedalboard.yaml:3: pedals[0].action: found 'bakloop'; allowed: backloop, "
        "record, overdub, play, stop, toggle, mute, undo, redo, reset, track_volume, "
        "tap_tempo, tempo, click, click_volume, save (did you mean 'backloop'?)"
    )


def test_every_mistake_is_reported_at_once_in_file_order() -> None:
    text = """\
        audio:
          sample_rate: 5
          inputs: [1, 1]
        clicktrack:
          bpm: 500
        tracks:
          count: 2
        midi:
          backend: jak
        pedals:
          - {note: 60, action: bakloop, track: 1}
          - {note: 61, action: backloop, track: 3}
          - {note: 61, action: record, track: 1}
          - {program: 1, gesture: hold, action: click}
          - {note: 62, action: click, note: 63}
        extra: 1
        """
    found = problems(text)
    assert [(p.line, p.path) for p in found] == [
        (2, "audio.sample_rate"),
        (3, "audio.inputs"),
        (5, "clicktrack.bpm"),
        (9, "midi.backend"),
        (11, "pedals[0].action"),
        (12, "pedals[1].track"),
        (13, "pedals[2].note"),
        (14, "pedals[3].gesture"),
        (15, "pedals[4].note"),
        (16, "extra"),
    ]
    error = ConfigError(found)
    assert str(error).splitlines() == [str(p) for p in found]


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    [problem] = caught.value.problems
    assert (problem.file, problem.line, problem.path) == (str(path), None, "")
    assert str(problem) == f"{path}: found no such file; allowed: a path to a YAML file"


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert "found a directory; allowed: a regular file" in str(caught.value)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("audio:\n  input_device: Caf\u00e9\n".encode("latin-1"))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    [problem] = caught.value.problems
    assert problem.line == 2
    assert "found the byte 0xe9, which is not UTF-8; allowed: UTF-8 text" in problem.message


def test_utf8_with_bom_loads(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbftracks: {count: 8}\n")
    assert load_config(path).tracks.count == 8


@pytest.mark.parametrize(
    ("text", "line", "contains"),
    [
        ("a: &x [*x]\n", 1, "found an alias that contains itself"),
        ("base: &b {count: 2}\ntracks:\n  <<: *b\n", 3, "found a merge key '<<'"),
        ("audio: !!python/object:os.system x\n", 1, "found the tag '!!python/object:os.system'"),
        ("tracks: {count: 2}\n---\ntracks: {count: 3}\n", 2, "expected a single document"),
        ("tracks: {count: 2}\n\x00\n", 2, "found the character '\\x00'"),
    ],
    ids=["recursive_alias", "merge_key", "unsafe_tag", "two_documents", "control_character"],
)
def test_yaml_that_cannot_be_read(text: str, line: int, contains: str) -> None:
    [problem] = problems(text)
    assert problem.line == line
    assert contains in problem.message


def test_aliases_are_followed() -> None:
    config = parse_config("audio:\n  inputs: &io [3, 4]\n  outputs: *io\n", "x.yaml")
    assert config.audio.outputs == (3, 4)


@pytest.mark.parametrize(
    ("text", "line", "path", "contains"),
    [
        (
            "clicktrack:\n  bpm: auto\n  count_in_bars: 2\n",
            3,
            "clicktrack.count_in_bars",
            ["found 2 with bpm: auto", "a count-in needs a tempo"],
        ),
        (
            "pedals:\n  - note: 60\n    action: backloop\n    track: 1\n"
            "    feedback: {note: 60, cc: 7}\n",
            5,
            "pedals[0].feedback",
            ["found both note and cc", "exactly one of note, cc"],
        ),
        (
            "pedals:\n  - note: 60\n    action: tap_tempo\n    feedback: {note: 60}\n",
            4,
            "pedals[0].feedback",
            ["without a track number"],
        ),
        (
            "pedals:\n  - note: 60\n    action: record\n    track: 1\n"
            "    feedback:\n      note: 60\n      values: {playng: 127}\n",
            7,
            "pedals[0].feedback.values.playng",
            ["playng", "did you mean 'playing'"],
        ),
        (
            "pedals:\n  - note: 60\n    action: record\n    track: 1\n"
            "    feedback:\n      note: 60\n      values: {playing: 300}\n",
            7,
            "pedals[0].feedback.values.playing",
            ["found 300", "0 to 127"],
        ),
    ],
)
def test_stage_feature_mistakes_are_located(
    text: str, line: int, path: str, contains: list[str]
) -> None:
    found = problems(text)
    assert [(p.line, p.path) for p in found] == [(line, path)]
    for words in contains:
        assert words in found[0].message


def test_stage_feature_keys_are_read() -> None:
    config = parse_config(
        "clicktrack: {bpm: auto, first_loop_bars: 2}\n"
        "pedals:\n"
        "  - {note: 60, action: record, track: 1, feedback: {cc: 20, values: {muted: 5}}}\n"
        "  - {note: 61, action: save}\n",
        "t.yaml",
    )
    assert config.clicktrack.bpm == "auto" and config.clicktrack.first_loop_bars == 2
    fb = config.pedals[0].feedback
    assert fb is not None and fb.cc == 20 and fb.light("muted") == 5 and fb.light("playing") == 127
    assert type(config.bindings()[1].command).__name__ == "Save"


@pytest.mark.parametrize(
    ("text", "need", "words"),
    [
        ("clicktrack: {bpm: 20}\ntracks: {memory_seconds: 10}\n", 48, "a bar of loops"),
        (
            "clicktrack: {bpm: auto, first_loop_bars: 64}\ntracks: {memory_seconds: 10}\n",
            54,
            "the first loop's 64 bars",
        ),
    ],
)
def test_a_loop_memory_too_small_for_the_tempo_is_refused(text: str, need: int, words: str) -> None:
    """At a number bpm the memory holds the history and a bar; with auto, the first loop at
    the fastest tempo (a slower one is refused on stage): the engine asks the same rule."""
    [problem] = problems(text)
    assert (problem.line, problem.path) == (2, "tracks.memory_seconds")
    assert problem.message.startswith(f"found 10; allowed: {need} or more at ")
    assert words in problem.message and "raise tracks.memory_seconds" in problem.message
    parse_config(text.replace("memory_seconds: 10", f"memory_seconds: {need}"), "t.yaml")
