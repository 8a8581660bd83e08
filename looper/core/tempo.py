"""The tempo: taps, a tempo change, the first loop of `bpm: auto`, the count-in.

A tempo change restarts the grid at a beat and empties every track: loops
are whole bars of the grid they were made on, so they cannot follow it.
Taps are kept in a small preallocated ring (no list grows in the callback).

With `clicktrack.bpm: auto` there is no grid until the first loop closes:
that loop records into the pool's memory as one run of frames (performance
time [linear_from, linear_until)); once its length sets the bar, the pool is
cut into bars and that run is the loop's first pages, as it lies, so nothing
is copied. Until the stomp, the input's last crossfade frames are kept in a
small ring of their own (`keep_preroll`, the only history there is without a
tempo); at the close they become the last frames of the loop's lead-in page,
so the loop wraps into its first frame as it was played, sound or not. With
no tempo yet one track at a time records that first loop: a record on another
is refused and said (core/actions.py, `ask_arm`).

A tempo, tapped, set or from the first loop, is taken only when the memory
holds it (`settings.holds`: the history ring and a bar of loops; all its bars
for the first loop), else it is refused and said: a first loop is dropped,
a tempo change does not happen, and no loop is touched.

`close_first_loop` sets the tempo and leaves scheduling the close to the
action (core/actions.py), so this module needs nothing from there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from looper.core.grid import MAX_BPM, MIN_BPM, Grid
from looper.core.history import HistoryRing
from looper.core.messages import MessageCode
from looper.core.settings import holds, latency_fits, ring_slots
from looper.core.track import Track
from looper.core.tracks import State

if TYPE_CHECKING:
    from looper.core.engine import Engine

#: A frame later than any the engine reaches: "never".
FAR = 1 << 62
TAP_WINDOW_SECONDS = 2.0
MAX_TAPS = 8


def tap(e: Engine, p: int) -> None:
    """A tap at performance frame p; two or more within the window ask for their tempo."""
    window = TAP_WINDOW_SECONDS * e.sample_rate
    if e.ntaps and p - e.taps[(e.ntaps - 1) % MAX_TAPS] > window:
        e.ntaps = 0
    e.taps[e.ntaps % MAX_TAPS] = p
    e.ntaps += 1
    n = min(e.ntaps, MAX_TAPS)
    first = int(e.taps[(e.ntaps - n) % MAX_TAPS])
    if n >= 2 and p > first:  # taps stamped at one frame (or out of order) say no tempo
        ask_tempo(e, 60.0 * e.sample_rate * (n - 1) / (p - first))


def ask_tempo(e: Engine, bpm: float) -> None:
    """A new tempo from the next beat on, if every track is empty and the bar is long enough."""
    if any(tr.state is not State.EMPTY or tr.pending is not None for tr in e.tracks):
        e.say(MessageCode.TEMPO_NEEDS_EMPTY)
        return
    bpm = min(MAX_BPM, max(MIN_BPM, bpm))
    bar = Grid.from_bpm(e.sample_rate, bpm, e.grid.beats_per_bar).bar
    if not latency_fits(bar, e.latency, e.xfade):
        e.say(MessageCode.TOO_FAST, bpm)
        return
    if not _holds(e, bar, 1):
        e.say(MessageCode.TOO_SLOW, bpm)
        return
    e.tempo_bpm = bpm
    e.tempo_at = e.grid.next_beat(e.frame)


def fire_tempo(e: Engine, t: int) -> None:
    """The grid restarts here; history and undo stacks of the old grid go.

    Asked only while every track was empty; a loop taken since (the change waits for
    its beat) keeps the old tempo, and a tail still fading out is let end first."""
    if any(tr.state is not State.EMPTY or tr.pending is not None for tr in e.tracks):
        e.tempo_at = FAR
        e.say(MessageCode.TEMPO_NEEDS_EMPTY)
        return
    if t < e.tails_until:
        e.tempo_at = e.grid.next_beat(e.tails_until)
        return
    _keep_tail(e, t)
    e.tempo_at = FAR
    e.tempo_known = True
    e.linear_from = e.linear_until = FAR
    for tr in e.tracks:
        tr.clear()  # no first loop is left to end: the tempo is known now
        tr.cut_tails()  # the pages are cut anew: nothing may read the old ones
    e.ring.clear(0)
    e.grid = Grid.from_bpm(e.sample_rate, e.tempo_bpm, e.grid.beats_per_bar, t)
    _carve(e, e.grid)
    lead_first_bar(e)
    e.say(MessageCode.TEMPO, e.grid.bpm)


def restart_grid(e: Engine, origin: int) -> None:
    """Same tempo, bar 0 from `origin`; the history starts again with it (the count-in)."""
    _keep_tail(e, origin)
    e.ring.clear(0)
    e.grid = Grid(e.sample_rate, e.grid.beat, e.grid.beats_per_bar, origin)
    lead_first_bar(e)


def lead_first_bar(e: Engine) -> None:
    """The history (re)starts at the grid's origin: its bar -1 is bar 0's lead-in.

    Its last crossfade frames are what was played before the origin (in performance time):
    the pre-roll's, then the last `latency` frames, which arrive after the restart and are
    written as any history bar (core/engine.py). Without a crossfade there is no page."""
    x, lat = e.xfade, e.latency
    if not x:
        return
    bar = e.grid.bar
    page = e.ring.begin_bar(e.ring.first_bar - 1)
    if x > lat:
        _from_preroll(e, e.grid.origin - x, e.pool.pages[page, bar - x : bar - lat])


def count_in(e: Engine) -> int:
    """The first record of a session with a count-in: bars of click from now, on a new grid.

    Returns the frame recording starts at."""
    restart_grid(e, e.frame)  # the count-in starts now, on a downbeat
    start = e.frame + e.settings.count_in_bars * e.grid.bar
    e.count_in_until = start
    return start


def begin_first_loop(e: Engine, tr: Track, p: int) -> None:
    """No tempo yet: record from the stomp itself, with nothing to snap to."""
    if e.linear_from != FAR:  # another track is recording the first loop: one at a time,
        # for its start is the grid's origin, and a second stomp must not move it
        first = next((t for t in e.tracks if t.state is State.RECORDING), tr)
        e.say(MessageCode.FIRST_LOOP_BUSY, tr.index + 1, first.index + 1)
        return
    e.linear_from = max(p, e.frame - e.latency)
    e.linear_until = e.linear_from + len(e.linear)
    tr.state_before_rec = State.EMPTY
    tr.start_recording(0)  # bar 0 of the grid the loop's length will set
    tr.state = State.RECORDING


def close_first_loop(e: Engine, tr: Track, p: int) -> int | None:
    """The first loop's length sets the tempo; the grid starts where it started.

    Returns the frame the loop ends at (its close is the caller's to schedule), or
    None when the loop is too short, or too long for the slowest tempo or the memory (said;
    the caller drops it)."""
    s = e.settings
    start = e.linear_from
    per_beat = s.first_loop_bars * s.beats_per_bar
    slowest = Grid.from_bpm(e.sample_rate, MIN_BPM, 1).beat
    fastest = Grid.from_bpm(e.sample_rate, MAX_BPM, 1).beat
    # The loop ends no earlier than the input arriving now: the history's bar after it
    # begins at its end, which must still be to come (else that bar would have no page).
    arrived = -(-(e.frame - e.latency - start) // per_beat)
    beat = max(round((p - start) / per_beat), fastest, arrived)
    grid = Grid(e.sample_rate, beat, s.beats_per_bar, start)
    if not latency_fits(grid.bar, e.latency, e.xfade):
        e.say(MessageCode.FIRST_LOOP_TOO_SHORT)
        return None
    if beat > slowest or not _holds(e, grid.bar, s.first_loop_bars):
        e.say(MessageCode.FIRST_LOOP_TOO_LONG)
        return None
    e.grid = grid
    _carve(e, grid)
    n = s.first_loop_bars
    e.ring.clear(first_bar=n)  # bars 0..n-1 are the loop's, as recorded
    for _ in range(n):  # room for them: `_holds` above
        tr.record(e.pool.alloc())  # a fresh cut gives pages 0, 1, ...: the recording
    if e.xfade and e.pool.can_take(captured=1):  # its last bar leads into the history's first
        e.ring.adopt(n - 1, int(tr.rec_pages[n - 1]))
    if e.xfade and e.pool.can_take(fresh=1):
        lead = e.pool.alloc()
        _from_preroll(e, start - e.xfade, e.pool.pages[lead, grid.bar - e.xfade :])
        tr.lead_recording(lead)
    end = start + n * grid.bar
    e.linear_until = end
    e.tempo_known = True
    e.say(MessageCode.TEMPO_FROM_FIRST_LOOP, grid.bpm)
    return end


def keep_preroll(e: Engine, tau: int, inp: np.ndarray) -> None:
    """No tempo and no first loop yet: keep the input's last crossfade frames (tau on)."""
    ring = e.preroll
    size = len(ring)
    if len(inp) > size:
        tau += len(inp) - size
        inp = inp[len(inp) - size :]
    i = tau % size
    m = min(len(inp), size - i)
    np.copyto(ring[i : i + m], inp[:m])
    np.copyto(ring[: len(inp) - m], inp[m:])


def _keep_tail(e: Engine, origin: int) -> None:
    """Before the history restarts at `origin`: the frames [origin - crossfade, now) it
    holds go into the pre-roll (without a tempo, `keep_preroll` has put them there)."""
    if not e.xfade or not e.tempo_known:
        return
    g, pages = e.grid, e.pool.pages
    a, b = origin - e.xfade, origin - e.latency
    while a < b:  # at most two bars: no list, nothing allocated
        k = g.bar_index(a)
        start = g.origin + k * g.bar
        end = min(b, start + g.bar)
        page = e.ring.page(k)
        held = e.pool.zero if page < 0 else pages[page]
        keep_preroll(e, a, held[a - start : end - start])
        a = end


def _from_preroll(e: Engine, first: int, out: np.ndarray) -> None:
    """The pre-roll's frames [first, first + len(out)), oldest first, into `out`."""
    ring = e.preroll
    i = first % len(ring)
    m = min(len(out), len(ring) - i)
    np.copyto(out[:m], ring[i : i + m])
    np.copyto(out[m:], ring[: len(out) - m])


def end_linear(e: Engine) -> None:
    """A first loop that was still being recorded (bpm auto) is dropped."""
    if not e.tempo_known:
        e.linear_from = e.linear_until = FAR


def _holds(e: Engine, bar: int, bars: int) -> bool:
    s = e.settings
    return holds(s.history_seconds, s.memory_seconds, e.sample_rate, bar, bars)


def _carve(e: Engine, grid: Grid) -> None:
    """The pool cut into bars of the new grid, and a new history ring over them."""
    e.pool.carve(grid.bar)
    e.ring = HistoryRing(e.pool, ring_slots(e.settings.history_seconds, e.sample_rate, grid.bar))
