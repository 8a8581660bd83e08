"""Offline renders with a self-describing input: input frame u carries the value u + 1.

At 1000 frames per second and 120 bpm in 4/4, a beat is 500 frames and a bar
2000, small enough for fast tests and exact in float32.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import numpy as np
from signals import ramp as ramp_input

from looper.core.commands import Command
from looper.core.engine import Engine, EngineSettings

RATE = 1000
BAR = 2000
BEAT = 500

BASE = EngineSettings(
    sample_rate=RATE,
    inputs=(0,),
    outputs=(0,),
    click_outputs=(1,),
    bpm=120,
    beats_per_bar=4,
    history_seconds=20,
    memory_seconds=120,
    crossfade_frames=0,
    click_enabled=False,
    tracks=4,
)

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


def main(out: np.ndarray) -> np.ndarray:
    """The first main output channel."""
    return out[:, 0]
