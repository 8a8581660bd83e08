"""Where the engine's shared arrays live: private numpy arrays, or one buffer another
process maps too.

Why one buffer: live, the loops must outlive the audio process, so the main
process owns a shared mapping (looper/live/shared.py) and every audio process
it starts builds its engine over it. What is in it: the page pool's frames
(the audio of every loop and of the history), the meters the main process
reads for the status, and the two checkpoint slots (core/durable.py) that
say what the pages mean. The layout follows from the settings alone (never
the latency, which only a stream knows), so the main process can size the
mapping before any audio process runs and every process finds each array at
the same offset. Offline (`looper render`, the tests) nothing is shared and
each array is its own.
"""

from __future__ import annotations

import numpy as np

from looper.core.durable import head_spec, slot_specs
from looper.core.settings import EngineSettings, memory_frames

ALIGN = 64  # bytes: each array starts on a cache line

Spec = tuple[str, type, tuple[int, ...]]


def _specs(s: EngineSettings) -> list[Spec]:
    frames = memory_frames(s.history_seconds, s.memory_seconds, s.sample_rate)
    specs: list[Spec] = [
        ("pages", np.float32, (frames * len(s.inputs),)),
        ("meter_inputs", np.float32, (s.max_block, len(s.inputs))),
        ("meter_tracks", np.float32, (s.tracks,)),
        ("meter_outputs", np.float32, (s.max_block, s.out_channels)),
        ("clips", np.int64, (1,)),
        head_spec(),
    ]
    for k in (0, 1):
        specs += [(f"{k}:{name}", dtype, shape) for name, dtype, shape in slot_specs(s)]
    return specs


def _nbytes(dtype: type, shape: tuple[int, ...]) -> int:
    return int(np.dtype(dtype).itemsize * np.prod(shape, dtype=np.int64))


def memory_bytes(settings: EngineSettings) -> int:
    """The size of the shared buffer for these settings."""
    return sum(-(-_nbytes(d, sh) // ALIGN) * ALIGN for _, d, sh in _specs(settings))


class Memory:
    """The engine's shared arrays, by name: zeros of their own, or views into `buffer`
    (as `memory_bytes` long, laid out the same in every process that maps it)."""

    def __init__(self, settings: EngineSettings, buffer: memoryview | None = None) -> None:
        self.shared = buffer is not None
        arrays: dict[str, np.ndarray] = {}
        offset = 0
        for name, dtype, shape in _specs(settings):
            if buffer is None:
                arrays[name] = np.zeros(shape, dtype=dtype)
            else:
                count = int(np.prod(shape, dtype=np.int64))
                flat: np.ndarray = np.frombuffer(buffer, dtype=dtype, count=count, offset=offset)
                arrays[name] = flat.reshape(shape)
            offset += -(-_nbytes(dtype, shape) // ALIGN) * ALIGN
        self.pages = arrays["pages"]
        self.meters = tuple(arrays[n] for n in ("meter_inputs", "meter_tracks", "meter_outputs"))
        self.clips = arrays["clips"]
        self.head = arrays["head"]
        self.slots = tuple(
            {n: arrays[f"{k}:{n}"] for n, _, _ in slot_specs(settings)} for k in (0, 1)
        )

    @property
    def holds_state(self) -> bool:
        """Whether an engine wrote a checkpoint here: then a new engine over this memory must
        not touch its pages before `core.durable.restore` says what they hold."""
        return bool(self.head[0] or self.head[1])
