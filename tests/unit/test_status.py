"""The stage display and the log line: what they show, and when a log line is due."""

from __future__ import annotations

import dataclasses
import io

import pytest
from rich.console import Console
from rich.text import Text

from looper.live.screen import changes, line, screen, summary
from looper.live.status import Status, TrackStatus


def track(number: int, state: str = "empty", **kw: object) -> TrackStatus:
    """A track, empty unless told otherwise."""
    fields: dict[str, object] = {
        "bars": 0,
        "level": 0.0,
        "pending": None,
        "volume": 1.0,
        "layers": 0,
    }
    fields.update(kw)
    return TrackStatus(number=number, state=state, **fields)  # type: ignore[arg-type]


def status(**kw: object) -> Status:
    """Bar 12, beat 3 at 120 bpm with four tracks, one of each kind that matters."""
    fields: dict[str, object] = {
        "frame": 12 * 96000 + 48000,
        "sample_rate": 48000,
        "bpm": 120.0,
        "beats_per_bar": 4,
        "bar": 12,
        "beat": 3,
        "tracks": (
            track(1, "playing", bars=2, level=0.5, pending="stop", volume=0.8, layers=1),
            track(2, "empty"),
            track(3, "recording", level=1.0),
            track(4, "overdubbing", bars=4, level=0.25, layers=3),
        ),
        "xruns": 0,
        "load": 0.03,
        "load_max": 0.09,
        "latency_ms": 5.33,
        "block": 256,
        "midi": "MIDI: FS-1 connected",
        "messages": ("track 4: overdub on",),
    }
    fields.update(kw)
    return Status(**fields)  # type: ignore[arg-type]


def render(s: Status) -> str:
    """``screen(s)`` as the plain text a 100-column terminal would show."""
    console = Console(record=True, width=100, file=io.StringIO())
    console.print(screen(s))
    return console.export_text()


def row_of(text: str, number: int) -> str:
    """The screen line of track ``number``."""
    return next(row for row in text.splitlines() if row.startswith(f"{number}  "))


def styles_at(s: Status, word: str) -> set[str]:
    """The styles ``screen(s)`` gives the first occurrence of ``word``."""
    rendered = screen(s)
    assert isinstance(rendered, Text)
    start = rendered.plain.index(word)
    return {
        str(span.style)
        for span in rendered.spans
        if span.start <= start and span.end >= start + len(word)
    }


def test_bar_and_beat_in_block_digits() -> None:
    expected = [
        "  █   █████      █████",
        " ██       █          █",
        "  █   █████       ████",
        "  █   █              █",
        " ███  █████  ██  █████",
    ]
    rows = render(status(bar=12, beat=3)).splitlines()[:5]
    assert [row[: len(e)] for row, e in zip(rows, expected, strict=True)] == expected


@pytest.mark.parametrize(
    ("beat", "pips"),
    [(1, "●  ○  ○  ○"), (3, "○  ○  ●  ○"), (4, "○  ○  ○  ●")],
)
def test_pips_follow_the_beat(beat: int, pips: str) -> None:
    assert pips in render(status(beat=beat)).splitlines()


def test_the_downbeat_is_highlighted() -> None:
    assert "bold bright_yellow" in styles_at(status(beat=1), "●")
    assert "bold bright_yellow" not in styles_at(status(beat=2), "●")


def test_tempo_midi_and_engine_figures() -> None:
    text = render(status(bpm=123.456789, latency_ms=5.33))
    for expected in (
        "123.46 bpm, 4 beats a bar",
        "MIDI: FS-1 connected",
        "xruns 0",
        "load 3% / 9% of a block",
        "latency 5.3 ms, block 256 (5.3 ms)",
    ):
        assert expected in text


@pytest.mark.parametrize(
    ("number", "state", "bars"),
    [(1, "playing", "2"), (2, "empty", ""), (3, "recording", ""), (4, "overdubbing", "4")],
)
def test_one_row_per_track(number: int, state: str, bars: str) -> None:
    cells = row_of(render(status()), number).split()
    assert cells[1] == state
    assert (cells[2] == bars) if bars else not cells[2].isdigit()


def test_track_row_shows_volume_layers_and_pending() -> None:
    row = row_of(render(status()), 1)
    assert "80%" in row
    assert row.split()[5] == "1"
    assert row.endswith("→ stop at next bar")


@pytest.mark.parametrize(
    ("pending", "shown"),
    [("capture", "→ loop at next bar"), ("dub_off", "→ end overdub at next bar"), ("x", "→ x")],
)
def test_pending_actions_in_words(pending: str, shown: str) -> None:
    s = status(tracks=(track(1, "waiting", pending=pending),))
    assert shown in row_of(render(s), 1)


@pytest.mark.parametrize(
    ("level", "cells"),
    [(0.0, 0), (0.25, 5), (0.5, 10), (1.0, 20), (3.0, 20), (-1.0, 0), (float("nan"), 0)],
)
def test_level_meter_is_proportional(level: float, cells: int) -> None:
    s = status(tracks=(track(1, "playing", bars=1, level=level),))
    row = row_of(render(s), 1)
    assert row.count("█") == cells
    assert row.count("█") + row.count("·") == 20


