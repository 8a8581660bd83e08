"""The looper engine: pure numpy, no I/O, no clock but the frame counter.

`Engine.process(indata, outdata)` is the whole realtime body; the live
callback and `looper render` both call it. A block is cut into segments at
every frame where something changes (a command, a beat, a bar, a latency-
shifted history bar, the start of a loop's seam crossfade, the end of a gain
ramp), so what comes out does not depend on the block size.

Two clocks of frames run side by side: output time t, and performance time
tau = t - latency, the output frame the performer heard when playing what
arrives now. History, recording and overdub work in tau; playback in t.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from looper.core.commands import (
    ClickToggle,
    ClickVolume,
    Command,
    Record,
    Reset,
    SetLoop,
    SetTempo,
    TapTempo,
    TrackCommand,
    TrackVolume,
    Undo,
)
from looper.core.grid import Grid
from looper.core.history import HistoryRing
from looper.core.pages import PagePool
from looper.core.tracks import MAX_LAYERS, TRANSITIONS, Pending, State, Track

if TYPE_CHECKING:
    from looper.config.schema import Config

FAR = 1 << 62
MIN_BPM, MAX_BPM = 20.0, 300.0
TAP_WINDOW_SECONDS = 2.0
MAX_TAPS = 8
CLICK_SECONDS = 0.03
SOUNDING = (State.PLAYING, State.OVERDUBBING, State.MUTED, State.STOPPED, State.RECORDING)


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """What the engine needs from the config; channels are 0-based device channels."""

    sample_rate: int = 48000
    inputs: tuple[int, ...] = (0, 1)
    outputs: tuple[int, ...] = (0, 1)
    click_outputs: tuple[int, ...] = (0, 1)
    monitor: float = 0.0
    latency_frames: int = 0
    history_seconds: float = 60.0
    bpm: float = 120.0
    beats_per_bar: int = 4
    click_volume: float = 0.5
    click_enabled: bool = True
    tracks: int = 4
    late_press: float = 0.75
    crossfade_frames: int = 480
    memory_seconds: float = 300.0
    max_block: int = 4096
    track_volumes: tuple[float, ...] = field(default_factory=tuple)
    bpm_auto: bool = False  # no tempo until the first record sets it
    first_loop_bars: int = 1  # how many bars that first loop is
    count_in_bars: int = 0  # bars of click before the first record starts

    @classmethod
    def from_config(
        cls, config: Config, latency_frames: int = 0, **overrides: object
    ) -> EngineSettings:
        """The engine's view of a validated config; 1-based channels become 0-based."""
        a, c, t = config.audio, config.clicktrack, config.tracks
        settings = cls(
            sample_rate=a.sample_rate,
            inputs=tuple(ch - 1 for ch in a.inputs),
            outputs=tuple(ch - 1 for ch in a.outputs),
            click_outputs=tuple(ch - 1 for ch in c.outputs),
            monitor=a.monitor,
            latency_frames=latency_frames,
            history_seconds=a.history_seconds,
            bpm=120.0 if c.bpm == "auto" else c.bpm,
            bpm_auto=c.bpm == "auto",
            first_loop_bars=c.first_loop_bars,
            count_in_bars=c.count_in_bars,
            beats_per_bar=c.beats_per_bar,
            click_volume=c.volume,
            click_enabled=c.enabled,
            tracks=t.count,
            late_press=t.late_press,
            crossfade_frames=round(t.crossfade_ms * a.sample_rate / 1000),
            memory_seconds=t.memory_seconds,
            max_block=max(4096, a.block_size),
        )
        return replace(settings, **overrides)

    @property
    def in_channels(self) -> int:
        return max(self.inputs) + 1

    @property
    def out_channels(self) -> int:
        return max((*self.outputs, *self.click_outputs)) + 1


