"""Ports kept open: a pulled cable must not stop the show.

The MIDI process (`looper.midi.process`) checks its ports every CHECK_SECONDS
through a keeper. The footswitch's keeper opens the port `midi` asks for and,
when it has gone, tells the performer once that loops keep playing, then
retries (by the port's stable name: ALSA may give it another address) until it
comes back. The lights' keeper follows it: the pedal lights go to `midi.output`,
else the footswitch's own device, else (the footswitch on our virtual port) our
virtual port `looper:lights_out`; a port just (re)opened is sent every light.

What a keeper says is news for the performer (PortState, LightsState), each
text once rather than every half second; rtmidi misbehaving is told too, and
never stops the loops.

The footswitch's messages arrive through a callback on rtmidi's thread
(`looper.midi.backend`); opening or closing the lights' port makes JACK calls
that wait for that thread while holding the GIL, so the lights' keeper does
them with the footswitch paused (`FootswitchKeeper.paused`). What the main
process forwards for the lights (`Shown`) comes on a multiprocessing Queue or
the receiving end of a Pipe: `shown_reader` gives what to wait on for either,
`take_shown` what arrived.

Which port is decided by `looper.midi.ports` (pure, from names); opening it,
by `looper.midi.backend`.
"""

from __future__ import annotations

import contextlib
import functools
import queue
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Generic, TypeVar

from looper.midi.backend import BACKENDS, SHOWN, Port, open_port, rtmidi_error
from looper.midi.ports import (
    CLIENT_NAME,
    LIGHTS_PORT_NAME,
    PORT_NAME,
    available_text,
    choose_port,
    device_port,
    no_match_text,
    stable_name,
)

if TYPE_CHECKING:
    from multiprocessing.queues import Queue

    from looper.config import Midi
    from looper.midi.lights import Lights, Shown

__all__ = [
    "FootswitchKeeper",
    "Keeper",
    "LightsKeeper",
    "LightsState",
    "PortState",
    "shown_reader",
    "take_shown",
]

if TYPE_CHECKING:
    from typing import TypeAlias

    #: What the main process forwards the lights' states on.
    ShownSource: TypeAlias = "Queue[Shown] | Connection"


@dataclass(frozen=True, slots=True)
class PortState:
    """The footswitch port opened, lost or missing, in words for the performer."""

    connected: bool
    text: str


@dataclass(frozen=True, slots=True)
class LightsState:
    """The pedal lights' port opened, lost or missing, in words; apart from PortState so
    that the footswitch's state stays what the display shows as the MIDI state."""

    text: str


News = TypeVar("News", PortState, LightsState)


class Keeper(ABC, Generic[News]):
    """One port kept open: opened, noticed gone, opened again.

    `check` runs every CHECK_SECONDS and returns what the performer should be
    told, if anything: each "missing" text once (`_say`), not every half second.
    rtmidi misbehaving must not stop the loops: an unexpected error closes the
    port, is told, and the next check tries again.
    """

    #: What the texts start with: which port they are about.
    about = "MIDI: "

    def __init__(self) -> None:
        self.port: Port | None = None
        self.said = ""

    def check(self) -> News | None:
        try:
            return self._check()
        except Exception as error:
            with contextlib.suppress(Exception):
                self.close()
            return self._say(f"{self.about}unexpected error ({error!r}); retrying")

    @abstractmethod
    def _check(self) -> News | None:
        """Open the port if it is closed, close it if it has gone; what to tell, if anything."""

    @abstractmethod
    def _news(self, text: str) -> News:
        """What telling `text` looks like on the events queue."""

    def _say(self, text: str) -> News | None:
        if text == self.said:
            return None
        self.said = text
        return self._news(text)

    def close(self) -> None:
        port, self.port = self.port, None
        if port is not None:
            port.close()


def _open(midi: Midi, wanted: str | None) -> Port | str:
    """Open the input the `midi` section asks for, or say why not and what there is."""
    found: dict[str, list[str] | str] = {}
    pick = None if midi.virtual else functools.partial(choose_port, wanted=wanted)
    port = open_port(BACKENDS[midi.backend], False, PORT_NAME, pick, found)
    if port is not None:
        return port
    if midi.virtual:
        return (
            f"MIDI: cannot open the virtual port {CLIENT_NAME}:{PORT_NAME} "
            f"({available_text(found)}); waiting"
        )
    return no_match_text(wanted, found)


class FootswitchKeeper(Keeper[PortState]):
    """Keeps the footswitch port open. After a pulled cable, "gone; waiting" stands until
    the port is back, and the port is looked for by its stable name."""

    def __init__(self, midi: Midi) -> None:
        super().__init__()
        self.midi = midi
        self.wanted = midi.input
        self.lost = False

    def _news(self, text: str) -> PortState:
        return PortState(False, text)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """No footswitch callback waits for the GIL inside: for calls that wait for
        rtmidi's thread (`looper.midi.backend`)."""
        port = self.port
        if port is None:
            yield
            return
        port.pause()
        try:
            yield
        finally:
            port.resume()

    def _check(self) -> PortState | None:
        if self.port is None:
            opened = _open(self.midi, self.wanted)
            if isinstance(opened, str):
                return None if self.lost else self._say(opened)
            self.port, self.lost, self.said = opened, False, ""
            if opened.name is None:
                return PortState(
                    True,
                    f"MIDI: virtual port '{CLIENT_NAME}:{PORT_NAME}' open "
                    f"({SHOWN[opened.backend]}); connect the footswitch to it",
                )
            return PortState(True, f"MIDI: listening to {opened.name!r} ({SHOWN[opened.backend]})")
        if self.port.present():
            return None
        name = self.port.name or ""
        self.close()
        self.lost = True
        self.wanted = stable_name(name)  # the same device, wherever it comes back
        return PortState(
            False, f"MIDI: {name!r} is gone; loops keep playing; waiting for it to come back"
        )


