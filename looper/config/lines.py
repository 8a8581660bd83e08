"""Pass 1: YAML text -> plain data, with the line of every key and list item; and problems.

A performer edits `configs/pedalboard.yaml` minutes before a show, so a mistake must
come back as one line per problem (file, line, key path, what was found, what is
allowed), all of them at once, never as a traceback. This module owns that shape:
`Problem` is one such line, `ConfigError` carries all of them, and `Report` collects
them while the later passes run, finding each problem's line from the nearest key
the loader located.

The loader is PyYAML's SafeLoader building plain values node by node, because the
plain `yaml.safe_load` forgets where a value was written and silently keeps the last
of two equal keys; here a duplicate is remembered with both lines. PyYAML's own
complaints (`yaml_problem`) are put on the line they name, in the same shape.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from looper.errors import LooperError

__all__ = ["ConfigError", "LineLoader", "Loc", "Problem", "Report", "show", "yaml_problem"]

#: Where a value sits in the YAML: keys and 0-based list indexes, e.g. ("pedals", 2, "action").
Loc = tuple[str | int, ...]


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


class LineLoader(yaml.SafeLoader):
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
                key = show(key)
            if key in seen:
                self.duplicates.append(((*loc, key), seen[key], line))
            seen[key] = line
            self.lines[(*loc, key)] = line
            yield key, self._build(value_node, (*loc, key))


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
    if error.context and error.context_mark and error.problem:
        message += f" ({error.context} at line {error.context_mark.line + 1})"
    kind = "YAML" if isinstance(error, yaml.constructor.ConstructorError) else "YAML syntax"
    return Problem(filename, mark.line + 1 if mark else None, "", f"{kind} error: {message}")
