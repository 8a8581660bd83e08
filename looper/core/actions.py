"""What each `Action` does: one `ask_*` when its command arrives, one `fire_*` at its frame.

A command reaches a track (core/engine.py), the transition table
(core/tracks.py) names the Action, and `ASK[action]` runs at once: it
decides the frame the action takes effect (a snapped downbeat, the next
downbeat, now) and `schedule`s it. When that frame comes, `FIRE[action]`
does it; an action that takes effect at once (mute, undo, ...) has no fire.
Both tables are static and complete (checked at import), so a reader finds
an action's code by its name: `Action.DUB_ON` -> `ask_dub_on`, `fire_dub_on`.

`ask_*(engine, track, command, p)`: p is the performance frame of the stomp.
`fire_*(engine, track, pending, t)`: t is the output frame it fires at.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from looper.core.commands import Backloop, Command, Record, Undo
from looper.core.messages import COMMAND_CODES, STATE_CODES, MessageCode
from looper.core.playback import fade, latch, let_go, resume, sound
from looper.core.recording import begin_dub, clear, end_dub, room, take
from looper.core.tempo import begin_first_loop, close_first_loop, count_in, end_linear
from looper.core.track import UNPLACED, Track
from looper.core.tracks import TRANSITIONS, Action, Pending, State

if TYPE_CHECKING:
    from looper.core.engine import Engine

Ask = Callable[["Engine", Track, Command, int], None]
Fire = Callable[["Engine", Track, Pending, int], None]


def track_command(e: Engine, tr: Track, command: Command, p: int) -> None:
    """A command for one track: cancel what waits, or run the table's action."""
    if tr.pending is not None and (tr.pending.command == command or isinstance(command, Undo)):
        cancel_pending(e, tr)
        return
    action = TRANSITIONS.get((tr.state, type(command)))
    if action is None:
        what, state = COMMAND_CODES[type(command)], STATE_CODES[tr.state]
        e.say(MessageCode.DOES_NOTHING, tr.index + 1, what, state)
        return
    ASK[action](e, tr, command, p)


def cancel_pending(e: Engine, tr: Track) -> None:
    """The waiting action goes (and a count-in with an arm); a waiting track is empty again."""
    assert tr.pending is not None
    e.say(MessageCode.CANCELLED, tr.index + 1, tr.pending.action.value)
    if tr.pending.action is Action.ARM:
        e.count_in_until = min(e.count_in_until, e.frame)  # and its count-in
    tr.pending = None
    if tr.state is State.WAITING:
        tr.state = State.EMPTY


def schedule(
    e: Engine, tr: Track, action: Action, frame: int, command: Command, bar: int, bars: int = 0
) -> None:
    """Run the action now if its frame has come, else keep it waiting.

    `bar`: the downbeat (a frame) a record or overdub start/end snapped to; `bars`: how
    many bars a capture takes. One action waits per track: a new one, at once or later,
    replaces the one waiting (made for a state the track is leaving, it must not fire)."""
    pending = Pending(action, frame, command, bar, bars)
    if frame <= e.frame:
        tr.pending = None
        FIRE[action](e, tr, pending, e.frame)
    else:
        tr.pending = pending
        if tr.state is State.EMPTY:
            tr.state = State.WAITING


def downbeat_after(e: Engine, p: int) -> int:
    """The next downbeat from p; if that has passed already, the next one from now."""
    d = e.grid.next_bar(p)
    return d if d >= e.frame else e.grid.next_bar(e.frame)


# ---- capture (backloop) -------------------------------------------------------------


def ask_capture(e: Engine, tr: Track, command: Command, p: int) -> None:
    assert isinstance(command, Backloop)
    if not e.tempo_known:
        e.say(MessageCode.NO_TEMPO_YET)
        return
    end = e.grid.snap(p, e.late)
    if e.grid.bar_index(end) <= e.ring.oldest_bar:
        e.say(MessageCode.NO_WHOLE_BAR, tr.index + 1)
        return
    schedule(e, tr, Action.CAPTURE, end, command, bar=end, bars=command.bars)


def fire_capture(e: Engine, tr: Track, pending: Pending, t: int) -> None:
    end = e.grid.bar_index(pending.bar)
    take(e, tr, end - pending.bars, end, pending.bar, t)


