"""The MIDI side live: real JACK MIDI from the harness's pedal, no mocks on that path.

* the MIDI process (spawned, as in `looper run`) turns stomps into commands in
  order, and a hold arrives after hold_ms, stamped at the press, with no further
  message needed;
* a pulled cable (the pedal's JACK client closed) is reported, and stomps work
  again once the pedal is back;
* `midi.virtual` opens `looper:midi_in` for the pedal to connect to;
* `looper monitor` prints a line per stomp and stops cleanly on Ctrl-C;
* `looper devices` lists the JACK audio device and the pedal's MIDI port.

(The pure part, port names and words, is tests/unit/test_midi.py.)

rtmidi's JACK client never runs in the test process: the harness's Python
process callback and rtmidi's blocking JACK calls would wait for each other's
GIL. Nothing here asserts how fast anything runs, only order and "after hold_ms".
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import queue
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from live_looper import TIMEOUT, Looper, run
from test_midi import impossible_config

from looper.config import Config, parse_config
from looper.config.engine import engine_settings
from looper.core.commands import Backloop, ClickVolume, Command, Mute, Play, Reset
from looper.live.children import midi_child, spawn
from looper.live.pipes import PipeOutbox, RingOutbox
from looper.live.shared import Mapping, live_bytes, ring_span
from looper.midi.keepers import PortState
from looper.midi.process import Heard

if TYPE_CHECKING:
    from looper.rig.harness import Harness
    from looper.rig.jackserver import JackServer

pytestmark = pytest.mark.jack

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


# -- the MIDI process on a real JACK server ----------------------------------------------------


@pytest.fixture
def jack_server(jack_server_module: JackServer) -> JackServer:
    """One server for the module: every MIDI process and pedal here closes its JACK client."""
    return jack_server_module


class MidiChild:
    """The MIDI process started as `looper run` starts it (looper/live/children.py): its
    commands into the shared command ring, its events up a pipe, the lights down one, told to
    stop by the end of its life pipe."""

    def __init__(self, config: Config) -> None:
        ctx = mp.get_context("spawn")
        sizing = engine_settings(config, 0)
        self.mapping = Mapping(live_bytes(sizing))
        _, self.ring, _ = self.mapping.views(sizing)
        offset, length = ring_span(sizing)
        commands = RingOutbox(self.mapping.path, self.mapping.size, offset, length)
        lights_r, lights_w = ctx.Pipe(duplex=False)
        self.child = spawn(ctx, midi_child, "looper-midi", config, commands, lights_r)
        lights_r.close()
        self.lights = PipeOutbox(lights_w)  # what the tracks show: kept open, as live
        self.process = self.child.process
        self.heard: list[Heard] = []

    def event(self, timeout: float = TIMEOUT) -> PortState | Heard:
        """The next event the process reported; queue.Empty when none came in time."""
        try:
            if self.child.report.poll(timeout):
                event: PortState | Heard = self.child.report.recv()
                return event
        except (EOFError, OSError):
            pass
        raise queue.Empty

    def port_state(self) -> PortState:
        """The next PortState (Heard events on the way are kept in `heard`)."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                event = self.event(max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no PortState within {TIMEOUT:.0f} s") from None
            if isinstance(event, PortState):
                return event
            self.heard.append(event)

    def wait_for(self, done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {TIMEOUT:.0f} s")
            time.sleep(0.05)

    def command(self) -> tuple[Command, float, float]:
        """The next command from the ring: (command, its stamp, when it arrived here)."""
        deadline = time.monotonic() + TIMEOUT
        while not self.ring.pending():
            if time.monotonic() > deadline:
                raise AssertionError(f"no command within {TIMEOUT:.0f} s")
            time.sleep(0.0002)
        arrived = time.monotonic()
        command, stamp = self.ring.pop()
        assert stamp is not None
        return command, stamp, arrived

    def close(self) -> None:
        self.child.life.close()
        self.process.join(TIMEOUT)
        if self.process.is_alive():
            self.process.kill()
            raise AssertionError("the MIDI process did not stop when asked")
        assert self.process.exitcode == 0


@pytest.fixture
def start_midi(
    jack_server: JackServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., MidiChild]]:
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
            events.append(midi.event(timeout=1.0))
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


