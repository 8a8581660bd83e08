"""`looper learn`: the steps, conflicts and the YAML edit without MIDI (the command on a
dummy JACK server, the harness's pedal stomping at its prompts: tests/live/test_learn_live.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from looper.config import load_config, parse_config
from looper.config.edit import with_items
from looper.midi.keepers import PortState
from looper.tools.learn import (
    Board,
    Input,
    LearnError,
    Step,
    Stomp,
    Switch,
    pressed,
    steps,
    walk,
    write,
)

PEDALBOARD = Path(__file__).resolve().parents[2] / "configs" / "pedalboard.yaml"


def line_of(text: str, part: str) -> int:
    """The line (from 1) of the first line of `text` containing `part`."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if part in line)


def kept_in_order(old: str, new: str) -> bool:
    """Whether every line of `old` is in `new`, in the same order."""
    remaining = iter(new.splitlines())
    return all(line in remaining for line in old.splitlines())


# -- pure: steps, presses, conflicts ------------------------------------------------------------


def test_the_default_steps_ask_each_track_then_the_board() -> None:
    per_track = ["backloop", "record", "overdub", "undo"]
    expected = [
        Step(action, "hold" if action == "undo" else "press", track)
        for track in (1, 2)
        for action in per_track
    ]
    expected += [Step("reset", "hold", "all"), Step("tap_tempo", "press")]
    assert steps(2) == expected
    assert [str(step) for step in steps(1)] == [
        "backloop track 1 (press)",
        "record track 1 (press)",
        "overdub track 1 (press)",
        "undo track 1 (hold)",
        "reset all tracks (hold)",
        "tap_tempo (press)",
    ]
    assert steps(1)[0].prompt == (
        "Stomp the switch for: backloop track 1 (press) — or press Enter to skip"
    )


def test_actions_and_tracks_choose_a_subset() -> None:
    assert steps(4, "undo,backloop", "3,1") == [
        Step("undo", "hold", 3),
        Step("backloop", "press", 3),
        Step("undo", "hold", 1),
        Step("backloop", "press", 1),
    ]
    assert steps(4, "tap_tempo,mute", "2") == [Step("mute", "press", 2), Step("tap_tempo", "press")]
    with pytest.raises(LearnError, match=r"--actions: found 'bakloop'; allowed: backloop, "):
        steps(4, "bakloop")
    with pytest.raises(LearnError, match="found 'tempo'"):  # needs a value: not one stomp
        steps(4, "tempo")
    with pytest.raises(
        LearnError, match=r"--tracks: found '5'; allowed: track numbers from 1 to 4"
    ):
        steps(4, tracks="1,5")


def test_a_press_is_a_note_on_a_cc_from_64_or_a_program_change() -> None:
    assert pressed([0x90, 70, 100], None) == Switch("note", 70)
    assert pressed([0x90, 70, 0], None) is None  # a note-on at velocity 0 is a release
    assert pressed([0x80, 70, 0], None) is None
    assert pressed([0xB0, 64, 64], None) == Switch("cc", 64)
    assert pressed([0xB0, 64, 63], None) is None
    assert pressed([0xC0, 5], None) == Switch("program", 5)
    assert pressed([0x91, 70, 100], 2) == Switch("note", 70)  # channels count from 1
    assert pressed([0x90, 70, 100], 2) is None
    assert pressed([0xF8], None) is None  # clock
    assert pressed([0x90, 70], None) is None  # garbage


def pedalboard() -> tuple[Board, str]:
    text = PEDALBOARD.read_text()
    return Board(load_config(PEDALBOARD), text), text


