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

A pulled cable must not stop the show: the port is checked every
`CHECK_SECONDS`; when it has gone, loops keep playing and the port is retried
until it comes back.

Which port to open is decided by pure functions over port names
(`choose_port`, `no_match_text`...), testable without any MIDI system, as in
mido's `backends/rtmidi_utils.py`; only `_open`, `_Port` and `list_inputs`
touch python-rtmidi.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import re
import signal
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal, Protocol

import mido

from looper.commands import ACTIONS, Command
from looper.mapping import Fired, Mapper

if TYPE_CHECKING:
    from multiprocessing.queues import Queue

    from looper.config import Config, Midi

__all__ = [
    "BACKENDS",
    "CHECK_SECONDS",
    "CLIENT_NAME",
    "PORT_NAME",
    "Flag",
    "Heard",
    "PortState",
    "choose_port",
    "describe",
    "is_own",
    "is_through",
    "list_inputs",
    "message_text",
    "midi_process",
    "no_match_text",
    "stable_name",
    "watch",
]

Backend = Literal["alsa", "jack"]

#: The backends `midi.backend` tries, in order: `auto` prefers ALSA (USB footswitches
#: appear there directly), then JACK.
BACKENDS: dict[str, tuple[Backend, ...]] = {
    "auto": ("alsa", "jack"),
    "alsa": ("alsa",),
    "jack": ("jack",),
}
_SHOWN: dict[Backend, str] = {"alsa": "ALSA", "jack": "JACK"}

#: Our MIDI client and input port: others see `looper:midi_in` (with `midi.virtual`).
CLIENT_NAME = "looper"
PORT_NAME = "midi_in"

#: How often the open port is checked for a pulled cable, and a missing one retried.
CHECK_SECONDS = 0.5
#: How often an open port is read: how late a stamp can be, give or take the scheduler.
POLL_SECONDS = 0.002
#: The longest the loop sleeps, with no port open, before looking at `stop` again.
STOP_SECONDS = 0.1

_THROUGH = re.compile(r"midi through", re.IGNORECASE)
_OWN = re.compile(rf"^{CLIENT_NAME}(-\d+)?:", re.IGNORECASE)  # JACK renames a 2nd one looper-01
_ALSA_ADDRESS = re.compile(r"\s+\d+:\d+$")  # "nanoKONTROL:nanoKONTROL MIDI 1 24:0"


@dataclass(frozen=True, slots=True)
class PortState:
    """The footswitch port opened, lost or missing, in words for the performer."""

    connected: bool
    text: str


@dataclass(frozen=True, slots=True)
class Heard:
    """One incoming message and what it fired, in words; `message` is "" when time
    alone fired something (a hold, a press that waited for a possible double).

    `commands` holds what went to the audio process: (command, monotonic stamp).
    """

    message: str
    fired: tuple[str, ...]
    commands: tuple[tuple[Command, float], ...] = ()


class Flag(Protocol):
    """The stop signal `watch` polls: a threading or multiprocessing Event."""

    def is_set(self) -> bool: ...


# --- port names: pure, testable without a MIDI system --------------------------------------


def is_through(name: str) -> bool:
    """A through port ("Midi Through" on ALSA) echoes other software, never a footswitch."""
    return _THROUGH.search(name) is not None


def is_own(name: str) -> bool:
    """One of looper's own ports: listening to it would be listening to ourselves."""
    return _OWN.match(name) is not None


def choose_port(names: Sequence[str], wanted: str | None) -> int | None:
    """Index of the port to open: the first whose name contains `wanted` (any case), or
    with `wanted` None the first that is neither a through port nor ours; None if none."""
    for index, name in enumerate(names):
        if is_own(name):
            continue
        if wanted is None and not is_through(name):
            return index
        if wanted is not None and wanted.casefold() in name.casefold():
            return index
    return None


def stable_name(name: str) -> str:
    """The port name without ALSA's client:port address, which can change on replugging."""
    return _ALSA_ADDRESS.sub("", name)


def _available(ports: Mapping[str, list[str] | str]) -> str:
    """'ALSA: not available (...); JACK: 'a:b', 'c:d'': every backend tried, one line."""
    shown = {
        backend: found if isinstance(found, str) else ", ".join(map(repr, found)) or "no ports"
        for backend, found in ports.items()
    }
    return "; ".join(f"{backend}: {text}" for backend, text in shown.items())


def no_match_text(wanted: str | None, ports: Mapping[str, list[str] | str]) -> str:
    """Why no port was opened, what there is instead, and how to fix it."""
    fix = "set midi.input in the YAML to part of a port name (`looper devices` lists them)"
    if wanted is None:
        return (
            "MIDI: no footswitch port found (through ports and looper's own are skipped); "
            f"available: {_available(ports)}; plug it in, or {fix}; waiting for one to appear"
        )
    return (
        f"MIDI: no input port matches {wanted!r}; available: {_available(ports)}; "
        f"{fix}; waiting for it to appear"
    )


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