# ---- record: arm, close (then play, overdub or stop), cancel ------------------------


def ask_arm(e: Engine, tr: Track, command: Command, p: int) -> None:
    if not e.tempo_known:
        begin_first_loop(e, tr, p)
        return
    if e.settings.count_in_bars and all(t.state is State.EMPTY and not t.count for t in e.tracks):
        start = count_in(e)
    else:
        start = e.grid.snap(p, e.late)
    schedule(e, tr, Action.ARM, start, command, bar=start)


def fire_arm(e: Engine, tr: Track, pending: Pending, t: int) -> None:
    """The recording starts holding the bars played since its downbeat, if they fit the
    track's table and the memory (else refused, said by `room`; a loop playing plays on).
    Bars the history does not hold (the first loop's own) are not the recording's."""
    rec_bar = max(e.grid.bar_index(pending.bar), e.ring.oldest_bar)
    held = max(0, e.ring.last_bar + 1 - rec_bar)
    if held > len(tr.rec_pages) or not room(e, tr, captured=held + 1):  # and its lead-in
        if tr.state is State.WAITING:
            tr.state = State.EMPTY
        return
    before = tr.state
    tr.state_before_rec = State.EMPTY if before is State.WAITING else before
    if tr.has_loop:
        fade(e, tr, t, 0.0)
    tr.start_recording(rec_bar)
    tr.lead_recording(e.ring.page(rec_bar - 1))
    tr.dubbing = False
    for k in range(tr.rec_bar, e.ring.last_bar + 1):
        tr.record(e.ring.page(k))
    tr.state = State.RECORDING


def ask_close(e: Engine, tr: Track, command: Command, p: int) -> None:
    _close(e, tr, command, p, Action.CLOSE)


def ask_close_dub(e: Engine, tr: Track, command: Command, p: int) -> None:
    _close(e, tr, command, p, Action.CLOSE_DUB)


def ask_close_stop(e: Engine, tr: Track, command: Command, p: int) -> None:
    _close(e, tr, command, p, Action.CLOSE_STOP)


def _close(e: Engine, tr: Track, command: Command, p: int, action: Action) -> None:
    """The end snaps alike for the three closes; what follows it is `fire_close`'s."""
    if not e.tempo_known:
        end = close_first_loop(e, tr, p)
        if end is None:
            ask_cancel(e, tr, Record(tr.index), p)
        else:
            schedule(e, tr, action, end, Record(tr.index), bar=end)
        return
    g = e.grid
    start = g.origin + tr.rec_bar * g.bar
    end = max(g.snap(p, e.late), start + g.bar)
    schedule(e, tr, action, end, command, bar=end)


def fire_close(e: Engine, tr: Track, pending: Pending, t: int) -> None:
    end = pending.bar
    let_go(e, tr, t)  # the loop it replaces, if still heard
    tr.close_recording(e.grid.bar_index(end) - tr.rec_bar, end)
    if pending.action is Action.CLOSE_STOP:
        tr.state = State.STOPPED
        latch(e, tr, t)
        fade(e, tr, t, 0.0, start=0.0)
        return
    tr.state = State.PLAYING
    sound(e, tr, t)
    if pending.action is Action.CLOSE_DUB:
        tr.state = State.OVERDUBBING
        begin_dub(e, tr, end, t)


def ask_cancel(e: Engine, tr: Track, command: Command, p: int) -> None:
    end_linear(e)
    tr.drop_recording()
    tr.state = tr.state_before_rec
    if tr.state in (State.PLAYING, State.OVERDUBBING):
        tr.state = State.PLAYING
        latch(e, tr, e.frame)
        fade(e, tr, e.frame, tr.volume)  # back from where the record's fade-out has got to
    e.say(MessageCode.RECORDING_DROPPED, tr.index + 1)


# ---- overdub --------------------------------------------------------------------------


def ask_dub_on(e: Engine, tr: Track, command: Command, p: int) -> None:
    start = e.grid.snap(p, e.late)
    schedule(e, tr, Action.DUB_ON, start, command, bar=start)


def fire_dub_on(e: Engine, tr: Track, pending: Pending, t: int) -> None:
    tr.state = State.OVERDUBBING
    begin_dub(e, tr, pending.bar, t)


