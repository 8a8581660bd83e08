"""Routing per track (`tracks.routing`): which recorded inputs a track's loops take,
and which outputs it plays on.

The history records every input, so a loop holds them all; a track that takes only
some plays its loop through a channel mask (1 for a channel it takes, 0 for the
others), so its pages, its undo layers and a later change of routing stay whole. A
track with outputs of its own is kept out of the bus: each segment its lane (what
it plays, core/engine.py) is copied into a block-long buffer of its own and the
lane cleared, and at the block's end that buffer is mixed into its outputs by the
same rule as the bus (`mix`: loop channel c to the c-th output, cycling). The
monitor and the click keep `audio.outputs` and `clicktrack.outputs`. All buffers
are made here once; nothing in the callback allocates.
"""

from __future__ import annotations

import numpy as np

from looper.core.meters import Meters
from looper.core.settings import EngineSettings


def mix(out: np.ndarray, src: np.ndarray, outputs: tuple[int, ...]) -> None:
    """Add src (frames x channels) into the device outputs: channel c to outputs[c], cycling."""
    channels = src.shape[1]
    for c in range(max(channels, len(outputs))):
        col = out[:, outputs[c % len(outputs)]]
        np.add(col, src[:, c % channels], out=col)


class Routing:
    """The masks and the own-output buffers of the routed tracks."""

    __slots__ = ("_buffers", "_outputs", "masks", "routed")

    def __init__(self, s: EngineSettings) -> None:
        n_in = len(s.inputs)
        self.masks: list[np.ndarray | None] = []
        for takes in s.track_inputs:
            mask = np.zeros(n_in, dtype=np.float32)
            mask[list(takes)] = 1.0
            self.masks.append(mask if takes and len(takes) < n_in else None)
        #: The tracks with outputs of their own (indices), in order.
        self.routed = tuple(i for i, outs in enumerate(s.track_outputs) if outs)
        self._outputs = tuple(s.track_outputs[i] for i in self.routed)
        self._buffers = np.zeros((len(self.routed), s.max_block, n_in), dtype=np.float32)

    def take(self, lanes: np.ndarray, off: int, meters: Meters) -> None:
        """Mask the lanes of tracks that take some inputs; move routed tracks' lanes out of
        the bus into their own buffers at block offset `off` (their meters read them)."""
        for i, mask in enumerate(self.masks):
            if mask is not None:
                np.multiply(lanes[i], mask, out=lanes[i])
        n = lanes.shape[1]
        for r, i in enumerate(self.routed):
            own = self._buffers[r, off : off + n]
            np.copyto(own, lanes[i])
            lanes[i].fill(0.0)
            peak = max(float(own.max()), -float(own.min()))  # no temporary array
            if peak > meters.tracks[i]:
                meters.tracks[i] = peak

    def mix_out(self, out: np.ndarray) -> None:
        """At the block's end: each routed track's buffer into its own outputs."""
        n = len(out)
        for r, outputs in enumerate(self._outputs):
            mix(out, self._buffers[r, :n], outputs)