# --- python-rtmidi -------------------------------------------------------------------------

# The handler that silences libjack's and ALSA's own stderr messages: libc's strlen, which
# reads the text (the first argument of both handler types) and returns, in plain C. A
# Python handler would need the GIL on libjack's threads: the deadlock the polling avoids.
_SILENT = ctypes.cast(ctypes.CDLL(None).strlen, ctypes.c_void_p)


@functools.cache
def _rtmidi() -> ModuleType:
    """python-rtmidi, bound to the system's libjack, with libjack and ALSA kept quiet.

    The python-rtmidi wheel bundles its own libjack, which Debian's jackd refuses
    ("CheckRes error"); the system libjack loaded first with RTLD_GLOBAL is the
    one rtmidi's JACK calls bind to. A missing port is retried every
    CHECK_SECONDS, and libjack and ALSA print a few lines to stderr at each failed
    attempt: that would flood the performer's terminal, and the failure is
    reported in words (PortState) instead.
    """
    try:
        libjack = ctypes.CDLL("libjack.so.0", mode=os.RTLD_GLOBAL)
    except OSError:  # no JACK installed: rtmidi's bundled libjack will say so
        pass
    else:
        libjack.jack_set_error_function(_SILENT)
        libjack.jack_set_info_function(_SILENT)
    import rtmidi

    with contextlib.suppress(OSError):  # no ALSA library: nothing to quiet
        ctypes.CDLL("libasound.so.2").snd_lib_error_set_handler(_SILENT)
    return rtmidi


def _client(backend: Backend) -> Any:
    """A new rtmidi input client on `backend`; raises rtmidi.RtMidiError if unavailable."""
    rtmidi = _rtmidi()
    api = rtmidi.API_LINUX_ALSA if backend == "alsa" else rtmidi.API_UNIX_JACK
    if api not in rtmidi.get_compiled_api():  # else RtMidi silently picks another API
        raise rtmidi.SystemError(f"this python-rtmidi was built without {_SHOWN[backend]}")
    return rtmidi.MidiIn(api, name=CLIENT_NAME)


def _unavailable(backend: Backend, error: Exception) -> str:
    """Why a backend cannot be used, short: 'not available (no /dev/snd/seq ...)'."""
    if backend == "alsa" and not os.path.exists("/dev/snd/seq"):
        return "not available (no /dev/snd/seq: no ALSA sequencer on this machine)"
    return f"not available ({str(error).split('::initialize: ')[-1]})"


def list_inputs(backend: str) -> dict[str, list[str] | str]:
    """Per backend `midi.backend` would try, its MIDI input port names, or why it is
    unavailable. Keys are 'ALSA' and 'JACK'."""
    rtmidi = _rtmidi()
    found: dict[str, list[str] | str] = {}
    for name in BACKENDS[backend]:
        try:
            client = _client(name)
        except rtmidi.RtMidiError as error:
            found[_SHOWN[name]] = _unavailable(name, error)
            continue
        try:
            found[_SHOWN[name]] = client.get_ports()
        finally:
            client.delete()
    return found


class _Port:
    """An open input; `name` is the port listened to, None for our own virtual port."""

    def __init__(self, client: Any, backend: Backend, name: str | None) -> None:
        self.client = client
        self.backend = backend
        self.name = name

    def opened_text(self) -> str:
        if self.name is None:
            return (
                f"MIDI: virtual port '{CLIENT_NAME}:{PORT_NAME}' open ({_SHOWN[self.backend]}); "
                "connect the footswitch to it"
            )
        return f"MIDI: listening to {self.name!r} ({_SHOWN[self.backend]})"

    def present(self) -> bool:
        """Whether the port still exists: a pulled cable makes it vanish from the list."""
        if self.name is None:
            return True
        try:
            return self.name in self.client.get_ports()
        except _rtmidi().RtMidiError:
            return False

    def read(self) -> list[int] | None:
        """The next message waiting in rtmidi's queue, as bytes, or None."""
        got = self.client.get_message()
        return None if got is None else got[0]

    def close(self) -> None:
        self.client.close_port()
        self.client.delete()


