"""The engine's lasting state as numbers in two fixed slots, so a new process can take it over.

Why: the loops must outlive the audio process (a crash, the OOM killer, the
audio server going away). The audio itself, the page pool's memory, is
handed to the engine by whoever owns it (core/memory.py; live, a mapping the
main process owns), so what has to be carried is what says what the pages
mean: every track's tables and scalars, its tails, the history ring, the
pool's books, the grid and the tempo. A checkpoint is a copy of all of it.

When: the driver calls `Checkpoint.after_block` after each block. A block in
which anything happened (`Engine.changed`: a command, a bar, a beat's tempo
change, a tail's end) is copied whole into the older of two slots, whose
sequence number is odd while it is written; any other block only moves the
newest slot's frame on, one store. So a process that dies in the middle of a
copy leaves the other slot whole, and a reader in another process (the main
process's status and saver, `read`) retries while a slot changes under it.
The copy is of what is in use (the layers a track holds, the pages a
recording holds; the stage workload's eight tracks: about 60 µs), made at
most a few times a bar.

What is not carried: commands not yet due (live, a command is due in the
block it arrives in), the limiter, the meters' peaks and the messages. A
process that dies in the middle of a block loses that block's events; the
ones before it are in the checkpoint.

`restore` puts the newest whole slot into a new engine built with the same
settings over the same memory; the driver then renders the frames that
passed meanwhile as silence (`Engine.skip`), so loops come back in phase and
only the history of the gap is silent. The field tables below name every
slot of `Track` and `Tail`; tests/unit/test_durable.py checks that none is
left out.
"""

from __future__ import annotations

from operator import attrgetter
from typing import TYPE_CHECKING

import numpy as np

from looper.core import wire
from looper.core.grid import MAX_BPM, Grid
from looper.core.history import HistoryRing
from looper.core.settings import EngineSettings, max_loop_bars, memory_frames, ring_slots
from looper.core.tail import TAILS
from looper.core.tempo import MAX_TAPS
from looper.core.track import MAX_LAYERS
from looper.core.tracks import Action, Pending, State

if TYPE_CHECKING:
    from looper.core.engine import Engine
    from looper.core.memory import Memory

ENGINE_INTS = (
    "frame",
    "tempo_at",
    "tempo_known",
    "ntaps",
    "count_in_until",
    "linear_from",
    "linear_until",
    "tail_end",
    "tails_until",
    "click_enabled",
)
ENGINE_FLOATS = ("tempo_bpm", "click_volume")
GRID_INTS = ("beat", "beats_per_bar", "origin")
POOL_INTS = ("bar", "_top", "debt", "ring_due")
RING_INTS = ("slots", "first_bar", "last_bar")
TRACK_INTS = (
    "anchor",
    "count",
    "dub_from",
    "dub_old",
    "dub_page",
    "dub_pre",
    "dub_renewed",
    "dub_slot",
    "dub_until",
    "dubbing",
    "env_at",
    "latched",
    "latched_start",
    "rec_bar",
    "rec_count",
    "rec_pre",
    "top",
)
TRACK_FLOATS = ("env_from", "env_to", "volume")
TRACK_STATES = ("state", "state_before_rec")
#: Per layer (only the first `count` rows hold anything), then the recording's pages
#: (only the first `rec_count`).
LAYER_ARRAYS = ("table", "nbars", "pre", "fresh", "anchors")
TRACK_ARRAYS = (*LAYER_ARRAYS, "rec_pages")
#: Not state: the pool the track is handed, its voices (carried one by one), its number.
TRACK_GIVEN = ("pool", "tails", "index", "pending")
TAIL_INTS = ("held", "page", "start", "nxt", "pre", "anchor", "length", "at", "until")
TAIL_FLOATS = ("gain",)
PENDING_INTS = ("frame", "bar", "bars")

_STATES = tuple(State)
_TRACK_N = len(TRACK_INTS) + len(TRACK_STATES) + 2 + len(PENDING_INTS)  # + has, action
_TRACK_F = len(TRACK_FLOATS) + wire.WIDTH
_HEAD = ("seq0", "seq1", "newest")


