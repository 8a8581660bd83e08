"""Pass 1: YAML text -> plain data, with the line of every key and list item; and problems.

A performer edits `configs/pedalboard.yaml` minutes before a show, so a mistake must
come back as one line per problem (file, line, key path, what was found, what is
allowed), all of them at once, never as a traceback. This module owns that shape:
`Problem` is one such line, `ConfigError` carries all of them, and `Report` collects
them while the later passes run, finding each problem's line from the nearest key
the loader located.

The loader is PyYAML's SafeLoader's parts building plain values node by node, because the
plain `yaml.safe_load` forgets where a value was written and silently keeps the last
of two equal keys; here a duplicate is remembered with both lines. PyYAML's own
complaints (`yaml_problem`) are put on the line they name, in the same shape.

The loader is also where hostile YAML stops, before it costs time or memory (the
file itself is bounded before this: looper.files). At most `MAX_NODES` values are
composed, and at most `MAX_NODES` built, an alias's values counted each time it is
used: so an alias bomb (a few lines that expand to billions of values) stops after
20,000, in milliseconds. Aliases are bounded rather than refused because PyYAML's own
`safe_dump` writes them for a value used twice (`&id001`, `*id001`), so a config
written by a script can hold them. Nesting deeper than `MAX_DEPTH` is refused, in
the text as it is composed (PyYAML composes recursively: 1000 levels overflow
Python's stack) and through aliases as it is built. Every explicit tag is refused,
`!!str` as much as `!!python/object`: the values here are plain YAML, and a tag
could only make one mean something else. A number of more than `MAX_DIGITS` digits
is refused before it is converted (Python refuses to convert a 5,000-digit int, and
the conversion of a long one is quadratic), and `.inf` or `.nan` are refused for
every key: no setting of the looper or of a session is infinite or not a number.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from math import isfinite
from typing import Any, NoReturn

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from looper.errors import LooperError

try:  # PyYAML's wheels bundle libyaml; a build without it cannot read configs fast enough
    from yaml._yaml import CParser
    from yaml._yaml import Mark as CMark
except ImportError as error:  # pragma: no cover - a broken install
    raise ImportError(
        "looper reads YAML with libyaml, which this PyYAML lacks: "
        "pip install --force-reinstall --only-binary :all: pyyaml"
    ) from error

__all__ = [
    "MAX_DEPTH",
    "MAX_DIGITS",
    "MAX_NODES",
    "ConfigError",
    "LineLoader",
    "Loc",
    "Problem",
    "Report",
    "parse_yaml",
    "show",
    "yaml_problem",
]

#: Where a value sits in the YAML: keys and 0-based list indexes, e.g. ("pedals", 2, "action").
Loc = tuple[str | int, ...]

#: How deep mappings and lists may nest: a pedal's light values are 5 deep.
MAX_DEPTH = 32
#: The most values (keys, items, scalars) a document may hold: a hundred times the 192 of
#: configs/pedalboard.yaml, composed in under 0.1 s.
MAX_NODES = 20_000
#: The most digits a number may have: more than any setting needs (a float has 17).
MAX_DIGITS = 30
_TOO_MANY = (
    f"found more than {MAX_NODES:,} values (an alias counts as often as it is used); "
    f"allowed: at most {MAX_NODES:,} (a pedal map or a session has a few hundred)"
)
_TOO_DEEP = f"found lists or mappings nested over {MAX_DEPTH} deep; allowed: at most {MAX_DEPTH}"
_NUMBERS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


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


class ConfigError(LooperError, ValueError):
    """The config cannot be used; `problems` lists every mistake found, in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(map(str, problems)))
        self.problems = problems


class Report:
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

    def error(self) -> ConfigError:
        """Every problem reported, in file order."""
        return ConfigError(sorted(self.problems, key=lambda p: p.line or 0))


def _path(loc: Loc) -> str:
    """('pedals', 2, 'action') -> 'pedals[2].action', the way the performer reads the file."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def show(value: Any) -> str:
    """A value as it would be written in the YAML, short enough for one line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list | tuple):
        text = "[" + ", ".join(map(show, value)) + "]"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k}: {show(v)}" for k, v in value.items()) + "}"
    else:
        text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