def _open(midi: Midi, wanted: str | None) -> _Port | str:
    """Open the input the `midi` section asks for, or say why not and what there is."""
    rtmidi = _rtmidi()
    found: dict[str, list[str] | str] = {}
    for backend in BACKENDS[midi.backend]:
        try:
            client = _client(backend)
        except rtmidi.RtMidiError as error:
            found[_SHOWN[backend]] = _unavailable(backend, error)
            continue
        try:
            if midi.virtual:
                client.open_virtual_port(PORT_NAME)
                name = None
            else:
                names = client.get_ports()
                found[_SHOWN[backend]] = names
                index = choose_port(names, wanted)
                if index is None:
                    client.delete()
                    continue
                client.open_port(index, PORT_NAME)
                name = names[index]
        except rtmidi.RtMidiError as error:  # e.g. the port vanished while being opened
            found[_SHOWN[backend]] = f"could not open a port ({error})"
            client.delete()
            continue
        return _Port(client, backend, name)
    if midi.virtual:
        return (
            f"MIDI: cannot open the virtual port {CLIENT_NAME}:{PORT_NAME} "
            f"({_available(found)}); waiting"
        )
    return no_match_text(wanted, found)


class _Keeper:
    """Keeps the footswitch port open: opens it, notices it gone, opens it again.

    `check` runs every CHECK_SECONDS and returns what the performer should be
    told, if anything: each "missing" text once, not every half second, and after
    a pulled cable "gone; waiting" stands until the port is back.
    """

    def __init__(self, midi: Midi) -> None:
        self.midi = midi
        self.wanted = midi.input
        self.port: _Port | None = None
        self.said = ""
        self.lost = False

    def check(self) -> PortState | None:
        try:
            return self._check()
        except Exception as error:  # rtmidi misbehaving must not stop the loops
            with contextlib.suppress(Exception):
                self.close()
            return self._say(f"MIDI: unexpected error ({error!r}); retrying")

    def _check(self) -> PortState | None:
        if self.port is None:
            opened = _open(self.midi, self.wanted)
            if isinstance(opened, str):
                return None if self.lost else self._say(opened)
            self.port, self.lost, self.said = opened, False, ""
            return PortState(True, opened.opened_text())
        if self.port.present():
            return None
        name = self.port.name or ""
        self.close()
        self.lost = True
        self.wanted = stable_name(name)  # the same device, wherever it comes back
        return PortState(
            False, f"MIDI: {name!r} is gone; loops keep playing; waiting for it to come back"
        )

    def _say(self, text: str) -> PortState | None:
        if text == self.said:
            return None
        self.said = text
        return PortState(False, text)

    def close(self) -> None:
        port, self.port = self.port, None
        if port is not None:
            port.close()


# --- the loop ------------------------------------------------------------------------------


def watch(config: Config, stop: Flag) -> Iterator[PortState | Heard]:
    """Open the footswitch port and yield what happens until `stop` is set.

    Raises ValueError at once (not at the first `next`) for bindings no message
    could honour. The port is opened as configured, checked every CHECK_SECONDS
    and opened again when it comes back after a pulled cable. Closing the
    iterator (or an exception such as KeyboardInterrupt while it waits) closes
    the port.
    """
    mapper = Mapper(config.bindings(), config.midi_timing())
    return _watch(config.midi, mapper, stop)


def _watch(midi: Midi, mapper: Mapper, stop: Flag) -> Iterator[PortState | Heard]:
    keeper = _Keeper(midi)
    check_at = time.monotonic()
    try:
        while not stop.is_set():
            now = time.monotonic()
            if now >= check_at:
                check_at = now + CHECK_SECONDS
                state = keeper.check()
                if state is not None:
                    yield state
            port = keeper.port
            while port is not None and (data := port.read()) is not None:
                yield _decode(data, time.monotonic(), mapper)
            fired = mapper.poll(time.monotonic())
            if fired:
                yield _heard("", fired)
            # Sleep until the next read, hold or deferred press, check, or look at `stop`.
            due = mapper.next_deadline()
            until = min(
                now + (STOP_SECONDS if keeper.port is None else POLL_SECONDS),
                check_at,
                check_at if due is None else due,
            )
            time.sleep(max(0.0, until - time.monotonic()))
    finally:
        keeper.close()


def midi_process(
    config: Config,
    commands: Queue[tuple[Command, float]],
    events: Queue[PortState | Heard],
    stop: Flag,
) -> None:
    """The MIDI child process: footswitch in, `(command, stamp)` and events out.

    SIGINT is ignored: the main process coordinates shutdown by setting `stop`.
    Exits with status 1 (after a PortState saying why) for impossible bindings.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        watching = watch(config, stop)
    except ValueError as error:
        events.put(PortState(False, f"MIDI: the pedal bindings cannot work: {error}"))
        sys.exit(1)
    for event in watching:
        if isinstance(event, Heard):
            for item in event.commands:
                commands.put(item)
        events.put(event)
    # Shutting down: the main process may have stopped reading; do not hang on a full pipe.
    commands.cancel_join_thread()
    events.cancel_join_thread()