def test_conflicts_with_the_pedalboard_name_the_binding_and_its_line() -> None:
    board, text = pedalboard()
    backloop = line_of(text, "- {note: 60, action: backloop, track: 1}")
    reset = line_of(text, "- {note: 60, gesture: hold, action: reset, track: all}")
    volume = line_of(text, "- {cc: 11, action: track_volume, track: 1}")
    assert board.conflict(Switch("note", 60), "press") == (
        f"note 60 press is already bound to backloop track 1 at line {backloop}; skipped"
    )
    assert board.conflict(Switch("note", 60), "hold") == (
        f"note 60 hold is already bound to reset all tracks at line {reset}; skipped"
    )
    assert board.conflict(Switch("note", 60), "release") is None  # another gesture: free
    assert board.conflict(Switch("note", 64), "press") is None  # only in a comment
    assert board.conflict(Switch("cc", 11), "hold") == (
        f"cc 11 is already the expression pedal for track_volume track 1 at line {volume}; skipped"
    )
    assert board.conflict(Switch("program", 3), "hold") == (
        "program 3 cannot hold: a program change has no release; skipped"
    )


def test_a_switch_learned_earlier_in_the_session_is_a_conflict_too() -> None:
    board, _ = pedalboard()
    board.learn(Step("undo", "hold", 1), Switch("note", 70))
    assert board.conflict(Switch("note", 70), "hold") == (
        "note 70 hold is already bound to undo track 1 earlier in this session; skipped"
    )
    assert board.conflict(Switch("note", 70), "press") is None
    assert board.items() == ["{note: 70, gesture: hold, action: undo, track: 1}"]


# -- pure: the YAML edit --------------------------------------------------------------------------

NEW = [
    "{note: 70, action: backloop, track: 1}",
    "{note: 71, gesture: hold, action: reset, track: all}",
    "{program: 7, action: tap_tempo}",
]


def test_new_bindings_go_at_the_end_of_pedals_and_every_line_stays(tmp_path: Path) -> None:
    path = tmp_path / "pedalboard.yaml"
    shutil.copy(PEDALBOARD, path)
    write(path, NEW)
    old, new = PEDALBOARD.read_text(), path.read_text()
    comments = [line for line in old.splitlines() if "#" in line]
    assert len(comments) > 40
    assert kept_in_order("\n".join(comments), new)
    assert kept_in_order(old, new)
    assert new == old + "".join(f"  - {item}\n" for item in NEW)  # after the commented examples
    pedals = load_config(path).pedals
    assert len(pedals) == len(load_config(PEDALBOARD).pedals) + 3
    assert [(p.note, p.program, p.gesture, p.action, p.track) for p in pedals[-3:]] == [
        (70, None, "press", "backloop", 1),
        (71, None, "hold", "reset", "all"),
        (None, 7, "press", "tap_tempo", None),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "pedals:\n  - {note: 70, action: backloop, track: 1}\n"),
        (
            "tracks: {count: 2}",
            "tracks: {count: 2}\npedals:\n  - {note: 70, action: backloop, track: 1}\n",
        ),
        ("pedals:\n", "pedals:\n  - {note: 70, action: backloop, track: 1}\n"),
        (
            "pedals: []  # none yet\nmidi: {}\n",
            "pedals:  # none yet\n  - {note: 70, action: backloop, track: 1}\nmidi: {}\n",
        ),
        (  # an indentless list: the comment at its column heads the next key
            "pedals:\n- {note: 60, action: play, track: 1}\n# MIDI\nmidi: {}\n",
            "pedals:\n- {note: 60, action: play, track: 1}\n- {note: 70, action: backloop, "
            "track: 1}\n# MIDI\nmidi: {}\n",
        ),
        (  # a block mapping item, its comments, then blank lines and a top-level comment
            "pedals:\n  - note: 60\n    # the first switch\n    action: play\n    track: 1\n"
            "\n# end\n",
            "pedals:\n  - note: 60\n    # the first switch\n    action: play\n    track: 1\n"
            "  - {note: 70, action: backloop, track: 1}\n\n# end\n",
        ),
    ],
)
def test_a_missing_or_empty_pedals_list_is_made_and_others_appended_to(
    text: str, expected: str
) -> None:
    assert with_items(text, NEW[:1]) == expected
    assert parse_config(expected, "learn.yaml").pedals[-1].note == 70