def slot_specs(s: EngineSettings) -> list[tuple[str, type, tuple[int, ...]]]:
    """(name, dtype, shape) of every array in one slot; sizes from the settings alone."""
    smallest = Grid.from_bpm(s.sample_rate, MAX_BPM, s.beats_per_bar).bar  # the most pages
    pages = memory_frames(s.history_seconds, s.memory_seconds, s.sample_rate) // smallest
    slots = ring_slots(s.history_seconds, s.sample_rate, smallest)
    bars = max_loop_bars(s)
    ints = len(ENGINE_INTS) + len(GRID_INTS) + len(POOL_INTS) + len(RING_INTS)
    ints += s.tracks * (_TRACK_N + TAILS * len(TAIL_INTS))
    floats = len(ENGINE_FLOATS) + s.tracks * (_TRACK_F + TAILS * len(TAIL_FLOATS))
    specs: list[tuple[str, type, tuple[int, ...]]] = [
        ("ints", np.int64, (ints,)),
        ("floats", np.float64, (floats,)),
        ("taps", np.int64, (MAX_TAPS,)),
        ("preroll", np.float32, (max(1, s.crossfade_frames), len(s.inputs))),
        ("refs", np.int32, (pages,)),
        ("in_ring", np.bool_, (pages,)),
        ("free", np.int32, (pages,)),
        ("ring_page", np.int64, (slots,)),
        ("ring_bar", np.int64, (slots,)),
    ]
    for t in range(s.tracks):
        specs += [
            (f"t{t}.table", np.int64, (MAX_LAYERS, bars)),
            (f"t{t}.nbars", np.int64, (MAX_LAYERS,)),
            (f"t{t}.pre", np.int64, (MAX_LAYERS,)),
            (f"t{t}.fresh", np.int64, (MAX_LAYERS,)),
            (f"t{t}.anchors", np.int64, (MAX_LAYERS,)),
            (f"t{t}.rec_pages", np.int64, (bars,)),
        ]
    return specs


def head_spec() -> tuple[str, type, tuple[int, ...]]:
    return ("head", np.int64, (len(_HEAD),))


class Checkpoint:
    """The two slots in an engine's memory, written by the driver of that engine."""

    def __init__(self, memory: Memory) -> None:
        self.head = memory.head
        self.slots = memory.slots
        tracks = sum(1 for name in memory.slots[0] if name.endswith(".table"))
        self.arrays = [track_arrays(slot, tracks) for slot in memory.slots]
        self.row = np.zeros(wire.WIDTH)  # a waiting action's command, as numbers

    def after_block(self, e: Engine) -> None:
        """Copy the engine whole if anything happened in the block, else move the frame on."""
        if e.changed:
            e.changed = False
            self.commit(e)
        else:
            self.slots[int(self.head[2])]["ints"][0] = e.frame

    def commit(self, e: Engine) -> None:
        k = 1 - int(self.head[2])
        self.head[k] += 1  # odd: being written
        _write(e, self.slots[k], self.arrays[k], self.row)
        self.head[k] += 1
        self.head[2] = k

    def read(self, into: dict[str, np.ndarray]) -> bool:
        """Copy the newest whole slot into `into` (arrays of the slot's shapes); False when
        no slot was ever written. Retries while the writer changes the slot under it."""
        while True:
            k = int(self.head[2])
            seq = int(self.head[k])
            if seq == 0:
                return False
            if seq % 2 == 0:
                for name, array in self.slots[k].items():
                    np.copyto(into[name], array)
                if int(self.head[k]) == seq:
                    return True


def fresh_slot(memory: Memory) -> dict[str, np.ndarray]:
    """Private arrays of one slot's shapes, for `Checkpoint.read`."""
    return {name: np.empty_like(array) for name, array in memory.slots[0].items()}


_ENGINE_INTS = attrgetter(*ENGINE_INTS)
_ENGINE_FLOATS = attrgetter(*ENGINE_FLOATS)
_GRID_INTS = attrgetter(*GRID_INTS)
_POOL_INTS = attrgetter(*POOL_INTS)
_RING_INTS = attrgetter(*RING_INTS)
_TRACK_INTS = attrgetter(*TRACK_INTS)
_TRACK_FLOATS = attrgetter(*TRACK_FLOATS)
_TAIL_INTS = attrgetter(*TAIL_INTS)
_TAIL_GAIN = attrgetter(*TAIL_FLOATS)
_NO_PENDING = (0, 0, 0, 0, 0)


def track_arrays(slot: dict[str, np.ndarray], tracks: int) -> list[dict[str, np.ndarray]]:
    """Each track's arrays in a slot, by field name (looked up once, not in the callback)."""
    return [{n: slot[f"t{t}.{n}"] for n in TRACK_ARRAYS} for t in range(tracks)]


def _write(
    e: Engine, slot: dict[str, np.ndarray], arrays: list[dict[str, np.ndarray]], row: np.ndarray
) -> None:
    """Every number of the engine into `slot`, in the order `restore` reads them. Fields
    are read by attrgetters (a C loop), booleans and enums as ints."""
    ints: list[int] = [*_ENGINE_INTS(e), *_GRID_INTS(e.grid), *_POOL_INTS(e.pool)]
    ints += _RING_INTS(e.ring)
    floats: list[float] = [*_ENGINE_FLOATS(e)]
    for tr in e.tracks:
        ints += _TRACK_INTS(tr)
        ints += (_STATES.index(tr.state), _STATES.index(tr.state_before_rec))
        floats += _TRACK_FLOATS(tr)
        p = tr.pending
        row.fill(0.0)
        if p is None:
            ints += _NO_PENDING
        else:
            if p.command is None:  # an action the engine itself set waiting
                row[0] = -1
            else:
                wire.encode(p.command, row)  # type: ignore[arg-type]
            ints += (1, p.action.value, p.frame, p.bar, p.bars)
        floats += row.tolist()
        for tail in tr.tails:
            ints += _TAIL_INTS(tail)
            floats.append(_TAIL_GAIN(tail))
        count, mine = tr.count, arrays[tr.index]  # layers above count are free: not copied
        np.copyto(mine["table"][:count], tr.table[:count])
        np.copyto(mine["nbars"][:count], tr.nbars[:count])
        np.copyto(mine["pre"][:count], tr.pre[:count])
        np.copyto(mine["fresh"][:count], tr.fresh[:count])
        np.copyto(mine["anchors"][:count], tr.anchors[:count])
        np.copyto(mine["rec_pages"][: tr.rec_count], tr.rec_pages[: tr.rec_count])
    slot["ints"][:] = ints
    slot["floats"][:] = floats
    np.copyto(slot["taps"], e.taps)
    np.copyto(slot["preroll"], e.preroll)
    count = e.pool.count
    np.copyto(slot["refs"][:count], e.pool.refs)
    np.copyto(slot["in_ring"][:count], e.pool.in_ring)
    np.copyto(slot["free"][:count], e.pool._free)
    slots = e.ring.slots
    np.copyto(slot["ring_page"][:slots], e.ring._page)
    np.copyto(slot["ring_bar"][:slots], e.ring._bar)


