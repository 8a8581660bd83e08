"""Hostile configs: each category is refused with a `file:line` message and exit 2.

Real files in tmp_path, real FIFOs (os.mkfifo), the real /dev/zero. What is asserted
is the refusal and its words, never a time: a refusal that read a FIFO or /dev/zero
would never return, so the guard below fails such a test instead of hanging the suite
(speed belongs to the measurements quoted in the README). Below the categories, a
fuzz of wrong shapes over every key of configs/pedalboard.yaml: the schema must answer
each with its own error, never an exception of its own.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from looper.cli import SHOWN_PROBLEMS, main
from looper.config import ConfigError, Problem, load_config, parse_config, rules
from looper.config.engine import engine_settings
from looper.config.lines import MAX_DEPTH, MAX_DIGITS, MAX_NODES
from looper.config.load import MAX_PEDALS
from looper.core.engine import Engine
from looper.files import MAX_TEXT_BYTES

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "configs" / "pedalboard.yaml"


pytestmark = pytest.mark.usefixtures("no_hang")


def refused(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """`looper check` on the path: exit 2, no traceback; what it said."""
    assert main(["check", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "nothing was started" in err
    return err


def only(text: str) -> Problem:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "test.yaml")
    [problem] = caught.value.problems
    return problem


# ---- files that are not a config ---------------------------------------------------------


def test_a_file_over_1_MB_is_refused_before_it_is_parsed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("audio: {sample_rate: 48000}\n" + "# padding\n" * 200_000)
    err = refused(big, capsys)
    assert f"{big}: found 2,000,028 bytes; allowed: at most 1,000,000 bytes" in err


def test_a_file_of_exactly_1_MB_is_read(tmp_path: Path) -> None:
    edge = tmp_path / "edge.yaml"
    edge.write_text("tracks: {count: 2}\n" + "#" * (MAX_TEXT_BYTES - 20) + "\n")
    assert edge.stat().st_size == MAX_TEXT_BYTES
    assert load_config(edge).tracks.count == 2


def test_a_fifo_is_refused_without_waiting_for_a_writer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "pedalboard.yaml"
    os.mkfifo(fifo)
    assert f"{fifo}: found a FIFO (named pipe); allowed: a regular file" in refused(fifo, capsys)


@pytest.mark.parametrize("through_a_link", [False, True], ids=["itself", "through_a_link"])
def test_dev_zero_is_refused_before_a_byte_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], through_a_link: bool
) -> None:
    path = Path("/dev/zero")
    if through_a_link:
        path = tmp_path / "pedalboard.yaml"
        path.symlink_to("/dev/zero")
    assert f"{path}: found a character device; allowed: a regular file" in refused(path, capsys)


# ---- YAML that would cost minutes or gigabytes -------------------------------------------


def alias_bomb(levels: int = 9) -> str:
    """A few lines that expand to 9**levels values (the "billion laughs")."""
    rows = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    rows += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(rows) + f"\naudio: {{inputs: *a{levels - 1}}}\n"


def test_an_alias_bomb_stops_at_the_value_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(alias_bomb())
    err = refused(bomb, capsys)
    assert f"found more than {MAX_NODES:,} values (an alias counts as often as it is used)" in err


def test_aliases_within_the_limit_are_followed() -> None:
    """PyYAML's own safe_dump writes an alias for a list used twice: such a file loads."""
    text = yaml.safe_dump({"audio": {"inputs": (shared := [1, 2]), "outputs": shared}})
    assert "&id001" in text
    assert parse_config(text, "dumped.yaml").audio.outputs == (1, 2)


def test_too_many_values_are_refused_as_they_are_composed() -> None:
    text = "midi:\n" + "".join(f"  k{i}: {i}\n" for i in range(MAX_NODES))
    problem = only(text)
    assert problem.message.startswith(f"YAML error: found more than {MAX_NODES:,} values")
    assert problem.line is not None and problem.line < MAX_NODES // 2 + 2


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1000])
def test_nesting_beyond_the_limit_is_refused(depth: int) -> None:
    problem = only("audio: " + "[" * depth + "]" * depth + "\n")
    assert problem.line == 1
    assert problem.message.startswith("YAML")
    assert "nest" in problem.message  # ours up to libyaml's limit of 1000, then libyaml's


def test_nesting_through_aliases_is_refused() -> None:
    """Each alias wraps the last: the text is shallow, the values it builds are not."""
    rows = ["a0: &a0 " + "[" * 20 + "]" * 20]
    rows += [f"a{i}: &a{i} [[[*a{i - 1}]]]" for i in range(1, 6)]
    problem = only("\n".join(rows) + "\n")
    assert f"found lists or mappings nested over {MAX_DEPTH} deep" in problem.message


