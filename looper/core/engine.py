"""The engine's clock and its block loop: pure numpy, no I/O, no clock but the frame counter.

`Engine.process(indata, outdata)` is the whole realtime body; the live
callback and `looper render` both call it. A block is cut into segments at
every frame where something changes (a command, a beat, a bar, a latency-
shifted history bar, the start of a loop's seam crossfade, the end of a gain
ramp or of a tail), so what comes out does not depend on the block size.

Two clocks of frames run side by side: output time t, and performance time
tau = t - latency, the output frame the performer heard when playing what
arrives now. History, recording and overdub work in tau; playback in t.

The rooms: this module owns time (submit, the block, the events at a frame,
the next boundary, a segment's history write and click); core/master.py
what comes in and goes out (input hygiene, master volume, limiter) and
core/meters.py the peaks the block leaves for the status; core/actions.py what
each command does; core/playback.py a track's sound; core/recording.py the
loops made from history and the overdub; core/tempo.py the grid's tempo;
core/view.py what other threads may read. The engine's attributes are shared
by those modules (they are its parts), and read by nothing else: other
packages read `EngineView`.
"""

from __future__ import annotations

import bisect
from collections import deque

import numpy as np

from looper.core.actions import FIRE
from looper.core.commands import (
    Command,
)
from looper.core.events import handle, history_bar
from looper.core.grid import Grid
from looper.core.history import HistoryRing
from looper.core.master import InputGuard, MasterStage
from looper.core.memory import Memory
from looper.core.messages import Message, MessageCode
from looper.core.meters import Meters
from looper.core.pages import PagePool
from looper.core.playback import (
    SOUNDING,
    click_sounds,
    end_tails,
    latch,
    play,
    play_tail,
)
from looper.core.recording import clear
from looper.core.routing import Routing, mix
from looper.core.settings import (
    EngineSettings,
    holds,
    latency_fits,
    max_loop_bars,
    memory_seconds_needed,
    ring_slots,
)
from looper.core.tempo import (
    FAR,
    MAX_TAPS,
    fire_tempo,
    keep_preroll,
    lead_first_bar,
)
from looper.core.track import Track
from looper.core.tracks import State

#: Messages the outbox keeps until read; older ones go (the status shows the last few).
MESSAGES_KEPT = 64


