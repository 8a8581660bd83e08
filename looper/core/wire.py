"""Commands as rows of numbers: how a command crosses shared memory.

Why numbers: the live looper hands commands from the MIDI process to the
audio callback through a ring in shared memory (looper/live/shared.py), and
the engine's checkpoint (core/durable.py) keeps the command a waiting action
will carry out. Neither may pickle: a row of float64 is written and read
with no allocation that grows and no lock. A row is the command's kind (its
index in `KINDS`) then its fields in declaration order; a missing track
(`Reset(track=None)`, every track) is NaN. Frames fit a float64 exactly for
far longer than a session (2^53 frames is six thousand years at 48 kHz).
"""

from __future__ import annotations

import math
from dataclasses import fields
from typing import get_args

import numpy as np

from looper.core import commands as c

#: Every command the engine takes, in a fixed order: a row's first number is the index.
KINDS: tuple[type, ...] = get_args(c.Command)
#: Numbers in a row: the kind, then at most this many fields (SetLoop has the most).
FIELDS = max(len(fields(kind)) for kind in KINDS)
WIDTH = 1 + FIELDS

_INDEX: dict[type, int] = {kind: i for i, kind in enumerate(KINDS)}
_NAMES: tuple[tuple[str, ...], ...] = tuple(tuple(f.name for f in fields(k)) for k in KINDS)
#: Whether each field is read back as an int (else a float): from its annotation.
_INTS: tuple[tuple[bool, ...], ...] = tuple(
    tuple(str(f.type).startswith("int") for f in fields(k)) for k in KINDS
)


def encode(command: c.Command, row: np.ndarray) -> None:
    """Write `command` into `row` (float64, at least WIDTH long)."""
    kind = _INDEX[type(command)]
    row[0] = kind
    for i, name in enumerate(_NAMES[kind]):
        value = getattr(command, name)
        row[1 + i] = math.nan if value is None else value


def decode(row: np.ndarray) -> c.Command:
    """The command a row holds (written by `encode`)."""
    kind = int(row[0])
    values: list[int | float | None] = []
    for i, is_int in enumerate(_INTS[kind]):
        value = float(row[1 + i])
        if math.isnan(value):
            values.append(None)
        else:
            values.append(int(value) if is_int else value)
    command: c.Command = KINDS[kind](*values)
    return command
