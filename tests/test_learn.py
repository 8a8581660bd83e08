"""`looper learn`: the steps, conflicts and the YAML edit without MIDI, then the command
on a real dummy JACK server, the harness's pedal stomping at its prompts.

rtmidi's JACK client never runs in the test process (see test_midi_live.py): the
command runs as a subprocess with its stdin a pipe. Nothing here asserts how fast
anything runs; waiting for a line only gives up after TIMEOUT.
"""

from __future__ import annotations

import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING

import pytest

from looper.config import load_config, parse_config
from looper.learn import (
    Board,
    Input,
    LearnError,
    Step,
    Stomp,
    Switch,
    pressed,
    steps,
    walk,
    with_items,
    write,
)
from looper.midi import PortState

if TYPE_CHECKING:
    from looper.harness import Harness
    from looper.jackserver import JackServer

TIMEOUT = 30.0  # seconds for a line to appear; generous for a loaded 2-core machine
PEDALBOARD = Path(__file__).parent.parent / "configs" / "pedalboard.yaml"


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


# -- the command on a dummy JACK server ------------------------------------------------------------

LIVE = """\
# looper learn, live: the harness is the footswitch.
midi:
  backend: jack
  input: "harness:pedal"    # the harness's MIDI port
tracks:
  count: 2                  # two loop tracks

pedals:
  # Switch 1.
  - {note: 60, action: backloop, track: 1}

  # Switch 2: a full-line comment ruamel.yaml's round trip drops.
  - {note: 61, action: play, track: 2}      # with a comment of its own
  # More, later:
  # - {note: 62, action: stop, track: 2}
"""

# `python -m looper`, with Ctrl-C raising KeyboardInterrupt even when pytest was started as
# a shell's background job: such jobs inherit SIGINT ignored, and Python then keeps it so.
LOOPER_WITH_CTRL_C = [
    sys.executable,
    "-c",
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from looper.cli import main; sys.exit(main())",
]


class Learn:
    """`looper learn` in a subprocess: stdin a pipe, stdout read line by line as it comes."""

    def __init__(self, server: JackServer, config: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [*LOOPER_WITH_CTRL_C, "learn", "--config", str(config), *args],
            env=server.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        assert self.proc.stdout is not None and self.proc.stderr is not None
        for stream, kept in ((self.proc.stdout, self.stdout), (self.proc.stderr, self.stderr)):
            threading.Thread(target=self._read, args=(stream, kept), daemon=True).start()

    def _read(self, stream: IO[str], kept: list[str]) -> None:
        for line in stream:
            kept.append(line)
            if stream is self.proc.stdout:
                self.lines.put(line.rstrip("\n"))

    def wait_for(self, text: str) -> None:
        """Read stdout up to the first line containing `text`."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            try:
                if text in self.lines.get(timeout=0.1):
                    return
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    break
        self.stop()
        raise AssertionError(
            f"looper learn never printed {text!r}; stdout:\n{''.join(self.stdout)}"
            f"stderr:\n{''.join(self.stderr)}"
        )

    def finish(self) -> int:
        """Close stdin and wait for the exit status."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            return self.proc.wait(timeout=TIMEOUT)
        finally:
            self.stop()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def board_file(tmp_path: Path) -> Path:
    path = tmp_path / "pedalboard.yaml"
    path.write_text(LIVE)
    return path


def stomp(harness: Harness, note: int) -> None:
    harness.stomp(note, harness.frame_after(0.05))


def test_learn_writes_the_stomped_switches_then_reports_one_already_bound(
    harness: Harness, board_file: Path
) -> None:
    learn = Learn(harness.server, board_file, "--actions", "backloop", "--tracks", "1,2")
    learn.wait_for("MIDI: listening to 'harness:pedal' (JACK)")
    learn.wait_for("Stomp the switch for: backloop track 1 (press) — or press Enter to skip")
    stomp(harness, 70)
    learn.wait_for("note 70 -> backloop track 1 (press)")
    learn.wait_for("Stomp the switch for: backloop track 2 (press)")
    stomp(harness, 71)
    learn.wait_for("note 71 -> backloop track 2 (press)")
    learn.wait_for(f"wrote 2 binding(s) to {board_file}")
    assert learn.finish() == 0, learn.stderr

    written = board_file.read_text()
    assert kept_in_order(LIVE, written)
    assert written.endswith(
        "  # - {note: 62, action: stop, track: 2}\n"
        "  - {note: 70, action: backloop, track: 1}\n"
        "  - {note: 71, action: backloop, track: 2}\n"
    )
    pedals = load_config(board_file).pedals
    assert [(p.note, p.action, p.track) for p in pedals[-2:]] == [
        (70, "backloop", 1),
        (71, "backloop", 2),
    ]

    again = Learn(harness.server, board_file, "--actions", "backloop", "--tracks", "2")
    again.wait_for("Stomp the switch for: backloop track 2 (press)")
    stomp(harness, 70)
    line = line_of(written, "{note: 70, action: backloop, track: 1}")
    again.wait_for(f"note 70 press is already bound to backloop track 1 at line {line}; skipped")
    again.wait_for(f"nothing learned: {board_file} unchanged")
    assert again.finish() == 0, again.stderr
    assert board_file.read_text() == written


def test_print_leaves_the_file_alone_and_ctrl_c_writes_nothing(
    harness: Harness, board_file: Path
) -> None:
    learn = Learn(
        harness.server, board_file, "--actions", "backloop,undo", "--tracks", "2", "--print"
    )
    learn.wait_for("Stomp the switch for: backloop track 2 (press)")
    stomp(harness, 72)
    learn.wait_for("Stomp the switch for: undo track 2 (hold)")
    stomp(harness, 73)  # a tap is enough: learn takes the press, the binding says hold
    learn.wait_for(f"for the pedals list of {board_file} (not written):")
    learn.wait_for("pedals:")
    learn.wait_for("  - {note: 72, action: backloop, track: 2}")
    learn.wait_for("  - {note: 73, gesture: hold, action: undo, track: 2}")
    assert learn.finish() == 0, learn.stderr
    assert board_file.read_text() == LIVE

    interrupted = Learn(harness.server, board_file, "--actions", "backloop")
    interrupted.wait_for("Stomp the switch for: backloop track 1 (press)")
    stomp(harness, 74)
    interrupted.wait_for("Stomp the switch for: backloop track 2 (press)")
    interrupted.proc.send_signal(signal.SIGINT)
    interrupted.wait_for(f"interrupted: nothing written to {board_file}")
    assert interrupted.finish() == 0, interrupted.stderr
    assert "Traceback" not in "".join(interrupted.stderr)
    assert board_file.read_text() == LIVE
