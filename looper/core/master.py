"""The block's two edges: input hygiene on the way in, the master stage on the way out.

**Input hygiene** (`InputGuard`). A NaN or an Inf from a card or a file would
enter the history and every loop made from it, and play forever. So before the
input reaches anything (history, overdub, monitor) every sample that is not
finite becomes 0.0, and the engine says once per input, per session, which one
sent them (`MessageCode.INPUT_NOT_FINITE`, the channel as `audio.inputs` numbers
it). Clean input costs one reduction: the block's peak of |x|, which the input
meter needs anyway, is NaN or Inf exactly when a sample is (`max` propagates
NaN), so the fix-up (`np.isfinite` into a preallocated mask) runs only then.

**The master stage** (`MasterStage`): the master volume, then a peak limiter
on every output channel (the whole mix: loops, monitor and click), so nothing
leaves above the ceiling, with no added latency. Its decisions:

- *Causal, with no lookahead.* A lookahead limiter delays the output by its
  window; this one may not. So it cannot turn a peak down before it sees it:
  a sample above the ceiling that the gain has not caught yet is held at the
  ceiling (a hard limit, the last safety), and the gain comes down from the
  next cell on.
- *A fixed grid, not the callback's block.* The output must not depend on the
  block size (the engine's rule), so the gain is decided on cells of `CELL`
  frames aligned to the frame counter: cell c is output frames [c*CELL, (c+1)*CELL).
  A block is cut at cell edges; a cell spread over several blocks accumulates
  its peak across them. Every decision is a function of frames, never of blocks.
  64 frames is the trade: each cell costs a few numpy calls while the limiter
  acts, so 32-frame cells cost about 5 us more per 64-frame block (a sixth of
  the whole callback), for half the time a new peak is held at the ceiling
  before the gain catches it.
- *Attack.* At the end of each cell its peak p (after the master volume, before
  any gain) asks for a gain of min(1, ceiling / p). The gain the next cell ends on
  is the least that the last `HOLD_SECONDS` of cells asked for; the cell ramps to
  it linearly from the gain the previous cell ended on. So a peak is turned down
  within one to two cells (1.3-2.7 ms at 48 kHz), without a jump in the gain.
- *Hold and release.* Taking the least over the hold window keeps the gain still
  across a steady tone's cycles (down to about 20 Hz), so it does not breathe and
  distort; after the hold, the gain rises back linearly, at most 1.0 in
  `RELEASE_SECONDS` (a 6 dB reduction recovers in 40 ms).
- *Linked channels.* One gain for all the output channels: a stereo loop keeps
  its image when one side peaks.
- *Exact when idle.* While nothing comes near the ceiling the gain is exactly 1.0
  and the block is not touched: a tone below the ceiling passes bit for bit, and
  the stage costs one peak per block.
- *The ceiling* is the largest float32 not above `10 ** (ceiling_db / 20)`, so a
  sample held at it is never above it once the card reads it.

The clip counter counts output samples over full scale after the master volume
and before the limiter (see core/meters.py); with `limiter: false` the volume
and the meters still apply. Everything runs on buffers allocated here, once:
numpy over whole cells, a Python loop only over the cells of a block.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from looper.core.messages import MessageCode
from looper.core.meters import Meters
from looper.core.settings import EngineSettings

#: Frames of a limiter cell: its gain is decided once per cell of the frame counter.
CELL = 64
#: How long a peak keeps the gain down before it rises again.
HOLD_SECONDS = 0.025
#: The gain rises back by at most 1.0 over this long.
RELEASE_SECONDS = 0.08
#: Below this fraction of the ceiling, a peak times its gain is surely under the ceiling
#: after float32 rounding, and the hard limit may be skipped (it would change nothing).
SURE = 1 - 1e-5
#: The largest finite float32: an input peak above it is NaN or Inf.
FINITE = float(np.finfo(np.float32).max)


def float32_ceiling(ceiling: float) -> float:
    """The largest float32 that is not above `ceiling`."""
    c = np.float32(ceiling)
    if float(c) > ceiling:
        c = np.nextafter(c, np.float32(0.0))
    return float(c)


class Limiter:
    """A causal peak limiter on a fixed grid of cells (see the module docstring).

    A block's whole cells go through numpy together (their peaks in one reduction,
    their gain curves in one outer product); only the decisions, a few float
    operations per cell, run in Python. A cell cut by the block's edges goes piece
    by piece. Both ways compute the same float32 gains, so the output does not
    depend on which way a cell went.
    """

    __slots__ = (
        "_curve",
        "_curves",
        "_from",
        "_holds",
        "_peaks",
        "_ramp",
        "_step",
        "ceiling",
        "g_from",
        "g_to",
        "held",
        "idle",
        "peak",
        "release",
    )

    def __init__(self, ceiling: float, sample_rate: int, max_block: int) -> None:
        self.ceiling = float32_ceiling(ceiling)
        slots = max(1, math.ceil(HOLD_SECONDS * sample_rate / CELL))
        self._holds = [1.0] * slots  # what each recent cell asked for, by cell % slots
        self.held = 1.0  # the least of them
        self.release = CELL / (RELEASE_SECONDS * sample_rate)  # gain rise per cell
        self._ramp = np.arange(1, CELL + 1, dtype=np.float32) / CELL
        self._curve = np.ones(CELL, dtype=np.float32)  # the current cell's gain, frame by frame
        cells = max_block // CELL + 1
        self._peaks = np.zeros(cells, dtype=np.float32)  # a block's whole cells: their peaks,
        self._from = np.zeros(cells, dtype=np.float32)  # the gains they start from,
        self._step = np.zeros(cells, dtype=np.float32)  # how far those move,
        self._curves = np.zeros((cells, CELL), dtype=np.float32)  # and their gain curves
        self.peak = 0.0  # the current cell's peak so far
        self.g_from = 1.0  # the gain the previous cell ended on
        self.g_to = 1.0  # the gain the current cell ends on
        self.idle = True  # gain 1.0, held 1.0, and the current cell under the ceiling

    def process(self, x: np.ndarray, a: np.ndarray, peak: float, t: int) -> bool:
        """Limit block x (in place) starting at output frame t; a is |x|, peak its max.

        Returns whether the block may have changed (False: untouched, bit for bit).
        """
        c = self.ceiling
        if self.idle and peak <= c:
            return False  # the slow path would decide exactly this: gain 1.0 throughout
        n = len(x)
        cell, j = divmod(t, CELL)
        over = False  # whether a sample may still be above the ceiling after the gain
        i = 0
        while i < n:
            if j == 0 and n - i >= 4 * CELL:
                k = (n - i) // CELL
                over = self._cells(x[i : i + k * CELL], a[i : i + k * CELL], cell) or over
                i += k * CELL
                cell += k
                continue
            m = min(n - i, CELL - j)
            end = i + m
            p = peak if m == n else float(a[i:end].max())
            if p > self.peak:
                self.peak = p
            g_from, g_to = self.g_from, self.g_to
            piece = x[i:end]
            if g_from != g_to:
                np.multiply(piece, self._curve[j : j + m, None], out=piece)
            elif g_to != 1.0:
                np.multiply(piece, g_to, out=piece)
            over = over or p * max(g_from, g_to) > c * SURE
            if j + m == CELL:
                self._decide((self.peak,), cell)
                cell += 1
                j = 0
            else:
                j += m
            i = end
        if over:  # the safety: what the gain has not caught yet is held at the ceiling
            np.minimum(x, c, out=x)
            np.maximum(x, -c, out=x)
        self.idle = self.g_from >= 1.0 and self.g_to >= 1.0 and self.peak <= c
        return True

    def _cells(self, x: np.ndarray, a: np.ndarray, cell: int) -> bool:
        """Whole cells from `cell` on (x and a hold k * CELL frames); whether one may be over."""
        k = len(x) // CELL
        peaks = self._peaks[:k]
        np.maximum.reduce(a.reshape(k, -1), axis=1, out=peaks)
        over = self._decide(peaks.tolist(), cell)
        curves = self._curves[:k]
        np.multiply(self._step[:k, None], self._ramp[None, :], out=curves)
        curves += self._from[:k, None]
        cells = x.reshape(k, CELL, -1)
        np.multiply(cells, curves[:, :, None], out=cells)
        return over

    def _decide(self, peaks: Sequence[float], cell: int) -> bool:
        """Cells `cell`, `cell` + 1, ... have ended with these peaks: the gains move on.

        Each cell's start gain and step go into `_from` and `_step` (by its order here),
        and the next cell's curve is made; returns whether a cell may be over the ceiling.
        One loop over local names: this is the limiter's only Python per cell.
        """
        c = self.ceiling
        limit = c * SURE
        holds = self._holds
        slots = len(holds)
        release = self.release
        held, g_from, g_to = self.held, self.g_from, self.g_to
        starts, steps = self._from, self._step
        over = False
        for q, p in enumerate(peaks):
            starts[q] = g_from
            steps[q] = g_to - g_from
            if p * (g_to if g_to > g_from else g_from) > limit:
                over = True
            need = 1.0 if p <= c else c / p
            slot = (cell + q) % slots
            leaving = holds[slot]
            holds[slot] = need
            if need <= held:
                held = need
            elif leaving == held:  # the least may have left the window
                held = min(holds)
            g_from = g_to
            g_to = min(held, g_from + release)
        self.held, self.g_from, self.g_to = held, g_from, g_to
        self.peak = 0.0
        self._make_curve()
        return over

    def _make_curve(self) -> None:
        """The current cell's gain curve, for its pieces: from g_from to g_to."""
        if self.g_from != self.g_to:
            np.multiply(self._ramp, self.g_to - self.g_from, out=self._curve)
            self._curve += self.g_from