class Engine:
    def __init__(self, settings: EngineSettings, memory: Memory | None = None) -> None:
        """`memory`: where the loops and the meters live (core/memory.py); by default,
        arrays of the engine's own. A shared one that holds loops already is taken over by
        `core.durable.restore` before the first block."""
        s = settings
        self.memory = memory if memory is not None else Memory(s)
        self.settings = s
        self.sample_rate = s.sample_rate
        self.frame = 0
        self.latency = s.latency_frames
        self.late = s.late_press
        self.xfade = s.crossfade_frames
        self.grid = Grid.from_bpm(s.sample_rate, s.bpm, s.beats_per_bar)
        self._check_bar(self.grid.bar)
        n_in = len(s.inputs)
        self.channels = n_in
        self.pool = PagePool(self.memory.pages, n_in, self.grid.bar)
        self.ring = HistoryRing(
            self.pool, ring_slots(s.history_seconds, s.sample_rate, self.grid.bar)
        )
        max_bars = max_loop_bars(s)
        self.tracks = [Track(i, max_bars, self.pool) for i in range(s.tracks)]
        self.click_enabled = s.click_enabled
        self.click_volume = s.click_volume
        self.monitor = s.monitor
        self._accent, self._beat = click_sounds(s.sample_rate)
        self.ramp = np.arange(1, self.xfade + 1, dtype=np.float32) / max(1, self.xfade)
        self.fall = (1.0 - self.ramp).astype(np.float32)  # a punch-out's fade (core/recording.py)
        m = s.max_block
        self._in = np.zeros((m, n_in), dtype=np.float32)
        self._bus = np.zeros((m, n_in), dtype=np.float32)
        self.scratch = np.zeros((m, n_in), dtype=np.float32)  # playback's, and the monitor's
        self.gain = np.zeros(m, dtype=np.float32)  # playback's envelope, per frame
        self._clk = np.zeros(m, dtype=np.float32)
        # Each sounding track plays into its own lane, so its meter reads what it adds; a
        # segment's lanes are one contiguous run of this buffer (cheaper to clear and read).
        self.lanes = np.zeros(s.tracks * m * n_in, dtype=np.float32)
        self.meters = Meters(self.memory.meters, self.memory.clips)
        # Whether anything happened since the driver last looked (core/durable.py).
        self.changed = False
        self._silence = np.zeros((m, s.in_channels), dtype=np.float32)  # for `skip`
        self._discard = np.zeros((m, s.out_channels), dtype=np.float32)
        self.guard = InputGuard(s, self.meters, self.say)
        self.master = MasterStage(s, self.meters)
        self.routing = Routing(s)
        self._block_start = 0  # the frame the block being rendered began at
        self._in_slice = _as_slice(s.inputs)
        self._out_slice = _as_slice(s.outputs) if len(s.outputs) == n_in else None
        self._incoming: list[tuple[int, int, int, Command]] = []
        self._seq = 0
        # Tempo (core/tempo.py): a change waiting for its beat, the taps, the count-in.
        self.tempo_at = FAR
        self.tempo_bpm = 0.0
        self.tempo_known = not s.bpm_auto
        self.taps = np.zeros(MAX_TAPS, dtype=np.int64)
        self.ntaps = 0
        self.count_in_until = 0
        # The first loop of `bpm: auto` records into the pool's memory as one run of frames
        # (performance time [linear_from, linear_until)); see core/tempo.py.
        self.linear = self.pool.flat
        self.linear_from = FAR
        self.linear_until = FAR
        # Tails (core/tail.py): the first frame one ends at, and the last (none fades past it).
        self.tail_end = FAR
        self.tails_until = 0
        self.preroll = np.zeros((max(1, self.xfade), n_in), dtype=np.float32)  # before it
        if self.tempo_known and not self.memory.holds_state:
            lead_first_bar(self)  # what was played before the session: silence
        #: The outbox: (frame, code, args), turned into words by `messages.words` elsewhere.
        self.messages: deque[Message] = deque(maxlen=MESSAGES_KEPT)

    def _check_bar(self, bar: int) -> None:
        if not latency_fits(bar, self.latency, self.xfade):
            raise ValueError(
                f"a bar of {bar} frames is not longer than the latency ({self.latency}) "
                f"plus the crossfade ({self.xfade}); lower audio.latency_ms or tracks.crossfade_ms"
            )
        s = self.settings
        if not holds(s.history_seconds, s.memory_seconds, s.sample_rate, bar):
            need = memory_seconds_needed(1, s.history_seconds, s.sample_rate, bar)
            raise ValueError(
                f"the loop memory does not hold the history and one bar at {self.grid.bpm:g} "
                f"bpm; raise tracks.memory_seconds to {need}"
            )

    # ---- the public surface ---------------------------------------------------------

    def submit(self, command: Command, frame: int | None = None, stamp: int | None = None) -> None:
        """Queue a command that reaches the engine at output frame `frame` (default: now).

        `stamp` is the frame the performer stomped, when the gesture was recognised
        later (a hold, a double tap): timing snaps from the stamp, but nothing
        happens before the command arrives.
        """
        at = self.frame if frame is None else frame
        self._seq += 1
        entry = (at, self._seq, at if stamp is None else min(stamp, at), command)
        bisect.insort(self._incoming, entry, key=lambda e: (e[0], e[1]))

    def process(self, indata: np.ndarray, outdata: np.ndarray) -> None:
        """Render len(indata) frames: record the input, write the outputs."""
        n = len(indata)
        done = 0
        while done < n:
            m = min(n - done, self.settings.max_block)
            self._block(indata[done : done + m], outdata[done : done + m])
            done += m

    def skip(self, frames: int) -> None:
        """Render `frames` of silence and throw the sound away: the time that passed while
        no process ran this engine (core/durable.py). Loops and the grid move on as if
        played; the history of those frames is silent."""
        m = self.settings.max_block
        while frames > 0:
            n = min(frames, m)
            self._block(self._silence[:n], self._discard[:n])
            frames -= n

    def say(self, code: MessageCode, *args: float) -> None:
        """Tell the performer something: a code and numbers, no text (see core/messages.py)."""
        self.messages.append((self.frame, code, args))

    def load_loop(self, index: int, audio: np.ndarray, volume: float = 1.0) -> None:
        """Give a track a loop from saved audio (whole bars), stopped: for set-up, not realtime.

        The loop is its own lead-in: its seam is in the audio already (`EngineView.with_seam`).
        """
        bar = self.grid.bar
        if len(audio) == 0 or len(audio) % bar:
            raise ValueError(f"{len(audio)} frames is not a whole number of {bar}-frame bars")
        if audio.shape[1] != self.channels:
            raise ValueError(f"{audio.shape[1]} channels, the looper records {self.channels}")
        tr = self.tracks[index]
        if not self.pool.can_take(fresh=len(audio) // bar):
            raise ValueError("the loop memory is full (raise tracks.memory_seconds)")
        clear(self, tr)
        tr.load(audio, bar)
        tr.volume = volume
        tr.state = State.STOPPED
        tr.env_from = tr.env_to = 0.0

    def history(self, start: int, end: int) -> np.ndarray:
        """A copy of performance-time frames [start, end); zeros where nothing is held."""
        out = np.zeros((max(0, end - start), self.channels), dtype=np.float32)
        for k, a, b, off in self._history_spans(start, end):
            out[a - start : b - start] = self.pool.pages[k, off : off + b - a]
        return out

    def write_history(self, start: int, data: np.ndarray, overwrite: bool = True) -> None:
        """Put audio into the held history at performance-time frame `start` (not realtime)."""
        for k, a, b, off in self._history_spans(start, start + len(data)):
            page = self.pool.pages[k, off : off + b - a]
            if overwrite:
                page[:] = data[a - start : b - start]
            else:
                page += data[a - start : b - start]

    def _history_spans(self, start: int, end: int) -> list[tuple[int, int, int, int]]:
        """(page, from, to, offset in page) for each held bar overlapping [start, end)."""
        g = self.grid
        spans = []
        first = max(self.ring.first_bar, g.bar_index(start))  # not bar 0's lead-in (bar -1)
        for k in range(first, g.bar_index(max(start, end - 1)) + 1):
            page = self.ring.page(k)
            if page < 0:
                continue
            bar_start = g.origin + k * g.bar
            a, b = max(start, bar_start), min(end, bar_start + g.bar)
            if a < b:
                spans.append((page, a, b, a - bar_start))
        return spans

    # ---- the block ------------------------------------------------------------------

    def _block(self, indata: np.ndarray, outdata: np.ndarray) -> None:
        n = len(indata)
        inp = self._in[:n]
        if self._in_slice is not None:
            np.copyto(inp, indata[:, self._in_slice])
        else:
            for j, ch in enumerate(self.settings.inputs):
                np.copyto(inp[:, j], indata[:, ch])
        self.guard.process(inp)
        start = self._block_start = self.frame
        bus = self._bus[:n]
        bus.fill(0.0)
        clk = self._clk[:n]
        clk.fill(0.0)
        i = 0
        while i < n:
            t = self.frame
            self._events(t)
            m = min(n - i, self._next_boundary(t) - t)
            self._segment(t, inp[i : i + m], bus[i : i + m], clk[i : i + m])
            self.frame = t + m
            i += m
        if self.monitor > 0.0:
            scratch = self.scratch[:n]
            np.multiply(inp, self.monitor, out=scratch)
            bus += scratch
        outdata.fill(0.0)
        if self._out_slice is not None:  # one output per recorded channel, side by side
            outdata[:, self._out_slice] = bus
        else:
            mix(outdata, bus, self.settings.outputs)
        if self.routing.routed:
            self.routing.mix_out(outdata)
        for ch in self.settings.click_outputs:
            col = outdata[:, ch]
            np.add(col, clk, out=col)
        self.master.process(outdata, start)

    def _events(self, t: int) -> None:
        """Everything that happens at frame t, in a fixed order."""
        if self.tail_end <= t:  # first: a command at t may need a tail
            end_tails(self, t)
            self.changed = True
        while self._incoming and self._incoming[0][0] <= t:
            _, _, p, command = self._incoming.pop(0)
            handle(self, command, p)
            self.changed = True
        if self.tempo_at <= t:
            fire_tempo(self, t)
            self.changed = True
        for tr in self.tracks:
            if tr.pending is not None and tr.pending.frame <= t:
                pending, tr.pending = tr.pending, None
                FIRE[pending.action](self, tr, pending, t)
                self.changed = True
        g = self.grid
        if (t - g.origin) % g.bar == 0:
            self.changed = True
            for tr in self.tracks:
                if tr.has_loop:
                    latch(self, tr, t)
        tau = t - self.latency
        if self.tempo_known and tau >= g.origin and (tau - g.origin) % g.bar == 0:
            k = g.bar_index(tau)
            if k >= self.ring.first_bar:
                history_bar(self, k)
                self.changed = True

    def _next_boundary(self, t: int) -> int:
        g = self.grid
        nxt = min(g.next_beat_after(t), g.next_bar(t - self.latency + 1) + self.latency)
        if self._incoming:
            nxt = min(nxt, max(t + 1, self._incoming[0][0]))
        nxt = min(nxt, self.tempo_at)
        for edge in (self.linear_from, self.linear_until):
            if edge + self.latency > t:
                nxt = min(nxt, edge + self.latency)
        x = self.xfade
        nxt = min(nxt, self.tail_end)
        tails = t < self.tails_until
        for tr in self.tracks:
            if tails:
                for tail in tr.tails:
                    if t < tail.until:
                        nxt = min(nxt, _seam_at(t, tail.anchor, tail.length, x))
                        if tail.start + g.bar > t:  # where it turns to the next page
                            nxt = min(nxt, tail.start + g.bar)
            if tr.pending is not None:
                nxt = min(nxt, tr.pending.frame)
            if x and t < tr.env_at + x:
                nxt = min(nxt, tr.env_at + x)
            if x and tr.has_loop:
                nxt = min(nxt, _seam_at(t, tr.anchor, tr.bars * g.bar, x))
        return max(nxt, t + 1)

    def _segment(self, t: int, inp: np.ndarray, bus: np.ndarray, clk: np.ndarray) -> None:
        n = len(inp)
        g = self.grid
        pages = self.pool.pages
        tau = t - self.latency
        if self.linear_from <= tau < self.linear_until:
            i = tau - self.linear_from
            np.copyto(self.linear[i : i + n], inp)
        elif self.tempo_known and tau >= g.origin - g.bar:
            k = g.bar_index(tau)  # bar -1 too: the lead-in of bar 0 (core/tempo.py)
            off = tau - g.origin - k * g.bar
            page = self.ring.page(k)
            if page >= 0:  # none: bar -1 without a crossfade, or a bar begun before it was held
                np.copyto(pages[page, off : off + n], inp)
            for tr in self.tracks:
                if tr.dubbing and tr.dub_from <= tau < tr.dub_until:
                    np.add(
                        pages[tr.dub_old, off : off + n], inp, out=pages[tr.dub_page, off : off + n]
                    )
        elif self.xfade and not self.tempo_known and tau < self.linear_from:
            keep_preroll(self, tau, inp)
        lanes = self.lanes[: len(self.tracks) * n * self.channels].reshape(len(self.tracks), n, -1)
        lanes.fill(0.0)
        tails = t < self.tails_until
        for tr in self.tracks:
            lane = lanes[tr.index]
            if tr.has_loop and tr.state in SOUNDING:
                play(self, tr, t, lane)
            if tails:  # what the track played before a change, fading out, is the track's too
                for tail in tr.tails:
                    if t < tail.until:
                        play_tail(self, tail, t, lane)
        self.routing.take(lanes, t - self._block_start, self.meters)  # core/routing.py
        # The segment's bus is the sum of the lanes (written, not added to): whatever a
        # track sounds goes into its lane, so that its meter reads it too.
        np.add.reduce(lanes, axis=0, out=bus)
        self.meters.raise_tracks(lanes)
        if (self.click_enabled or t < self.count_in_until) and self.tempo_known and t >= g.origin:
            beat_start = g.origin + ((t - g.origin) // g.beat) * g.beat
            off = t - beat_start
            sound = self._accent if g.beat_in_bar(t) == 0 else self._beat
            if off < len(sound):
                m = min(n, len(sound) - off)
                np.multiply(sound[off : off + m], self.click_volume, out=clk[:m])


def _seam_at(t: int, anchor: int, length: int, x: int) -> int:
    """Where the next seam crossfade of a loop begins (FAR inside one: it has begun)."""
    pos = (t - anchor) % length
    return t + length - x - pos if pos < length - x else FAR


def _as_slice(channels: tuple[int, ...]) -> slice | None:
    """A slice for ascending neighbouring channels (a view, no copy), else None."""
    if list(channels) == list(range(channels[0], channels[0] + len(channels))):
        return slice(channels[0], channels[0] + len(channels))
    return None
