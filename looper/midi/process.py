"""The MIDI side of the live looper: the footswitch port, its gestures, its commands.

The MIDI process (`midi_process`) owns the port and the clock: each message is
stamped with `time.monotonic()` when it arrives, run through the Mapper, and the
resulting `(command, stamp)` pairs go to the audio process, which turns the
stamp into a frame. `looper monitor` runs the same loop (`watch`) in its own
process, without audio, to show what each stomp does.

The loop waits instead of polling: it blocks in `select` on the footswitch's
inbox pipe, the lights' source and the stop descriptor, until the first of
the Mapper's next deadline (a hold, a double that did not come), the keepers'
next check (CHECK_SECONDS) or, with a Flag to stop, STOP_SECONDS. The pipe is
fed by an rtmidi callback that only stamps each message and writes it
(`looper.midi.backend`, which also says how the deadlock that once made us poll
is avoided: python-rtmidi holds the GIL while JACK closes a port, or while ALSA
joins its input thread, so a callback waiting for the GIL there deadlocked the
close, and cancelling it first freed what it was about to use). The stamp is
taken in the callback, on rtmidi's thread, when it gets the GIL: rtmidi's delta
times only say the time since the message before. Measured on the dummy JACK
server (48 kHz, 128 frames; `python -m looper.rig.midibench`, 20 s idle, 200
stomps, back to back on a shared 2-core machine): idle, the process took
2.1-2.7 % of a core polling every 2 ms, and takes 0.4-0.5 % now (stopped by a
pipe; 0.9 % with an Event looked at every STOP_SECONDS), nearly all of it
rtmidi's JACK thread, which JACK wakes every period either way; the loop itself
wakes twice a second for the checks. A stomp's stamp came a median 0.9-1.3 ms
after the harness's JACK cycle wrote it and comes 0.1 ms after now; the command
reached another process after a median 1.3-1.8 ms, now 0.7-1.0 ms. Rejected:
reading JACK MIDI or the ALSA sequencer through a descriptor of our own (a
second MIDI stack beside rtmidi's, for no lower latency), and polling less
often (the latency grows by what the CPU shrinks). The price: Python runs on
JACK's process thread for each message (SWITCH_SECONDS bounds its wait for the
GIL), and a JACK call that waits for that thread is made with it paused.

A pulled cable must not stop the show: the ports are checked every
`CHECK_SECONDS` by their keepers (`looper.midi.keepers`); when one has gone,
loops keep playing and the port is retried until it comes back.

Pedal lights go the other way: the main process forwards each track's state
(and, while a track waits, the beat's parity) on a queue or a pipe whenever
that changes (`looper.midi.keepers.take_shown` reads either), and this process
sends each light's new value (`looper.midi.lights`) to the lights' output port,
kept open like the footswitch's.

Which port to open is decided by pure functions over port names
(`looper.midi.ports`), testable without any MIDI system, as in mido's
`backends/rtmidi_utils.py`; only `looper.midi.backend` touches python-rtmidi.
"""

from __future__ import annotations

import math
import select
import signal
import sys
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Protocol, TypeVar, overload, runtime_checkable

import mido

from looper.core.commands import ACTIONS, Command
from looper.midi.gestures import Fired, Mapper
from looper.midi.keepers import FootswitchKeeper, LightsKeeper, LightsState, PortState
from looper.midi.lights import Lights, lights_of

if TYPE_CHECKING:
    from looper.config import Config, Midi
    from looper.midi.keepers import ShownSource

__all__ = [
    "CHECK_SECONDS",
    "STOP_SECONDS",
    "SWITCH_SECONDS",
    "Flag",
    "Heard",
    "Stop",
    "Waitable",
    "describe",
    "message_text",
    "midi_process",
    "stamped",
    "watch",
]

#: How often the open port is checked for a pulled cable, and a missing one retried.
CHECK_SECONDS = 0.5
#: With a Flag to stop (not a descriptor), the longest the loop waits before looking at it.
STOP_SECONDS = 0.1
#: The MIDI process's GIL switch interval: the longest rtmidi's thread (JACK's process
#: thread) waits for the GIL while this process's main thread runs Python, 5 ms by
#: default, more than a JACK period. Idle, the main thread waits in select (no GIL).
SWITCH_SECONDS = 0.0005


