"""What the engine needs from the config, and the arithmetic that sizes it.

Defaults live in the config schema alone (looper/config/schema.py):
`EngineSettings` has no field defaults. It is built from a validated config by
`looper.config.engine.engine_settings`, outside the core, so the core knows
nothing of YAML; a caller that needs something the config cannot say (the
offline tests' 1000 frames a second, the bench's block) passes it as an
override.

Two facts have their one owner here, because live, render and the session
store all need them:

- `latency_frames`: the round trip in frames. `auto` means what the audio
  stream reports live; offline (render, nothing reported) it means 0, since a
  recorded input file was not played against this looper's click.
- `memory_frames`, `ring_slots`, `loop_bars_room`, `memory_seconds_needed` and
  `max_loop_bars`: how the loop memory is sized and what of it the loops may
  take (the session store checks a saved session against these before it
  loads one).
- `holds`: whether a tempo's bar fits the memory. A tempo is usable only when
  the memory holds, at its bar, the history ring, its spare page and at least
  one bar of loops (so at least 4 pages); a bpm: auto first loop needs room
  for all its bars. The config check (looper/config/rules.py), the engine's
  set-up, a tempo change and the first loop all ask this one rule.
- `latency_fits`: whether a bar is longer than the latency and the crossfade.
  Input reaches the history one round trip after it was played, so the
  engine reads a loop's history one latency late (performance time is output
  time less the latency), and a loop's seam fades in over the crossfade
  before its bar: a bar not longer than both together would be played back
  before it was recorded. `looper check` refuses such a config
  (looper/config/rules.py), the engine such a tempo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from looper.core.grid import MAX_BPM, Grid


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """What the engine needs from the config; channels are 0-based device channels."""

    sample_rate: int
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    click_outputs: tuple[int, ...]
    monitor: float
    latency_frames: int
    history_seconds: float
    bpm: float
    beats_per_bar: int
    click_volume: float
    click_enabled: bool
    tracks: int
    late_press: float
    crossfade_frames: int
    memory_seconds: float
    max_block: int
    bpm_auto: bool  # no tempo until the first record sets it
    first_loop_bars: int  # how many bars that first loop is
    count_in_bars: int  # bars of click before the first record starts
    play_from: Literal["phrase", "top"]  # where `play` brings a stopped loop back
    #: Per track: the recorded channels (indices into `inputs`) its loops play, and the
    #: device outputs (0-based) it plays on; an empty tuple means all of them / `outputs`.
    track_inputs: tuple[tuple[int, ...], ...]
    track_outputs: tuple[tuple[int, ...], ...]
    master_volume: float  # every output channel is scaled by this, then limited
    limiter: bool
    ceiling: float  # the limiter's ceiling, linear (full scale is 1.0)

    @property
    def in_channels(self) -> int:
        return max(self.inputs) + 1

    @property
    def out_channels(self) -> int:
        routed = (ch for outs in self.track_outputs for ch in outs)
        return max((*self.outputs, *self.click_outputs, *routed)) + 1


def latency_frames(
    latency_ms: float | Literal["auto"], sample_rate: int, reported_seconds: float | None
) -> int:
    """The round trip in frames: as configured, or with `auto` what the stream reports
    (`reported_seconds`, input plus output); offline nothing is reported and auto is 0."""
    if latency_ms == "auto":
        return 0 if reported_seconds is None else round(reported_seconds * sample_rate)
    return round(latency_ms * sample_rate / 1000)


def memory_frames(history_seconds: float, memory_seconds: float, sample_rate: int) -> int:
    """The page pool's size: the history and the loop memory, as one block of frames."""
    return round((history_seconds + memory_seconds) * sample_rate)


def ring_slots(history_seconds: float, sample_rate: int, bar: int) -> int:
    """The history ring's pages: its seconds in whole bars, the bar being written, and the
    bar before the oldest, kept as that bar's lead-in (a loop taken from it wraps cleanly)."""
    return math.ceil(history_seconds * sample_rate / bar) + 2


def loop_bars_room(
    history_seconds: float, memory_seconds: float, sample_rate: int, bar: int
) -> int:
    """How many bars the loops can hold at once: the pool's pages, less the ring's slots and
    the one spare page the ring always keeps to advance."""
    pages = memory_frames(history_seconds, memory_seconds, sample_rate) // bar
    return pages - ring_slots(history_seconds, sample_rate, bar) - 1


def holds(
    history_seconds: float, memory_seconds: float, sample_rate: int, bar: int, bars: int = 1
) -> bool:
    """Whether the memory holds the history ring and `bars` bars of loops, at this bar."""
    return loop_bars_room(history_seconds, memory_seconds, sample_rate, bar) >= bars


def latency_fits(bar: int, latency: int, crossfade: int) -> bool:
    """Whether a bar of `bar` frames is longer than the latency plus the crossfade."""
    return bar > latency + crossfade


def memory_seconds_needed(
    loop_bars: int, history_seconds: float, sample_rate: int, bar: int
) -> int:
    """The least whole `tracks.memory_seconds` that holds loops of `loop_bars` bars in all."""
    need = loop_bars + ring_slots(history_seconds, sample_rate, bar) + 1
    return math.ceil(need * bar / sample_rate - history_seconds)


def max_loop_bars(settings: EngineSettings) -> int:
    """The longest loop a track's tables must hold: all the memory, in the smallest bar
    (at MAX_BPM) the tempo can ever take."""
    s = settings
    smallest_bar = Grid.from_bpm(s.sample_rate, MAX_BPM, s.beats_per_bar).bar
    return memory_frames(s.history_seconds, s.memory_seconds, s.sample_rate) // smallest_bar
