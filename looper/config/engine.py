"""The engine's settings from a validated config: where the YAML's words become frames.

This is the one bridge from the config to the core: 1-based channels become 0-based,
milliseconds become frames, decibels become a linear gain, `bpm: auto` becomes "no
tempo yet" (the grid of 120 bpm it starts with is a placeholder the first loop
replaces; nothing plays on it). It
lives here, not in the core, so that the core imports nothing but numpy and itself.
"""

from __future__ import annotations

from dataclasses import replace

from looper.config.schema import Audio, Config, Route, Tracks
from looper.core.settings import EngineSettings

#: The grid `bpm: auto` starts with until the first loop sets the tempo; never heard.
AUTO_PLACEHOLDER_BPM = 120.0


def engine_settings(config: Config, latency_frames: int, **overrides: object) -> EngineSettings:
    """The engine's view of a validated config; 1-based channels become 0-based."""
    a, c, t, m = config.audio, config.clicktrack, config.tracks, config.master
    settings = EngineSettings(
        sample_rate=a.sample_rate,
        inputs=tuple(ch - 1 for ch in a.inputs),
        outputs=tuple(ch - 1 for ch in a.outputs),
        click_outputs=tuple(ch - 1 for ch in c.outputs),
        monitor=a.monitor,
        latency_frames=latency_frames,
        history_seconds=a.history_seconds,
        bpm=AUTO_PLACEHOLDER_BPM if c.bpm == "auto" else c.bpm,
        bpm_auto=c.bpm == "auto",
        first_loop_bars=c.first_loop_bars,
        count_in_bars=c.count_in_bars,
        beats_per_bar=c.beats_per_bar,
        click_volume=c.volume,
        click_enabled=c.enabled,
        tracks=t.count,
        late_press=t.late_press,
        crossfade_frames=crossfade_frames(a, t),
        memory_seconds=t.memory_seconds,
        play_from=t.play_from,
        max_block=max(4096, a.block_size),
        track_inputs=tuple(
            tuple(a.inputs.index(ch) for ch in (route.inputs or ())) for route in _routes(config)
        ),
        track_outputs=tuple(
            tuple(ch - 1 for ch in (route.outputs or ())) for route in _routes(config)
        ),
        master_volume=m.volume,
        limiter=m.limiter,
        ceiling=10 ** (m.ceiling_db / 20),
    )
    return replace(settings, **overrides)  # type: ignore[arg-type]


def crossfade_frames(audio: Audio, tracks: Tracks) -> int:
    """The seam's crossfade in frames: the engine's, and the config check's (rules.py)."""
    return round(tracks.crossfade_ms * audio.sample_rate / 1000)


def _routes(config: Config) -> tuple[Route, ...]:
    """One routing entry per track: those the YAML gives, then unrouted ones."""
    given = config.tracks.routing
    return given + (Route(),) * (config.tracks.count - len(given))
