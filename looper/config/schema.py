"""The YAML config, validated once at the edge into frozen, typed objects.

A performer edits `configs/pedalboard.yaml` minutes before a show, so a mistake
must come back as one line per problem (file, line, key path, what was found,
what is allowed), all of them at once, never as a traceback. Past this module
nothing checks the config again.

Validation runs in three passes:

1. YAML -> plain data, remembering the line of every key and list item and
   refusing duplicate keys (PyYAML would silently keep the last one).
2. Each section and each pedal is validated on its own by a pydantic model, so
   a mistake in one does not hide the mistakes in the others.
3. Rules that span keys or sections (one message per binding, tracks within
   `tracks.count`, the arguments each action takes) run on what passed 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError, core_schema

from looper.core.bindings import GESTURES, Binding, Gesture, MidiTiming
from looper.core.commands import ACTIONS, CONTINUOUS, TRACK_ACTIONS, Command

__all__ = [
    "Audio",
    "Clicktrack",
    "Config",
    "ConfigError",
    "Midi",
    "Pedal",
    "Problem",
    "Tracks",
    "load_config",
    "parse_config",
]

#: Where a value sits in the YAML: keys and 0-based list indexes, e.g. ("pedals", 2, "action").
Loc = tuple[str | int, ...]

_MESSAGE_KINDS = ("note", "cc", "program")


# --- problems ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    """One mistake in the config, located precisely enough to fix it without searching."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return ": ".join(part for part in (where, self.path, self.message) if part)


class ConfigError(Exception):
    """The config cannot be used; `problems` lists every mistake found, in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(map(str, problems)))
        self.problems = problems


class _Report:
    """Collects problems, finding each one's line from the nearest located key."""

    def __init__(self, filename: str, lines: dict[Loc, int]) -> None:
        self.filename = filename
        self.lines = lines
        self.problems: list[Problem] = []

    def line(self, loc: Loc) -> int | None:
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.lines:
                return self.lines[loc[:end]]
        return None

    def __call__(self, loc: Loc, message: str, line: int | None = None) -> None:
        line = self.line(loc) if line is None else line
        self.problems.append(Problem(self.filename, line, _path(loc), message))


def _path(loc: Loc) -> str:
    """('pedals', 2, 'action') -> 'pedals[2].action', the way the performer reads the file."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def _show(value: Any) -> str:
    """A value as it would be written in the YAML, short enough for one line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list | tuple):
        text = "[" + ", ".join(map(_show, value)) + "]"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    else:
        text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _suggest(found: object, options: Iterable[str]) -> str:
    """'did you mean 'x'?' for a near miss, else ''."""
    close = difflib.get_close_matches(str(found), list(options), n=1)
    return f"did you mean {close[0]!r}?" if close else ""


