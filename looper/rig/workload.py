"""The one stage workload: what the bench times, the soak plays live, and their tests check.

8 stereo tracks looping 4, 1, 2, 3, 1, 2, 4 and 8 bars at 120 bpm, the first one
overdubbing (a new undo layer every pass, so the undo stack fills and recycles), click
on, monitor on, 5 ms latency, history recording. Its loops are made with real commands,
as a performer makes them: a Backloop per track once 9 bars of history are held (all the
loops at once, each taking the bars just before the same downbeat), then an Overdub a
bar later. The input is what a performer plays: noise, not a whole number of bars long.

Offline (the bench) the engine is built from `stage_settings` and driven by
`stage_engine`; live (the soak) the looper reads the same workload as a config,
`stage_config`, whose pedal notes `STAGE_NOTES` and `DUB_NOTE` the harness stomps.
"""

from __future__ import annotations

import numpy as np

from looper.config import parse_config
from looper.config.engine import engine_settings
from looper.core.commands import Backloop, Overdub
from looper.core.engine import Engine
from looper.core.settings import EngineSettings
from looper.core.track import MAX_LAYERS
from looper.core.tracks import State
from looper.core.view import EngineView
from looper.tools.render import RENDER_BLOCK

RATE = 48_000
BPM = 120.0
BEATS_PER_BAR = 4
#: Loop lengths in bars, track by track (cycled past 8 tracks); track 1 overdubs.
LOOP_BARS = (4, 1, 2, 3, 1, 2, 4, 8)
DUB_TRACK = 0
#: Bars of history before the first backloop: enough for the longest loop, whole.
HISTORY_BARS = 9
STANDARD_TRACKS = 8
MONITOR = 0.5
LATENCY_SECONDS = 0.005
LATENCY_FRAMES = round(LATENCY_SECONDS * RATE)
SIGNAL_SECONDS = 7.3  # what the performer plays, cycled: not a whole number of bars
#: The live workload's pedals: note STAGE_NOTES + i backloops track i + 1; DUB_NOTE overdubs.
STAGE_NOTES = 60
DUB_NOTE = 70


def performance_signal() -> np.ndarray:
    """What the performer plays: stereo noise at -20 dBFS (float32, as the card gives it)."""
    rng = np.random.default_rng(7)
    return (0.1 * rng.standard_normal((round(SIGNAL_SECONDS * RATE), 2))).astype(np.float32)


def blocks_of(signal: np.ndarray, block: int) -> list[np.ndarray]:
    """The signal cut into views of `block` frames, made once so feeding them allocates nothing."""
    return [signal[i : i + block] for i in range(0, len(signal) - block + 1, block)]


def stage_config(block: int, midi_input: str) -> str:
    """The stage workload as the looper's YAML config, for a live run at `block` frames.

    Only what an offline engine cannot show is added: the pedal port to listen to, a
    history and loop memory long enough for minutes of overdubbing, a 10 ms seam.
    """
    pedals = "".join(
        f"  - {{note: {STAGE_NOTES + i}, action: backloop, track: {i + 1}, bars: {bars}}}\n"
        for i, bars in enumerate(LOOP_BARS[:STANDARD_TRACKS])
    )
    return (
        f"""
audio: {{sample_rate: {RATE}, block_size: {block}, inputs: [1, 2], outputs: [1, 2],
        monitor: {MONITOR}, latency_ms: {LATENCY_SECONDS * 1000:g}, history_seconds: 60}}
clicktrack: {{bpm: {BPM:g}, beats_per_bar: {BEATS_PER_BAR}, volume: 0.3, outputs: [1, 2]}}
tracks: {{count: {STANDARD_TRACKS}, crossfade_ms: 10, memory_seconds: {STAGE_MEMORY_SECONDS}}}
midi: {{backend: jack, input: "{midi_input}"}}
pedals:
"""
        + pedals
        + f"  - {{note: {DUB_NOTE}, action: overdub, track: {DUB_TRACK + 1}}}\n"
    )


# ---- the engine, offline ----------------------------------------------------------------
# The engine is built from a config, as the looper builds it, and read through its view.


#: Room for every undo layer of the overdub: each pass takes its bars and a lead-in page.
STAGE_MEMORY_SECONDS = 400

STAGE_CONFIG = f"""
audio: {{sample_rate: {RATE}, inputs: [1, 2], outputs: [1, 2], monitor: {MONITOR}}}
clicktrack: {{bpm: {BPM}, enabled: true, outputs: [1, 2]}}
tracks: {{memory_seconds: {STAGE_MEMORY_SECONDS}}}
"""


def stage_settings(tracks: int, block: int = RENDER_BLOCK) -> EngineSettings:
    """The stage's settings from a config, as the looper builds them (defaults: the schema's)."""
    config = parse_config(STAGE_CONFIG, "bench")
    return engine_settings(
        config, LATENCY_FRAMES, tracks=tracks, max_block=max(RENDER_BLOCK, block)
    )


def submit_stage(engine: Engine) -> None:
    """The stage performance's commands: a backloop per track early in bar 9, then an overdub.

    Each press is half a beat into its bar, so it snaps to the downbeat just passed: the
    backloops take the bars before bar 9 and the overdub layers from bar 10 on.
    """
    view = EngineView(engine)
    g = view.grid
    press = g.origin + HISTORY_BARS * g.bar + g.beat // 2
    for i in range(view.track_count):
        engine.submit(Backloop(i, LOOP_BARS[i % len(LOOP_BARS)]), press + i)
    engine.submit(Overdub(DUB_TRACK), press + g.bar)


def stage_ready(engine: Engine) -> bool:
    """Every track plays its loop, and the dub track overdubs, with nothing left waiting."""
    return all(
        tr.state is (State.OVERDUBBING if tr.number - 1 == DUB_TRACK else State.PLAYING)
        and tr.pending is None
        and tr.bars == LOOP_BARS[(tr.number - 1) % len(LOOP_BARS)]
        for tr in EngineView(engine).tracks()
    )


def stage_engine(tracks: int, signal: np.ndarray, block: int = RENDER_BLOCK) -> Engine:
    """An engine running the standard stage workload on `tracks` tracks, ready to time."""
    engine = Engine(stage_settings(tracks, block))
    submit_stage(engine)
    views = blocks_of(signal, RENDER_BLOCK)
    out = np.zeros((RENDER_BLOCK, engine.settings.out_channels), dtype=np.float32)
    view = EngineView(engine)
    give_up = (HISTORY_BARS + 4) * view.grid.bar
    i = 0
    while not stage_ready(engine):
        if view.frame > give_up:
            states = [tr.state.value for tr in view.tracks()]
            raise RuntimeError(f"the stage workload did not start: {states}")
        engine.process(views[i % len(views)], out)
        i += 1
    return engine


def fill_undo(engine: Engine, signal: np.ndarray) -> None:
    """Play on until the overdubbing track holds all its undo layers (one per pass)."""
    view = EngineView(engine)
    dub = view.track(DUB_TRACK)
    views = blocks_of(signal, RENDER_BLOCK)
    out = np.zeros((RENDER_BLOCK, engine.settings.out_channels), dtype=np.float32)
    give_up = view.frame + (MAX_LAYERS + 2) * dub.bars * view.grid.bar
    i = 0
    while dub.layers < MAX_LAYERS:
        if view.frame > give_up or dub.state is not State.OVERDUBBING:
            raise RuntimeError(f"the overdub did not fill its undo layers: {dub.layers}")
        engine.process(views[i % len(views)], out)
        i += 1
        dub = view.track(DUB_TRACK)