@pytest.mark.parametrize(
    "value",
    ["!!python/object:os.system x", "!foo bar", "!!str 48000", "! 48000", "!!int 48000"],
)
def test_every_explicit_tag_is_refused(value: str) -> None:
    problem = only(f"audio:\n  sample_rate: {value}\n")
    assert problem.line == 2
    assert (
        "found the tag" in problem.message and "allowed: plain values, no tags" in problem.message
    )


def test_a_tag_on_a_mapping_is_refused() -> None:
    assert "found the tag '!!map'" in only("audio: !!map {sample_rate: 48000}\n").message


@pytest.mark.parametrize(
    "number",
    ["9" * 5000, "-" + "1" * (MAX_DIGITS + 1), "0." + "3" * MAX_DIGITS, "1" * 31 + ".0e+5"],
)
def test_a_number_with_too_many_digits_is_refused_before_it_is_converted(number: str) -> None:
    problem = only(f"master:\n  volume: {number}\n")
    assert problem.line == 2
    assert f"allowed: at most {MAX_DIGITS}" in problem.message


def test_a_key_with_too_many_digits_is_refused() -> None:
    assert "found a number of 5000 digits" in only("? " + "9" * 5000 + "\n: 1\n").message


def test_thirty_digits_are_read() -> None:
    problem = only(f"tracks:\n  count: {'1' * MAX_DIGITS}\n")
    assert problem.path == "tracks.count" and "an integer from 1 to 64" in problem.message


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", ".NaN", "1.0e+999"])
def test_non_finite_numbers_are_refused(value: str) -> None:
    problem = only(f"pedals:\n  - {{cc: 11, action: track_volume, track: 1, value: {value}}}\n")
    assert problem.line == 2
    assert problem.message == f"YAML error: found {value}; allowed: a finite number"


def test_more_bindings_than_messages_and_gestures_are_refused_at_once() -> None:
    text = "pedals:\n" + "".join(f"  - {{nope: {i}}}\n" for i in range(MAX_PEDALS + 1))
    problem = only(text)
    assert problem.path == "pedals"
    assert f"found {MAX_PEDALS + 1} bindings; allowed: at most {MAX_PEDALS}" in problem.message