@pytest.mark.parametrize(("level", "red"), [(0.99, False), (1.0, True), (1.5, True)])
def test_level_meter_ends_red_when_clipping(level: float, red: bool) -> None:
    rendered = screen(status(tracks=(track(1, "playing", level=level),)))
    assert isinstance(rendered, Text)
    red_cells = [
        rendered.plain[span.start : span.end] for span in rendered.spans if span.style == "bold red"
    ]
    assert red_cells == (["█"] if red else [])


@pytest.mark.parametrize(
    ("state", "style"),
    [
        ("recording", "bold red"),
        ("overdubbing", "bold magenta"),
        ("playing", "bold green"),
        ("waiting", "bold yellow blink"),
        ("muted", "dim"),
        ("stopped", "blue"),
        ("empty", "grey50"),
    ],
)
def test_states_are_coloured(state: str, style: str) -> None:
    assert style in styles_at(status(tracks=(track(1, state),)), state)


@pytest.mark.parametrize(("xruns", "red"), [(0, False), (3, True)])
def test_xruns_are_red_when_any(xruns: int, red: bool) -> None:
    s = status(xruns=xruns)
    assert f"xruns {xruns}" in render(s)
    assert ("bold red" in styles_at(s, "xruns")) is red


@pytest.mark.parametrize(("load", "red"), [(0.5, False), (0.51, True)])
def test_load_is_red_over_half_the_period(load: float, red: bool) -> None:
    assert ("bold red" in styles_at(status(load=load), "load")) is red


def test_last_messages_oldest_first() -> None:
    messages = tuple(f"message {i}" for i in range(1, 8))
    rows = render(status(messages=messages)).splitlines()
    shown = [row for row in rows if row.startswith("message")]
    assert shown == ["message 4", "message 5", "message 6", "message 7"]


def test_messages_are_not_markup() -> None:
    assert "[bold]track 1[/bold]" in render(status(messages=("[bold]track 1[/bold]",)))


def test_line() -> None:
    s = status(xruns=2, messages=("track 3: recording", "track 4: overdub on"))
    assert line(s) == (
        "bar 12.3 | 120.00 bpm | 1:playing 2b -> stop | 2:empty | 3:recording"
        " | 4:overdubbing 4b | xruns 2 | load 3%/9% | MIDI: FS-1 connected"
    )


def test_line_leaves_messages_out() -> None:
    assert "overdub on" not in line(status())


def test_the_first_status_is_a_change() -> None:
    assert changes(None, status())


def retrack(number: int, **kw: object) -> tuple[TrackStatus, ...]:
    """The default tracks, with track ``number`` changed."""
    return tuple(
        dataclasses.replace(t, **kw) if t.number == number else t  # type: ignore[arg-type]
        for t in status().tracks
    )


@pytest.mark.parametrize(
    "change",
    [
        {"bar": 13, "beat": 1},
        {"bpm": 100.0},
        {"beats_per_bar": 3},
        {"tracks": retrack(2, state="recording")},
        {"tracks": retrack(1, pending=None)},
        {"tracks": retrack(4, bars=8)},
        {"tracks": retrack(4, layers=2)},
        {"tracks": status().tracks[:3]},
        {"xruns": 1},
        {"midi": "MIDI: FS-1 gone"},
        {"messages": ("track 4: overdub on", "track 1: stopped")},
    ],
    ids=lambda change: ",".join(change),
)
def test_what_a_person_cares_about_is_a_change(change: dict[str, object]) -> None:
    assert changes(status(), status(**change))


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"beat": 4, "frame": 12 * 96000 + 72000},
        {"tracks": retrack(1, level=0.9)},
        {"tracks": retrack(1, volume=0.3)},
        {"load": 0.4, "load_max": 0.6},
    ],
    ids=lambda change: ",".join(change) or "same",
)
def test_fluctuations_are_not_a_change(change: dict[str, object]) -> None:
    assert not changes(status(), status(**change))


METERED = {
    "input_channels": (3, 4),
    "input_levels": (0.5, 0.0),
    "output_levels": (0.75, 1.0),
    "clips": 0,
}


def test_the_input_and_output_meters_show_beside_the_counter() -> None:
    text = render(status(**METERED))
    inputs = next(row for row in text.splitlines() if "in  3 " in row)
    outputs = next(row for row in text.splitlines() if "out 1 " in row)
    assert inputs.split("in  ")[1].rstrip() == "3 ████····  4 ········"  # as audio.inputs says
    assert outputs.split("out ")[1].rstrip() == "1 ██████··  2 ████████  clips 0"
    assert "bold red" not in styles_at(status(**METERED), "clips")


def test_clips_stand_out_on_the_screen_and_in_the_line_and_summary() -> None:
    s = status(**{**METERED, "clips": 12})
    assert "bold red" in styles_at(s, "clips 12")
    assert " | xruns 0 | clips 12 | " in line(s)
    assert summary(s).endswith("; 12 output samples over full scale before the limiter")
    assert "clips" not in line(status()) and "full scale" not in summary(status())


def test_a_status_without_meters_shows_no_meter_lines() -> None:
    assert "clips" not in render(status())


def test_the_audio_state_stands_out_when_it_is_not_running() -> None:
    gone = "audio: the audio server stopped; the loops are kept; waiting for the audio server"
    s = status(audio=gone)
    assert "bold red" in styles_at(s, gone)
    assert " | audio: the audio server stopped | MIDI" in line(s)
    assert "audio:" not in line(status()) and "audio:" not in render(status())
