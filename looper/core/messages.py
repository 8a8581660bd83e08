"""What the engine tells the performer, as data: (frame, code, arguments).

The callback may not format strings (it would allocate on the audio
thread), so the engine appends `(frame, MessageCode, args)` to its bounded
outbox, with args a short tuple of numbers: track numbers are 1-based as the
status shows them, a state is its index in `State`, a command type its index
in `TRACK_COMMANDS`, an action its `Action` value, a tempo its bpm.
`words(code, args)` turns one into English; it is pure, and runs wherever the
text is shown (the main process live, the render tool offline). The texts are
part of the interface: tests and the performer read them.
"""

from __future__ import annotations

from enum import IntEnum

from looper.core.tracks import TRACK_COMMANDS, Action, State

#: One message's arguments: ints and floats only.
Args = tuple[float, ...]
#: What the engine's outbox holds: (output frame, code, args).
Message = tuple[int, "MessageCode", Args]


class MessageCode(IntEnum):
    DOES_NOTHING = 1  # (track, command index, state index)
    CANCELLED = 2  # (track, action value)
    NO_TEMPO_YET = 3  # ()
    NO_WHOLE_BAR = 4  # (track,)
    MEMORY_FULL = 5  # (track,)
    FIRST_LOOP_TOO_SHORT = 6  # ()
    TEMPO_FROM_FIRST_LOOP = 7  # (bpm,)
    RECORDING_DROPPED = 8  # (track,)
    NOTHING_TO_REDO = 9  # (track,)
    RECORDING_CLOSED_FULL = 10  # (track,)
    OVERDUB_ENDED_FULL = 11  # (track,)
    BUSY_LOOP_NOT_SET = 12  # (track, state index)
    TEMPO_NEEDS_EMPTY = 13  # ()
    TOO_FAST = 14  # (bpm,)
    TEMPO = 15  # (bpm,)
    INPUT_NOT_FINITE = 16  # (input channel, 1-based as audio.inputs numbers it)
    FIRST_LOOP_BUSY = 17  # (track, the track recording the first loop)
    TOO_SLOW = 18  # (bpm,)
    FIRST_LOOP_TOO_LONG = 19  # ()


M = MessageCode
_TEXTS: dict[MessageCode, str] = {
    M.DOES_NOTHING: "track {0}: {1} does nothing while {2}",
    M.CANCELLED: "track {0}: {1} cancelled",
    M.NO_TEMPO_YET: "no tempo yet: record the first loop (clicktrack.bpm is auto)",
    M.NO_WHOLE_BAR: "track {0}: no whole bar of history yet",
    M.MEMORY_FULL: "track {0}: loop memory full (raise tracks.memory_seconds)",
    M.FIRST_LOOP_TOO_SHORT: "that first loop is too short for the latency and crossfade",
    M.TEMPO_FROM_FIRST_LOOP: "tempo {0:.2f} bpm from the first loop",
    M.RECORDING_DROPPED: "track {0}: recording dropped",
    M.NOTHING_TO_REDO: "track {0}: nothing to redo",
    M.RECORDING_CLOSED_FULL: "track {0}: loop memory full, recording closed",
    M.OVERDUB_ENDED_FULL: "track {0}: loop memory full, overdub ended",
    M.BUSY_LOOP_NOT_SET: "track {0}: busy {1}; loop not set",
    M.TEMPO_NEEDS_EMPTY: "tempo changes only while every track is empty",
    M.TOO_FAST: "{0:.1f} bpm is too fast for the latency and crossfade",
    M.TEMPO: "tempo {0:.2f} bpm",
    M.INPUT_NOT_FINITE: "input {0} sent NaN or Inf samples: they are silenced",
    M.FIRST_LOOP_BUSY: "track {0}: not recorded: track {1} is recording the first loop",
    M.TOO_SLOW: "{0:.1f} bpm is too slow for the loop memory (raise tracks.memory_seconds)",
    M.FIRST_LOOP_TOO_LONG: "that first loop is too long for the slowest tempo or the loop "
    "memory (raise tracks.memory_seconds)",
}
assert set(_TEXTS) == set(MessageCode)

_STATES = tuple(State)
#: The codes the callback puts in args, looked up once here (a dict read, no formatting).
STATE_CODES: dict[State, int] = {state: i for i, state in enumerate(_STATES)}
COMMAND_CODES: dict[type, int] = {cls: i for i, cls in enumerate(TRACK_COMMANDS)}


def words(code: MessageCode, args: Args) -> str:
    """The English text of one message, as the status line shows it."""
    shown: tuple[object, ...] = args
    if code == M.DOES_NOTHING:
        shown = (shown[0], TRACK_COMMANDS[int(args[1])].__name__.lower(), _state(args[2]))
    elif code == M.CANCELLED:
        shown = (shown[0], Action(int(args[1])).word)
    elif code == M.BUSY_LOOP_NOT_SET:
        shown = (shown[0], _state(args[1]))
    return _TEXTS[code].format(*shown)


def _state(code: float) -> str:
    return _STATES[int(code)].value