class MasterStage:
    """The master volume, the limiter, the output meters and the clip count."""

    __slots__ = ("_abs", "_over", "limiter", "meters", "volume")

    def __init__(self, settings: EngineSettings, meters: Meters) -> None:
        s = settings
        self.volume = s.master_volume
        self.limiter = Limiter(s.ceiling, s.sample_rate, s.max_block) if s.limiter else None
        self.meters = meters
        shape = (s.max_block, s.out_channels)
        self._abs = np.zeros(shape, dtype=np.float32)
        self._over = np.zeros(shape, dtype=np.bool_)

    def process(self, out: np.ndarray, t: int) -> None:
        """The block's outputs (in place), whose first frame is output frame t."""
        n = len(out)
        if self.volume != 1.0:
            np.multiply(out, self.volume, out=out)
        a = self._abs[:n]
        np.abs(out, out=a)
        peak = float(a.max())
        if peak > 1.0:
            over = self._over[:n]
            np.greater(a, 1.0, out=over)
            self.meters.clips += int(np.count_nonzero(over))
        if self.limiter is not None and self.limiter.process(out, a, peak, t):
            np.abs(out, out=a)
        meter = self.meters.outputs[:n]
        np.maximum(meter, a, out=meter)


class InputGuard:
    """Input hygiene and the input meter (see the module docstring)."""

    __slots__ = ("_abs", "_bad", "_said", "channels", "meters", "say")

    def __init__(
        self, settings: EngineSettings, meters: Meters, say: Callable[[MessageCode, int], None]
    ) -> None:
        s = settings
        n_in = len(s.inputs)
        self.channels = tuple(ch + 1 for ch in s.inputs)  # as `audio.inputs` numbers them
        self.meters = meters
        self.say = say
        self._abs = np.zeros((s.max_block, n_in), dtype=np.float32)
        self._bad = np.zeros((s.max_block, n_in), dtype=np.bool_)
        self._said = [False] * n_in  # which inputs were named already

    def process(self, inp: np.ndarray) -> None:
        """Silence what is not finite in the block's input (in place); raise the input meter."""
        n = len(inp)
        a = self._abs[:n]
        np.abs(inp, out=a)
        if not float(a.max()) <= FINITE:  # a NaN (not <= anything) or an Inf
            self._silence(inp, a)
            np.abs(inp, out=a)
        meter = self.meters.inputs[:n]
        np.maximum(meter, a, out=meter)

    def _silence(self, inp: np.ndarray, a: np.ndarray) -> None:
        bad = self._bad[: len(inp)]
        np.isfinite(inp, out=bad)
        np.logical_not(bad, out=bad)
        for j in range(bad.shape[1]):
            if not self._said[j] and bad[:, j].any():
                self._said[j] = True
                self.say(MessageCode.INPUT_NOT_FINITE, self.channels[j])
        np.copyto(inp, 0.0, where=bad)
