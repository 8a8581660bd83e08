"""The MIDI loop waits instead of polling: what wakes it, without a MIDI system.

rtmidi's client is replaced by a stand-in that keeps the callback `Port` gives it
and calls it as rtmidi's thread would; everything else is real: the inbox pipe,
the Mapper, the loop's `select`, the stop pipe, a multiprocessing Queue and Pipe
for the lights. (The real ports, a pulled cable and a stop while stomps stream in:
tests/live/test_midi_live.py.)
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue
import select
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from looper.config import parse_config
from looper.core.commands import Mute, Reset
from looper.midi import process
from looper.midi.backend import Port, _Inbox
from looper.midi.keepers import FootswitchKeeper, shown_reader, take_shown
from looper.midi.process import Heard, _watch

#: Long enough for a slow machine to never see the hold early; the test waits up to 10 s.
HOLD_MS = 150

CONFIG = f"""
midi: {{backend: jack, input: "harness:pedal", hold_ms: {HOLD_MS}}}
pedals:
  - {{note: 64, gesture: hold, action: reset}}
  - {{note: 64, gesture: release, action: mute, track: 1}}
"""


class Client:
    """What `Port` uses of an rtmidi MidiIn; `deliver` is rtmidi's thread calling back."""

    def __init__(self) -> None:
        self.callback: tuple[Callable[..., None], Any] | None = None
        self.closed = False

    def set_callback(self, func: Callable[..., None], data: Any) -> None:
        self.callback = (func, data)

    def cancel_callback(self) -> None:
        self.callback = None

    def deliver(self, message: list[int]) -> None:
        assert self.callback is not None, "a message came with the callback cancelled"
        func, data = self.callback
        func((message, 0.0), data)

    def get_message(self) -> None:
        return None

    def get_ports(self) -> list[str]:
        return ["harness:pedal"]

    def close_port(self) -> None:
        self.closed = True

    def delete(self) -> None:
        pass


@pytest.fixture
def running(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Client, queue.Queue[object], int]]:
    """`_watch` in a thread on a stand-in port, stopped by closing a pipe: the client, what
    the loop yields, and the stop pipe's write end. No check comes due while it runs, and a
    descriptor to stop on has no STOP_SECONDS timeout: only a message, the stop or the
    Mapper's deadline can wake the loop."""
    from looper.midi.gestures import Mapper

    monkeypatch.setattr(process, "CHECK_SECONDS", 3600.0)
    config = parse_config(CONFIG, "pedals.yaml")
    client = Client()
    keeper = FootswitchKeeper(config.midi)
    keeper.port = Port(client, "jack", "harness:pedal", _Inbox(client))
    mapper = Mapper(config.bindings(), config.midi_timing())
    stop_read, stop_write = os.pipe()
    got: queue.Queue[object] = queue.Queue()

    def run() -> None:
        for event in _watch(keeper, mapper, stop_read, None):
            got.put(event)
        got.put("stopped")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield client, got, stop_write
    with contextlib.suppress(OSError):  # the test may have closed it already
        os.close(stop_write)
    thread.join(10)
    os.close(stop_read)
    assert not thread.is_alive(), "the loop did not stop when its stop pipe closed"
    assert client.closed and client.callback is None  # cancelled before the port closed


def heard(got: queue.Queue[object]) -> Heard:
    event = got.get(timeout=10)
    assert isinstance(event, Heard), event
    return event


def test_an_idle_loop_wakes_at_the_mappers_deadline_and_stops_at_end_of_file(
    running: tuple[Client, queue.Queue[object], int],
) -> None:
    client, got, stop = running
    client.deliver([0x90, 64, 127])  # a press; nothing after it until the hold is seen
    press = heard(got)
    assert press.message == "note_on channel 1 note 64 velocity 127" and press.fired == ()
    hold = heard(got)  # only the deadline could wake the loop for this
    assert hold.message == "" and hold.fired == ("note 64 hold -> reset all tracks",)
    [(command, stamp)] = hold.commands
    assert command == Reset(None)
    client.deliver([0x80, 64, 0])
    [(release, later)] = heard(got).commands
    assert release == Mute(0) and later > stamp  # stamps come from the callback, in order
    os.close(stop)  # end of file on the stop pipe
    assert got.get(timeout=10) == "stopped"


def test_messages_keep_their_order_and_stamps_across_a_pause() -> None:
    client = Client()
    port = Port(client, "jack", "harness:pedal", _Inbox(client))
    client.deliver([0x90, 60, 127])
    port.pause()
    port.pause()  # nested, as the lights' keeper closing inside its own check
    assert client.callback is None
    port.resume()
    assert client.callback is None  # still inside the outer pause
    port.resume()
    client.deliver([0x80, 60, 0])
    first, second = port.read(), port.read()
    assert first is not None and second is not None and port.read() is None
    assert [first[0], second[0]] == [[0x90, 60, 127], [0x80, 60, 0]]
    assert first[1] <= second[1]
    port.close()


def readable(fd: int) -> bool:
    return bool(select.select([fd], [], [], 10)[0])


def test_the_lights_are_read_the_same_from_a_queue_or_a_pipe() -> None:
    ctx = mp.get_context("spawn")
    states = (("playing", "empty"), True)
    lights: mp.Queue[object] = ctx.Queue()
    lights.put(states)
    assert readable(shown_reader(lights).fileno())  # type: ignore[arg-type]
    assert take_shown(lights) == [states]  # type: ignore[arg-type]
    assert take_shown(lights) == []  # type: ignore[arg-type]
    reader, writer = ctx.Pipe(duplex=False)
    writer.send(states)
    writer.send(states)
    assert readable(shown_reader(reader).fileno())
    assert take_shown(reader) == [states, states]
    writer.close()
    assert readable(reader.fileno())  # end of file wakes the loop, and is told
    with pytest.raises(EOFError):
        take_shown(reader)