def _unknown_key(key: object, allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    hint = _suggest(key, allowed)
    return f"found unknown key {_show(key)}; allowed: {', '.join(allowed)}" + (
        f" ({hint})" if hint else ""
    )


# --- pass 1: YAML with lines ---------------------------------------------------------------


class _LineLoader(yaml.SafeLoader):
    """A SafeLoader that also records the line of every key and list item, and duplicate keys.

    Lines are 1-based and keyed by location; a duplicate key is kept (the last value
    wins, as in PyYAML) but remembered so it can be reported with both lines.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.lines: dict[Loc, int] = {}
        self.duplicates: list[tuple[Loc, int, int]] = []  # where, first line, repeated line
        self._open: set[int] = set()  # nodes being built, to refuse recursive aliases

    def load_with_lines(self) -> Any:
        """The single document as plain dicts, lists and scalars (None when empty)."""
        try:
            node = self.get_single_node()
            if node is None:
                return None
            self.lines[()] = node.start_mark.line + 1
            return self._build(node, ())
        finally:
            self.dispose()

    def _build(self, node: yaml.Node, loc: Loc) -> Any:
        if id(node) in self._open:
            raise yaml.constructor.ConstructorError(
                None, None, "found an alias that contains itself", node.start_mark
            )
        self._open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return dict(self._entries(node, loc))
            if isinstance(node, yaml.SequenceNode):
                items = []
                for index, item in enumerate(node.value):
                    self.lines[(*loc, index)] = item.start_mark.line + 1
                    items.append(self._build(item, (*loc, index)))
                return items
            return self.construct_object(node)
        finally:
            self._open.discard(id(node))

    def _entries(self, node: yaml.MappingNode, loc: Loc) -> Iterator[tuple[Any, Any]]:
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    "found a merge key '<<'; allowed: keys written out",
                    key_node.start_mark,
                )
            if not isinstance(key_node, yaml.ScalarNode):
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    "found a list or mapping used as a key; allowed: a key name",
                    key_node.start_mark,
                )
            key = self.construct_object(key_node)
            if not isinstance(key, str):  # every mapping here has names as keys: `1:` is '1'
                key = _show(key)
            if key in seen:
                self.duplicates.append(((*loc, key), seen[key], line))
            seen[key] = line
            self.lines[(*loc, key)] = line
            yield key, self._build(value_node, (*loc, key))


# --- pass 2: field checks ------------------------------------------------------------------


def _found(value: Any, allowed: str, hint: str = "") -> PydanticCustomError:
    """The one error shape every check raises, so every message says found and allowed."""
    return PydanticCustomError(
        "config", "{message}", {"message": f"found {_show(value)}; allowed: {allowed}{hint}"}
    )


@dataclass(frozen=True, slots=True)
class _Check:
    """Annotated metadata that replaces pydantic's own check of a field.

    `convert` returns the value to keep or raises ValueError (whose text, if any, is
    a hint such as "did you mean ..."); `allowed` is what the error says is allowed.
    """

    allowed: str
    convert: Callable[[Any], Any]

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(self.validate)

    def validate(self, value: Any) -> Any:
        try:
            return self.convert(value)
        except ValueError as error:
            hint = f" ({error})" if str(error) else ""
            raise _found(value, self.allowed, hint) from None


def _num(value: Any, lo: float | None, hi: float | None, *, above: bool = False) -> bool:
    """Whether value is a YAML number (not a bool) in range; `above` makes `lo` exclusive."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    low_ok = lo is None or (value > lo if above else value >= lo)
    return low_ok and (hi is None or value <= hi)


def _integer(lo: int, hi: int | None = None, what: str = "an integer") -> _Check:
    def convert(value: Any) -> int:
        if not isinstance(value, int) or not _num(value, lo, hi):
            raise ValueError
        return value

    upto = f"to {hi}" if hi is not None else "up"
    return _Check(f"{what} from {lo} {upto}", convert)


def _number(lo: float | None = None, hi: float | None = None, *, above: bool = False) -> _Check:
    def convert(value: Any) -> float:
        if not _num(value, lo, hi, above=above):
            raise ValueError
        return float(value)

    if lo is None:
        allowed = "a number"
    elif above:
        allowed = f"a number above {lo} and at most {hi}"
    else:
        allowed = f"a number from {lo} to {hi}"
    return _Check(allowed, convert)


def _choice(options: Iterable[str]) -> _Check:
    options = tuple(options)

    def convert(value: Any) -> str:
        if value not in options:
            raise ValueError(_suggest(value, options))
        return value

    return _Check(", ".join(options), convert)


def _text(allowed: str) -> _Check:
    def convert(value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError
        return value

    return _Check(allowed, convert)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError
    return value


def _null(value: Any) -> None:
    if value is not None:
        raise ValueError


def _either(*checks: _Check) -> _Check:
    """The first check that accepts the value; the hint of the last one that refused."""

    def convert(value: Any) -> Any:
        hint = ""
        for check in checks:
            try:
                return check.convert(value)
            except ValueError as error:
                hint = str(error) or hint
        raise ValueError(hint)

    *first, last = [check.allowed for check in checks]
    comma = "," if len(first) > 1 else ""
    return _Check(f"{', '.join(first)}{comma} or {last}", convert)


def _optional(check: _Check) -> _Check:
    return _either(check, _Check("null", _null))


_FLAG = _Check("true or false", _flag)
_DEVICE = _either(
    _text("part of the device name"),
    _integer(0, what="a device index"),
    _Check("null (the system default)", _null),
)
_PORT = _either(_text("part of the port name"), _Check("null (the first port)", _null))
_LATENCY = _either(_number(0, 1000), _choice(["auto"]))
_BPM = _either(_number(20, 300), _choice(["auto"]))
_CHANNELS_ALLOWED = "a list of channel numbers from 1 to 64, each once, e.g. [1, 2]"


def _channel_list(value: Any) -> Any:
    if not isinstance(value, list):
        raise _found(value, _CHANNELS_ALLOWED)
    return value


def _distinct_channels(channels: tuple[int, ...]) -> tuple[int, ...]:
    if not channels:
        raise _found([], _CHANNELS_ALLOWED)
    twice = sorted({c for c in channels if channels.count(c) > 1})
    if twice:
        raise _found(list(channels), f"each channel once ({_show(twice)[1:-1]} repeated)")
    return channels


#: 1-based device channels; unique and non-empty.
Channels = Annotated[
    tuple[Annotated[int, _integer(1, 64, "a channel number")], ...],
    BeforeValidator(_channel_list),
    AfterValidator(_distinct_channels),
]


class _Section(BaseModel):
    """A frozen mapping of known keys; an empty section (`audio:`) means all defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, data: Any) -> Any:
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise _found(data, "a mapping with the keys " + ", ".join(cls.model_fields))
        return data


class Audio(_Section):
    """The sound card and how the looper uses its channels."""

    input_device: Annotated[str | int | None, _DEVICE] = None
    output_device: Annotated[str | int | None, _DEVICE] = None
    sample_rate: Annotated[int, _integer(8000, 384000)] = 48000
    block_size: Annotated[int, _integer(1, 8192)] = 256
    inputs: Channels = (1, 2)
    outputs: Channels = (1, 2)
    monitor: Annotated[float, _number(0.0, 1.0)] = 0.0
    latency_ms: Annotated[float | Literal["auto"], _LATENCY] = 0.0
    history_seconds: Annotated[float, _number(1, 3600)] = 60.0


class Clicktrack(_Section):
    """The click the performer plays against; loops are whole bars of it."""

    bpm: Annotated[float | Literal["auto"], _BPM] = 120.0
    beats_per_bar: Annotated[int, _integer(1, 16)] = 4
    count_in_bars: Annotated[int, _integer(0, 16)] = 0
    first_loop_bars: Annotated[int, _integer(1, 64)] = 1
    volume: Annotated[float, _number(0.0, 1.0)] = 0.5
    enabled: Annotated[bool, _FLAG] = True
    outputs: Channels = (1, 2)


class Tracks(_Section):
    """How many loop tracks there are and how they capture."""

    count: Annotated[int, _integer(1, 64)] = 4
    backloop_bars: Annotated[int, _integer(1, 64)] = 2
    late_press: Annotated[float, _number(0, 1, above=True)] = 0.75
    crossfade_ms: Annotated[float, _number(0, 100)] = 10.0
    memory_seconds: Annotated[float, _number(10, 7200)] = 300.0


class Midi(_Section):
    """The footswitch port and how its presses are read."""

    input: Annotated[str | None, _PORT] = None
    output: Annotated[str | None, _PORT] = None
    backend: Annotated[Literal["auto", "alsa", "jack"], _choice(["auto", "alsa", "jack"])] = "auto"
    virtual: Annotated[bool, _FLAG] = False
    channel: Annotated[int | None, _optional(_integer(1, 16))] = None
    debounce_ms: Annotated[float, _number(0, 1000)] = 30.0
    hold_ms: Annotated[float, _number(50, 5000)] = 600.0
    double_ms: Annotated[float, _number(50, 2000)] = 300.0


_TRACK = _either(_integer(1, what="a track number"), _choice(["all"]), _Check("null", _null))


def _yaml_arg(field_name: str) -> str:
    """The YAML argument for a command field: all are the same except SetTempo.bpm."""
    return "value" if field_name == "bpm" else field_name


#: The YAML arguments each action takes, from its command's fields.
_ARGS: dict[str, tuple[str, ...]] = {
    action: tuple(_yaml_arg(f.name) for f in fields(cls)) for action, cls in ACTIONS.items()
}


STATES = ("empty", "waiting", "recording", "playing", "stopped", "muted", "overdubbing")
#: The light a footswitch shows for its track's state: off, dim (64) or on.
DEFAULT_LIGHTS = {
    "empty": 0,
    "waiting": 127,
    "recording": 127,
    "playing": 127,
    "stopped": 0,
    "muted": 64,
    "overdubbing": 127,
}


class Feedback(_Section):
    """What a footswitch's light receives: a note or cc whose value shows the track's state."""

    note: Annotated[int | None, _optional(_integer(0, 127))] = None
    cc: Annotated[int | None, _optional(_integer(0, 127))] = None
    channel: Annotated[int, _integer(1, 16)] = 1
    values: Annotated[dict[str, int], _Check("a mapping of track states to 0-127", dict)] = Field(
        default_factory=dict
    )
    blink: Annotated[bool, _FLAG] = True  # waiting blinks on the beat

    def light(self, state: str) -> int:
        """The value for a state: the binding's own, else the default."""
        return self.values.get(state, DEFAULT_LIGHTS[state])


class Pedal(_Section):
    """One item of `pedals` as written; pass 3 checks how its keys fit together."""

    note: Annotated[int | None, _optional(_integer(0, 127))] = None
    cc: Annotated[int | None, _optional(_integer(0, 127))] = None
    program: Annotated[int | None, _optional(_integer(0, 127))] = None
    gesture: Annotated[Gesture, _choice(GESTURES)] = "press"
    action: Annotated[str, _choice(ACTIONS)]
    track: Annotated[int | Literal["all"] | None, _TRACK] = None
    bars: Annotated[int | None, _optional(_integer(1, 64))] = None
    value: Annotated[float | None, _optional(_number())] = None
    feedback: Feedback | None = None

    @property
    def continuous(self) -> bool:
        """A volume without a fixed `value` follows the CC's position."""
        return self.action in CONTINUOUS and self.value is None

    def binding(self, default_bars: int) -> Binding:
        """The Binding the mapping uses: 0-based track, defaults filled in."""
        kind = next(k for k in _MESSAGE_KINDS if getattr(self, k) is not None)
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
    rules that span keys (pass 3).
    """

    audio: Audio = Field(default_factory=Audio)
    clicktrack: Clicktrack = Field(default_factory=Clicktrack)
    tracks: Tracks = Field(default_factory=Tracks)
    midi: Midi = Field(default_factory=Midi)
    pedals: tuple[Pedal, ...] = ()

    def bindings(self) -> tuple[Binding, ...]:
        """The pedal bindings, in file order, ready for the mapping."""
        return tuple(pedal.binding(self.tracks.backloop_bars) for pedal in self.pedals)

    def midi_timing(self) -> MidiTiming:
        """The gesture timing and channel filter for the MIDI process."""
        m = self.midi
        return MidiTiming(m.channel, m.debounce_ms, m.hold_ms, m.double_ms)


_M = TypeVar("_M", bound=_Section)

_SECTIONS: dict[str, type[_Section]] = {
    "audio": Audio,
    "clicktrack": Clicktrack,
    "tracks": Tracks,
    "midi": Midi,
}


def _allowed(model: type[BaseModel], key: str) -> str:
    """What a field allows, from its _Check."""
    return next(m.allowed for m in model.model_fields[key].metadata if isinstance(m, _Check))


def _validate(model: type[_M], data: Any, loc: Loc, report: _Report) -> _M | None:
    """The model, or None after reporting each of pydantic's errors."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        for e in error.errors(include_url=False):
            where = (*loc, *e["loc"])
            if e["type"] == "config":
                message = e["msg"]
            elif e["type"] == "extra_forbidden":
                message = _unknown_key(e["loc"][-1], model.model_fields)
            elif e["type"] == "missing":
                message = f"found no {e['loc'][-1]}; allowed: {_allowed(model, e['loc'][-1])}"
            else:  # not expected: every field has a _Check; keep pydantic's words
                message = f"found {_show(e['input'])}; allowed: {e['msg']}"
            report(where, message)
        return None


# --- pass 3: rules across keys -------------------------------------------------------------


def _check_midi(midi: Midi, report: _Report) -> None:
    """Timings that would make a gesture impossible to play."""
    if midi.debounce_ms >= midi.double_ms:
        report(
            ("midi", "debounce_ms"),
            f"found {midi.debounce_ms:g}, not below double_ms ({midi.double_ms:g}); allowed: "
            "less than double_ms (else the second press of a double is dropped as a bounce)",
        )


def _check_feedback(at: Loc, pedal: Pedal, report: _Report) -> None:
    """A light shows one track's state: it needs a track, one message, known states."""
    fb = pedal.feedback
    if fb is None:
        return
    where = (*at, "feedback")
    if (fb.note is None) == (fb.cc is None):
        found = "both note and cc" if fb.note is not None else "neither note nor cc"
        report(where, f"found {found}; allowed: exactly one of note, cc (what the light receives)")
    if not isinstance(pedal.track, int):
        report(
            where,
            "found feedback without a track number; allowed: feedback on a binding "
            "with a track (the light shows that track's state)",
        )
    for state, value in fb.values.items():
        if state not in DEFAULT_LIGHTS:
            report((*where, "values", state), _unknown_key(state, DEFAULT_LIGHTS))
        elif not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 127:
            report((*where, "values", state), f"found {_show(value)}; allowed: 0 to 127")


def _check_pedal(i: int, pedal: Pedal, track_count: int | None, report: _Report) -> str | None:
    """Report what does not fit in one pedal; return its message kind when exactly one is set."""
    at = ("pedals", i)
    _check_feedback(at, pedal, report)
    action = pedal.action
    takes = _ARGS[action]
    for arg in ("track", "bars", "value"):
        if getattr(pedal, arg) is not None and arg not in takes:
            allowed = ", ".join(takes) if takes else "no arguments"
            report((*at, arg), f"found {arg}, which {action} does not take; allowed: {allowed}")

    tracks = f"a track number from 1 to {track_count}" if track_count else "a track number"
    if action in TRACK_ACTIONS and action != "reset":
        if pedal.track is None:
            report((*at, "track"), f"found no track for {action}; allowed: {tracks}")
        elif pedal.track == "all":
            report((*at, "track"), f"found 'all'; allowed: {tracks} ('all' is for reset only)")
    in_range = not track_count or not isinstance(pedal.track, int) or pedal.track <= track_count
    if "track" in takes and not in_range:
        report(
            (*at, "track"),
            f"found {pedal.track}; allowed: {tracks} (tracks.count is {track_count})",
        )

    if action == "tempo" and not _num(pedal.value, 20, 300):
        found = "no value" if pedal.value is None else f"{pedal.value:g}"
        report((*at, "value"), f"found {found} for tempo; allowed: a tempo from 20 to 300 bpm")
    if action in CONTINUOUS and pedal.value is not None and not _num(pedal.value, 0, 1):
        report(
            (*at, "value"),
            f"found {pedal.value:g}; allowed: a volume from 0.0 to 1.0, or no value to follow a cc",
        )

    kinds = [k for k in _MESSAGE_KINDS if getattr(pedal, k) is not None]
    if len(kinds) != 1:
        found = "none of note, cc, program" if not kinds else " and ".join(kinds)
        report(
            at if not kinds else (*at, kinds[1]),
            f"found {found}; allowed: exactly one of note, cc, program",
        )
        return None
    kind = kinds[0]
    if pedal.continuous and kind != "cc":
        report(
            (*at, kind),
            f"found {kind} {getattr(pedal, kind)} for {action} without a value; allowed: a cc "
            "(the pedal's position sets the volume), or a fixed value from 0.0 to 1.0",
        )
    elif pedal.continuous and pedal.gesture != "press":
        report(
            (*at, "gesture"),
            f"found {pedal.gesture!r} for {action} following a cc; allowed: press (the default), "
            "or a fixed value with any gesture",
        )
    if kind == "program" and pedal.gesture in ("release", "hold"):
        report(
            (*at, "gesture"),
            f"found {pedal.gesture!r} on a program change; allowed: press, double "
            "(a program change has no release)",
        )
    return kind


_CC_USE = {True: "a continuous control", False: "a switch"}


def _check_pedals(pedals: dict[int, Pedal], track_count: int | None, report: _Report) -> None:
    """Per-pedal rules, then one binding per message and gesture, one use per cc."""
    first: dict[tuple[str, int, str], int] = {}  # (kind, number, gesture) -> pedal index
    cc_use: dict[int, tuple[bool, int]] = {}  # cc number -> (continuous, pedal index)
    for i, pedal in pedals.items():
        kind = _check_pedal(i, pedal, track_count, report)
        if kind is None:
            continue
        number = getattr(pedal, kind)
        where = ("pedals", i, kind)
        key = (kind, number, pedal.gesture)
        if key in first:
            j = first[key]
            report(
                where,
                f"found {kind} {number} {pedal.gesture} again (already bound at line "
                f"{report.line(('pedals', j))}, pedals[{j}]); allowed: one binding per message "
                "and gesture",
            )
            continue
        first[key] = i
        if kind != "cc":
            continue
        continuous, j = cc_use.setdefault(number, (pedal.continuous, i))
        if continuous != pedal.continuous:
            report(
                where,
                f"found cc {number} used as {_CC_USE[pedal.continuous]} here and as "
                f"{_CC_USE[continuous]} at line {report.line(('pedals', j))} (pedals[{j}]); "
                "allowed: one use per cc",
            )


# --- entry points --------------------------------------------------------------------------


def _yaml_problem(error: yaml.YAMLError, text: str, filename: str) -> Problem:
    """PyYAML's complaint, on the line where it happened."""
    if isinstance(error, yaml.reader.ReaderError):
        line = text.count("\n", 0, error.position) + 1
        message = f"found the character {chr(error.character)!r}; allowed: printable text"
        return Problem(filename, line, "", message)
    if not isinstance(error, yaml.MarkedYAMLError):
        return Problem(filename, None, "", f"YAML error: {error}")
    mark = error.problem_mark or error.context_mark
    message = error.problem or error.context or "unreadable YAML"
    if error.context and error.context_mark and error.problem:
        message += f" ({error.context} at line {error.context_mark.line + 1})"
    kind = "YAML" if isinstance(error, yaml.constructor.ConstructorError) else "YAML syntax"
    return Problem(filename, mark.line + 1 if mark else None, "", f"{kind} error: {message}")


def parse_config(text: str, filename: str) -> Config:
    """Validate config text; `filename` is only used in the problems reported."""
    try:
        loader = _LineLoader(text)
        data = loader.load_with_lines()
    except yaml.YAMLError as error:
        raise ConfigError([_yaml_problem(error, text, filename)]) from None

    report = _Report(filename, loader.lines)
    for loc, first_line, line in loader.duplicates:
        report(
            loc,
            f"found the key {_show(loc[-1])} again (first at line {first_line}); allowed: "
            "each key once",
            line,
        )

    if data is None:
        data = {}
    if not isinstance(data, dict):
        report(
            (),
            f"found {_show(data)}; allowed: a mapping with the sections "
            + ", ".join(Config.model_fields),
        )
        raise ConfigError(report.problems)
    for key in data:
        if key not in Config.model_fields:
            report((key,), _unknown_key(key, Config.model_fields))

    sections = {
        name: _validate(model, data.get(name), (name,), report) for name, model in _SECTIONS.items()
    }
    pedals = data.get("pedals")
    if pedals is None:
        pedals = []
    elif not isinstance(pedals, list):
        report(
            ("pedals",),
            f"found {_show(pedals)}; allowed: a list of bindings, each item starting with '- '",
        )
        pedals = []
    valid = {i: _validate(Pedal, item, ("pedals", i), report) for i, item in enumerate(pedals)}
    valid = {i: pedal for i, pedal in valid.items() if pedal is not None}

    if sections["midi"] is not None:
        _check_midi(sections["midi"], report)
    click = sections["clicktrack"]
    if click is not None and click.bpm == "auto" and click.count_in_bars:
        report(
            ("clicktrack", "count_in_bars"),
            f"found {click.count_in_bars} with bpm: auto; allowed: 0 (a count-in needs a tempo: "
            "set clicktrack.bpm to a number)",
        )
    tracks = sections["tracks"]
    _check_pedals(valid, tracks.count if tracks is not None else None, report)

    if report.problems:
        report.problems.sort(key=lambda p: p.line or 0)
        raise ConfigError(report.problems)
    return Config(**sections, pedals=tuple(valid.values()))


def load_config(path: str | Path) -> Config:
    """Read and validate a config file; an unreadable file is a ConfigError too."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            [Problem(name, None, "", "found no such file; allowed: a path to a YAML file")]
        ) from None
    except OSError as error:
        raise ConfigError(
            [Problem(name, None, "", f"found {error.strerror}; allowed: a readable YAML file")]
        ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        message = (
            f"found the byte 0x{raw[error.start]:02x}, which is not UTF-8; allowed: UTF-8 text"
        )
        raise ConfigError([Problem(name, line, "", message)]) from None
    return parse_config(text, name)
