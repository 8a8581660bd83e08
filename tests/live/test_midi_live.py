"""The MIDI side live: real JACK MIDI from the harness's pedal, no mocks on that path.

* the MIDI process (spawned, as in `looper run`) turns stomps into commands in
  order, and a hold arrives after hold_ms, stamped at the press, with no further
  message needed;
* a pulled cable (the pedal's JACK client closed) is reported, and stomps work
  again once the pedal is back;
* `midi.virtual` opens `looper:midi_in` for the pedal to connect to;
* `looper monitor` prints a line per stomp and stops cleanly on Ctrl-C;
* `looper devices` lists the JACK audio device and the pedal's MIDI port.

rtmidi's JACK client never runs in the test process: the harness's Python
process callback and rtmidi's blocking JACK calls would wait for each other's
GIL. The port-choosing logic is tested without any MIDI system.

Nothing here asserts how fast anything runs, only order and "after hold_ms".
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import mido
import pytest

from looper.config import Config, Pedal, parse_config
from looper.core.commands import Backloop, ClickVolume, Command, Mute, Play, Reset
from looper.midi.backend import BACKENDS
from looper.midi.gestures import Fired
from looper.midi.keepers import PortState
from looper.midi.ports import choose_port, no_match_text, stable_name
from looper.midi.process import Heard, describe, message_text, midi_process, watch

if TYPE_CHECKING:
    from looper.rig.harness import Harness
    from looper.rig.jackserver import JackServer

TIMEOUT = 30.0  # seconds for anything to happen; generous for a loaded 2-core machine
HOLD_MS = 300

PEDALS = f"""
midi:
  backend: jack
  input: PORT
  hold_ms: {HOLD_MS}
pedals:
  - {{note: 60, action: backloop, track: 1}}
  - {{note: 62, action: play, track: 2}}
  - {{note: 64, gesture: hold, action: reset}}
  - {{note: 64, gesture: release, action: mute, track: 1}}
"""


def pedal_config(port: str = "harness:pedal", *, virtual: bool = False) -> str:
    text = PEDALS.replace("PORT", repr(port))
    return text.replace("midi:\n", "midi:\n  virtual: true\n") if virtual else text


# -- pure: port names and words, no MIDI system ------------------------------------------------

ALSA_PORTS = [
    "Midi Through:Midi Through Port-0 14:0",
    "looper:midi_out 128:0",
    "FCB1010:FCB1010 MIDI 1 24:0",
    "nanoKONTROL2:nanoKONTROL2 MIDI 1 28:0",
]


def test_choose_port_by_part_of_the_name_in_any_case() -> None:
    assert choose_port(ALSA_PORTS, "nanokontrol") == 3
    assert choose_port(ALSA_PORTS, "MIDI 1") == 2  # the first of several matches
    assert choose_port(ALSA_PORTS, "through") == 0  # asked for by name: allowed
    assert choose_port(ALSA_PORTS, "behringer") is None


def test_choose_first_port_skips_through_and_own_ports() -> None:
    assert choose_port(ALSA_PORTS, None) == 2
    assert choose_port(["a2j:Midi Through [14] (capture): Midi Through Port-0"], None) is None
    assert choose_port(["looper-01:midi_out", "harness:pedal"], None) == 1
    assert choose_port(["looper:midi_out"], "looper") is None  # never listen to ourselves
    assert choose_port([], None) is None


def test_a_replugged_alsa_port_is_found_by_its_stable_name() -> None:
    assert stable_name("FCB1010:FCB1010 MIDI 1 24:0") == "FCB1010:FCB1010 MIDI 1"
    assert stable_name("harness:pedal") == "harness:pedal"
    replugged = ["Midi Through:Midi Through Port-0 14:0", "FCB1010:FCB1010 MIDI 1 32:0"]
    assert choose_port(replugged, stable_name("FCB1010:FCB1010 MIDI 1 24:0")) == 1


def test_no_match_names_what_was_looked_for_what_exists_and_the_fix() -> None:
    ports = {"ALSA": "not available (no /dev/snd/seq)", "JACK": ["harness:pedal"]}
    text = no_match_text("fcb", ports)
    assert "no input port matches 'fcb'" in text
    assert "ALSA: not available (no /dev/snd/seq); JACK: 'harness:pedal'" in text
    assert "midi.input" in text and "looper devices" in text and "waiting" in text
    text = no_match_text(None, {"JACK": []})
    assert "no footswitch port found" in text and "JACK: no ports" in text
    assert "midi.input" in text


def test_auto_tries_alsa_then_jack() -> None:
    assert BACKENDS == {"auto": ("alsa", "jack"), "alsa": ("alsa",), "jack": ("jack",)}


def test_words_count_tracks_and_channels_from_one() -> None:
    fired = Fired(Backloop(track=0, bars=2), 1.0, "press", "note 60")
    assert describe(fired) == "note 60 press -> backloop track 1 bars 2"
    hold = Fired(Reset(None), 1.0, "hold", "note 64")
    assert describe(hold) == "note 64 hold -> reset all tracks"
    message = mido.Message.from_bytes([0x91, 60, 127])
    assert message_text(message) == "note_on channel 2 note 60 velocity 127"


def impossible_config() -> Config:
    """A program change bound to hold: validation refuses it, so build it around validation."""
    pedal = Pedal.model_construct(program=3, gesture="hold", action="play", track=1)
    return Config.model_construct(pedals=(pedal,))


def test_watch_refuses_impossible_bindings_before_opening_anything() -> None:
    with pytest.raises(ValueError, match="program change"):
        watch(impossible_config(), threading.Event())


# -- the MIDI process on a real JACK server ----------------------------------------------------


class MidiChild:
    """`midi_process` in a spawned child, as `looper run` starts it."""

    def __init__(self, config: Config) -> None:
        ctx = mp.get_context("spawn")
        self.commands: mp.Queue[tuple[Command, float]] = ctx.Queue()
        self.events: mp.Queue[PortState | Heard] = ctx.Queue()
        self.stop = ctx.Event()
        self.heard: list[Heard] = []
        self.process = ctx.Process(
            target=midi_process, args=(config, self.commands, self.events, self.stop), daemon=True
        )
        self.process.start()

    def port_state(self) -> PortState:
        """The next PortState (Heard events on the way are kept in `heard`)."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                event = self.events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no PortState within {TIMEOUT:.0f} s") from None
            if isinstance(event, PortState):
                return event
            self.heard.append(event)

    def command(self) -> tuple[Command, float, float]:
        """The next command: (command, its stamp, when it arrived here)."""
        try:
            command, stamp = self.commands.get(timeout=TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"no command within {TIMEOUT:.0f} s") from None
        return command, stamp, time.monotonic()

    def close(self) -> None:
        self.stop.set()
        self.process.join(TIMEOUT)
        if self.process.is_alive():
            self.process.kill()
            raise AssertionError("the MIDI process did not stop when asked")
        assert self.process.exitcode == 0


