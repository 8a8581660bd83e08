"""The schema: each section of the YAML as a frozen pydantic model, and `Config`, the whole.

These classes are the one home of every default a performer can set (`sample_rate:
48000`, `count: 4`, ...): the engine, the live side and the seed API read them from
a `Config` and keep no defaults of their own. A `Config` is built by
`looper.config.load.parse_config` (or `load_config`), never by `model_validate` alone,
which would skip the rules that span keys (looper.config.rules).

Each field's check is a `Check` (looper.config.checks) in its `Annotated` metadata;
the type beside it is what the rest of the looper reads. The names of the track
states a light can show come from `looper.core.tracks.State`: the light defaults are
keyed by it, and a state added there without a default light fails at import.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from looper.config.checks import (
    BPM,
    DEVICE,
    FLAG,
    LATENCY,
    PORT,
    TRACK,
    Channels,
    Check,
    choice,
    found,
    integer,
    number,
    optional,
)
from looper.core.bindings import GESTURES, Binding, Gesture, MessageKind, MidiTiming
from looper.core.commands import ACTIONS, CONTINUOUS, Command
from looper.core.tracks import State

__all__ = [
    "ARGS",
    "DEFAULT_LIGHTS",
    "MESSAGE_KINDS",
    "Audio",
    "Clicktrack",
    "Config",
    "Feedback",
    "Master",
    "Midi",
    "Pedal",
    "Tracks",
]

#: The messages a pedal binds, as the keys that name them in the YAML.
MESSAGE_KINDS: tuple[MessageKind, ...] = ("note", "cc", "program")


class _Section(BaseModel):
    """A frozen mapping of known keys; an empty section (`audio:`) means all defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, data: Any) -> Any:
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise found(data, "a mapping with the keys " + ", ".join(cls.model_fields))
        return data


class Audio(_Section):
    """The sound card and how the looper uses its channels."""

    input_device: Annotated[str | int | None, DEVICE] = None
    output_device: Annotated[str | int | None, DEVICE] = None
    sample_rate: Annotated[int, integer(8000, 384000)] = 48000
    block_size: Annotated[int, integer(1, 8192)] = 256
    inputs: Channels = (1, 2)
    outputs: Channels = (1, 2)
    monitor: Annotated[float, number(0.0, 1.0)] = 0.0
    latency_ms: Annotated[float | Literal["auto"], LATENCY] = 0.0
    history_seconds: Annotated[float, number(1, 3600)] = 60.0


class Clicktrack(_Section):
    """The click the performer plays against; loops are whole bars of it."""

    bpm: Annotated[float | Literal["auto"], BPM] = 120.0
    beats_per_bar: Annotated[int, integer(1, 16)] = 4
    count_in_bars: Annotated[int, integer(0, 16)] = 0
    first_loop_bars: Annotated[int, integer(1, 64)] = 1
    volume: Annotated[float, number(0.0, 1.0)] = 0.5
    enabled: Annotated[bool, FLAG] = True
    outputs: Channels = (1, 2)


class Route(_Section):
    """One track's routing: which recorded inputs its loops take, which outputs it plays on.

    Unset keys mean what a track without routing does: every input, `audio.outputs`."""

    inputs: Channels | None = None
    outputs: Channels | None = None


def _route_list(value: Any) -> Any:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise found(value, "a list of {inputs: [...], outputs: [...]}, one per track from 1")
    return value


class Tracks(_Section):
    """How many loop tracks there are and how they capture."""

    count: Annotated[int, integer(1, 64)] = 4
    backloop_bars: Annotated[int, integer(1, 64)] = 2
    late_press: Annotated[float, number(0, 1, above=True)] = 0.75
    crossfade_ms: Annotated[float, number(0, 100)] = 10.0
    memory_seconds: Annotated[float, number(10, 7200)] = 300.0
    play_from: Annotated[Literal["phrase", "top"], choice(["phrase", "top"])] = "phrase"
    #: One entry per track, from track 1; the tracks after the last are unrouted.
    routing: Annotated[tuple[Route, ...], BeforeValidator(_route_list)] = ()


class Master(_Section):
    """What every output channel goes through last: the master volume and the peak limiter."""

    volume: Annotated[float, number(0.0, 1.0)] = 1.0
    limiter: Annotated[bool, FLAG] = True
    ceiling_db: Annotated[float, number(-20.0, 0.0)] = -0.3


