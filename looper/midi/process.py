"""The MIDI side of the live looper: the footswitch port, its gestures, its commands.

The MIDI process (`midi_process`) owns the port and the clock: each message is
stamped with `time.monotonic()` when it is read, run through the Mapper, and the
resulting `(command, stamp)` pairs go to the audio process, which turns the
stamp into a frame. `looper monitor` runs the same loop (`watch`) in its own
process, without audio, to show what each stomp does.

The port is polled every POLL_SECONDS rather than given an rtmidi callback:
python-rtmidi holds the GIL while JACK closes a port (and while ALSA joins its
input thread), so a callback waiting for the GIL on that thread deadlocks the
close, and cancelling the callback first frees what that waiting callback is
about to use (both seen on a loaded machine). Polled, no Python ever runs on
rtmidi's threads; a stamp is late by at most POLL_SECONDS (2 ms, less than a
JACK period of 128 frames), and the polling costs about 1.5 % of a core.

A pulled cable must not stop the show: the ports are checked every
`CHECK_SECONDS` by their keepers (`looper.midi.keepers`); when one has gone,
loops keep playing and the port is retried until it comes back.

Pedal lights go the other way: the main process forwards each track's state
(and, while a track waits, the beat's parity) on a queue whenever that
changes, and this process sends each light's new value (`looper.midi.lights`)
to the lights' output port, kept open like the footswitch's.

Which port to open is decided by pure functions over port names
(`looper.midi.ports`), testable without any MIDI system, as in mido's
`backends/rtmidi_utils.py`; only `looper.midi.backend` touches python-rtmidi.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Protocol, TypeVar, overload

import mido

from looper.core.commands import ACTIONS, Command
from looper.midi.gestures import Fired, Mapper
from looper.midi.keepers import FootswitchKeeper, LightsKeeper, LightsState, PortState
from looper.midi.lights import Lights, Shown, lights_of

if TYPE_CHECKING:
    from looper.config import Config, Midi
    from looper.midi.keepers import Inbox

__all__ = [
    "CHECK_SECONDS",
    "POLL_SECONDS",
    "Flag",
    "Heard",
    "describe",
    "message_text",
    "midi_process",
    "stamped",
    "watch",
]

T_contra = TypeVar("T_contra", contravariant=True)

#: How often the open port is checked for a pulled cable, and a missing one retried.
CHECK_SECONDS = 0.5
#: How often an open port is read: how late a stamp can be, give or take the scheduler.
POLL_SECONDS = 0.002
#: The longest the loop sleeps, with no port open, before looking at `stop` again.
STOP_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class Heard:
    """One incoming message and what it fired, in words; `message` is "" when time
    alone fired something (a hold, a press that waited for a possible double).

    `commands` holds what went to the audio process: (command, monotonic stamp).
    """

    message: str
    fired: tuple[str, ...]
    commands: tuple[tuple[Command, float], ...] = ()


class Outbox(Protocol[T_contra]):
    """Where the MIDI process sends: the shared command ring, the events pipe (live/pipes.py)."""

    def put(self, item: T_contra) -> object: ...


class Flag(Protocol):
    """The stop signal `watch` polls: a threading or multiprocessing Event."""

    def is_set(self) -> bool: ...


# --- words for what was heard --------------------------------------------------------------

_ACTION_NAMES: dict[type, str] = {cls: name for name, cls in ACTIONS.items()}


def _argument(name: str, value: object) -> str:
    if name == "track":  # 0-based in commands, 1-based for the performer; None is all
        return f"track {value + 1}" if isinstance(value, int) else "all tracks"
    return f"{name} {value:.4g}" if isinstance(value, float) else f"{name} {value}"


def describe(fired: Fired) -> str:
    """A fired gesture as the performer reads it: 'note 60 press -> backloop track 1 bars 2'."""
    command = fired.command
    action = _ACTION_NAMES.get(type(command), type(command).__name__.lower())
    args = [_argument(f.name, getattr(command, f.name)) for f in fields(command)]
    return " ".join([f"{fired.switch} {fired.gesture} ->", action, *args])


def message_text(message: mido.Message) -> str:
    """A message with its channel counted from 1, as in the YAML's midi.channel."""
    values = message.dict()
    del values["time"]
    words = [values.pop("type")]
    if "channel" in values:  # first, whichever way mido built the message
        words.append(f"channel {values.pop('channel') + 1}")
    return " ".join(words + [f"{key} {value}" for key, value in values.items()])


def _heard(text: str, fired: list[Fired]) -> Heard:
    return Heard(text, tuple(map(describe, fired)), tuple((f.command, f.at) for f in fired))


