"""Learn, live: on a dummy JACK server (the pure part is tests/unit/test_learn.py)."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING

import pytest

from looper.config import load_config

if TYPE_CHECKING:
    from looper.rig.harness import Harness
    from looper.rig.jackserver import JackServer
from test_learn import TIMEOUT, kept_in_order, line_of

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