def click_sounds(sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """The accented downbeat and the other beats: short decaying sine blips."""
    n = max(1, round(CLICK_SECONDS * sample_rate))
    t = np.arange(n) / sample_rate
    decay = np.exp(-t / (CLICK_SECONDS / 5))
    accent = (np.sin(2 * np.pi * 1760 * t) * decay).astype(np.float32)
    beat = (0.6 * np.sin(2 * np.pi * 1100 * t) * decay).astype(np.float32)
    return accent, beat


class Engine:
    def __init__(self, settings: EngineSettings) -> None:
        s = settings
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
        total = round((s.history_seconds + s.memory_seconds) * s.sample_rate)
        self.pool = PagePool(total, n_in, self.grid.bar)
        self.ring = HistoryRing(self.pool, self._slots(self.grid.bar))
        smallest_bar = Grid.from_bpm(s.sample_rate, MAX_BPM, s.beats_per_bar).bar
        max_bars = total // smallest_bar
        volumes = s.track_volumes or (1.0,) * s.tracks
        self.tracks = [Track(i, max_bars, volumes[i]) for i in range(s.tracks)]
        self.click_enabled = s.click_enabled
        self.click_volume = s.click_volume
        self.monitor = s.monitor
        self._accent, self._beat = click_sounds(s.sample_rate)
        self._ramp = np.arange(1, self.xfade + 1, dtype=np.float32) / max(1, self.xfade)
        m = s.max_block
        self._in = np.zeros((m, n_in), dtype=np.float32)
        self._bus = np.zeros((m, n_in), dtype=np.float32)
        self._scratch = np.zeros((m, n_in), dtype=np.float32)
        self._gain = np.zeros(m, dtype=np.float32)
        self._clk = np.zeros(m, dtype=np.float32)
        self._in_slice = _as_slice(s.inputs)
        self._out_slice = _as_slice(s.outputs) if len(s.outputs) == n_in else None
        self._incoming: list[tuple[int, int, int, Command]] = []
        self._seq = 0
        self._tempo_at = FAR
        self._tempo_bpm = 0.0
        self.tempo_known = not s.bpm_auto
        # The first loop of `bpm: auto` records into the pool's memory as one run of frames
        # (performance time [linear_from, linear_until)); once its length sets the bar, the
        # pool is cut into bars and that run is the loop's first pages, as it lies.
        self._linear = self.pool.flat
        self._linear_from = FAR
        self._linear_until = FAR
        self._count_in_until = 0
        self._taps = np.zeros(MAX_TAPS, dtype=np.int64)
        self._ntaps = 0
        self.messages: deque[tuple[int, str]] = deque(maxlen=64)
        self._actions = {name: getattr(self, "_a_" + name) for name in set(TRANSITIONS.values())}
        self._fires = {
            "capture": self._fire_capture,
            "arm": self._fire_arm,
            "close": self._fire_close,
            "close_dub": self._fire_close,
            "close_stop": self._fire_close,
            "dub_on": self._fire_dub_on,
            "dub_off": self._fire_dub_off,
            "start": self._fire_start,
            "stop": self._fire_stop,
        }

    # ---- set-up helpers -------------------------------------------------------------

    def _slots(self, bar: int) -> int:
        return math.ceil(self.settings.history_seconds * self.sample_rate / bar) + 1

    def _check_bar(self, bar: int) -> None:
        if bar <= self.latency + self.xfade:
            raise ValueError(
                f"a bar of {bar} frames is not longer than the latency ({self.latency}) "
                f"plus the crossfade ({self.xfade}); lower audio.latency_ms or tracks.crossfade_ms"
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

    def loop(self, index: int) -> np.ndarray | None:
        """A copy of a track's current loop (frames x channels), for stems; not realtime."""
        pages = self.loop_pages(index)
        return np.concatenate([self.pool.pages[p] for p in pages]) if pages else None

    def loop_pages(self, index: int) -> list[int]:
        """The pages of a track's current loop, in order (empty when it has none)."""
        tr = self.tracks[index]
        return [int(p) for p in tr.table[tr.top, : tr.bars]] if tr.has_loop else []

    def history_pages(self) -> list[int]:
        """The history's whole bars, oldest first (the bar being written is left out)."""
        ring = self.ring
        return [ring.page(k) for k in range(ring.oldest_bar, ring.last_bar)]

    def with_seam(self, audio: np.ndarray, pre: int) -> np.ndarray:
        """A copy of a loop with its seam crossfade played into it (pre: its lead-in page).

        Saved loops carry their seam this way: loaded again, a loop is its own lead-in,
        so it wraps exactly as it did when it was made.
        """
        x = self.xfade
        out = audio.copy()
        if x:
            bar = self.grid.bar
            lead = (self.pool.zero if pre < 0 else self.pool.pages[pre])[bar - x :]
            seam(audio[-x:], lead, self._ramp, out[-x:])
        return out

    def load_loop(self, index: int, audio: np.ndarray, volume: float = 1.0) -> None:
        """Give a track a loop from saved audio (whole bars), stopped: for set-up, not realtime.

        The loop is its own lead-in: its seam is in the audio already (`with_seam`).
        """
        bar = self.grid.bar
        if len(audio) == 0 or len(audio) % bar:
            raise ValueError(f"{len(audio)} frames is not a whole number of {bar}-frame bars")
        if audio.shape[1] != self.channels:
            raise ValueError(f"{audio.shape[1]} channels, the looper records {self.channels}")
        tr = self.tracks[index]
        n = len(audio) // bar
        if not self.pool.can_take(fresh=n):
            raise ValueError("the loop memory is full (raise tracks.memory_seconds)")
        self._clear(tr)
        layer = self._push_layer(tr, copy=False)
        for i in range(n):
            page = self.pool.alloc()
            self.pool.ref(page)
            self.pool.pages[page] = audio[i * bar : (i + 1) * bar]
            tr.table[layer, i] = page
        tr.nbars[layer] = n
        tr.pre[layer] = tr.table[layer, n - 1]
        self.pool.ref(int(tr.pre[layer]))
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
        for k in range(g.bar_index(start), g.bar_index(max(start, end - 1)) + 1):
            page = self.ring.page(k)
            if page < 0:
                continue
            bar_start = g.origin + k * g.bar
            a, b = max(start, bar_start), min(end, bar_start + g.bar)
            if a < b:
                spans.append((page, a, b, a - bar_start))
        return spans

    def say(self, text: str) -> None:
        self.messages.append((self.frame, text))

    # ---- the block ------------------------------------------------------------------

    def _block(self, indata: np.ndarray, outdata: np.ndarray) -> None:
        n = len(indata)
        inp = self._in[:n]
        if self._in_slice is not None:
            np.copyto(inp, indata[:, self._in_slice])
        else:
            for j, ch in enumerate(self.settings.inputs):
                np.copyto(inp[:, j], indata[:, ch])
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
            scratch = self._scratch[:n]
            np.multiply(inp, self.monitor, out=scratch)
            bus += scratch
        outdata.fill(0.0)
        outs = self.settings.outputs
        if self._out_slice is not None:  # one output per recorded channel, side by side
            outdata[:, self._out_slice] = bus
        else:
            for c in range(max(self.channels, len(outs))):
                col = outdata[:, outs[c % len(outs)]]
                np.add(col, bus[:, c % self.channels], out=col)
        for ch in self.settings.click_outputs:
            col = outdata[:, ch]
            np.add(col, clk, out=col)

    def _events(self, t: int) -> None:
        """Everything that happens at frame t, in a fixed order."""
        while self._incoming and self._incoming[0][0] <= t:
            _, _, p, command = self._incoming.pop(0)
            self._handle(command, p)
        if self._tempo_at <= t:
            self._fire_tempo(t)
        for tr in self.tracks:
            if tr.pending is not None and tr.pending.frame <= t:
                pending, tr.pending = tr.pending, None
                self._fires[pending.action](tr, pending, t)
        g = self.grid
        if (t - g.origin) % g.bar == 0:
            for tr in self.tracks:
                if tr.has_loop:
                    self._latch(tr, t)
        tau = t - self.latency
        if self.tempo_known and tau >= g.origin and (tau - g.origin) % g.bar == 0:
            k = g.bar_index(tau)
            if k >= self.ring.first_bar:
                self._history_bar(k)

    def _next_boundary(self, t: int) -> int:
        g = self.grid
        nxt = min(g.next_beat_after(t), g.next_bar(t - self.latency + 1) + self.latency)
        if self._incoming:
            nxt = min(nxt, max(t + 1, self._incoming[0][0]))
        nxt = min(nxt, self._tempo_at)
        for edge in (self._linear_from, self._linear_until):
            if edge + self.latency > t:
                nxt = min(nxt, edge + self.latency)
        x = self.xfade
        for tr in self.tracks:
            if tr.pending is not None:
                nxt = min(nxt, tr.pending.frame)
            if x and t < tr.env_at + x:
                nxt = min(nxt, tr.env_at + x)
            if x and tr.has_loop:
                length = tr.bars * g.bar
                pos = (t - tr.anchor) % length
                if pos < length - x:
                    nxt = min(nxt, t + length - x - pos)
        return max(nxt, t + 1)

    def _segment(self, t: int, inp: np.ndarray, bus: np.ndarray, clk: np.ndarray) -> None:
        n = len(inp)
        g = self.grid
        pages = self.pool.pages
        tau = t - self.latency
        if self._linear_from <= tau < self._linear_until:
            i = tau - self._linear_from
            np.copyto(self._linear[i : i + n], inp)
        elif self.tempo_known and tau >= g.origin:
            k = g.bar_index(tau)
            off = tau - g.origin - k * g.bar
            page = self.ring.page(k)
            np.copyto(pages[page, off : off + n], inp)
            for tr in self.tracks:
                if tr.dubbing and tr.dub_from <= tau < tr.dub_until:
                    np.add(
                        pages[tr.dub_old, off : off + n], inp, out=pages[tr.dub_page, off : off + n]
                    )
        for tr in self.tracks:
            if tr.has_loop and tr.state in SOUNDING:
                self._play(tr, t, bus)
        if (self.click_enabled or t < self._count_in_until) and self.tempo_known and t >= g.origin:
            beat_start = g.origin + ((t - g.origin) // g.beat) * g.beat
            off = t - beat_start
            sound = self._accent if g.beat_in_bar(t) == 0 else self._beat
            if off < len(sound):
                m = min(n, len(sound) - off)
                np.multiply(sound[off : off + m], self.click_volume, out=clk[:m])

    def _play(self, tr: Track, t: int, bus: np.ndarray) -> None:
        """Add one track's loop for this segment to the bus."""
        n = len(bus)
        x = self.xfade
        ramping = x and t < tr.env_at + x
        if not ramping and tr.env_to == 0.0:
            return
        bar = self.grid.bar
        pages = self.pool.pages
        length = tr.bars * bar
        pos = (t - tr.anchor) % length
        off = t - tr.latched_start
        src = pages[tr.latched, off : off + n]
        out = self._scratch[:n]
        if x and pos >= length - x:  # the seam: fade into the audio that led into the loop
            q = pos - (length - x)
            pre_page = tr.pre[tr.top]
            lead = self.pool.zero if pre_page < 0 else pages[pre_page]
            src = seam(src, lead[bar - x + q : bar - x + q + n], self._ramp[q : q + n], out)
        if ramping:
            gain = self._gain[:n]
            j = t - tr.env_at
            np.multiply(self._ramp[j : j + n], tr.env_to - tr.env_from, out=gain)
            gain += tr.env_from
            np.multiply(src, gain[:, None], out=out)
        elif tr.env_to == 1.0:  # full volume, the common case: one pass
            np.add(bus, src, out=bus)
            return
        else:
            np.multiply(src, tr.env_to, out=out)
        np.add(bus, out, out=bus)

    # ---- history, recording and overdub, in performance time ----------------------

    def _history_bar(self, k: int) -> None:
        page = self.ring.begin_bar(k)
        bar_frame = self.grid.origin + k * self.grid.bar
        for tr in self.tracks:
            if tr.state is State.RECORDING and k >= tr.rec_bar:
                if tr.rec_count < len(tr.rec_pages) and self.pool.can_take(captured=1):
                    tr.rec_pages[tr.rec_count] = page
                    tr.rec_count += 1
                    self.pool.ref(page)
                else:
                    self.say(f"track {tr.index + 1}: loop memory full, recording closed")
                    pend = Pending("close", bar_frame, None)
                    self._fire_close(tr, pend, self.frame)
            if tr.dubbing:
                self._dub_bar(tr, k, 0)

    def _dub_bar(self, tr: Track, k: int, filled: int) -> None:
        """History bar k begins (or is `filled` frames in): give the overdub a fresh page."""
        g = self.grid
        start = g.origin + k * g.bar
        if start >= tr.dub_until:
            tr.dubbing = False
            return
        if start < tr.dub_from:
            return
        j = ((start - tr.anchor) % (tr.bars * g.bar)) // g.bar
        if j == 0 and start > tr.dub_from:
            self._push_layer(tr, copy=True)  # each pass over the loop is one undoable layer
        if not self.pool.can_take(fresh=1) and not self._evict(tr):
            tr.dubbing = False
            tr.state = State.PLAYING
            self.say(f"track {tr.index + 1}: loop memory full, overdub ended")
            return
        old = int(tr.table[tr.top, j])
        page = self.pool.alloc()
        self.pool.ref(page)
        tr.table[tr.top, j] = page
        self.pool.unref(old)  # the layer below still holds it
        tr.fresh[tr.top] += 1
        tr.dub_old, tr.dub_page, tr.dub_slot = old, page, j
        if filled:
            pages = self.pool.pages
            np.add(pages[old, :filled], pages[self.ring.page(k), :filled], out=pages[page, :filled])

    # ---- layers ---------------------------------------------------------------------

    def _push_layer(self, tr: Track, copy: bool) -> int:
        for layer in range(tr.top + 1, tr.count):
            self._free_layer(tr, layer)
        tr.count = tr.top + 1
        if tr.top + 1 == MAX_LAYERS:
            self._drop_oldest(tr)
        new = tr.top + 1
        if copy and tr.top >= 0:
            n = int(tr.nbars[tr.top])
            tr.table[new, :n] = tr.table[tr.top, :n]
            for i in range(n):
                self.pool.ref(int(tr.table[new, i]))
            tr.nbars[new] = n
            tr.pre[new] = tr.pre[tr.top]
            self.pool.ref(int(tr.pre[new]))
        tr.fresh[new] = 0
        tr.top = new
        tr.count = new + 1
        return new

    def _free_layer(self, tr: Track, layer: int) -> None:
        for i in range(int(tr.nbars[layer])):
            self.pool.unref(int(tr.table[layer, i]))
        self.pool.unref(int(tr.pre[layer]))
        tr.table[layer].fill(-1)
        tr.nbars[layer] = 0
        tr.pre[layer] = -1

    def _pop_layer(self, tr: Track) -> None:
        self._free_layer(tr, tr.top)
        tr.top -= 1
        tr.count = tr.top + 1

    def _evict(self, tr: Track) -> bool:
        """Free the oldest undo layer of any track to make room; False when none is left."""
        for other in (tr, *self.tracks):
            if other.top >= 1 and not (other.dubbing and other.top <= 1):
                self._drop_oldest(other)
                return True
        return False

    def _drop_oldest(self, tr: Track) -> None:
        """Free layer 0 and move the others down, row by row: no temporary array."""
        self._free_layer(tr, 0)
        for layer in range(tr.count - 1):
            tr.table[layer] = tr.table[layer + 1]
            tr.nbars[layer] = tr.nbars[layer + 1]
            tr.pre[layer] = tr.pre[layer + 1]
            tr.fresh[layer] = tr.fresh[layer + 1]
        last = tr.count - 1
        tr.table[last].fill(-1)
        tr.nbars[last] = 0
        tr.pre[last] = -1
        tr.top -= 1
        tr.count -= 1

    def _clear(self, tr: Track) -> None:
        if tr.state is State.RECORDING:
            self._end_linear()
        for layer in range(tr.count):
            self._free_layer(tr, layer)
        for i in range(tr.rec_count):
            self.pool.unref(int(tr.rec_pages[i]))
        tr.rec_count = 0
        tr.top = -1
        tr.count = 0
        tr.pending = None
        tr.dubbing = False
        tr.state = State.EMPTY
        tr.env_from = tr.env_to = 0.0

    # ---- playback state -------------------------------------------------------------

    def _latch(self, tr: Track, t: int) -> None:
        """Choose the page output bar t reads; it holds until the next bar starts."""
        bar = self.grid.bar
        pos = (t - tr.anchor) % (tr.bars * bar)
        tr.latched = int(tr.table[tr.top, pos // bar])
        tr.latched_start = t - pos % bar

    def _env(self, tr: Track, t: int) -> float:
        j = t - tr.env_at
        if not self.xfade or j >= self.xfade:
            return tr.env_to
        return tr.env_from + (tr.env_to - tr.env_from) * float(self._ramp[j])

    def _fade(self, tr: Track, t: int, to: float, start: float | None = None) -> None:
        tr.env_from = self._env(tr, t) if start is None else start
        tr.env_to = to
        tr.env_at = t
        if not self.xfade:
            tr.env_from = to

    def _sound(self, tr: Track, t: int) -> None:
        """Start hearing the loop at t, from silence."""
        self._latch(tr, t)
        self._fade(tr, t, tr.volume, start=0.0)

    # ---- commands -------------------------------------------------------------------

    def _handle(self, command: Command, p: int) -> None:
        t = self.frame
        match command:
            case TrackVolume(track=i, value=v):
                tr = self.tracks[i]
                tr.volume = v
                if tr.env_to > 0.0:
                    self._fade(tr, t, v)
            case Reset(track=None):
                for tr in self.tracks:
                    self._clear(tr)
            case TapTempo():
                self._tap(p)
            case SetTempo(bpm=bpm):
                self._ask_tempo(bpm)
            case ClickToggle():
                self.click_enabled = not self.click_enabled
            case ClickVolume(value=v):
                self.click_volume = v
            case SetLoop(track=i, start=start, end=end, offset=offset):
                tr = self.tracks[i]
                if tr.state in (State.RECORDING, State.OVERDUBBING):
                    self.say(f"track {i + 1}: busy {tr.state.value}; loop not set")
                    return
                g = self.grid
                first, last = (round((f - g.origin) / g.bar) for f in (start, end))
                anchor = g.origin + (last + round(offset / g.bar)) * g.bar
                tr.pending = None
                self._take(tr, first, min(last, self.ring.last_bar + 1), anchor, t)
            case TrackCommand() | Reset():
                assert command.track is not None
                self._track_command(self.tracks[command.track], command, p)

    def _track_command(self, tr: Track, command: Command, p: int) -> None:
        if tr.pending is not None and (tr.pending.command == command or isinstance(command, Undo)):
            self._cancel(tr)
            return
        action = TRANSITIONS.get((tr.state, type(command)))
        if action is None:
            name = type(command).__name__.lower()
            self.say(f"track {tr.index + 1}: {name} does nothing while {tr.state.value}")
            return
        self._actions[action](tr, command, p)

    def _cancel(self, tr: Track) -> None:
        self.say(f"track {tr.index + 1}: {tr.pending.action} cancelled")
        if tr.pending.action == "arm":
            self._count_in_until = min(self._count_in_until, self.frame)  # and its count-in
        tr.pending = None
        if tr.state is State.WAITING:
            tr.state = State.EMPTY

    def _schedule(self, tr: Track, action: str, frame: int, command: Command, **kw: int) -> None:
        """Run the action now if its frame has come, else keep it waiting."""
        pending = Pending(action, frame, command, **kw)
        if frame <= self.frame:
            self._fires[action](tr, pending, self.frame)
        else:
            tr.pending = pending
            if tr.state is State.EMPTY:
                tr.state = State.WAITING

    def _downbeat_after(self, p: int) -> int:
        """The next downbeat from p; if that has passed already, the next one from now."""
        d = self.grid.next_bar(p)
        return d if d >= self.frame else self.grid.next_bar(self.frame)

    def _a_capture(self, tr: Track, command: Command, p: int) -> None:
        if not self.tempo_known:
            self.say("no tempo yet: record the first loop (clicktrack.bpm is auto)")
            return
        e = self.grid.snap(p, self.late)
        if self.grid.bar_index(e) <= self.ring.oldest_bar:
            self.say(f"track {tr.index + 1}: no whole bar of history yet")
            return
        self._schedule(tr, "capture", e, command, bar=e, bars=command.bars)

    def _fire_capture(self, tr: Track, pending: Pending, t: int) -> None:
        end = self.grid.bar_index(pending.bar)
        self._take(tr, end - pending.bars, end, pending.bar, t)

    def _take(self, tr: Track, first: int, end: int, anchor: int, t: int) -> None:
        """History bars [first, end) become the track's loop, position 0 at `anchor`."""
        first = max(first, self.ring.oldest_bar)
        n = end - first
        if n <= 0 or not self._room(tr, captured=n + 1):
            if tr.state is State.WAITING:
                tr.state = State.EMPTY
            return
        layer = self._push_layer(tr, copy=False)
        for i in range(n):
            page = self.ring.page(first + i)
            tr.table[layer, i] = page
            self.pool.ref(page)
        tr.nbars[layer] = n
        tr.pre[layer] = self.ring.page(first - 1)
        self.pool.ref(int(tr.pre[layer]))
        tr.anchor = anchor
        tr.state = State.PLAYING
        tr.dubbing = False
        self._sound(tr, t)

    def _room(self, tr: Track, captured: int = 0) -> bool:
        while not self.pool.can_take(captured=captured):
            if not self._evict(tr):
                self.say(f"track {tr.index + 1}: loop memory full (raise tracks.memory_seconds)")
                return False
        return True

    def _a_arm(self, tr: Track, command: Command, p: int) -> None:
        if not self.tempo_known:
            self._begin_first_loop(tr, p)
            return
        if self.settings.count_in_bars and all(t.state is State.EMPTY for t in self.tracks):
            self._restart_grid(self.frame)  # the count-in starts now, on a downbeat
            start = self.frame + self.settings.count_in_bars * self.grid.bar
            self._count_in_until = start
            self._schedule(tr, "arm", start, command, bar=start)
            return
        start = self.grid.snap(p, self.late)
        self._schedule(tr, "arm", start, command, bar=start)

    def _begin_first_loop(self, tr: Track, p: int) -> None:
        """No tempo yet: record from the stomp itself, with nothing to snap to."""
        self._linear_from = max(p, self.frame - self.latency)
        self._linear_until = self._linear_from + len(self._linear)
        tr.state_before_rec = State.EMPTY
        tr.rec_count = 0
        tr.state = State.RECORDING

    def _close_first_loop(self, tr: Track, p: int, action: str) -> None:
        """The first loop's length sets the tempo; the grid starts where it started."""
        s = self.settings
        start = self._linear_from
        per_beat = s.first_loop_bars * s.beats_per_bar
        slowest = Grid.from_bpm(self.sample_rate, MIN_BPM, 1).beat
        fastest = Grid.from_bpm(self.sample_rate, MAX_BPM, 1).beat
        longest = len(self._linear) // per_beat
        beat = min(max(round((p - start) / per_beat), fastest), slowest, longest)
        grid = Grid(self.sample_rate, beat, s.beats_per_bar, start)
        if grid.bar <= self.latency + self.xfade:
            self.say("that first loop is too short for the latency and crossfade")
            self._a_cancel(tr, Record(tr.index), p)
            return
        self.grid = grid
        self.pool.carve(grid.bar)
        self.ring = HistoryRing(self.pool, self._slots(grid.bar))
        n = s.first_loop_bars
        self.ring.clear(first_bar=n)  # bars 0..n-1 are the loop's, as recorded
        for i in range(n):
            page = self.pool.alloc()  # a fresh cut gives pages 0, 1, ...: the recording
            self.pool.ref(page)
            tr.rec_pages[i] = page
        tr.rec_count = n
        tr.rec_bar = 0
        end = start + n * grid.bar
        self._linear_until = end
        self.tempo_known = True
        self.say(f"tempo {grid.bpm:.2f} bpm from the first loop")
        self._schedule(tr, action, end, Record(tr.index), bar=end)

    def _fire_arm(self, tr: Track, pending: Pending, t: int) -> None:
        before = tr.state
        tr.state_before_rec = State.EMPTY if before is State.WAITING else before
        if tr.has_loop:
            self._fade(tr, t, 0.0)
        tr.rec_bar = self.grid.bar_index(pending.bar)
        tr.rec_count = 0
        tr.dubbing = False
        for k in range(tr.rec_bar, self.ring.last_bar + 1):
            page = self.ring.page(k)
            tr.rec_pages[tr.rec_count] = page
            tr.rec_count += 1
            self.pool.ref(page)
        tr.state = State.RECORDING

    def _a_close(self, tr: Track, command: Command, p: int) -> None:
        self._close(tr, command, p, "close")

    def _a_close_dub(self, tr: Track, command: Command, p: int) -> None:
        self._close(tr, command, p, "close_dub")

    def _a_close_stop(self, tr: Track, command: Command, p: int) -> None:
        self._close(tr, command, p, "close_stop")

    def _close(self, tr: Track, command: Command, p: int, action: str) -> None:
        if not self.tempo_known:
            self._close_first_loop(tr, p, action)
            return
        g = self.grid
        start = g.origin + tr.rec_bar * g.bar
        end = max(g.snap(p, self.late), start + g.bar)
        self._schedule(tr, action, end, command, bar=end)

    def _fire_close(self, tr: Track, pending: Pending, t: int) -> None:
        end = pending.bar
        n = self.grid.bar_index(end) - tr.rec_bar
        for i in range(n, tr.rec_count):
            self.pool.unref(int(tr.rec_pages[i]))
        layer = self._push_layer(tr, copy=False)
        tr.table[layer, :n] = tr.rec_pages[:n]
        tr.nbars[layer] = n
        tr.pre[layer] = self.ring.page(tr.rec_bar - 1)
        self.pool.ref(int(tr.pre[layer]))
        tr.rec_count = 0
        tr.anchor = end
        if pending.action == "close_stop":
            tr.state = State.STOPPED
            self._latch(tr, t)
            self._fade(tr, t, 0.0, start=0.0)
            return
        tr.state = State.PLAYING
        self._sound(tr, t)
        if pending.action == "close_dub":
            tr.state = State.OVERDUBBING
            self._begin_dub(tr, end, t)

    def _a_cancel(self, tr: Track, command: Command, p: int) -> None:
        self._end_linear()
        for i in range(tr.rec_count):
            self.pool.unref(int(tr.rec_pages[i]))
        tr.rec_count = 0
        tr.state = tr.state_before_rec
        if tr.state in (State.PLAYING, State.OVERDUBBING):
            tr.state = State.PLAYING
            self._sound(tr, self.frame)
        self.say(f"track {tr.index + 1}: recording dropped")

    def _a_dub_on(self, tr: Track, command: Command, p: int) -> None:
        start = self.grid.snap(p, self.late)
        self._schedule(tr, "dub_on", start, command, bar=start)

    def _fire_dub_on(self, tr: Track, pending: Pending, t: int) -> None:
        tr.state = State.OVERDUBBING
        self._begin_dub(tr, pending.bar, t)

    def _begin_dub(self, tr: Track, start: int, t: int) -> None:
        tr.dub_from = start
        tr.dub_until = FAR
        tr.dubbing = True
        self._push_layer(tr, copy=True)
        g = self.grid
        tau = t - self.latency
        if tau >= start:  # the downbeat has passed: layer what was played since
            k = g.bar_index(tau)
            self._dub_bar(tr, k, tau - g.origin - k * g.bar)

    def _a_dub_off(self, tr: Track, command: Command, p: int) -> None:
        end = self.grid.snap(p, self.late)
        self._schedule(tr, "dub_off", end, command, bar=end)

    def _fire_dub_off(self, tr: Track, pending: Pending, t: int) -> None:
        self._end_dub(tr, pending.bar, t)
        tr.state = State.PLAYING

    def _end_dub(self, tr: Track, end: int, t: int) -> None:
        """Layer up to `end`; a bar already begun past `end` goes back to what it was."""
        tr.dub_until = end
        tau = t - self.latency
        if tr.dubbing and tau >= end:
            g = self.grid
            if g.origin + g.bar_index(tau) * g.bar >= tr.dub_from:
                tr.table[tr.top, tr.dub_slot] = tr.dub_old
                self.pool.ref(tr.dub_old)
                self.pool.unref(tr.dub_page)
                tr.fresh[tr.top] -= 1
            tr.dubbing = False
        if not tr.dubbing and tr.fresh[tr.top] == 0:
            self._pop_layer(tr)  # nothing was layered: no empty undo step

    def _a_start(self, tr: Track, command: Command, p: int) -> None:
        self._schedule(tr, "start", self._downbeat_after(p), command, bar=0)

    def _fire_start(self, tr: Track, pending: Pending, t: int) -> None:
        tr.anchor = t
        tr.state = State.PLAYING
        self._sound(tr, t)

    def _a_stop(self, tr: Track, command: Command, p: int) -> None:
        self._schedule(tr, "stop", self._downbeat_after(p), command, bar=0)

    def _fire_stop(self, tr: Track, pending: Pending, t: int) -> None:
        if tr.state is State.OVERDUBBING:
            self._end_dub(tr, t, t)
        tr.state = State.STOPPED
        self._fade(tr, t, 0.0)

    def _a_mute(self, tr: Track, command: Command, p: int) -> None:
        tr.state = State.MUTED
        self._fade(tr, self.frame, 0.0)

    def _a_unmute(self, tr: Track, command: Command, p: int) -> None:
        tr.state = State.PLAYING
        self._fade(tr, self.frame, tr.volume)

    def _a_undo(self, tr: Track, command: Command, p: int) -> None:
        t = self.frame
        if tr.state is State.OVERDUBBING:
            tr.dubbing = False
            self._pop_layer(tr)  # the pass in progress is dropped, not kept for redo
            tr.state = State.PLAYING
        else:
            tr.top -= 1
        if tr.top < 0:
            tr.state = State.EMPTY
            tr.env_from = tr.env_to = 0.0
        else:
            self._latch(tr, t)

    def _a_redo(self, tr: Track, command: Command, p: int) -> None:
        if tr.top + 1 >= tr.count:
            self.say(f"track {tr.index + 1}: nothing to redo")
            return
        tr.top += 1
        if tr.state is State.EMPTY:
            tr.state = State.PLAYING
            self._sound(tr, self.frame)
        else:
            self._latch(tr, self.frame)

    def _a_reset(self, tr: Track, command: Command, p: int) -> None:
        self._clear(tr)

    # ---- tempo ----------------------------------------------------------------------

    def _tap(self, p: int) -> None:
        window = TAP_WINDOW_SECONDS * self.sample_rate
        if self._ntaps and p - self._taps[(self._ntaps - 1) % MAX_TAPS] > window:
            self._ntaps = 0
        self._taps[self._ntaps % MAX_TAPS] = p
        self._ntaps += 1
        n = min(self._ntaps, MAX_TAPS)
        if n >= 2:
            first = int(self._taps[(self._ntaps - n) % MAX_TAPS])
            self._ask_tempo(60.0 * self.sample_rate * (n - 1) / (p - first))

    def _ask_tempo(self, bpm: float) -> None:
        if any(tr.state is not State.EMPTY or tr.pending is not None for tr in self.tracks):
            self.say("tempo changes only while every track is empty")
            return
        bpm = min(MAX_BPM, max(MIN_BPM, bpm))
        bar = Grid.from_bpm(self.sample_rate, bpm, self.grid.beats_per_bar).bar
        if bar <= self.latency + self.xfade:
            self.say(f"{bpm:.1f} bpm is too fast for the latency and crossfade")
            return
        self._tempo_bpm = bpm
        self._tempo_at = self.grid.next_beat(self.frame)

    def _end_linear(self) -> None:
        """A first loop that was still being recorded (bpm auto) is dropped."""
        if not self.tempo_known:
            self._linear_from = self._linear_until = FAR

    def _restart_grid(self, origin: int) -> None:
        """Same tempo, bar 0 from `origin`; the history starts again with it."""
        self.ring.clear(0)
        self.grid = Grid(self.sample_rate, self.grid.beat, self.grid.beats_per_bar, origin)

    def _fire_tempo(self, t: int) -> None:
        """The grid restarts here; history and undo stacks of the old grid go."""
        self._tempo_at = FAR
        self.tempo_known = True
        self._linear_from = self._linear_until = FAR
        for tr in self.tracks:
            self._clear(tr)
        self.ring.clear(0)
        self.grid = Grid.from_bpm(self.sample_rate, self._tempo_bpm, self.grid.beats_per_bar, t)
        self.pool.carve(self.grid.bar)
        self.ring = HistoryRing(self.pool, self._slots(self.grid.bar))
        self.say(f"tempo {self.grid.bpm:.2f} bpm")


def seam(tail: np.ndarray, lead: np.ndarray, ramp: np.ndarray, out: np.ndarray) -> np.ndarray:
    """A loop's last frames fading into the audio that led into its first bar, into `out`."""
    np.subtract(lead, tail, out=out)
    out *= ramp[:, None]
    out += tail
    return out


def _as_slice(channels: tuple[int, ...]) -> slice | None:
    """A slice for ascending neighbouring channels (a view, no copy), else None."""
    if list(channels) == list(range(channels[0], channels[0] + len(channels))):
        return slice(channels[0], channels[0] + len(channels))
    return None