class LineLoader(Composer, CParser, SafeConstructor, Resolver):
    """SafeLoader's parts, and the line of every key and list item, and duplicate keys.

    Lines are 1-based and keyed by location; a duplicate key is kept (the last value
    wins, as in PyYAML) but remembered so it can be reported with both lines. The
    events come from libyaml (`CParser`, bundled with PyYAML's wheels), which scans
    six times faster than PyYAML's Python scanner; the nodes are composed here, in
    PyYAML's Python composer (first in the bases), so that each can be checked.
    """

    def __init__(self, text: str) -> None:
        CParser.__init__(self, text)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self.lines: dict[Loc, int] = {}
        self.duplicates: list[tuple[Loc, int, int]] = []  # where, first line, repeated line
        self._depth = 0  # nodes being composed, from the document's root
        self._nodes = 0  # nodes composed so far
        self._built = 0  # values built so far: an alias's as often as it is used
        self._open: set[int] = set()  # nodes being built, to refuse recursive aliases
        self.data: Any = None  # the document, once `parse_yaml` has read it

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        """PyYAML's, after refusing tags, nesting beyond MAX_DEPTH and more than MAX_NODES
        values written."""
        event = self.peek_event()
        if not isinstance(event, yaml.ScalarEvent | yaml.CollectionStartEvent):
            return super().compose_node(parent, index)  # an alias, or PyYAML's complaint
        if event.tag is not None:
            _refuse(
                f"found the tag {event.tag.replace('tag:yaml.org,2002:', '!!')!r}; allowed: "
                "plain values, no tags",
                event.start_mark,
            )
        if self._depth >= MAX_DEPTH:
            _refuse(_TOO_DEEP, event.start_mark)
        self._nodes += 1
        if self._nodes > MAX_NODES:
            _refuse(_TOO_MANY, event.start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

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
        """Plain values, an alias's copied where it is used: within MAX_NODES and MAX_DEPTH."""
        self._built += 1
        if self._built > MAX_NODES:
            _refuse(_TOO_MANY, node.start_mark)
        if len(loc) >= MAX_DEPTH:  # aliases in aliases nest deeper than the text
            _refuse(_TOO_DEEP, node.start_mark)
        if id(node) in self._open:
            _refuse("found an alias that contains itself", node.start_mark)
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
            return self._scalar(node)
        finally:
            self._open.discard(id(node))

    def _scalar(self, node: yaml.Node) -> Any:
        """A plain value; a number only when short and finite."""
        if node.tag in _NUMBERS:
            digits = sum(c.isdigit() for c in node.value)
            if digits > MAX_DIGITS:
                _refuse(
                    f"found a number of {digits} digits; allowed: at most {MAX_DIGITS}",
                    node.start_mark,
                )
        value = self.construct_object(node)
        if isinstance(value, float) and not isfinite(value):
            _refuse(f"found {node.value}; allowed: a finite number", node.start_mark)
        return value

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
            key = self._scalar(key_node)
            if not isinstance(key, str):  # every mapping here has names as keys: `1:` is '1'
                key = show(key)
            if key in seen:
                self.duplicates.append(((*loc, key), seen[key], line))
            seen[key] = line
            self.lines[(*loc, key)] = line
            yield key, self._build(value_node, (*loc, key))


def _refuse(problem: str, mark: yaml.Mark | CMark | None) -> NoReturn:
    """Stop reading: the problem, on its line (what `yaml_problem` shows)."""
    # libyaml's marks have the fields of PyYAML's (line, column), which is all that is read
    raise yaml.constructor.ConstructorError(None, None, problem, mark)  # type: ignore[arg-type]


def parse_yaml(text: str, filename: str) -> LineLoader:
    """The loader after reading `text` (its `data`, `lines`, `duplicates`), or a ConfigError.

    The one way YAML text becomes data here: the config and a session's manifest both read
    through it, with the same limits and the same `file:line` problems.
    """
    loader = LineLoader(text)
    try:
        loader.data = loader.load_with_lines()
    except yaml.YAMLError as error:
        raise ConfigError([yaml_problem(error, text, filename)]) from None
    return loader


def yaml_problem(error: yaml.YAMLError, text: str, filename: str) -> Problem:
    """PyYAML's complaint, on the line where it happened."""
    if isinstance(error, yaml.reader.ReaderError):
        line = text.count("\n", 0, error.position) + 1
        message = f"found the character {chr(error.character)!r}; allowed: printable text"
        return Problem(filename, line, "", message)
    if not isinstance(error, yaml.MarkedYAMLError):
        return Problem(filename, None, "", f"YAML error: {error}")
    mark = error.problem_mark or error.context_mark
    message = error.problem or error.context or "unreadable YAML"
    if mark is not None and message == "found character that cannot start any token":
        rows = text.split("\n")  # libyaml does not name it: PyYAML did, and a tab is common
        char = rows[mark.line][mark.column : mark.column + 1] if mark.line < len(rows) else ""
        tab = " (YAML indents with spaces, not tabs)" if char == "\t" else ""
        message = f"found character {char!r} that cannot start any token{tab}"
    if error.context and error.context_mark and error.problem:
        message += f" ({error.context} at line {error.context_mark.line + 1})"
    kind = "YAML" if isinstance(error, yaml.constructor.ConstructorError) else "YAML syntax"
    return Problem(filename, mark.line + 1 if mark else None, "", f"{kind} error: {message}")
