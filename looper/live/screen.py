"""How to show a status: the stage display, the log line, and the summary at exit.

Drawn in the main process, never in the realtime path. Nothing here prints:
the CLI hands what these functions return to its console.
"""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text

from looper.core.tracks import Action, State
from looper.live.status import RUNNING, Status

#: Block digits, 5 rows high, so the bar and beat read from two metres away.
_GLYPHS: dict[str, tuple[str, ...]] = {
    "0": ("█████", "█   █", "█   █", "█   █", "█████"),
    "1": ("  █  ", " ██  ", "  █  ", "  █  ", " ███ "),
    "2": ("█████", "    █", "█████", "█    ", "█████"),
    "3": ("█████", "    █", " ████", "    █", "█████"),
    "4": ("█   █", "█   █", "█████", "    █", "    █"),
    "5": ("█████", "█    ", "█████", "    █", "█████"),
    "6": ("█████", "█    ", "█████", "█   █", "█████"),
    "7": ("█████", "    █", "   █ ", "  █  ", "  █  "),
    "8": ("█████", "█   █", "█████", "█   █", "█████"),
    "9": ("█████", "█   █", "█████", "    █", "█████"),
    "-": ("     ", "     ", "█████", "     ", "     "),  # a bar before the grid's origin
    ".": ("    ", "    ", "    ", "    ", " ██ "),
}
_ROWS = 5

_STATE_STYLES: dict[str, str] = {
    State.RECORDING.value: "bold red",
    State.OVERDUBBING.value: "bold magenta",
    State.PLAYING.value: "bold green",
    State.WAITING.value: "bold yellow blink",
    State.MUTED.value: "dim",
    State.STOPPED.value: "blue",
    State.EMPTY.value: "grey50",
}
assert set(_STATE_STYLES) == {state.value for state in State}  # a new state needs a style

#: The engine's names for waiting actions, in the performer's words.
_PENDING_WORDS: dict[str, str] = {
    Action.CAPTURE.word: "loop",
    Action.ARM.word: "record",
    Action.CLOSE.word: "close loop",
    Action.CLOSE_DUB.word: "close loop, overdub",
    Action.CLOSE_STOP.word: "close loop, stop",
    Action.DUB_ON.word: "overdub",
    Action.DUB_OFF.word: "end overdub",
    Action.START.word: "play",
    Action.STOP.word: "stop",
}

_METER_CELLS = 20
_CHANNEL_CELLS = 8  # the input and output meters in the health lines, one per channel
_MESSAGES_SHOWN = 4
_GAP = 4  # columns between the counter and the health lines
_STATE_WIDTH = max(len(state) for state in _STATE_STYLES)
_LOAD_ALARM = 0.5  # median callback time over half the block period: xruns are near


def _glyph_row(chars: str, row: int) -> str:
    """One row of ``chars`` in block digits, a column of space between glyphs."""
    return " ".join(_GLYPHS[ch][row] for ch in chars)


def _counter(status: Status) -> Text:
    """Bar and beat in block digits, ``12 . 3``; the beat turns yellow on the downbeat."""
    bar, beat = str(status.bar), str(status.beat)
    beat_style = "bold bright_yellow" if status.beat == 1 else "bold cyan"
    counter = Text()
    for row in range(_ROWS):
        if row:
            counter.append("\n")
        counter.append(f"{_glyph_row(bar, row)} {_GLYPHS['.'][row]} ", style="bold bright_white")
        counter.append(_glyph_row(beat, row), style=beat_style)
    return counter


def _pips(status: Status) -> Text:
    """One pip per beat, the current one filled; the downbeat's pip is yellow."""
    pips = Text()
    for beat in range(1, status.beats_per_bar + 1):
        current = beat == status.beat
        if beat == 1:
            style = "bold bright_yellow" if current else "yellow"
        else:
            style = "bold cyan" if current else "grey50"
        pips.append("●" if current else "○", style=style)
        if beat < status.beats_per_bar:
            pips.append("  ")
    return pips


def _meter(level: float, cells: int = _METER_CELLS) -> Text:
    """A bar proportional to the level, its end red when it clips (>= 1.0)."""
    clipped = max(0.0, min(level, 1.0))  # in this order a NaN level reads as 0
    filled = round(clipped * cells)
    meter = Text()
    if level >= 1.0:
        meter.append("█" * (cells - 1), style="green")
        meter.append("█", style="bold red")
    else:
        meter.append("█" * filled, style="green")
    meter.append("·" * (cells - filled), style="grey35")
    return meter


def _channels(label: str, channels: tuple[int, ...], levels: tuple[float, ...]) -> Text:
    """``in  1 ████····  2 ██······``: one short meter per channel, after its number."""
    row = Text(f"{label:<4}")
    for i, (channel, level) in enumerate(zip(channels, levels, strict=True)):
        row.append(f"{'  ' if i else ''}{channel} ")
        row.append_text(_meter(level, _CHANNEL_CELLS))
    return row


def _levels(status: Status) -> list[Text]:
    """The input and output meters, and the clip count (none before the first meters)."""
    if not status.output_levels:
        return []
    outputs = _channels("out", tuple(range(1, len(status.output_levels) + 1)), status.output_levels)
    outputs.append(f"  clips {status.clips}", style="bold red" if status.clips else "")
    return [_channels("in", status.input_channels, status.input_levels), outputs]


def _pending(pending: str | None) -> str:
    """The waiting action in the performer's words; unknown names pass through."""
    return "" if pending is None else _PENDING_WORDS.get(pending, pending)


