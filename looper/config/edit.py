"""YAML text edits: change a config file's text in one place and keep every other byte.

`looper learn` appends bindings to `pedals`, `looper calibrate` sets
`audio.latency_ms`; a performer's file is full of comments and aligned flow-style
bindings, and both tools must leave all of that as it was. So the file is edited as
text, never loaded and dumped again: ruamel.yaml's round trip (0.19) drops comments
around flow-style list items (a full-line comment between two of them when the second
has a comment of its own, as in configs/pedalboard.yaml) and re-indents mappings to
its own style. A parser only says where to edit: PyYAML's composer (the parser
`load_config` uses) for the `pedals` list, ruamel's round-trip loader (which knows
each key's line and column) for `audio.latency_ms`.

The functions here are pure, text in and text out; reading, writing and putting a
file back are the tools' (looper.tools.learn, looper.tools.calibrate), which also put
an `EditError` into their own words. `with_latency` parses its result and refuses a
layout where the value would not read back; learn checks its whole file after
writing instead (new bindings can clash with old ones) and puts it back if it fails.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import yaml

from looper.config.lines import ConfigError
from looper.config.load import parse_config
from looper.errors import LooperError

__all__ = ["EditError", "item_lines", "snippet", "with_items", "with_latency", "yaml_number"]


class EditError(LooperError, ValueError):
    """The text's layout is one this module cannot edit in place; the text says what to do."""


# --- pedals: appended items -----------------------------------------------------------------


def _pedals(text: str) -> tuple[yaml.Node, yaml.Node] | None:
    """The `pedals` key and value nodes of a config's text, with their positions."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(root, yaml.MappingNode):
        return None
    return next(((k, v) for k, v in root.value if k.value == "pedals"), None)


def item_lines(text: str) -> list[int]:
    """The line (from 1) each `pedals` item starts on."""
    found = _pedals(text)
    if found is None or not isinstance(found[1], yaml.SequenceNode):
        return []
    return [item.start_mark.line + 1 for item in found[1].value]


def snippet(items: Sequence[str]) -> str:
    """The items as a `pedals` list, to paste into a config."""
    return "pedals:\n" + "".join(f"  - {entry}\n" for entry in items)


def _insert(lines: list[str], at: int, new: list[str]) -> str:
    """`lines` with `new` inserted before line `at` (from 0), as text."""
    if at > 0 and not lines[at - 1].endswith("\n"):
        lines[at - 1] += "\n"
    return "".join(lines[:at] + new + lines[at:])


def _after_last_item(lines: list[str], start: int, dash: int, key: int) -> int:
    """The line after a block list's last item (starting on line `start`, its '-' in
    column `dash`) and the comments indented more than its key (in column `key`)."""
    end = start + 1
    for index in range(start + 1, len(lines)):
        stripped = lines[index].strip()
        indent = len(lines[index]) - len(lines[index].lstrip())
        if not stripped:
            continue
        if indent <= dash and not (indent > key and stripped.startswith("#")):
            break
        end = index + 1
    return end


def with_items(text: str, items: Sequence[str]) -> str:
    """`text` with `items` appended to its `pedals` list (made if missing), every
    character already there kept. A `[...]` list is an EditError: learn cannot add to it."""
    found = _pedals(text)
    if found is None:
        separator = "\n" if text and not text.endswith("\n") else ""
        return text + separator + snippet(items)
    key, value = found
    if isinstance(value, yaml.SequenceNode) and value.value and value.flow_style:
        raise EditError(
            f"{value.start_mark.line + 1}: pedals: found a [...] list; allowed: one '- ' item "
            "a line, which learn can add to (or use --print and paste)"
        )
    if isinstance(value, yaml.SequenceNode) and value.value:
        dash = value.start_mark.column
        lines = text.splitlines(keepends=True)
        at = _after_last_item(lines, value.value[-1].start_mark.line, dash, key.start_mark.column)
        return _insert(lines, at, [" " * dash + f"- {entry}\n" for entry in items])
    # null, nothing or []: the list goes under the key instead
    start = len(text[: value.start_mark.index].rstrip(" "))
    lines = (text[:start] + text[value.end_mark.index :]).splitlines(keepends=True)
    indent = " " * (key.start_mark.column + 2)
    return _insert(lines, value.start_mark.line + 1, [f"{indent}- {entry}\n" for entry in items])


# --- audio.latency_ms: one value set ---------------------------------------------------------

_SCALAR = re.compile(r"""( *)("[^"\n]*"|'[^'\n]*'|[^\s,}\]#]*)( *)""")


def _set_scalar(line: str, col: int, value: str) -> str:
    """`line` with the scalar at `col` replaced by `value`, a comment after it kept in place."""
    match = _SCALAR.match(line, col)
    assert match is not None  # the pattern matches the empty string too
    rest = line[match.end() :]
    pad = len(match.group(3))
    if rest.startswith("#"):
        pad = max(1, pad + match.end(2) - col - len(value))
    return line[:col] + value + " " * pad + rest


def yaml_number(value: float) -> str:
    """A number as the edits write it: four decimals at most, no trailing zeros."""
    return f"{value:.4f}".rstrip("0").rstrip(".")


def with_latency(text: str, value: str) -> str:
    """`text` with audio.latency_ms set to `value` (as `yaml_number` writes it) and nothing
    else changed: the key's value replaced, else the key added to `audio`, else an
    `audio` section added at the end. EditError if the text is not YAML, or if its
    layout would not read back with that value."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML().load(text)  # round-trip mode: every key knows its line and column
    except YAMLError as error:
        raise EditError(f"cannot read it to set audio.latency_ms: {error}") from None
    lines = text.split("\n")
    audio = data.get("audio") if isinstance(data, CommentedMap) else None
    if isinstance(audio, CommentedMap) and "latency_ms" in audio:
        line, col = audio.lc.value("latency_ms")
        lines[line] = _set_scalar(lines[line], col, value)
    elif isinstance(audio, CommentedMap) and audio.fa.flow_style() is not False:
        # a flow mapping {...}, maybe empty: the key goes first inside the braces
        line, col = data.lc.value("audio")
        after = lines[line][col + 1 :]
        lines[line] = (
            lines[line][: col + 1] + f"latency_ms: {value}" + (", " if audio else "") + after
        )
    elif isinstance(audio, CommentedMap):
        # a block mapping: the key goes first, indented like the rest
        indent = audio.lc.key(next(iter(audio)))[1]
        lines.insert(data.lc.key("audio")[0] + 1, " " * indent + f"latency_ms: {value}")
    elif isinstance(data, CommentedMap) and "audio" in data:  # an empty `audio:` section
        line, col = data.lc.key("audio")
        colon = lines[line].find(":", col) + 1  # not found: 0, and the check below refuses
        lines[line] = _set_scalar(lines[line], colon, f" {{latency_ms: {value}}}")
    else:  # no audio section: a new one at the end
        if lines[-1]:
            lines.append("")
        lines[-1:] = ["audio:", f"  latency_ms: {value}", ""]
    new = "\n".join(lines)
    try:
        placed = parse_config(new, "").audio.latency_ms == float(value)
    except ConfigError:
        placed = False
    if not placed:
        raise EditError(
            "could not place audio.latency_ms in this file's layout; it is unchanged. "
            f"Set `latency_ms: {value}` under `audio:` by hand."
        )
    return new
