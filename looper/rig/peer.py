"""The bench's peer: `backlooper` (the nearest Python looper, from PyPI), timed as ours is.

Its callback runs on the equivalent of the stage workload (8 stereo tracks looping the
same bars over 9 bars of history, 5 ms latency), block size by block size, and each
line carries the ratio of our median to its median. Any failure of the foreign package
is a `skipped` line with its reason, never a crash of the bench.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from time import time
from typing import Any

import numpy as np

from looper.core.grid import Grid
from looper.rig.measure import (
    BLOCK_SIZES,
    GOALS,
    TARGET_BLOCK,
    Plan,
    Record,
    progress,
    record,
    time_blocks,
)
from looper.rig.workload import (
    BPM,
    HISTORY_BARS,
    LATENCY_SECONDS,
    LOOP_BARS,
    RATE,
    STANDARD_TRACKS,
    blocks_of,
)


@dataclass(frozen=True, slots=True)
class FakeStreamTime:
    """What sounddevice hands a callback as `time`: PortAudio's stream times, in seconds."""

    currentTime: float
    inputBufferAdcTime: float
    outputBufferDacTime: float


#: A stream whose input reached the card 2.5 ms ago and whose output leaves in 2.5 ms:
#: backlooper derives its latency (5 ms, as ours) from these.
PEER_TIME = FakeStreamTime(
    currentTime=1.0,
    inputBufferAdcTime=1.0 - LATENCY_SECONDS / 2,
    outputBufferDacTime=1.0 + LATENCY_SECONDS / 2,
)


def peer_stream(audio: Any, block: int, signal: np.ndarray) -> Any:
    """backlooper's AudioStream with its 8 tracks looping over a pre-recorded history.

    No device is opened: the stream is only constructed (its constructor opens none),
    and the state its first callbacks and its session would set is set directly: the
    time origin, 9 bars of history written through its own `write`, the click grid,
    and a loop per track (`set_start_end_loop`, as its session does for a backloop).
    Its storage is shared memory, one segment per 10000 frames; `close_peer` frees it.
    """
    stream = audio.AudioStream(channels=2, block_size=block, sample_rate=RATE)
    quiet = logging.getLogger("looper.rig.bench.peer")
    quiet.setLevel(logging.CRITICAL)
    stream._logger = quiet  # set by its run(); its callback warns when a block is slow
    origin = time()
    stream._samples_origin.value = origin
    bar = Grid.from_bpm(RATE, BPM, audio.BEATS_PER_BAR).bar
    history = np.resize(signal, (HISTORY_BARS * bar, 2)).astype(np.float64)
    stream.write(origin, history)
    stream._current_index = len(history)
    stream.clicktrack_bpm = BPM
    stream.clicktrack_origin = origin
    end = len(history)
    for track, bars in enumerate(LOOP_BARS):
        start = end - bars * bar
        stream.set_start_end_loop(origin + start / RATE, origin + end / RATE, track_id=track)
    return stream


def close_peer(stream: Any) -> None:
    """Free the shared memory the stream made (its storage has no garbage collection)."""
    for memory in stream._storage._memory_handles.values():
        memory.unlink()
        memory.close()
    stream._loop_start_end_times.shm.unlink()
    stream._loop_start_end_times.shm.close()


def peer_section(plan: Plan, signal: np.ndarray, ours: Sequence[Record]) -> list[Record]:
    """backlooper's callback per block size; a `skipped` line, never a crash, if it fails."""
    try:
        import backlooper.audio as audio  # imports sounddevice: needs PortAudio
    except Exception as error:  # any reason the peer cannot load (no PortAudio...) skips it
        return [skipped_peer(f"backlooper cannot be imported: {type(error).__name__}: {error}")]
    medians = {r["block"]: r["median_us"] for r in ours}
    records = []
    for block in BLOCK_SIZES:
        progress(f"peer: backlooper, 8 tracks, block {block}")
        try:
            stream = peer_stream(audio, block, signal)
            try:
                out = np.zeros((block, 2), dtype=np.float32)
                callback = partial(
                    stream.callback, frames=block, callback_time=PEER_TIME, status=None
                )
                ns = time_blocks(callback, blocks_of(signal, block), out, plan)
            finally:
                close_peer(stream)
        except Exception as error:  # a foreign package's failure is reported, not raised
            records.append(
                skipped_peer(f"backlooper's callback failed: {type(error).__name__}: {error}")
            )
            return records
        r = record("peer", STANDARD_TRACKS, block, ns, peer=f"backlooper {peer_version()}")
        ours_median = medians.get(block)
        r["ratio"] = None if ours_median is None else ours_median / r["median_us"]
        if block == TARGET_BLOCK and r["ratio"] is not None:
            r["targets"] = [GOALS["peer"].check(r["ratio"])]
        records.append(r)
    return records


def skipped_peer(reason: str) -> Record:
    return record("peer", STANDARD_TRACKS, None, None, skipped=reason)


def peer_version() -> str:
    from importlib.metadata import version

    return version("backlooper")