def _health(status: Status) -> list[Text]:
    """Tempo, MIDI, engine health and the input and output meters, beside the counter."""
    block_ms = 1000 * status.block / status.sample_rate
    return [
        Text(f"{status.bpm:.2f} bpm, {status.beats_per_bar} beats a bar", style="bold"),
        *([] if status.audio == RUNNING else [Text(status.audio, style="bold red")]),
        Text(status.midi),
        Text(f"xruns {status.xruns}", style="bold red" if status.xruns > 0 else ""),
        Text(
            f"load {status.load:.0%} / {status.load_max:.0%} of a block",
            style="bold red" if status.load > _LOAD_ALARM else "",
        ),
        Text(f"latency {status.latency_ms:.1f} ms, block {status.block} ({block_ms:.1f} ms)"),
        *_levels(status),
    ]


def _top(status: Status) -> list[Text]:
    """The counter and pips on the left, the health lines on the right."""
    left = [*_counter(status).split(), Text(), _pips(status)]
    right = _health(status)
    width = max(part.cell_len for part in left) + _GAP
    lines = []
    for i in range(max(len(left), len(right))):
        row = left[i].copy() if i < len(left) else Text()
        if i < len(right):
            row.pad_right(width - row.cell_len)
            row.append_text(right[i])
        lines.append(row)
    return lines


def _tracks(status: Status) -> list[Text]:
    """A header and one row per track: what it does, how loud, what comes next.

    Plain padded lines, not a ``rich.table.Table``: a table of 8 tracks takes about
    8 ms to render, too much 15 times a second.
    """
    digits = max((len(str(t.number)) for t in status.tracks), default=1)
    header = Text(
        f"{'#':>{digits}}  {'state':<{_STATE_WIDTH}}  bars  {'level':<{_METER_CELLS}}"
        "   vol  undo  next",
        style="bold",
    )
    lines = [header]
    for track in status.tracks:
        row = Text(f"{track.number:>{digits}}  ")
        row.append(track.state, style=_STATE_STYLES.get(track.state, ""))
        row.append(" " * (_STATE_WIDTH - len(track.state)))
        row.append(f"  {track.bars or '':>4}  ")
        row.append_text(_meter(track.level))
        row.append(f"  {track.volume:>4.0%}  {track.layers:>4}  ")
        pending = _pending(track.pending)
        if pending:
            row.append(f"→ {pending} at next bar", style="bold yellow")
        row.rstrip()
        lines.append(row)
    return lines


def _messages(status: Status) -> list[Text]:
    """The last few messages, oldest first; the newest stands out."""
    shown = status.messages[-_MESSAGES_SHOWN:]
    return [
        Text(message, style="bold" if i == len(shown) - 1 else "dim")
        for i, message in enumerate(shown)
    ]


def screen(status: Status) -> RenderableType:
    """The whole stage display, for the caller's ``rich.live.Live`` (this never prints).

    One cropped ``Text``: cheap to render, and a narrow terminal cuts lines instead
    of wrapping them into a jumble.
    """
    lines = [*_top(status), Text(), *_tracks(status), Text(), *_messages(status)]
    return Text("\n", no_wrap=True, overflow="ellipsis").join(lines)


def line(status: Status) -> str:
    """The status as one plain line, for logs when the output is not a terminal.

    Messages are left out: they are lines of their own in a log, not a column.
    """
    tracks = []
    for track in status.tracks:
        part = f"{track.number}:{track.state}"
        if track.bars:
            part += f" {track.bars}b"
        if track.pending is not None:
            part += f" -> {_pending(track.pending)}"
        tracks.append(part)
    return " | ".join(
        [
            f"bar {status.bar}.{status.beat}",
            f"{status.bpm:.2f} bpm",
            *tracks,
            f"xruns {status.xruns}",
            *([f"clips {status.clips}"] if status.clips else []),
            f"load {status.load:.0%}/{status.load_max:.0%}",
            *([] if status.audio == RUNNING else [status.audio.split(";")[0]]),
            status.midi.split(";")[0],  # the port's state; its own line said the rest
        ]
    )


def _worth_a_line(status: Status) -> tuple[object, ...]:
    """What a person reading a log cares about; see :func:`changes`."""
    return (
        status.bar,
        status.bpm,
        status.beats_per_bar,
        tuple((t.number, t.state, t.bars, t.pending, t.layers) for t in status.tracks),
        status.xruns,
        status.audio,
        status.midi,
        status.messages,
    )


def changes(previous: Status | None, current: Status) -> bool:
    """Whether ``current`` deserves a new :func:`line` in a log.

    A change is: the first status; a new bar (the log's heartbeat, so events can be
    placed on the grid; beats alone would flood it); a tempo or meter change; any
    track's state, loop length, pending action or undo layers; the xrun count; the
    MIDI port state; the messages. Levels, volumes, load, the frame and the beat
    change all the time and never count on their own.
    """
    return previous is None or _worth_a_line(previous) != _worth_a_line(current)


def summary(s: Status) -> str:
    """The session in one line, printed at exit: what a soak run reports."""
    return (
        f"session: {s.blocks} blocks of {s.block} frames, {s.xruns} xruns; callback time "
        f"p50 {s.load:.1%}, p99 {s.load_p99:.1%}, p99.9 {s.load_p999:.1%}, "
        f"max {s.load_max:.1%} of the block period; audio process memory "
        f"{s.rss_start_mb:.1f} MB after set-up, {s.rss_mb:.1f} MB at the end"
        + (f"; {s.clips} output samples over full scale before the limiter" if s.clips else "")
    )
