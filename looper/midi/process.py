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

Pedal lights go the other way: the main process forwards each track's state
(and, while a track waits, the beat's parity) on a queue whenever that
changes, and this process sends each light's new value (`Lights`) to the
lights' output port, kept open like the footswitch's: `midi.output`, else the
footswitch's own device, else (with `midi.virtual`) our virtual port
`looper:lights_out`.

Which port to open is decided by pure functions over port names
(`choose_port`, `device_port`, `no_match_text`...), testable without any MIDI
system, as in mido's `backends/rtmidi_utils.py`; only `_open_port`, `_Port`
and `list_inputs` touch python-rtmidi.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import queue
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal, Protocol

import mido

from looper.core.commands import ACTIONS, Command
from looper.midi.gestures import Fired, Mapper

if TYPE_CHECKING:
    from multiprocessing.queues import Queue

    from looper.config.schema import Config, Feedback, Midi
    from looper.live.status import Status

__all__ = [
    "BACKENDS",
    "CHECK_SECONDS",
    "CLIENT_NAME",
    "LIGHTS_PORT_NAME",
    "PORT_NAME",
    "Flag",
    "Heard",
    "Light",
    "Lights",
    "LightsState",
    "PortState",
    "Shown",
    "choose_port",
    "describe",
    "device_port",
    "is_own",
    "is_through",
    "lights_of",
    "list_inputs",
    "message_text",
    "midi_process",
    "no_match_text",
    "shown_by",
    "stable_name",
    "stamped",
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
#: Our output port for the pedal lights (virtual with `midi.virtual` and no `midi.output`).
LIGHTS_PORT_NAME = "lights_out"

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


@dataclass(frozen=True, slots=True)
class LightsState:
    """The pedal lights' port opened, lost or missing, in words; apart from PortState so
    that the footswitch's state stays what the display shows as the MIDI state."""

    text: str


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


def device_of(name: str) -> str:
    """The client part of a port name, the same for a device's input and output ports
    ('FCB1010' in 'FCB1010:FCB1010 MIDI 1 24:0', 'harness' in 'harness:pedal')."""
    return name.split(":", 1)[0]


def device_port(names: Sequence[str], footswitch: str) -> int | None:
    """Index of the first port (not ours) of the footswitch's own device: where its lights
    listen when `midi.output` is null; None if the device has no such port."""
    device = device_of(footswitch)
    for index, name in enumerate(names):
        if not is_own(name) and device_of(name) == device:
            return index
    return None


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


# --- pedal lights: pure, no port, no clock -------------------------------------------------

#: Where a light listens: (channel 1-16, "note" or "cc", number).
Target = tuple[int, str, int]
#: What the main process forwards: each track's state, and whether a waiting light is lit
#: now (the beat's parity while a track waits; True otherwise, so that nothing is
#: forwarded on the beat while nothing waits).
Shown = tuple[tuple[str, ...], bool]


@dataclass(frozen=True, slots=True)
class Light:
    """One footswitch light: the message it listens to and the track whose state it shows."""

    target: Target
    track: int  # 0-based
    feedback: Feedback

    def value(self, state: str, lit: bool) -> int:
        """The light's value for a track state; a blinking waiting light is empty on unlit beats."""
        if state == "waiting" and self.feedback.blink and not lit:
            state = "empty"
        return self.feedback.light(state)

    def message(self, value: int) -> list[int]:
        """The bytes that set the light: note-on (velocity 0 included) or control change."""
        channel, kind, number = self.target
        return [(0x90 if kind == "note" else 0xB0) | (channel - 1), number, value]


def lights_of(config: Config) -> tuple[Light, ...]:
    """One Light per target, from the first binding (in file order) that gives it: press
    and hold on one switch may both carry the same feedback, and one message sets one light."""
    found: dict[Target, Light] = {}
    for pedal in config.pedals:
        fb = pedal.feedback
        if fb is None or not isinstance(pedal.track, int):  # validation: feedback has a track
            continue
        kind = "note" if fb.note is not None else "cc"
        target = (fb.channel, kind, getattr(fb, kind))
        found.setdefault(target, Light(target, pedal.track - 1, fb))
    return tuple(found.values())


def shown_by(status: Status) -> Shown:
    """What the lights show for a status: the track states, and whether a waiting light is
    lit: on every other beat counted from the grid's origin (not within the bar, so that an
    odd meter still alternates), and always while nothing waits."""
    states = tuple(track.state for track in status.tracks)
    beat = (status.bar - 1) * status.beats_per_bar + status.beat - 1
    return states, "waiting" not in states or beat % 2 == 0


class Lights:
    """What the lights should show, and the messages that bring a port there.

    `changes` gives only the values that differ from what the port was last sent, in
    the order of the lights; `forget` makes the next `changes` set every light, for a
    port just opened (at start: every track empty).
    """

    def __init__(self, lights: Sequence[Light]) -> None:
        self.lights = tuple(lights)
        self.shown: Shown = ((), True)  # no status yet: every track empty
        self.sent: dict[Target, int] = {}

    def show(self, shown: Shown) -> None:
        self.shown = shown

    def forget(self) -> None:
        self.sent.clear()

    def changes(self) -> list[list[int]]:
        states, lit = self.shown
        messages = []
        for light in self.lights:
            state = states[light.track] if light.track < len(states) else "empty"
            value = light.value(state, lit)
            if self.sent.get(light.target) != value:
                self.sent[light.target] = value
                messages.append(light.message(value))
        return messages


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


def _client(backend: Backend, output: bool = False) -> Any:
    """A new rtmidi input (or output) client on `backend`; raises rtmidi.RtMidiError if
    unavailable."""
    rtmidi = _rtmidi()
    api = rtmidi.API_LINUX_ALSA if backend == "alsa" else rtmidi.API_UNIX_JACK
    if api not in rtmidi.get_compiled_api():  # else RtMidi silently picks another API
        raise rtmidi.SystemError(f"this python-rtmidi was built without {_SHOWN[backend]}")
    return (rtmidi.MidiOut if output else rtmidi.MidiIn)(api, name=CLIENT_NAME)


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
    """An open port; `name` is the port at the other end, None for our own virtual port."""

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

    def send(self, message: list[int]) -> None:
        self.client.send_message(message)

    def close(self) -> None:
        self.client.close_port()
        self.client.delete()


def _open_port(
    backends: Sequence[Backend],
    output: bool,
    own: str,
    pick: Callable[[list[str]], int | None] | None,
    found: dict[str, list[str] | str],
) -> _Port | None:
    """Open our port `own` on the first backend where `pick` chooses a port to connect it
    to (`pick` None: a virtual port, for others to connect to). `found` gets each backend's
    ports, or why it could not be used, for the performer."""
    rtmidi = _rtmidi()
    for backend in backends:
        try:
            client = _client(backend, output)
        except rtmidi.RtMidiError as error:
            found[_SHOWN[backend]] = _unavailable(backend, error)
            continue
        try:
            if pick is None:
                client.open_virtual_port(own)
                name = None
            else:
                names = client.get_ports()
                found[_SHOWN[backend]] = names
                index = pick(names)
                if index is None:
                    client.delete()
                    continue
                client.open_port(index, own)
                name = names[index]
        except rtmidi.RtMidiError as error:  # e.g. the port vanished while being opened
            found[_SHOWN[backend]] = f"could not open a port ({error})"
            client.delete()
            continue
        return _Port(client, backend, name)
    return None


def _open(midi: Midi, wanted: str | None) -> _Port | str:
    """Open the input the `midi` section asks for, or say why not and what there is."""
    found: dict[str, list[str] | str] = {}
    pick = None if midi.virtual else functools.partial(choose_port, wanted=wanted)
    port = _open_port(BACKENDS[midi.backend], False, PORT_NAME, pick, found)
    if port is not None:
        return port
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


def _open_lights(midi: Midi, footswitch: _Port | None) -> _Port | str | None:
    """Open the lights' port: `midi.output`, else the footswitch's own device, else (the
    footswitch on our virtual port) our virtual `lights_out`. None while there is no
    footswitch port to go by; a str says why no port opened."""
    found: dict[str, list[str] | str] = {}
    if midi.output is not None:
        pick = functools.partial(choose_port, wanted=midi.output)
        port = _open_port(BACKENDS[midi.backend], True, LIGHTS_PORT_NAME, pick, found)
        if port is not None:
            return port
        return (
            f"MIDI: no output port matches {midi.output!r} for the pedal lights; available: "
            f"{_available(found)}; set midi.output in the YAML to part of a port name; "
            "waiting for it to appear"
        )
    if footswitch is None:
        return None
    if footswitch.name is None:
        port = _open_port((footswitch.backend,), True, LIGHTS_PORT_NAME, None, found)
        if port is not None:
            return port
        return (
            f"MIDI: cannot open the virtual port {CLIENT_NAME}:{LIGHTS_PORT_NAME} for the "
            f"pedal lights ({_available(found)}); retrying"
        )
    pick = functools.partial(device_port, footswitch=footswitch.name)
    port = _open_port((footswitch.backend,), True, LIGHTS_PORT_NAME, pick, found)
    if port is not None:
        return port
    return (
        f"MIDI: {footswitch.name!r} has no output port for its lights: no pedal lights "
        "(set midi.output to part of a port name to send them elsewhere)"
    )


class _LightsOut:
    """Keeps the lights' port open, as _Keeper does the footswitch's, and sends it what
    changed in what the main process forwards; a port just (re)opened gets every light."""

    def __init__(self, midi: Midi, lights: Lights, shown: Queue[Shown]) -> None:
        self.midi = midi
        self.lights = lights
        self.shown = shown
        self.port: _Port | None = None
        self.said = ""

    def check(self, footswitch: _Port | None) -> LightsState | None:
        """Every CHECK_SECONDS, after the footswitch's check: what to tell, if anything."""
        if not self.lights.lights:  # no binding has feedback: no port to open
            return None
        try:
            return self._check(footswitch)
        except Exception as error:  # rtmidi misbehaving must not stop the loops
            with contextlib.suppress(Exception):
                self.close()
            return self._say(f"MIDI: pedal lights: unexpected error ({error!r}); retrying")

    def _check(self, footswitch: _Port | None) -> LightsState | None:
        if self.port is not None:
            if self.port.present():
                return None
            name = self.port.name
            self.close()
            return self._say(f"MIDI: pedal lights: {name!r} is gone; waiting for it to come back")
        opened = _open_lights(self.midi, footswitch)
        if opened is None or isinstance(opened, str):
            return None if opened is None else self._say(opened)
        self.port, self.said = opened, ""
        self.lights.forget()
        self._send(opened)
        if opened.name is None:
            text = (
                f"MIDI: pedal lights on the virtual port '{CLIENT_NAME}:{LIGHTS_PORT_NAME}' "
                f"({_SHOWN[opened.backend]}); connect it to the footswitch"
            )
        else:
            text = f"MIDI: pedal lights to {opened.name!r} ({_SHOWN[opened.backend]})"
        return LightsState(text)

    def update(self) -> None:
        """Take what the main process forwarded, and send the lights that changed."""
        with contextlib.suppress(queue.Empty):
            while True:
                self.lights.show(self.shown.get_nowait())
        if self.port is None:
            return
        try:
            self._send(self.port)
        except _rtmidi().RtMidiError:
            self.close()  # the next check opens it again and sends every light

    def _send(self, port: _Port) -> None:
        for message in self.lights.changes():
            port.send(message)

    def _say(self, text: str) -> LightsState | None:
        if text == self.said:
            return None
        self.said = text
        return LightsState(text)

    def close(self) -> None:
        port, self.port = self.port, None
        if port is not None:
            port.close()


# --- the loop ------------------------------------------------------------------------------


def watch(
    config: Config, stop: Flag, lights: Queue[Shown] | None = None
) -> Iterator[PortState | Heard | LightsState]:
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
    out = None if lights is None else _LightsOut(config.midi, Lights(lights_of(config)), lights)
    return _watch(config.midi, mapper, stop, out)


def _watch(
    midi: Midi, mapper: Mapper, stop: Flag, out: _LightsOut | None
) -> Iterator[PortState | Heard | LightsState]:
    for event in _listen(midi, stop, out, mapper.next_deadline):
        if event is None:
            fired = mapper.poll(time.monotonic())
            if fired:
                yield _heard("", fired)
        elif isinstance(event, tuple):
            yield _decode(*event, mapper)
        else:
            yield event


def _listen(
    midi: Midi,
    stop: Flag,
    out: _LightsOut | None = None,
    deadline: Callable[[], float | None] = lambda: None,
) -> Iterator[PortState | LightsState | tuple[list[int], float] | None]:
    """The footswitch port kept open (and the lights port, if any): its raw messages with
    their `time.monotonic()` stamps, port news, and None each turn, when the caller's
    timers (`deadline`) may have come due. Polls every POLL_SECONDS; never blocks long."""
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
                news = None if out is None else out.check(keeper.port)
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
    commands: Queue[tuple[Command, float]],
    events: Queue[PortState | Heard | LightsState],
    stop: Flag,
    lights: Queue[Shown] | None = None,
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
    # Shutting down: the main process may have stopped reading; do not hang on a full pipe.
    commands.cancel_join_thread()
    events.cancel_join_thread()


def stamped(midi: Midi, stop: Flag) -> Iterator[PortState | tuple[list[int], float]]:
    """The footswitch's raw messages, each with its `time.monotonic()` stamp, until `stop`
    is set: for `looper learn`, which listens for switches no binding names yet. The port
    is kept open as in `watch`."""
    for event in _listen(midi, stop):
        if isinstance(event, PortState | tuple):
            yield event
