"""What the performer sees, as data: a snapshot of the looper, one per publish.

The audio process builds snapshots outside the callback and sends them to the
main process; `looper.live.screen` turns them into the stage display and log
lines. Plain frozen dataclasses, so they pickle across the process queue and
the lights (`looper.midi.process.shown_by`) read them without rich.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from looper.core.messages import Args, MessageCode

#: The audio process's state while all is well (the screen shows anything else in red).
RUNNING = "audio: running"


@dataclass(frozen=True, slots=True)
class TrackStatus:
    number: int  # 1-based
    state: str  # a `State` value (core/tracks.py owns the names)
    bars: int  # loop length in bars, 0 when empty
    level: float  # peak of what the track added to the mix since the last status, 0.0-1.0+
    pending: str | None  # a waiting action ("stop", "capture"...) or None
    volume: float
    layers: int  # undo steps held


@dataclass(frozen=True, slots=True)
class Status:
    frame: int
    sample_rate: int
    bpm: float  # the exact tempo of the whole-frame beat
    beats_per_bar: int
    bar: int  # 1-based bar number since the grid's origin
    beat: int  # 1-based beat in the bar
    tracks: tuple[TrackStatus, ...]
    xruns: int
    load: float  # median callback time / period, recent blocks
    load_max: float  # worst callback time / period since start
    latency_ms: float
    block: int
    load_p99: float = 0.0  # session-wide percentiles of callback time / period
    load_p999: float = 0.0
    blocks: int = 0  # callbacks so far
    rss_mb: float = 0.0  # resident memory of the audio process
    rss_start_mb: float = 0.0  # ...once it was set up
    midi: str = "MIDI: not started"  # the footswitch port's state, in words
    audio: str = RUNNING  # the audio process's state, in words
    messages: tuple[str, ...] = field(default_factory=tuple)  # recent, oldest first
    # The engine's new messages as data, (bar, code, args): the main process words them.
    engine_messages: tuple[tuple[int, MessageCode, Args], ...] = ()
    # Peaks since the last status (1.0 is full scale), and the clips of the session
    # (output samples over full scale before the limiter: core/meters.py).
    input_channels: tuple[int, ...] = ()  # the recorded channels, as audio.inputs numbers them
    input_levels: tuple[float, ...] = ()  # one per input channel above
    output_levels: tuple[float, ...] = ()  # one per output channel of the card, from 1
    clips: int = 0
