"""Mapping: raw MIDI messages -> gestures -> commands. Pure; time is injected.

The MIDI process owns the port and the clock. It hands each message to
`Mapper.feed` with the monotonic time it arrived, and calls `Mapper.poll` when
`Mapper.next_deadline` comes round, so holds and deferred presses fire even when
no message arrives. Nothing here reads a clock or opens a port, so every gesture
can be tested to the microsecond with bindings built by hand.

Why some presses wait: a switch bound to press *and* hold (or double) cannot
know at the press which one the performer means. The press is deferred, but
stamped with the time of the stomp; the engine snaps commands to the bar grid
from that stamp, so a deferred press still lands where the performer stomped. A
switch bound only to press (and release) never waits: that is the main path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum, auto
from typing import TYPE_CHECKING, Literal

from looper.core.bindings import Binding, Gesture, MessageKind, MidiTiming
from looper.core.commands import Command

if TYPE_CHECKING:
    import mido

#: A CC footswitch sends 127 down and 0 up; anything from 64 up counts as down.
CC_PRESS_THRESHOLD = 64

#: Gestures a program change can make: it is a press with no release, ever.
PROGRAM_GESTURES: frozenset[Gesture] = frozenset({"press", "double"})


@dataclass(frozen=True, slots=True)
class Fired:
    """A command to send, stamped with the time the engine snaps it from."""

    command: Command
    at: float
    gesture: Gesture
    switch: str


class State(Enum):
    """Where one switch is in its gesture."""

    UP = auto()  # released, nothing pending
    DOWN = auto()  # pressed, nothing pending but the release
    PENDING_DOWN = auto()  # pressed, press deferred: hold or double may still win
    PENDING_UP = auto()  # released, press deferred: a second press would be a double


class Event(Enum):
    """What can happen to a switch, after debouncing."""

    PRESS = auto()
    RELEASE = auto()
    RELEASE_IN_WINDOW = auto()  # a release while a second press could still make a double
    HOLD_DUE = auto()  # hold_ms since the first press, still down
    DOUBLE_DUE = auto()  # double_ms since the first press, no second press


#: Which time a fired gesture is stamped with: the gesture's first press, or the event.
Stamp = Literal["first", "now"]
#: A transition: the next state and the gestures to fire, in order.
Step = tuple[State, tuple[tuple[Gesture, Stamp], ...]]
Table = Mapping[tuple[State, Event], Step]

#: Switches with no hold or double binding: nothing is ever deferred.
IMMEDIATE: Table = {
    (State.UP, Event.PRESS): (State.DOWN, (("press", "now"),)),
    (State.DOWN, Event.RELEASE): (State.UP, (("release", "now"),)),
}

#: Switches with a hold or double binding: the press waits until it is unambiguous.
DEFERRED: Table = {
    (State.UP, Event.PRESS): (State.PENDING_DOWN, ()),
    (State.PENDING_DOWN, Event.HOLD_DUE): (State.DOWN, (("hold", "first"),)),
    (State.PENDING_DOWN, Event.DOUBLE_DUE): (State.DOWN, (("press", "first"),)),
    (State.PENDING_DOWN, Event.RELEASE): (
        State.UP,
        (("press", "first"), ("release", "now")),
    ),
    (State.PENDING_DOWN, Event.RELEASE_IN_WINDOW): (State.PENDING_UP, (("release", "now"),)),
    (State.PENDING_UP, Event.PRESS): (State.DOWN, (("double", "first"),)),
    (State.PENDING_UP, Event.DOUBLE_DUE): (State.UP, (("press", "first"),)),
    (State.DOWN, Event.RELEASE): (State.UP, (("release", "now"),)),
}
# Pairs missing from a table are ignored: a press while down, a release while up.

_DOWN_STATES = frozenset({State.DOWN, State.PENDING_DOWN})


class _Switch:
    """One physical switch: debounce, then the transition table.

    All times are seconds on the caller's clock. "Within X" means strictly less
    than X; a deadline is reached when `now >= deadline`, so a hold fires at
    exactly hold_ms and a second press at exactly double_ms is too late.
    """

    __slots__ = (
        "bindings",
        "debounce_s",
        "double_s",
        "first",
        "ghost_down",
        "hold_s",
        "last_press",
        "name",
        "state",
        "table",
    )

    def __init__(
        self, name: str, bindings: Mapping[Gesture, tuple[Binding, ...]], timing: MidiTiming
    ) -> None:
        self.name = name
        self.bindings = bindings
        self.debounce_s = timing.debounce_ms / 1000.0
        self.hold_s = timing.hold_ms / 1000.0 if "hold" in bindings else None
        self.double_s = timing.double_ms / 1000.0 if "double" in bindings else None
        deferred = self.hold_s is not None or self.double_s is not None
        self.table = DEFERRED if deferred else IMMEDIATE
        self.state = State.UP
        self.first = 0.0  # time of the press that started the current gesture
        self.last_press: float | None = None  # last press that got past the debounce
        self.ghost_down = False  # a press was debounced: ignore presses until its release

    def press(self, now: float) -> list[Fired]:
        """A switch-down message; bounces and repeats are dropped here."""
        if self.state in _DOWN_STATES or self.ghost_down:
            return []
        if self.last_press is not None and now < self.last_press + self.debounce_s:
            self.ghost_down = True
            return []
        self.last_press = now
        return self._step(Event.PRESS, now)

    def release(self, now: float) -> list[Fired]:
        """A switch-up message; the release of a debounced press is dropped."""
        if self.ghost_down:
            self.ghost_down = False
            return []
        in_window = (
            self.state is State.PENDING_DOWN
            and self.double_s is not None
            and now < self.first + self.double_s
        )
        return self._step(Event.RELEASE_IN_WINDOW if in_window else Event.RELEASE, now)

    def deadline(self) -> tuple[float, Event] | None:
        """When a pending gesture resolves by itself, and how."""
        if self.state is State.PENDING_DOWN:
            # A hold, if bound, decides while down; a double cannot start before a release.
            if self.hold_s is not None:
                return self.first + self.hold_s, Event.HOLD_DUE
            if self.double_s is not None:
                return self.first + self.double_s, Event.DOUBLE_DUE
        if self.state is State.PENDING_UP and self.double_s is not None:
            return self.first + self.double_s, Event.DOUBLE_DUE
        return None

    def _step(self, event: Event, now: float) -> list[Fired]:
        step = self.table.get((self.state, event))
        if step is None:
            return []
        if self.state is State.UP and event is Event.PRESS:
            self.first = now
        self.state, gestures = step
        fired: list[Fired] = []
        for gesture, stamp in gestures:
            at = self.first if stamp == "first" else now
            fired.extend(
                Fired(b.command_for(None), at, gesture, self.name)
                for b in self.bindings.get(gesture, ())
            )
        return fired

    def fire_due(self, now: float) -> list[Fired]:
        """Resolve whatever deadline has passed by `now`."""
        fired: list[Fired] = []
        due = self.deadline()
        while due is not None and now >= due[0]:
            fired.extend(self._step(due[1], now))
            due = self.deadline()
        return fired


class Mapper:
    """Turns MIDI messages into fired commands, one gesture state machine per switch."""

    def __init__(self, bindings: Sequence[Binding], timing: MidiTiming) -> None:
        """Group the bindings per switch; reject sets no message could ever honour.

        Raises ValueError for a continuous binding that is not a CC, a CC bound
        both continuously and to gestures, or a program change bound to release
        or hold (a program change never releases).
        """
        self._channel = None if timing.channel is None else timing.channel - 1
        grouped: dict[tuple[MessageKind, int], dict[Gesture, list[Binding]]] = {}
        continuous: dict[int, list[Binding]] = {}
        for binding in bindings:
            _check(binding)
            if binding.continuous:
                continuous.setdefault(binding.number, []).append(binding)
            else:
                per = grouped.setdefault((binding.kind, binding.number), {})
                per.setdefault(binding.gesture, []).append(binding)
        for number in continuous:
            if ("cc", number) in grouped:
                raise ValueError(f"cc {number} is bound both continuously and to gestures")
        self._continuous = {n: tuple(bs) for n, bs in continuous.items()}
        self._switches = {
            key: _Switch(f"{key[0]} {key[1]}", {g: tuple(bs) for g, bs in per.items()}, timing)
            for key, per in grouped.items()
        }

    def feed(self, message: mido.Message, now: float) -> list[Fired]:
        """Handle one message received at `now`; never raises, [] if it means nothing.

        Deadlines that passed before `now` are resolved first (as `poll` would),
        so a late poll cannot reorder a hold and the release that follows it.
        """
        fired = self.poll(now)
        fired.extend(self._dispatch(message, now))
        return fired

    def poll(self, now: float) -> list[Fired]:
        """Fire holds and deferred presses whose time has come, earliest first."""
        due = sorted(
            (deadline[0], index, switch)
            for index, switch in enumerate(self._switches.values())
            if (deadline := switch.deadline()) is not None and now >= deadline[0]
        )
        fired: list[Fired] = []
        for _, _, switch in due:
            fired.extend(switch.fire_due(now))
        return fired

    def next_deadline(self) -> float | None:
        """When `poll` next has something to do: the MIDI loop's receive timeout."""
        deadlines = [d[0] for s in self._switches.values() if (d := s.deadline()) is not None]
        return min(deadlines, default=None)

    def _dispatch(self, message: mido.Message, now: float) -> list[Fired]:
        kind = getattr(message, "type", None)
        if kind not in _CHANNEL_MESSAGES:
            return []
        if self._channel is not None and getattr(message, "channel", None) != self._channel:
            return []
        if kind == "control_change":
            return self._control_change(message.control, message.value, now)
        if kind == "program_change":
            switch = self._switches.get(("program", message.program))
            # A program change is a whole stomp: press and release at once.
            return [] if switch is None else switch.press(now) + switch.release(now)
        switch = self._switches.get(("note", message.note))
        if switch is None:
            return []
        if kind == "note_on" and message.velocity > 0:
            return switch.press(now)
        return switch.release(now)

    def _control_change(self, number: int, value: int, now: float) -> list[Fired]:
        continuous = self._continuous.get(number)
        if continuous is not None:
            # An expression pedal: every value counts, so no debounce and no gesture.
            return [Fired(b.command_for(value), now, "press", b.switch) for b in continuous]
        switch = self._switches.get(("cc", number))
        if switch is None:
            return []
        return switch.press(now) if value >= CC_PRESS_THRESHOLD else switch.release(now)


_CHANNEL_MESSAGES = frozenset({"note_on", "note_off", "control_change", "program_change"})


def _check(binding: Binding) -> None:
    """Reject a binding no message could honour, rather than ignore it on stage."""
    if binding.continuous and binding.kind != "cc":
        raise ValueError(f"{binding.switch}: only a cc can be bound continuously")
    if binding.kind == "program" and binding.gesture not in PROGRAM_GESTURES:
        raise ValueError(
            f"{binding.switch}: a program change has no {binding.gesture}, only press or double"
        )
