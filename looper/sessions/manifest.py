"""A session's manifest, `session.yaml`, read back: bounded, range-checked, every problem found.

The manifest is read as the config is (looper.config.load.read_text and
looper.config.lines.parse_yaml: at most 1 MB, a regular file, no tags, no more
than 20,000 values, no deep nesting, no huge or infinite numbers), so a crafted
or damaged one is refused in milliseconds with its line. Its values are then
checked against the ranges the config allows for the same things (a tempo from
MIN_BPM to MAX_BPM, the meter, the sample rate, the channels, the tracks), so a
session can never bring in what a config could not; what a session must match
in this config (the rate, the channels, `tracks.count`, the loop memory) is
looper.sessions.store's `_check`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from looper.config.checks import MAX_CHANNELS, check_of, integer, number
from looper.config.lines import ConfigError, parse_yaml
from looper.config.load import read_text
from looper.config.schema import Audio, Clicktrack
from looper.core.grid import MAX_BPM, MIN_BPM
from looper.core.tracks import State
from looper.errors import LooperError

__all__ = ["FIX", "MANIFEST", "VERSION", "Manifest", "SessionError", "parse_manifest"]

VERSION = 1
MANIFEST = "session.yaml"
FIX = "restore it from a backup, or give --session another directory"


class SessionError(LooperError, ValueError):
    """A session that cannot be loaded or written; one line per problem, each with its fix."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _plain_wav_name(name: str) -> str:
    if "/" in name or "\\" in name or not name.endswith(".wav") or name.startswith("."):
        raise ValueError("a file name in the session directory, ending in .wav")
    return name


WavName = Annotated[str, AfterValidator(_plain_wav_name)]


def _saved_state(value: str) -> str:
    if value not in SAVED_STATES:
        raise ValueError(f"found {value!r}; allowed: {', '.join(SAVED_STATES)}")
    return value


#: What a saved track can have been doing: any state of a track that has a loop.
SAVED_STATES = tuple(s.value for s in State if s not in (State.EMPTY, State.WAITING))
SavedState = Annotated[str, AfterValidator(_saved_state)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _HistoryEntry(_Strict):
    file: WavName
    seconds: float = Field(ge=0)


class _TrackEntry(_Strict):
    number: int = Field(ge=1)  # within tracks.count: store._check
    state: SavedState
    bars: int = Field(ge=1)
    volume: float = Field(ge=0.0, le=1.0)
    file: WavName


class Manifest(_Strict):
    """session.yaml's keys; a value the config also sets is checked by the config's Check."""

    version: int
    created: str | datetime
    sample_rate: Annotated[int, check_of(Audio, "sample_rate")]
    bpm: Annotated[float, number(MIN_BPM, MAX_BPM)]  # clicktrack.bpm's range, without auto
    beats_per_bar: Annotated[int, check_of(Clicktrack, "beats_per_bar")]
    channels: Annotated[int, integer(1, MAX_CHANNELS, "a channel count")]
    history: _HistoryEntry
    tracks: list[_TrackEntry]


def parse_manifest(path: Path) -> Manifest:
    """The manifest at `path`, or SessionError with every problem found, each with its line."""
    try:
        loader = parse_yaml(read_text(path), str(path))
    except ConfigError as error:
        problems = [
            f"{problem}; {FIX}" if problem.line is None else f"{problem}; fix the line or {FIX}"
            for problem in error.problems
        ]
        raise SessionError(problems) from None
    data = loader.data
    twice = [
        f"{path}:{line}: found {loc[-1]!r} again (first at line {first}); {FIX}"
        for loc, first, line in loader.duplicates
    ]
    if twice:
        raise SessionError(twice)
    if not isinstance(data, dict):
        raise SessionError(
            [f"{path}: found {type(data).__name__}, not a mapping of session keys; {FIX}"]
        )
    version = data.get("version")
    if version != VERSION:
        newer = isinstance(version, int) and version > VERSION
        whom = " (written by a newer looper: update this one)" if newer else ""
        raise SessionError(
            [f"{path}: version is {version!r}; this looper reads version {VERSION}{whom}"]
        )
    try:
        return Manifest.model_validate(data)
    except ValidationError as error:
        problems = []
        for e in error.errors(include_url=False):
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e["loc"])
            found = "nothing" if e["type"] == "missing" else repr(e["input"])
            why = e["msg"].removeprefix("Value error, ")
            said = why if e["type"] == "config" else f"found {found}: {why}"  # a config Check's
            problems.append(f"{path}: {where.lstrip('.')}: {said}; {FIX}")
        raise SessionError(problems) from None
