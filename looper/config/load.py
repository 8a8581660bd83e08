"""The entry points: config text or a config file -> a `Config`, or a `ConfigError`.

`parse_config` runs the three passes in order (looper.config.lines, the field checks
of looper.config.schema, looper.config.rules) and raises once, with every problem
found; it is also the way to build a `Config` from values written in Python (a
test, a tool): give it the YAML text, so that no second path around the checks
exists. `load_config` adds what can go wrong before there is text (`read_text`): no
file, an unreadable one, a FIFO or a device, a file over 1 MB, bytes that are not UTF-8.
"""

from __future__ import annotations

from pathlib import Path

from looper.config.checks import unknown_key, validate
from looper.config.lines import ConfigError, Problem, Report, parse_yaml, show
from looper.config.rules import (
    check_clicktrack,
    check_latency,
    check_machine,
    check_memory,
    check_midi,
    check_pedals,
    check_routing,
)
from looper.config.schema import (
    MESSAGE_KINDS,
    Audio,
    Clicktrack,
    Config,
    Master,
    Midi,
    Pedal,
    Tracks,
)
from looper.core.bindings import GESTURES
from looper.files import MAX_TEXT_BYTES, FileRefused, FileTooBig, read_bounded

__all__ = ["MAX_PEDALS", "load_config", "parse_config", "read_text"]

#: The most bindings there can be without two for one message and gesture.
MAX_PEDALS = len(MESSAGE_KINDS) * 128 * len(GESTURES)


def _pedals(data: object, report: Report) -> dict[int, Pedal]:
    """The items of `pedals` that pass their field checks, by index in the file."""
    if data is None:
        return {}
    if not isinstance(data, list):
        report(
            ("pedals",),
            f"found {show(data)}; allowed: a list of bindings, each item starting with '- '",
        )
        return {}
    if len(data) > MAX_PEDALS:  # beyond it, bindings repeat: refused before each is checked
        report(
            ("pedals",),
            f"found {len(data)} bindings; allowed: at most {MAX_PEDALS} (one per message and "
            f"gesture: 128 each of {', '.join(MESSAGE_KINDS)}, {len(GESTURES)} gestures)",
        )
        return {}
    valid = {i: validate(Pedal, item, ("pedals", i), report) for i, item in enumerate(data)}
    return {i: pedal for i, pedal in valid.items() if pedal is not None}


def parse_config(text: str, filename: str) -> Config:
    """Validate config text; `filename` is only used in the problems reported."""
    loader = parse_yaml(text, filename)
    data = loader.data
    report = Report(filename, loader.lines)
    for loc, first_line, line in loader.duplicates:
        report(
            loc,
            f"found the key {show(loc[-1])} again (first at line {first_line}); allowed: "
            "each key once",
            line,
        )

    if data is None:
        data = {}
    if not isinstance(data, dict):
        report(
            (),
            f"found {show(data)}; allowed: a mapping with the sections "
            + ", ".join(Config.model_fields),
        )
        raise ConfigError(report.problems)
    for key in data:
        if key not in Config.model_fields:
            report((key,), unknown_key(key, Config.model_fields))

    audio = validate(Audio, data.get("audio"), ("audio",), report)
    clicktrack = validate(Clicktrack, data.get("clicktrack"), ("clicktrack",), report)
    tracks = validate(Tracks, data.get("tracks"), ("tracks",), report)
    master = validate(Master, data.get("master"), ("master",), report)
    midi = validate(Midi, data.get("midi"), ("midi",), report)
    pedals = _pedals(data.get("pedals"), report)

    if midi is not None:
        check_midi(midi, report)
    if clicktrack is not None:
        check_clicktrack(clicktrack, report)
    if audio is not None and clicktrack is not None and tracks is not None:
        check_memory(audio, clicktrack, tracks, report)
        check_latency(audio, clicktrack, tracks, report)
    if audio is not None and tracks is not None:
        check_routing(audio, tracks, report)
    check_pedals(pedals, tracks.count if tracks is not None else None, report)

    # A section is None only after a problem was reported: the checks below are for mypy.
    if (
        report.problems
        or audio is None
        or clicktrack is None
        or tracks is None
        or master is None
        or midi is None
    ):
        raise report.error()
    config = Config(
        audio=audio,
        clicktrack=clicktrack,
        tracks=tracks,
        master=master,
        midi=midi,
        pedals=tuple(pedals.values()),
    )
    check_machine(config, report)  # on the whole config: it sizes the engine
    if report.problems:
        raise report.error()
    return config


def read_text(path: str | Path) -> str:
    """The text of a YAML file the performer names (a config, a session's manifest).

    Bounded (looper.files): a FIFO, a device or a directory is refused before a byte is
    read, and a file over 1 MB before it is parsed. An unreadable file or bytes that are
    not UTF-8 are a ConfigError too, on the line of the first bad byte.
    """
    name = str(path)
    try:
        raw = read_bounded(Path(path), MAX_TEXT_BYTES)
    except FileNotFoundError:
        raise ConfigError(
            [Problem(name, None, "", "found no such file; allowed: a path to a YAML file")]
        ) from None
    except FileRefused as error:
        big = " (a pedal map or a session's manifest is a few KB: is this the right file?)"
        big = big if isinstance(error, FileTooBig) else ""
        raise ConfigError([Problem(name, None, "", f"{error.found}{big}")]) from None
    except OSError as error:
        raise ConfigError(
            [Problem(name, None, "", f"found {error.strerror}; allowed: a readable YAML file")]
        ) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        message = (
            f"found the byte 0x{raw[error.start]:02x}, which is not UTF-8; allowed: UTF-8 text"
        )
        raise ConfigError([Problem(name, line, "", message)]) from None


def load_config(path: str | Path) -> Config:
    """Read and validate a config file; an unreadable file is a ConfigError too."""
    return parse_config(read_text(path), str(path))