@pytest.fixture
def start_midi(
    jack_server: JackServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str], MidiChild]]:
    """Start MIDI processes on `jack_server` (a spawned child inherits os.environ)."""
    for key, value in jack_server.jack_env.items():
        monkeypatch.setenv(key, value)
    children: list[MidiChild] = []

    def start(yaml_text: str) -> MidiChild:
        children.append(MidiChild(parse_config(yaml_text, "pedalboard.yaml")))
        return children[-1]

    yield start
    for child in children:
        child.close()


def test_stomps_become_commands_in_order_and_a_hold_fires_by_itself(
    harness: Harness, start_midi: Callable[[str], MidiChild]
) -> None:
    midi = start_midi(pedal_config())
    assert midi.port_state() == PortState(True, "MIDI: listening to 'harness:pedal' (JACK)")

    at = harness.frame_after(0.2)
    harness.stomp(60, at)
    harness.stomp(62, at + harness.samplerate // 2)
    harness.note_on(61, at + harness.samplerate * 3 // 4)  # bound to nothing
    harness.note_on(64, at + harness.samplerate)  # and no release until the hold is seen
    got = [midi.command() for _ in range(3)]
    assert [c for c, _, _ in got] == [Backloop(0, 2), Play(1), Reset(None)]
    stamps = [stamp for _, stamp, _ in got]
    assert stamps == sorted(stamps)
    _, hold_stamp, hold_arrived = got[2]
    assert hold_arrived - hold_stamp >= HOLD_MS / 1000  # stamped at the press, fired after

    harness.note_off(64, harness.frame_after(0.05))
    command, release_stamp, _ = midi.command()
    assert command == Mute(0)
    assert release_stamp > hold_stamp

    midi.close()  # what it sent before the release is all in the queue now
    events: list[PortState | Heard] = list(midi.heard)
    with contextlib.suppress(queue.Empty):
        while True:
            events.append(midi.events.get(timeout=1.0))
    lines = [(e.message, e.fired) for e in events if isinstance(e, Heard)]
    assert lines[0] == (
        "note_on channel 1 note 60 velocity 127",
        ("note 60 press -> backloop track 1 bars 2",),
    )
    assert ("note_on channel 1 note 61 velocity 127", ()) in lines
    assert ("", ("note 64 hold -> reset all tracks",)) in lines


def test_a_pulled_cable_is_reported_and_the_pedal_works_again_when_back(
    jack_server: JackServer, start_midi: Callable[[str], MidiChild]
) -> None:
    from looper.rig.harness import Harness

    pedal = Harness(jack_server)
    try:
        midi = start_midi(pedal_config())
        assert midi.port_state().connected
        pedal.stomp(60, pedal.frame_after(0.1))
        assert midi.command()[0] == Backloop(0, 2)

        pedal.close()  # the pedal's client and port vanish, as when its USB cable is pulled
        gone = midi.port_state()
        assert gone == PortState(
            False,
            "MIDI: 'harness:pedal' is gone; loops keep playing; waiting for it to come back",
        )

        pedal = Harness(jack_server)
        assert midi.port_state() == PortState(True, "MIDI: listening to 'harness:pedal' (JACK)")
        pedal.stomp(62, pedal.frame_after(0.1))
        assert midi.command()[0] == Play(1)
    finally:
        pedal.close()


def test_a_virtual_port_takes_the_pedal_connected_to_it(
    harness: Harness, start_midi: Callable[[str], MidiChild]
) -> None:
    midi = start_midi(pedal_config("ignored with virtual", virtual=True))
    state = midi.port_state()
    assert state.connected and "looper:midi_in" in state.text
    harness.connect_pedal("^looper:midi_in$")
    harness.stomp(60, harness.frame_after(0.1))
    assert midi.command()[0] == Backloop(0, 2)


def test_the_process_stops_cleanly_while_messages_stream_in(
    harness: Harness, start_midi: Callable[[str], MidiChild]
) -> None:
    """Closing the port while messages arrive once deadlocked (rtmidi callback waiting for
    the GIL that rtmidi's close held) and, with the callback cancelled first, crashed."""
    midi = start_midi(
        pedal_config().replace("pedals:\n", "pedals:\n  - {cc: 11, action: click_volume}\n")
    )
    assert midi.port_state().connected
    at = harness.frame_after(0.1)
    for k in range(600):  # an expression pedal swept for 2 s
        harness.cc(11, k % 128, at + k * harness.samplerate // 300)
    assert isinstance(midi.command()[0], ClickVolume)
    midi.close()  # mid-sweep; close() asserts that it ends, with status 0


def test_impossible_bindings_end_the_process_with_a_reason() -> None:
    child = MidiChild(impossible_config())
    child.process.join(TIMEOUT)
    assert child.process.exitcode == 1
    state = child.port_state()
    assert not state.connected and "cannot work" in state.text


# -- the commands, as the performer runs them ---------------------------------------------------


def looper(*args: str) -> list[str]:
    return [sys.executable, "-m", "looper", *args]


# `python -m looper`, with Ctrl-C raising KeyboardInterrupt even when pytest was started as
# a shell's background job: such jobs inherit SIGINT ignored, and Python then keeps it so.
LOOPER_WITH_CTRL_C = [
    sys.executable,
    "-c",
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from looper.cli import main; sys.exit(main())",
]


def test_monitor_prints_each_stomp_and_stops_cleanly_on_ctrl_c(
    harness: Harness, tmp_path: Path
) -> None:
    config = tmp_path / "pedalboard.yaml"
    config.write_text(pedal_config())
    proc = subprocess.Popen(
        [*LOOPER_WITH_CTRL_C, "monitor", "--config", str(config)],
        env=harness.server.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()

    def wait_for(text: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            try:
                if text in lines.get(timeout=0.1):
                    return
            except queue.Empty:
                if proc.poll() is not None:
                    break
        proc.kill()
        _, stderr = proc.communicate()
        raise AssertionError(f"looper monitor never printed {text!r}; stderr:\n{stderr}")

    try:
        wait_for("MIDI: listening to 'harness:pedal' (JACK)")
        harness.stomp(60, harness.frame_after(0.1))
        wait_for("note_on channel 1 note 60 velocity 127: note 60 press -> backloop track 1 bars 2")
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr


def test_devices_lists_the_jack_audio_device_and_the_pedal_port(harness: Harness) -> None:
    result = subprocess.run(
        looper("devices"),
        env=harness.server.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=2 * TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    assert "JACK Audio Connection Kit" in result.stdout  # the host API sounddevice plays on
    assert "system" in result.stdout
    assert "harness:pedal" in result.stdout
    assert "ALSA" in result.stdout  # listed, or said why not
