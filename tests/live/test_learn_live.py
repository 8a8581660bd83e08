"""Learn, live: on a dummy JACK server (the pure part is tests/unit/test_learn.py)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from live_looper import TIMEOUT, Looper
from test_learn import kept_in_order, line_of

from looper.config import load_config

if TYPE_CHECKING:
    from looper.rig.harness import Harness
    from looper.rig.jackserver import JackServer

pytestmark = pytest.mark.jack

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


@pytest.fixture
def jack_server(jack_server_module: JackServer) -> JackServer:
    """One server for the module: every `looper learn` here closes its JACK client."""
    return jack_server_module


def start_learn(server: JackServer, config: Path, *args: str) -> Looper:
    """`looper learn` with its stdin a pipe (Enter skips a prompt; closing it ends)."""
    return Looper(server, "learn", "--config", str(config), *args, ready=None, stdin=True)


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
    learn = start_learn(harness.server, board_file, "--actions", "backloop", "--tracks", "1,2")
    learn.read_until("MIDI: listening to 'harness:pedal' (JACK)")
    learn.read_until("Stomp the switch for: backloop track 1 (press) — or press Enter to skip")
    stomp(harness, 70)
    learn.read_until("note 70 -> backloop track 1 (press)")
    learn.read_until("Stomp the switch for: backloop track 2 (press)")
    stomp(harness, 71)
    learn.read_until("note 71 -> backloop track 2 (press)")
    learn.read_until(f"wrote 2 binding(s) to {board_file}")
    assert learn.finish(TIMEOUT) == 0, learn.stderr

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

    again = start_learn(harness.server, board_file, "--actions", "backloop", "--tracks", "2")
    again.read_until("Stomp the switch for: backloop track 2 (press)")
    stomp(harness, 70)
    line = line_of(written, "{note: 70, action: backloop, track: 1}")
    again.read_until(f"note 70 press is already bound to backloop track 1 at line {line}; skipped")
    again.read_until(f"nothing learned: {board_file} unchanged")
    assert again.finish(TIMEOUT) == 0, again.stderr
    assert board_file.read_text() == written


def test_print_leaves_the_file_alone_and_ctrl_c_writes_nothing(
    harness: Harness, board_file: Path
) -> None:
    learn = start_learn(
        harness.server, board_file, "--actions", "backloop,undo", "--tracks", "2", "--print"
    )
    learn.read_until("Stomp the switch for: backloop track 2 (press)")
    stomp(harness, 72)
    learn.read_until("Stomp the switch for: undo track 2 (hold)")
    stomp(harness, 73)  # a tap is enough: learn takes the press, the binding says hold
    learn.read_until(f"for the pedals list of {board_file} (not written):")
    learn.read_until("pedals:")
    learn.read_until("  - {note: 72, action: backloop, track: 2}")
    learn.read_until("  - {note: 73, gesture: hold, action: undo, track: 2}")
    assert learn.finish(TIMEOUT) == 0, learn.stderr
    assert board_file.read_text() == LIVE

    interrupted = start_learn(harness.server, board_file, "--actions", "backloop")
    interrupted.read_until("Stomp the switch for: backloop track 1 (press)")
    stomp(harness, 74)
    interrupted.read_until("Stomp the switch for: backloop track 2 (press)")
    interrupted.proc.send_signal(signal.SIGINT)
    interrupted.read_until(f"interrupted: nothing written to {board_file}")
    assert interrupted.finish(TIMEOUT) == 0, interrupted.stderr
    assert "Traceback" not in interrupted.stderr
    assert board_file.read_text() == LIVE
