"""A pedal binding after validation: which message, which gesture, which command.

This is the only thing the config hands to the mapping, so the mapping can be
tested with bindings built by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from looper.core.commands import ClickVolume, Command, TrackVolume

MessageKind = Literal["note", "cc", "program"]
Gesture = Literal["press", "release", "hold", "double"]
GESTURES: tuple[Gesture, ...] = ("press", "release", "hold", "double")


@dataclass(frozen=True, slots=True)
class Binding:
    """One pedal binding; `continuous` ones take their value from the CC."""

    kind: MessageKind
    number: int
    gesture: Gesture
    action: str
    command: Command
    continuous: bool = False

    def command_for(self, cc_value: int | None) -> Command:
        """The command to send; a continuous binding scales the CC value 0-127 to 0.0-1.0."""
        if self.continuous and cc_value is not None:
            assert isinstance(self.command, TrackVolume | ClickVolume)
            return replace(self.command, value=cc_value / 127.0)
        return self.command

    @property
    def switch(self) -> str:
        """How the performer names the switch, e.g. 'note 60'."""
        return f"{self.kind} {self.number}"


@dataclass(frozen=True, slots=True)
class MidiTiming:
    """Gesture timing and filtering, in milliseconds (from the `midi` section, which owns
    the defaults)."""

    channel: int | None  # 1-based, None = any
    debounce_ms: float
    hold_ms: float
    double_ms: float