class Midi(_Section):
    """The footswitch port and how its presses are read."""

    input: Annotated[str | None, PORT] = None
    output: Annotated[str | None, PORT] = None
    backend: Annotated[Literal["auto", "alsa", "jack"], choice(["auto", "alsa", "jack"])] = "auto"
    virtual: Annotated[bool, FLAG] = False
    channel: Annotated[int | None, optional(integer(1, 16))] = None
    debounce_ms: Annotated[float, number(0, 1000)] = 30.0
    hold_ms: Annotated[float, number(50, 5000)] = 600.0
    double_ms: Annotated[float, number(50, 2000)] = 300.0


def _yaml_arg(field_name: str) -> str:
    """The YAML argument for a command field: all are the same except SetTempo.bpm."""
    return "value" if field_name == "bpm" else field_name


#: The YAML arguments each action takes, from its command's fields.
ARGS: dict[str, tuple[str, ...]] = {
    action: tuple(_yaml_arg(f.name) for f in fields(cls)) for action, cls in ACTIONS.items()
}

_LIGHTS = {
    State.EMPTY: 0,
    State.WAITING: 127,
    State.RECORDING: 127,
    State.PLAYING: 127,
    State.STOPPED: 0,
    State.MUTED: 64,
    State.OVERDUBBING: 127,
}
#: The light a footswitch shows for its track's state: off, dim (64) or on; by state name.
DEFAULT_LIGHTS: dict[str, int] = {state.value: _LIGHTS[state] for state in State}


def _mapping(value: Any) -> dict[str, Any]:
    """A mapping as it was written; its states and values are looper.config.rules' to check."""
    if not isinstance(value, dict):
        raise ValueError
    return value


class Feedback(_Section):
    """What a footswitch's light receives: a note or cc whose value shows the track's state."""

    note: Annotated[int | None, optional(integer(0, 127))] = None
    cc: Annotated[int | None, optional(integer(0, 127))] = None
    channel: Annotated[int, integer(1, 16)] = 1
    values: Annotated[dict[str, int], Check("a mapping of track states to 0-127", _mapping)] = (
        Field(default_factory=dict)
    )
    blink: Annotated[bool, FLAG] = True  # waiting blinks on the beat

    def light(self, state: str) -> int:
        """The value for a state: the binding's own, else the default."""
        return self.values.get(state, DEFAULT_LIGHTS[state])


class Pedal(_Section):
    """One item of `pedals` as written; looper.config.rules checks how its keys fit together."""

    note: Annotated[int | None, optional(integer(0, 127))] = None
    cc: Annotated[int | None, optional(integer(0, 127))] = None
    program: Annotated[int | None, optional(integer(0, 127))] = None
    gesture: Annotated[Gesture, choice(GESTURES)] = "press"
    action: Annotated[str, choice(ACTIONS)]
    track: Annotated[int | Literal["all"] | None, TRACK] = None
    bars: Annotated[int | None, optional(integer(1, 64))] = None
    value: Annotated[float | None, optional(number())] = None
    feedback: Feedback | None = None

    @property
    def continuous(self) -> bool:
        """A volume without a fixed `value` follows the CC's position."""
        return self.action in CONTINUOUS and self.value is None

    def binding(self, default_bars: int) -> Binding:
        """The Binding the mapping uses: 0-based track, defaults filled in."""
        kind = next(k for k in MESSAGE_KINDS if getattr(self, k) is not None)
        track = self.track - 1 if isinstance(self.track, int) else None  # None: all tracks
        args = {
            "track": track,
            "bars": default_bars if self.bars is None else self.bars,
            "value": 0.0 if self.value is None else self.value,  # continuous: set per CC message
        }
        cls = ACTIONS[self.action]
        command: Command = cls(**{f.name: args[_yaml_arg(f.name)] for f in fields(cls)})
        return Binding(
            kind=kind,
            number=getattr(self, kind),
            gesture=self.gesture,
            action=self.action,
            command=command,
            continuous=self.continuous,
        )


class Config(_Section):
    """The whole validated config.

    Build it with `load_config` or `parse_config`: `model_validate` alone would skip the
    rules that span keys.
    """

    audio: Audio = Field(default_factory=Audio)
    clicktrack: Clicktrack = Field(default_factory=Clicktrack)
    tracks: Tracks = Field(default_factory=Tracks)
    master: Master = Field(default_factory=Master)
    midi: Midi = Field(default_factory=Midi)
    pedals: tuple[Pedal, ...] = ()

    def bindings(self) -> tuple[Binding, ...]:
        """The pedal bindings, in file order, ready for the mapping."""
        return tuple(pedal.binding(self.tracks.backloop_bars) for pedal in self.pedals)

    def midi_timing(self) -> MidiTiming:
        """The gesture timing and channel filter for the MIDI process."""
        m = self.midi
        return MidiTiming(m.channel, m.debounce_ms, m.hold_ms, m.double_ms)