def test_a_flow_list_is_refused_and_a_bad_result_put_back(tmp_path: Path) -> None:
    path = tmp_path / "pedalboard.yaml"
    path.write_text("tracks: {count: 2}\npedals: [{note: 60, action: play, track: 1}]\n")
    before = path.read_bytes()
    with pytest.raises(LearnError, match=r"pedalboard.yaml:2: pedals: found a \[...\] list; "):
        write(path, NEW[:1])
    assert path.read_bytes() == before
    path.write_text("# two tracks\ntracks:\n  count: 2\npedals:\n")
    before = path.read_bytes()
    with pytest.raises(LearnError, match=r"back as it was:\n.*pedals\[0\]\.track: found 9"):
        write(path, ["{note: 70, action: backloop, track: 9}"])
    assert path.read_bytes() == before


def test_a_windows_file_keeps_its_line_ends(tmp_path: Path) -> None:
    path = tmp_path / "pedalboard.yaml"
    before = b"# crlf\r\npedals:\r\n  - {note: 60, action: tap_tempo}  # tap\r\n"
    path.write_bytes(before)
    write(path, NEW[:1])
    assert path.read_bytes() == before + b"  - {note: 70, action: backloop, track: 1}\r\n"


# -- pure: the questions, with scripted inputs ----------------------------------------------------


class Script:
    """Inputs for `walk`, given in advance."""

    def __init__(self, *inputs: Input) -> None:
        self.inputs = list(inputs)

    def get(self) -> Input:
        return self.inputs.pop(0)


def test_walk_asks_each_step_learns_skips_and_reports() -> None:
    board, text = pedalboard()
    script = Script(
        PortState(False, "MIDI: no input port matches 'fs'; waiting"),
        "",  # answers nothing: no question asked yet
        PortState(True, "MIDI: listening to 'fs' (JACK)"),
        Stomp(Switch("note", 70), 10.0),
        Stomp(Switch("note", 70), 10.01),  # contact bounce: within debounce_ms
        Stomp(Switch("note", 70), 11.0),
        "",
        Stomp(Switch("note", 60), 12.0),
        None,
    )
    asked = [Step("backloop", "press", 1), Step("backloop", "press", 2), Step("undo", "hold", 1)]
    asked += [Step("backloop", "press", 1), Step("record", "press", 1)]
    said = list(walk(asked, board, script, debounce_ms=30))
    line = line_of(text, "- {note: 60, action: backloop, track: 1}")
    assert said == [
        "MIDI: no input port matches 'fs'; waiting",
        "MIDI: listening to 'fs' (JACK)",
        asked[0].prompt,
        "note 70 -> backloop track 1 (press)",
        asked[1].prompt,
        "note 70 press is already bound to backloop track 1 earlier in this session; skipped",
        asked[2].prompt,
        "skipped undo track 1 (hold)",
        asked[3].prompt,
        f"note 60 press is already bound to backloop track 1 at line {line}; skipped",
        asked[4].prompt,
        "the terminal closed: the remaining steps are skipped",
    ]
    assert board.items() == ["{note: 70, action: backloop, track: 1}"]


def test_walk_asks_again_when_the_port_comes_back() -> None:
    board, _ = pedalboard()
    gone = PortState(False, "MIDI: 'fs' is gone; loops keep playing; waiting for it to come back")
    back = PortState(True, "MIDI: listening to 'fs' (JACK)")
    script = Script(back, gone, back, Stomp(Switch("cc", 20), 1.0))
    step = Step("tap_tempo", "press")
    assert list(walk([step], board, script, debounce_ms=30)) == [
        back.text,
        step.prompt,
        gone.text,
        back.text,
        step.prompt,
        "cc 20 -> tap_tempo (press)",
    ]