def sweep(pedal: Harness, seconds: float = 2.0, rate: int = 300) -> None:
    """An expression pedal swept from 0.1 s on: `rate` control changes a second."""
    at = pedal.frame_after(0.1)
    for k in range(int(rate * seconds)):
        pedal.cc(11, k % 128, at + k * pedal.samplerate // rate)


#: Messages a second in the stress below: several per JACK period, more than the MIDI
#: process can take, so that rtmidi's thread is nearly always waiting for the GIL.
DENSE = 6000


def test_a_cable_pulled_and_a_stop_while_messages_stream_in_do_not_hang(
    jack_server: JackServer, start_midi: Callable[..., MidiChild]
) -> None:
    """The callback hands each message over on JACK's process thread: closing the port
    (the cable pulled), opening and closing the lights' JACK client (the cable back, the
    lights' port then missing), and stopping, each while messages stream in, must not
    wait for that thread while it waits for the GIL. Every wait here is bounded."""
    from looper.rig.harness import Harness

    config = pedal_config().replace(
        "pedals:\n",
        "pedals:\n  - {cc: 11, action: click_volume}\n"
        "  - {note: 60, gesture: hold, action: reset, feedback: {note: 60}, track: 1}\n",
    )
    pedal = Harness(jack_server, midi_in=True)  # the pedal's lights on harness:lights
    try:
        midi = start_midi(config)
        assert midi.port_state().connected
        sweep(pedal, rate=DENSE)
        assert isinstance(midi.command()[0], ClickVolume)
        midi.wait_for(lambda: bool(pedal.received), "the lights' first values")

        pedal.close()  # mid-sweep
        assert not midi.port_state().connected

        pedal = Harness(jack_server)  # back, without its lights: they are retried
        assert midi.port_state().connected
        sweep(pedal, 4.0, DENSE)
        assert isinstance(midi.command()[0], ClickVolume)
        time.sleep(1.0)  # two checks, each opening and closing a lights client, mid-sweep
        midi.close()  # mid-sweep; close() asserts that it ends, with status 0
    finally:
        pedal.close()


def test_python_rtmidi_lets_the_callback_be_kept_alive(jack_server: JackServer) -> None:
    """The inbox keeps python-rtmidi's (function, data) tuple from being freed under a
    waiting callback by finding it among the client's referents: if a python-rtmidi
    release stops showing it, this fails before a stage crashes. (rtmidi's JACK client
    runs in a subprocess: see the module docstring.)"""
    code = (
        "from looper.midi.backend import _client, _Inbox\n"
        "client = _client('jack')\n"
        "inbox = _Inbox(client)\n"
        "assert len(inbox._kept) == 1, inbox._kept\n"
        "client.cancel_callback(); client.delete(); inbox.close()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=jack_server.env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_impossible_bindings_end_the_process_with_a_reason() -> None:
    child = MidiChild(impossible_config())
    child.process.join(TIMEOUT)
    assert child.process.exitcode == 1
    state = child.port_state()
    assert not state.connected and "cannot work" in state.text


# -- the commands, as the performer runs them ---------------------------------------------------


def test_monitor_prints_each_stomp_and_stops_cleanly_on_ctrl_c(
    harness: Harness, tmp_path: Path
) -> None:
    config = tmp_path / "pedalboard.yaml"
    config.write_text(pedal_config())
    with Looper(harness.server, "monitor", "--config", str(config), ready=None) as monitor:
        monitor.read_until("MIDI: listening to 'harness:pedal' (JACK)")
        harness.stomp(60, harness.frame_after(0.1))
        monitor.read_until(
            "note_on channel 1 note 60 velocity 127: note 60 press -> backloop track 1 bars 2"
        )
        code = monitor.stop(signal.SIGINT, TIMEOUT)
    assert code == 0, monitor.stderr
    assert "Traceback" not in monitor.stderr


def test_devices_lists_the_jack_audio_device_and_the_pedal_port(harness: Harness) -> None:
    result = run(harness.server, "devices", timeout=2 * TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert "JACK Audio Connection Kit" in result.stdout  # the host API sounddevice plays on
    assert "system" in result.stdout
    assert "harness:pedal" in result.stdout
    assert "ALSA" in result.stdout  # listed, or said why not
