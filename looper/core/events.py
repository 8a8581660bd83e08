"""What happens at a frame besides the audio: a command arriving, a history bar beginning.

`Engine._events` calls these in a fixed order at every segment boundary
(core/engine.py). A global command (volume, tempo, click, reset of every track,
the seed API's SetLoop) is done here at once; a track's command goes to
`actions.track_command` and the transition table. When a history bar begins, the
tracks recording take its page and the tracks overdubbing get a fresh one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from looper.core.actions import ask_cancel, fire_close, track_command
from looper.core.commands import (
    ClickToggle,
    ClickVolume,
    Command,
    Record,
    Reset,
    SetLoop,
    SetTempo,
    TapTempo,
    TrackCommand,
    TrackVolume,
)
from looper.core.messages import STATE_CODES, MessageCode
from looper.core.playback import fade
from looper.core.recording import clear, dub_bar, take
from looper.core.tempo import ask_tempo, tap
from looper.core.tracks import Action, Pending, State

if TYPE_CHECKING:
    from looper.core.engine import Engine


def history_bar(e: Engine, k: int) -> None:
    """History bar k begins: a fresh page, held by the tracks recording or overdubbing."""
    page = e.ring.begin_bar(k)
    bar_frame = e.grid.origin + k * e.grid.bar
    for tr in e.tracks:
        if tr.state is State.RECORDING and k >= tr.rec_bar:
            # A recording stops taking bars when it reaches the track's table or the
            # memory's room: it closes into the bars it holds, the way a close the
            # performer asked for would (that close is then done), and says so. A loop is
            # at least one bar: holding none, it is dropped (said), and the track goes
            # back to what it was.
            if tr.can_record and e.pool.can_take(captured=1):
                tr.record(page)
            elif k == tr.rec_bar:
                e.say(MessageCode.MEMORY_FULL, tr.index + 1)
                tr.pending = None
                ask_cancel(e, tr, Record(tr.index), e.frame)
            else:
                e.say(MessageCode.RECORDING_CLOSED_FULL, tr.index + 1)
                asked = tr.pending.action if tr.pending is not None else Action.CLOSE
                tr.pending = None
                full = Pending(asked, bar_frame, None, bar=bar_frame)
                fire_close(e, tr, full, e.frame)
        if tr.dubbing:
            dub_bar(e, tr, k, 0)


def handle(e: Engine, command: Command, p: int) -> None:
    """A command arrives: a global one is done here, a track's goes to its transition table."""
    t = e.frame
    track = getattr(command, "track", None)
    if isinstance(track, int) and not 0 <= track < len(e.tracks):
        return  # the API's track ids are not checked for it: no such track, nothing to do
    match command:
        case TrackVolume(value=v) | ClickVolume(value=v) if not 0.0 <= v <= 1.0:
            return  # out of range, or NaN: the mapping never sends one, the API might
        case TrackVolume(track=i, value=v):
            tr = e.tracks[i]
            tr.volume = v
            if tr.state in (State.PLAYING, State.OVERDUBBING):  # heard: from 0 too
                fade(e, tr, t, v)
        case Reset(track=None):
            for tr in e.tracks:
                clear(e, tr)
        case TapTempo():
            tap(e, p)
        case SetTempo(bpm=bpm):
            ask_tempo(e, bpm)
        case ClickToggle():
            e.click_enabled = not e.click_enabled
        case ClickVolume(value=v):
            e.click_volume = v
        case SetLoop(track=i, start=start, end=end, offset=offset):
            tr = e.tracks[i]
            if tr.state in (State.RECORDING, State.OVERDUBBING):
                e.say(MessageCode.BUSY_LOOP_NOT_SET, i + 1, STATE_CODES[tr.state])
                return
            g = e.grid
            first, last = (round((f - g.origin) / g.bar) for f in (start, end))
            anchor = g.origin + (last + round(offset / g.bar)) * g.bar
            tr.pending = None
            take(e, tr, first, min(last, e.ring.last_bar + 1), anchor, t)
        case TrackCommand() | Reset():
            assert command.track is not None
            track_command(e, e.tracks[command.track], command, p)
