"""Pass 2's words: the check of each value, and pydantic's errors turned into problems.

Every field of the schema carries a `Check` in its `Annotated` metadata, which
replaces pydantic's own validation of that field: pydantic would accept `"4"` for an
int or `1` for a bool, and would say "Input should be a valid integer" where the
performer needs "found '4'; allowed: an integer from 1 to 64". So a `Check` is the
value's whole conversion and also knows, as text, what it allows: the same text serves
the error for a wrong value and the one for a missing key (`validate`). Checks
compose (`either`, `optional`) so that "a number from 0 to 1000 or auto" is built,
not written out twice.

Near misses get a suggestion ("did you mean 'backloop'?") from difflib, for values
and for unknown keys alike.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    GetCoreSchemaHandler,
    ValidationError,
)
from pydantic_core import PydanticCustomError, core_schema

from looper.config.lines import Loc, Report, show
from looper.core.grid import MAX_BPM, MIN_BPM  # the tempo range: the grid's

__all__ = [
    "BPM",
    "DEVICE",
    "FLAG",
    "LATENCY",
    "MAX_BPM",
    "MAX_CHANNELS",
    "MIN_BPM",
    "PORT",
    "TRACK",
    "Channels",
    "Check",
    "check_of",
    "choice",
    "found",
    "integer",
    "is_number",
    "number",
    "optional",
    "unknown_key",
    "validate",
]

#: The tempo range, for clicktrack.bpm and for a tempo pedal's value.


def found(value: Any, allowed: str, hint: str = "") -> PydanticCustomError:
    """The one error shape every check raises, so every message says found and allowed."""
    return PydanticCustomError(
        "config", "{message}", {"message": f"found {show(value)}; allowed: {allowed}{hint}"}
    )


def _suggest(found: object, options: Iterable[str]) -> str:
    """'did you mean 'x'?' for a near miss, else ''."""
    close = difflib.get_close_matches(str(found), list(options), n=1)
    return f"did you mean {close[0]!r}?" if close else ""


def unknown_key(key: object, allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    hint = _suggest(key, allowed)
    return f"found unknown key {show(key)}; allowed: {', '.join(allowed)}" + (
        f" ({hint})" if hint else ""
    )


@dataclass(frozen=True, slots=True)
class Check:
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
            raise found(value, self.allowed, hint) from None


def is_number(value: Any, lo: float | None, hi: float | None, *, above: bool = False) -> bool:
    """Whether value is a YAML number (not a bool) in range; `above` makes `lo` exclusive."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    low_ok = lo is None or (value > lo if above else value >= lo)
    return low_ok and (hi is None or value <= hi)


def integer(lo: int, hi: int | None = None, what: str = "an integer") -> Check:
    def convert(value: Any) -> int:
        if not isinstance(value, int) or not is_number(value, lo, hi):
            raise ValueError
        return value

    upto = f"to {hi}" if hi is not None else "up"
    return Check(f"{what} from {lo} {upto}", convert)


def number(lo: float | None = None, hi: float | None = None, *, above: bool = False) -> Check:
    def convert(value: Any) -> float:
        if not is_number(value, lo, hi, above=above):
            raise ValueError
        return float(value)

    if lo is None:
        allowed = "a number"
    elif above:
        allowed = f"a number above {lo} and at most {hi}"
    else:
        allowed = f"a number from {lo} to {hi}"
    return Check(allowed, convert)


def choice(options: Iterable[str]) -> Check:
    options = tuple(options)

    def convert(value: Any) -> str:
        if value not in options:
            raise ValueError(_suggest(value, options))
        return str(value)

    return Check(", ".join(options), convert)


def _text(allowed: str) -> Check:
    def convert(value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError
        return value

    return Check(allowed, convert)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError
    return value


def _null(value: Any) -> None:
    if value is not None:
        raise ValueError


def _either(*checks: Check) -> Check:
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
    return Check(f"{', '.join(first)}{comma} or {last}", convert)


def optional(check: Check) -> Check:
    return _either(check, Check("null", _null))


FLAG = Check("true or false", _flag)
DEVICE = _either(
    _text("part of the device name"),
    integer(0, what="a device index"),
    Check("null (the system default)", _null),
)
PORT = _either(_text("part of the port name"), Check("null (the first port)", _null))
LATENCY = _either(number(0, 1000), choice(["auto"]))
BPM = _either(number(MIN_BPM, MAX_BPM), choice(["auto"]))
TRACK = _either(integer(1, what="a track number"), choice(["all"]), Check("null", _null))
MAX_CHANNELS = 64
_CHANNELS_ALLOWED = f"a list of channel numbers from 1 to {MAX_CHANNELS}, each once, e.g. [1, 2]"


def _channel_list(value: Any) -> Any:
    """A list, and no longer than the channels there are (before each item is checked)."""
    if not isinstance(value, list):
        raise found(value, _CHANNELS_ALLOWED)
    if len(value) > MAX_CHANNELS:
        raise found(value, f"at most {MAX_CHANNELS} channels ({len(value)} given)")
    return value


def _distinct_channels(channels: tuple[int, ...]) -> tuple[int, ...]:
    if not channels:
        raise found([], _CHANNELS_ALLOWED)
    twice = sorted({c for c in channels if channels.count(c) > 1})
    if twice:
        raise found(list(channels), f"each channel once ({show(twice)[1:-1]} repeated)")
    return channels


#: 1-based device channels; unique and non-empty.
Channels = Annotated[
    tuple[Annotated[int, integer(1, MAX_CHANNELS, "a channel number")], ...],
    BeforeValidator(_channel_list),
    AfterValidator(_distinct_channels),
]


_M = TypeVar("_M", bound=BaseModel)


def check_of(model: type[BaseModel], key: str) -> Check:
    """A field's Check: what checks the same value elsewhere (a session's sample rate)."""
    return next(m for m in model.model_fields[key].metadata if isinstance(m, Check))


def validate(model: type[_M], data: Any, loc: Loc, report: Report) -> _M | None:
    """The model, or None after reporting each of pydantic's errors."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        for e in error.errors(include_url=False):
            where = (*loc, *e["loc"])
            key = e["loc"][-1] if e["loc"] else ""
            if e["type"] == "config":
                message = e["msg"]
            elif e["type"] == "extra_forbidden":
                message = unknown_key(key, _model_at(model, e["loc"]).model_fields)
            elif e["type"] == "missing":
                message = f"found no {key}; allowed: {check_of(model, str(key)).allowed}"
            else:  # not expected: every field has a Check; keep pydantic's words
                message = f"found {show(e['input'])}; allowed: {e['msg']}"
            report(where, message)
        return None


def _model_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel]:
    """The section whose key the last part of `loc` is: nested ones (a pedal's
    `feedback`, a `tracks.routing` entry) list their own keys, not their parent's."""
    for part in loc[:-1]:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            continue  # a list index, or a key pydantic added
        inner = _model_in(field.annotation)
        if inner is None:
            break
        model = inner
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds, through `X | None`, `tuple[X, ...]` and `Annotated`."""
    todo = [annotation]
    while todo:
        t = todo.pop()
        if isinstance(t, type) and issubclass(t, BaseModel):
            return t
        todo.extend(get_args(t))
    return None
