"""Offline renders with a self-describing input: input frame u carries the value u + 1.

At 1000 frames per second and 120 bpm in 4/4, a beat is 500 frames and a bar
2000, small enough for fast tests and exact in float32. The settings come
from a config, as the looper's do (defaults live in the schema alone); the
rate is an override, since a config cannot ask for 1000 frames a second.
The ramp is not audio (its values run to thousands), so the master limiter is
off here; the tests of the limiter, and of block sizes, turn it on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import numpy as np
from signals import ramp as ramp_input

from looper.config import parse_config
from looper.config.engine import engine_settings
from looper.core.commands import Command
from looper.core.engine import Engine
from looper.core.messages import words
from looper.core.settings import EngineSettings

RATE = 1000
BAR = 2000
BEAT = 500

CONFIG = """
audio: {inputs: [1], outputs: [1], history_seconds: 20}
clicktrack: {bpm: 120, beats_per_bar: 4, enabled: false, outputs: [2]}
tracks: {count: 4, memory_seconds: 120, crossfade_ms: 0}
master: {limiter: false}
"""


def settings(text: str = CONFIG, latency_frames: int = 0, **overrides: object) -> EngineSettings:
    """Engine settings from config text, at RATE, with `overrides` replacing fields."""
    base = engine_settings(parse_config(text, "engine_helpers"), latency_frames)
    return replace(base, sample_rate=RATE, **overrides)  # type: ignore[arg-type]


BASE = settings()

Script = Iterable[tuple[int, Command]]


def render(
    script: Script,
    n: int,
    block: int = 64,
    signal: np.ndarray | None = None,
    **settings: object,
) -> tuple[Engine, np.ndarray]:
    """Run the engine over n frames, submitting each (frame, command) as it comes."""
    engine = Engine(replace(BASE, **settings))
    x = ramp_input(n, len(engine.settings.inputs)) if signal is None else signal
    if x.ndim == 1:
        x = x[:, None]
    out = np.zeros((n, engine.settings.out_channels), dtype=np.float32)
    for frame, command in script:
        engine.submit(command, frame)
    for i in range(0, n, block):
        engine.process(x[i : i + block], out[i : i + block])
    return engine, out


def said(engine: Engine) -> list[str]:
    """The engine's messages in words, as the performer reads them (the outbox is kept)."""
    return [words(code, args) for _, code, args in engine.messages]


def main(out: np.ndarray) -> np.ndarray:
    """The first main output channel."""
    return out[:, 0]