def _decode(data: list[int], stamp: float, mapper: Mapper) -> Heard:
    """One raw message through the mapping; garbage is reported, never raised."""
    try:
        message = mido.Message.from_bytes(data)
    except ValueError:
        return Heard(f"unreadable MIDI data {bytes(data).hex(' ')}", ())
    return _heard(message_text(message), mapper.feed(message, stamp))


# --- the loop ------------------------------------------------------------------------------


#: What `watch` yields; a generator, so that closing it closes the ports.
Events = Generator[PortState | Heard | LightsState, None, None]


@overload
def watch(
    config: Config, stop: Flag, lights: None = None
) -> Generator[PortState | Heard, None, None]: ...
@overload
def watch(config: Config, stop: Flag, lights: Inbox[Shown]) -> Events: ...
def watch(config: Config, stop: Flag, lights: Inbox[Shown] | None = None) -> Events:
    """Open the footswitch port and yield what happens until `stop` is set.

    Raises ValueError at once (not at the first `next`) for bindings no message
    could honour. The port is opened as configured, checked every CHECK_SECONDS
    and opened again when it comes back after a pulled cable. Closing the
    iterator (or an exception such as KeyboardInterrupt while it waits) closes
    the port. With `lights` (what the main process forwards), the pedal lights'
    port is kept open the same way and sent the lights' changes; without (as in
    `looper monitor`, which has no tracks), no light is touched.
    """
    mapper = Mapper(config.bindings(), config.midi_timing())
    keeper = FootswitchKeeper(config.midi)
    out = None if lights is None else LightsKeeper(keeper, Lights(lights_of(config)), lights)
    return _watch(keeper, mapper, stop, out)


def _watch(
    keeper: FootswitchKeeper, mapper: Mapper, stop: Flag, out: LightsKeeper | None
) -> Events:
    for event in _listen(keeper, stop, out, mapper.next_deadline):
        if event is None:
            fired = mapper.poll(time.monotonic())
            if fired:
                yield _heard("", fired)
        elif isinstance(event, tuple):
            yield _decode(*event, mapper)
        else:
            yield event


def _listen(
    keeper: FootswitchKeeper,
    stop: Flag,
    out: LightsKeeper | None = None,
    deadline: Callable[[], float | None] = lambda: None,
) -> Generator[PortState | LightsState | tuple[list[int], float] | None, None, None]:
    """The footswitch port kept open (and the lights port, if any): its raw messages with
    their `time.monotonic()` stamps, port news, and None each turn, when the caller's
    timers (`deadline`) may have come due. Polls every POLL_SECONDS; never blocks long.
    Both ports are closed however the iteration ends."""
    check_at = time.monotonic()
    try:
        while not stop.is_set():
            now = time.monotonic()
            if now >= check_at:
                check_at = now + CHECK_SECONDS
                state = keeper.check()
                if state is not None:
                    yield state
                news = None if out is None else out.check()
                if news is not None:
                    yield news
            if out is not None:
                out.update()
            port = keeper.port
            while port is not None and (data := port.read()) is not None:
                yield data, time.monotonic()
            yield None
            # Sleep until the next read, the caller's next deadline, a check, or `stop`.
            due = deadline()
            until = min(
                now + (STOP_SECONDS if keeper.port is None else POLL_SECONDS),
                check_at,
                check_at if due is None else due,
            )
            time.sleep(max(0.0, until - time.monotonic()))
    finally:
        keeper.close()
        if out is not None:
            out.close()


def midi_process(
    config: Config,
    commands: Outbox[tuple[Command, float]],
    events: Outbox[PortState | Heard | LightsState],
    stop: Flag,
    lights: Inbox[Shown] | None = None,
) -> None:
    """The MIDI child process: footswitch in, `(command, stamp)` and events out; what the
    tracks show (`lights`, from the main process) in, pedal lights out.

    SIGINT is ignored: the main process coordinates shutdown by setting `stop`.
    Exits with status 1 (after a PortState saying why) for impossible bindings.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        watching = watch(config, stop, lights)
    except ValueError as error:
        events.put(PortState(False, f"MIDI: the pedal bindings cannot work: {error}"))
        sys.exit(1)
    for event in watching:
        if isinstance(event, Heard):
            for item in event.commands:
                commands.put(item)
        events.put(event)


def stamped(midi: Midi, stop: Flag) -> Generator[PortState | tuple[list[int], float], None, None]:
    """The footswitch's raw messages, each with its `time.monotonic()` stamp, until `stop`
    is set: for `looper learn`, which listens for switches no binding names yet. The port
    is kept open as in `watch`."""
    for event in _listen(FootswitchKeeper(midi), stop):
        if isinstance(event, PortState | tuple):
            yield event
