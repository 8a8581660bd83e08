"""Pedal lights: what each footswitch light shows, and the messages that set it. Pure.

Lights go the other way from stomps. The main process reduces each status to
what the lights show (`shown_by`: the track states, and while a track waits the
beat's parity) and forwards that on a queue whenever it changes; the MIDI
process hands it to `Lights`, which gives the messages for the lights whose
value changed, and sends them to the lights' port (`looper.midi.process`).

Nothing here opens a port or reads a clock: the blinking of a waiting light
follows the beat in the status, not a timer, so it stays on the grid the
performer hears and every sequence of states can be tested by hand.

The state names are `looper.core.tracks.State`'s values: what the status
carries, and what a binding's `feedback.values` is keyed by.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from looper.core.tracks import State

if TYPE_CHECKING:
    from looper.config import Config, Feedback
    from looper.live.status import Status

__all__ = ["Light", "Lights", "Shown", "Target", "lights_of", "shown_by"]

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
        if state == State.WAITING.value and self.feedback.blink and not lit:
            state = State.EMPTY.value
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
    return states, State.WAITING.value not in states or beat % 2 == 0


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
            state = states[light.track] if light.track < len(states) else State.EMPTY.value
            value = light.value(state, lit)
            if self.sent.get(light.target) != value:
                self.sent[light.target] = value
                messages.append(light.message(value))
        return messages