def ask_dub_off(e: Engine, tr: Track, command: Command, p: int) -> None:
    end = e.grid.snap(p, e.late)
    schedule(e, tr, Action.DUB_OFF, end, command, bar=end)


def fire_dub_off(e: Engine, tr: Track, pending: Pending, t: int) -> None:
    end_dub(e, tr, pending.bar, t)
    tr.state = State.PLAYING


# ---- start, stop, mute ----------------------------------------------------------------


def ask_start(e: Engine, tr: Track, command: Command, p: int) -> None:
    schedule(e, tr, Action.START, downbeat_after(e, p), command, bar=0)


def fire_start(e: Engine, tr: Track, pending: Pending, t: int) -> None:
    """In phrase, where the loop would be had it played on; from the top with `play_from:
    top`, or when it never played (a loaded loop). A record or overdub begun since the
    press goes on: `play` is not for those states."""
    if tr.state not in _STARTS:
        return
    let_go(e, tr, t)
    if e.settings.play_from == "top" or tr.anchor == UNPLACED:
        tr.place(t)
    tr.state = State.PLAYING
    sound(e, tr, t)


#: The states `play` acts in (the table's); a waiting play finds the track in another.
_STARTS = frozenset(state for (state, _), action in TRANSITIONS.items() if action is Action.START)


def ask_stop(e: Engine, tr: Track, command: Command, p: int) -> None:
    schedule(e, tr, Action.STOP, downbeat_after(e, p), command, bar=0)


def fire_stop(e: Engine, tr: Track, pending: Pending, t: int) -> None:
    if tr.state is State.OVERDUBBING:
        end_dub(e, tr, t, t)
    tr.state = State.STOPPED
    fade(e, tr, t, 0.0)


def ask_mute(e: Engine, tr: Track, command: Command, p: int) -> None:
    tr.state = State.MUTED
    fade(e, tr, e.frame, 0.0)


def ask_unmute(e: Engine, tr: Track, command: Command, p: int) -> None:
    tr.state = State.PLAYING
    fade(e, tr, e.frame, tr.volume)


# ---- undo, redo, reset ----------------------------------------------------------------


def ask_undo(e: Engine, tr: Track, command: Command, p: int) -> None:
    let_go(e, tr, e.frame)
    if tr.state is State.OVERDUBBING:
        tr.dubbing = False
        tr.pop_layer()  # the pass in progress is dropped, not kept for redo
        tr.state = State.PLAYING
    else:
        tr.undo_layer()
    if not tr.has_loop:
        tr.state = State.EMPTY
    resume(e, tr, e.frame)


def ask_redo(e: Engine, tr: Track, command: Command, p: int) -> None:
    if not tr.can_redo:
        e.say(MessageCode.NOTHING_TO_REDO, tr.index + 1)
        return
    let_go(e, tr, e.frame)
    tr.redo_layer()
    if tr.state is State.EMPTY:
        tr.state = State.PLAYING
        sound(e, tr, e.frame)
    else:
        resume(e, tr, e.frame)


def ask_reset(e: Engine, tr: Track, command: Command, p: int) -> None:
    clear(e, tr)


A = Action
ASK: dict[Action, Ask] = {
    A.CAPTURE: ask_capture,
    A.ARM: ask_arm,
    A.CLOSE: ask_close,
    A.CLOSE_DUB: ask_close_dub,
    A.CLOSE_STOP: ask_close_stop,
    A.CANCEL: ask_cancel,
    A.DUB_ON: ask_dub_on,
    A.DUB_OFF: ask_dub_off,
    A.START: ask_start,
    A.STOP: ask_stop,
    A.MUTE: ask_mute,
    A.UNMUTE: ask_unmute,
    A.UNDO: ask_undo,
    A.REDO: ask_redo,
    A.RESET: ask_reset,
}
#: The actions that wait for a frame; the others take effect when asked.
FIRE: dict[Action, Fire] = {
    A.CAPTURE: fire_capture,
    A.ARM: fire_arm,
    A.CLOSE: fire_close,
    A.CLOSE_DUB: fire_close,
    A.CLOSE_STOP: fire_close,
    A.DUB_ON: fire_dub_on,
    A.DUB_OFF: fire_dub_off,
    A.START: fire_start,
    A.STOP: fire_stop,
}
assert set(ASK) == set(Action) and set(TRANSITIONS.values()) <= set(ASK)