@dataclass(frozen=True, slots=True)
class Heard:
    """One incoming message and what it fired, in words; `message` is "" when time
    alone fired something (a hold, a press that waited for a possible double).

    `commands` holds what went to the audio process: (command, monotonic stamp).
    """

    message: str
    fired: tuple[str, ...]
    commands: tuple[tuple[Command, float], ...] = ()


T_contra = TypeVar("T_contra", contravariant=True)


class Outbox(Protocol[T_contra]):
    """Where the MIDI process sends: the shared command ring, the events pipe (live/pipes.py)."""

    def put(self, item: T_contra) -> object: ...


class Flag(Protocol):
    """A stop signal `watch` looks at every STOP_SECONDS: a threading or multiprocessing Event."""

    def is_set(self) -> bool: ...


@runtime_checkable
class Waitable(Protocol):
    """A stop signal `watch` waits on: readable (or at end of file) means stop."""

    def fileno(self) -> int: ...


#: How to tell the loop to stop: a Flag, or a descriptor (an int, or what has `fileno`),
#: such as the read end of a pipe whose write end the main process closes, or holds
#: until it dies: never a primitive that can block on a dead peer.
Stop = Flag | Waitable | int


def _stopping(stop: Stop) -> tuple[int | None, Callable[[], bool]]:
    """The descriptor to wait on, if any, and whether `stop` is set now (a Flag)."""
    if isinstance(stop, int):
        return stop, lambda: False
    if isinstance(stop, Waitable):
        return stop.fileno(), lambda: False
    return None, stop.is_set


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
    config: Config, stop: Stop, lights: None = None
) -> Generator[PortState | Heard, None, None]: ...
@overload
def watch(config: Config, stop: Stop, lights: ShownSource) -> Events: ...
def watch(config: Config, stop: Stop, lights: ShownSource | None = None) -> Events:
    """Open the footswitch port and yield what happens until `stop` is set (or readable).

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
    keeper: FootswitchKeeper, mapper: Mapper, stop: Stop, out: LightsKeeper | None
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
    stop: Stop,
    out: LightsKeeper | None = None,
    deadline: Callable[[], float | None] = lambda: None,
) -> Generator[PortState | LightsState | tuple[list[int], float] | None, None, None]:
    """The footswitch port kept open (and the lights port, if any): its raw messages with
    their `time.monotonic()` stamps, port news, and None each turn, when the caller's
    timers (`deadline`) may have come due. Waits in `select` for a message, what the
    lights show, `stop` or the next timer; never longer. Both ports are closed however
    the iteration ends."""
    stop_fd, stopped = _stopping(stop)
    check_at = time.monotonic()
    try:
        while not stopped():
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
            while port is not None and (got := port.read()) is not None:
                yield got
            yield None
            due = deadline()
            until = min(check_at, math.inf if due is None else due)
            if stop_fd is None:
                until = min(until, now + STOP_SECONDS)
            port = keeper.port
            waits = [stop_fd, port.fileno() if port else None, out.fileno() if out else None]
            ready, _, _ = select.select(
                [fd for fd in waits if fd is not None], [], [], max(0.0, until - time.monotonic())
            )
            if stop_fd in ready:
                return
    finally:
        keeper.close()
        if out is not None:
            out.close()


def midi_process(
    config: Config,
    commands: Outbox[tuple[Command, float]],
    events: Outbox[PortState | Heard | LightsState],
    stop: Stop,
    lights: ShownSource | None = None,
) -> None:
    """The MIDI child process: footswitch in, `(command, stamp)` and events out; what the
    tracks show (`lights`, from the main process) in, pedal lights out.

    SIGINT is ignored: the main process coordinates shutdown through `stop` (set, or
    readable: at end of file when the main process closes its end or dies).
    Exits with status 1 (after a PortState saying why) for impossible bindings.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.setswitchinterval(SWITCH_SECONDS)
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


def stamped(midi: Midi, stop: Stop) -> Generator[PortState | tuple[list[int], float], None, None]:
    """The footswitch's raw messages, each with its `time.monotonic()` stamp, until `stop`
    is set: for `looper learn`, which listens for switches no binding names yet. The port
    is kept open as in `watch`."""
    for event in _listen(FootswitchKeeper(midi), stop):
        if isinstance(event, PortState | tuple):
            yield event