class _Reader:
    """Numbers taken off a slot's vectors in the order `_write` put them."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values.tolist()
        self.at = 0

    def take(self, n: int) -> list[int | float]:
        out: list[int | float] = self.values[self.at : self.at + n]
        self.at += n
        return out


def restore(e: Engine, slot: dict[str, np.ndarray]) -> None:
    """Put a slot (read by `Checkpoint.read`) into engine `e`, built with the same settings
    over the same memory and not yet run. Its tails keep their pages; commands not yet due,
    the limiter and the meters' peaks start afresh."""
    ints, floats = _Reader(slot["ints"]), _Reader(slot["floats"])
    arrays = track_arrays(slot, len(e.tracks))
    engine_ints = ints.take(len(ENGINE_INTS))
    beat, beats_per_bar, origin = (int(v) for v in ints.take(len(GRID_INTS)))
    grid = Grid(e.sample_rate, beat, beats_per_bar, origin)
    pool_ints = ints.take(len(POOL_INTS))
    slots, first_bar, last_bar = (int(v) for v in ints.take(len(RING_INTS)))
    if grid.bar != e.pool.bar:  # the tempo changed since the engine's start
        e.pool.carve(grid.bar)
        e.ring = HistoryRing(e.pool, slots)
    if grid != e.grid:  # the same grid stays the same object (a reader compares them)
        e.grid = grid
    _set(e, ENGINE_INTS, engine_ints, int)
    _set(e, ENGINE_FLOATS, floats.take(len(ENGINE_FLOATS)), float)
    for name in ("tempo_known", "click_enabled"):
        setattr(e, name, bool(getattr(e, name)))
    _set(e.pool, POOL_INTS, pool_ints, int)
    e.ring.first_bar, e.ring.last_bar = first_bar, last_bar
    for tr in e.tracks:
        _set(tr, TRACK_INTS, ints.take(len(TRACK_INTS)), int)
        for name in ("dubbing", "dub_renewed"):
            setattr(tr, name, bool(getattr(tr, name)))
        for name, index in zip(TRACK_STATES, ints.take(len(TRACK_STATES)), strict=True):
            setattr(tr, name, _STATES[int(index)])
        _set(tr, TRACK_FLOATS, floats.take(len(TRACK_FLOATS)), float)
        has, action, frame, bar, bars = (int(v) for v in ints.take(5))
        row = np.array(floats.take(wire.WIDTH))
        command = None if row[0] < 0 else wire.decode(row)
        tr.pending = Pending(Action(action), frame, command, bar, bars) if has else None
        for tail in tr.tails:
            _set(tail, TAIL_INTS, ints.take(len(TAIL_INTS)), int)
            tail.held = bool(tail.held)
            _set(tail, TAIL_FLOATS, floats.take(len(TAIL_FLOATS)), float)
        count, mine = tr.count, arrays[tr.index]
        for n in LAYER_ARRAYS:
            np.copyto(getattr(tr, n)[:count], mine[n][:count])
        tr.table[count:] = -1  # free layers, as core/track.py leaves them
        tr.nbars[count:] = 0
        tr.pre[count:] = -1
        rec = tr.rec_count
        np.copyto(tr.rec_pages[:rec], mine["rec_pages"][:rec])
        tr.rec_pages[rec:] = -1
    np.copyto(e.taps, slot["taps"])
    np.copyto(e.preroll, slot["preroll"])
    count = e.pool.count
    np.copyto(e.pool.refs, slot["refs"][:count])
    np.copyto(e.pool.in_ring, slot["in_ring"][:count])
    np.copyto(e.pool._free, slot["free"][:count])
    np.copyto(e.ring._page, slot["ring_page"][:slots])
    np.copyto(e.ring._bar, slot["ring_bar"][:slots])
    e.changed = False


def _set(target: object, names: tuple[str, ...], values: list[int | float], kind: type) -> None:
    for name, value in zip(names, values, strict=True):
        setattr(target, name, kind(value))