def _open_lights(midi: Midi, footswitch: Port | None) -> Port | str | None:
    """Open the lights' port: `midi.output`, else the footswitch's own device, else (the
    footswitch on our virtual port) our virtual `lights_out`. None while there is no
    footswitch port to go by; a str says why no port opened."""
    found: dict[str, list[str] | str] = {}
    if midi.output is not None:
        pick = functools.partial(choose_port, wanted=midi.output)
        port = open_port(BACKENDS[midi.backend], True, LIGHTS_PORT_NAME, pick, found)
        if port is not None:
            return port
        return (
            f"MIDI: no output port matches {midi.output!r} for the pedal lights; available: "
            f"{available_text(found)}; set midi.output in the YAML to part of a port name; "
            "waiting for it to appear"
        )
    if footswitch is None:
        return None
    if footswitch.name is None:
        port = open_port((footswitch.backend,), True, LIGHTS_PORT_NAME, None, found)
        if port is not None:
            return port
        return (
            f"MIDI: cannot open the virtual port {CLIENT_NAME}:{LIGHTS_PORT_NAME} for the "
            f"pedal lights ({available_text(found)}); retrying"
        )
    pick = functools.partial(device_port, footswitch=footswitch.name)
    port = open_port((footswitch.backend,), True, LIGHTS_PORT_NAME, pick, found)
    if port is not None:
        return port
    return (
        f"MIDI: {footswitch.name!r} has no output port for its lights: no pedal lights "
        "(set midi.output to part of a port name to send them elsewhere)"
    )


class LightsKeeper(Keeper[LightsState]):
    """Keeps the lights' port open, following the footswitch's keeper (checked after it),
    and sends it what changed in what the main process forwards; a port just (re)opened
    gets every light."""

    about = "MIDI: pedal lights: "

    def __init__(self, footswitch: FootswitchKeeper, lights: Lights, shown: ShownSource) -> None:
        super().__init__()
        self.footswitch = footswitch
        self.lights = lights
        self.shown: ShownSource | None = shown  # None once the main process has closed it

    def _news(self, text: str) -> LightsState:
        return LightsState(text)

    def check(self) -> LightsState | None:
        if not self.lights.lights:  # no binding has feedback: no port to open
            return None
        if self.port is not None and self.port.present():
            return None
        with self.footswitch.paused():  # opening and closing wait for JACK's graph
            return super().check()

    def close(self) -> None:
        with self.footswitch.paused():
            super().close()

    def _check(self) -> LightsState | None:
        if self.port is not None:
            name = self.port.name
            self.close()
            return self._say(f"{self.about}{name!r} is gone; waiting for it to come back")
        opened = _open_lights(self.footswitch.midi, self.footswitch.port)
        if opened is None or isinstance(opened, str):
            return None if opened is None else self._say(opened)
        self.port, self.said = opened, ""
        self.lights.forget()
        self._send(opened)
        if opened.name is None:
            text = (
                f"MIDI: pedal lights on the virtual port '{CLIENT_NAME}:{LIGHTS_PORT_NAME}' "
                f"({SHOWN[opened.backend]}); connect it to the footswitch"
            )
        else:
            text = f"MIDI: pedal lights to {opened.name!r} ({SHOWN[opened.backend]})"
        return LightsState(text)

    def fileno(self) -> int | None:
        """What to wait on for what the main process forwards (None once it closed it)."""
        return None if self.shown is None else shown_reader(self.shown).fileno()

    def update(self) -> None:
        """Take what the main process forwarded, and send the lights that changed."""
        if self.shown is not None:
            try:
                for shown in take_shown(self.shown):
                    self.lights.show(shown)
            except (EOFError, OSError):  # the main process closed its end: nothing more
                self.shown = None
        if self.port is None:
            return
        try:
            self._send(self.port)
        except rtmidi_error():
            self.close()  # the next check opens it again and sends every light

    def _send(self, port: Port) -> None:
        for message in self.lights.changes():
            port.send(message)


def shown_reader(source: ShownSource) -> Connection:
    """The connection whose descriptor is readable when `source` has something: a Pipe's
    end itself, or a Queue's reading end (its feeder thread writes each item there)."""
    if isinstance(source, Connection):
        return source
    reader: Connection = source._reader  # type: ignore[attr-defined]
    return reader


def take_shown(source: ShownSource) -> list[Shown]:
    """Everything waiting on `source`, oldest first, without blocking; raises EOFError
    when the sender has closed its end."""
    got: list[Shown] = []
    if isinstance(source, Connection):
        while source.poll():
            got.append(source.recv())
        return got
    with contextlib.suppress(queue.Empty):
        while True:
            got.append(source.get_nowait())
    return got