def test_thousands_of_mistakes_show_the_first_hundred_and_how_many_more(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "wrong.yaml"
    path.write_text("pedals:\n" + "".join(f"  - {{nope: {i}}}\n" for i in range(1000)))
    lines = refused(path, capsys).splitlines()
    assert len(lines) == 1 + SHOWN_PROBLEMS + 1
    assert lines[-1] == f"... and {2000 - SHOWN_PROBLEMS} more (is this the right file?)"


# ---- shapes the schema must answer ---------------------------------------------------------

SHAPES: list[Any] = [None, True, -1, 10**20, 1.5, "x", "", [], [[1]], ["a"], {}, {"a": 1}]


def stage_config() -> dict[str, Any]:
    """The shipped pedalboard, with the keys it leaves out: a light and a routing entry."""
    data: dict[str, Any] = yaml.safe_load(SHIPPED.read_text())
    light = {"note": 70, "channel": 1, "values": {"playing": 127}, "blink": True}
    data["pedals"].append({"note": 70, "action": "play", "track": 1, "feedback": light})
    data["tracks"]["routing"] = [{"inputs": [1], "outputs": [1]}]
    return data


def places(value: Any, at: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """Every key, section and list item of the data, as a path."""
    yield at
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, inner in items:
        yield from places(inner, (*at, key))


def with_value(data: dict[str, Any], at: tuple[str | int, ...], value: Any) -> Any:
    if not at:
        return value
    changed = copy.deepcopy(data)
    holder = changed
    for key in at[:-1]:
        holder = holder[key]
    holder[at[-1]] = value
    return changed


def test_every_key_answers_every_wrong_shape_with_a_config_error() -> None:
    """`feedback: {values: 127}` raised a TypeError through pydantic: no key may do that."""
    data = stage_config()
    tried = 0
    for at in places(data):
        for shape in SHAPES:
            text = yaml.dump(with_value(data, at, shape), Dumper=yaml.CSafeDumper)
            try:
                parse_config(text, "fuzz.yaml")
            except ConfigError as error:
                assert all(p.file == "fuzz.yaml" for p in error.problems)
            tried += 1
    assert tried > 1000


def test_a_light_whose_values_are_not_a_mapping_is_a_config_error() -> None:
    problem = only(
        "pedals:\n  - {note: 60, action: record, track: 1, feedback: {note: 60, values: 127}}\n"
    )
    assert problem.path == "pedals[0].feedback.values"
    assert problem.message == "found 127; allowed: a mapping of track states to 0-127"


def test_a_channel_list_longer_than_the_channels_is_refused_before_each_is_checked() -> None:
    problem = only("audio:\n  inputs: [" + ", ".join(["1"] * 5000) + "]\n")
    assert problem.path == "audio.inputs" and "at most 64 channels (5000 given)" in problem.message


# ---- configs that cannot run ---------------------------------------------------------------


def latency_config(latency_ms: float | str, bpm: float | str, beats: int, xfade: float) -> str:
    return (
        f"audio: {{sample_rate: 8000, latency_ms: {latency_ms}, history_seconds: 10}}\n"
        f"clicktrack: {{bpm: {bpm}, beats_per_bar: {beats}}}\n"
        f"tracks: {{crossfade_ms: {xfade}, memory_seconds: 60}}\n"
    )


def test_a_latency_longer_than_a_bar_is_refused_saying_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "slow.yaml"
    path.write_text(latency_config(600, 300, 1, 10))  # a bar of 200 ms
    err = refused(path, capsys)
    assert f"{path}:1: audio.latency_ms: found 600: with tracks.crossfade_ms (10)" in err
    assert "a bar (200 ms at 300 bpm)" in err
    assert "a loop's history is read one latency late" in err


def test_with_bpm_auto_any_latency_fits_the_slowest_tempo() -> None:
    """At 20 bpm a bar is 3 s or more: longer than the longest latency and crossfade allowed;
    a first loop at a tempo too fast for the latency is the engine's to refuse, on stage."""
    parse_config(latency_config(1000, "auto", 1, 100), "t.yaml")


def test_an_auto_latency_is_left_to_the_card() -> None:
    parse_config(latency_config("auto", 300, 1, 100), "t.yaml")


@pytest.mark.parametrize(
    ("latency_ms", "xfade_ms"), [(150, 49), (150, 50), (199, 0), (200, 0), (0, 100)]
)
def test_check_and_engine_agree_on_which_latency_fits_a_bar(
    latency_ms: float, xfade_ms: float
) -> None:
    """One rule (core.settings.latency_fits) for both: check passes what the engine starts."""
    text = latency_config(latency_ms, 300, 1, xfade_ms)  # a bar of 1600 frames at 8 kHz
    starts = True
    try:
        settings = engine_settings(
            parse_config(latency_config(0, 300, 1, 0), "t.yaml"),
            round(latency_ms * 8),
            crossfade_frames=round(xfade_ms * 8),
        )
        Engine(settings)
    except ValueError:
        starts = False
    try:
        parse_config(text, "t.yaml")
        checked = True
    except ConfigError:
        checked = False
    assert checked == starts
    assert starts == (latency_ms + xfade_ms < 200)


def test_loop_memory_beyond_the_machine_is_refused_saying_how_much(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text(
        "audio: {sample_rate: 384000, inputs: [1, 2, 3, 4, 5, 6, 7, 8], history_seconds: 3600}\n"
        "tracks: {memory_seconds: 7200}\n"
    )
    err = refused(path, capsys)
    assert f"{path}:2: tracks.memory_seconds: found 7200" in err
    assert "the loops need 132.7 GB of memory and this machine has" in err
    assert "available (MemAvailable)" in err


def test_the_memory_counted_is_what_the_engine_allocates() -> None:
    config = parse_config(latency_config(0, 120, 4, 10), "t.yaml")
    settings = engine_settings(config, 0)
    engine = Engine(settings)
    allocated = engine.pool.flat.base.nbytes + sum(track.table.nbytes for track in engine.tracks)
    assert rules.loop_memory_bytes(settings) == allocated


def test_the_machine_is_asked_through_proc_meminfo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:  4000 kB\nMemFree:  3000 kB\nMemAvailable:  2000 kB\n")
    monkeypatch.setattr(rules, "MEMINFO", meminfo)
    assert rules.available_memory() == 2000 * 1024
    problem = only(latency_config(0, 120, 4, 10))
    assert "the loops need 5 MB of memory and this machine has 2 MB available" in problem.message
    monkeypatch.setattr(rules, "MEMINFO", tmp_path / "missing")  # not Linux: no check
    assert rules.available_memory() is None
    parse_config(latency_config(0, 120, 4, 10), "t.yaml")
