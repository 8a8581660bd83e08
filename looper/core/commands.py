"""Commands: what a pedal asks the engine to do, as small picklable values.

The gesture that produced a command (press, hold, ...) is not part of it; the
mapping decides that. Tracks are 0-based here; the YAML and the status use
1-based numbers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TrackCommand:
    """A command aimed at one track."""

    track: int


@dataclass(frozen=True, slots=True)
class Backloop(TrackCommand):
    """Turn the `bars` bars before the snapped downbeat into the track's loop."""

    bars: int = 2


@dataclass(frozen=True, slots=True)
class Record(TrackCommand):
    """First press starts recording at the snapped downbeat, the second ends it."""


@dataclass(frozen=True, slots=True)
class Overdub(TrackCommand):
    """Toggle layering the input onto the loop, at snapped downbeats."""


@dataclass(frozen=True, slots=True)
class Play(TrackCommand):
    """Play from the loop's start at the next downbeat."""


@dataclass(frozen=True, slots=True)
class Stop(TrackCommand):
    """Stop at the next downbeat."""


@dataclass(frozen=True, slots=True)
class Toggle(TrackCommand):
    """Play if stopped, stop if playing."""


@dataclass(frozen=True, slots=True)
class Mute(TrackCommand):
    """Mute or unmute now, keeping the loop's phase."""


@dataclass(frozen=True, slots=True)
class Undo(TrackCommand):
    """Drop the last layer (an overdub pass, or the loop itself)."""


@dataclass(frozen=True, slots=True)
class Redo(TrackCommand):
    """Bring back the last undone layer."""


@dataclass(frozen=True, slots=True)
class Reset:
    """Empty one track (or every track with `track=None`) now."""

    track: int | None = None


@dataclass(frozen=True, slots=True)
class TrackVolume(TrackCommand):
    """Set a track's volume, 0.0 to 1.0."""

    value: float = 1.0


@dataclass(frozen=True, slots=True)
class TapTempo:
    """One tap of tap tempo."""


@dataclass(frozen=True, slots=True)
class SetTempo:
    """Set the tempo in beats per minute."""

    bpm: float


@dataclass(frozen=True, slots=True)
class ClickToggle:
    """Switch the click on or off."""


@dataclass(frozen=True, slots=True)
class ClickVolume:
    """Set the click's volume, 0.0 to 1.0."""

    value: float


@dataclass(frozen=True, slots=True)
class Save:
    """Write the session (loops, history, manifest) to disk, outside the callback."""


@dataclass(frozen=True, slots=True)
class SetLoop(TrackCommand):
    """Make performance-time frames [start, end) the loop, rounded to whole bars.

    Not a pedal action: the programmatic surface (`looper.api.AudioStream`)
    sends it. Position 0 sits `offset` frames (rounded to bars) after `end`.
    """

    start: int = 0
    end: int = 0
    offset: int = 0


Command = (
    Backloop
    | Record
    | Overdub
    | Play
    | Stop
    | Toggle
    | Mute
    | Undo
    | Redo
    | Reset
    | TrackVolume
    | TapTempo
    | SetTempo
    | ClickToggle
    | ClickVolume
    | SetLoop
    | Save
)

#: YAML action name -> command class. The order is the order the README lists them.
ACTIONS: dict[str, type] = {
    "backloop": Backloop,
    "record": Record,
    "overdub": Overdub,
    "play": Play,
    "stop": Stop,
    "toggle": Toggle,
    "mute": Mute,
    "undo": Undo,
    "redo": Redo,
    "reset": Reset,
    "track_volume": TrackVolume,
    "tap_tempo": TapTempo,
    "tempo": SetTempo,
    "click": ClickToggle,
    "click_volume": ClickVolume,
    "save": Save,
}

#: Actions that take a continuous 0.0-1.0 value, from a CC or a fixed `value`.
CONTINUOUS = frozenset({"track_volume", "click_volume"})

#: Actions that need a `track`.
TRACK_ACTIONS = frozenset(
    name for name, cls in ACTIONS.items() if issubclass(cls, TrackCommand) or cls is Reset
)
