"""A JACK-Client harness for live tests: play a known signal, record, stomp.

The harness is one JACK client (default name ``harness``) with

* audio outputs ``out_1..out_N`` that feed the inputs of the client under test,
* audio inputs ``in_1..in_M`` that record its outputs,
* a MIDI output ``pedal``: the virtual footswitch,
* with ``midi_in``, a MIDI input ``lights``: what the footswitch's lights receive,
  recorded as ``received``.

All timing is in *harness frames*: frame 0 is the first frame of the first
JACK cycle after activation, and the count comes from ``last_frame_time`` in
the process callback, so it is the server's timeline, not a wall clock. The
recording is indexed by harness frame (``recording[f]`` is what arrived at
frame ``f``), clips start at a given harness frame, and MIDI events are written
at the exact offset inside the block that holds their frame.

Example::

    with JackServer() as server, Harness(server) as h:
        h.connect_outputs("^looper:in_")     # harness:out_k -> k-th match
        h.connect_inputs("^looper:out_")     # k-th match -> harness:in_k
        h.connect_pedal("^looper:midi_in")   # harness:pedal -> the looper
        start = h.frame + h.samplerate // 2
        h.play(signal, at=start)
        h.note_on(60, at=start + 48000)
        h.run_until(start + 96000)
        rec = h.recording                    # frames x inputs, float32
        h.assert_clean()                     # no dropped frames, nothing late

Measured delays (tests/live/test_jack_harness.py): audio from the harness to itself
(out_1 -> in_1) arrives exactly one period later, and so does a round trip
through another client (the graph then has a cycle, and one edge of it is
delayed by a period); MIDI from ``pedal`` reaches another client in the same
cycle, at the same frame.

The server runs ``--sync``, so the process callback below, which needs the
GIL, holds up the whole server while it waits for it: in the test process,
never make a blocking JACK call while holding the GIL (JACK-Client's calls
release it; python-rtmidi's JACK API does not, so run rtmidi in a subprocess).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from looper.rig.ports import HarnessError, PortWiring, open_client
from looper.rig.timeline import Clip, MidiEvent

if TYPE_CHECKING:
    import jack

    from looper.rig.jackserver import JackServer

_FRAME_MASK = 0xFFFFFFFF  # jack_nframes_t wraps at 2**32
_RECEIVED = 4096  # MIDI messages the ``lights`` port records, each cut to 3 bytes


class Harness(PortWiring):
    """A JACK client that plays, records and stomps on one frame timeline.

    ``seconds`` is the capacity of the preallocated recording buffer; recording
    stops (``overflow`` becomes True) when it is full.
    """

    def __init__(
        self,
        server: JackServer,
        name: str = "harness",
        *,
        outputs: int = 2,
        inputs: int = 2,
        midi: bool = True,
        midi_in: bool = False,
        seconds: float = 60.0,
    ) -> None:
        self.server = server
        self.client = open_client(server, name)
        self._closed = False
        try:
            self._setup(outputs, inputs, midi, midi_in, seconds)
        except BaseException:
            self.close()
            raise

    def _setup(self, outputs: int, inputs: int, midi: bool, midi_in: bool, seconds: float) -> None:
        self.name = self.client.name
        self.samplerate = self.client.samplerate
        self.blocksize = self.client.blocksize
        self.outports = [self.client.outports.register(f"out_{i + 1}") for i in range(outputs)]
        self.inports = [self.client.inports.register(f"in_{i + 1}") for i in range(inputs)]
        self.pedal = self.client.midi_outports.register("pedal") if midi else None
        self.lights = self.client.midi_inports.register("lights") if midi_in else None
        self._received_frames = np.zeros(_RECEIVED, dtype=np.int64)
        self._received_data = np.zeros((_RECEIVED, 3), dtype=np.uint8)
        self._received_sizes = np.zeros(_RECEIVED, dtype=np.uint8)
        self._received = 0  # messages that arrived at ``lights``, recorded or not

        self.capacity = round(seconds * self.samplerate)
        self._rec = np.zeros((inputs, self.capacity), dtype=np.float32)
        self._rec.fill(0.0)  # touch every page now, not in the callback

        self.origin: int | None = None  # JACK frame time of harness frame 0
        self._frame = 0  # harness frames covered so far (= start of the next block)
        self.cycles = 0
        self.dropped_frames = 0  # frames of the timeline this client never saw
        self.xruns = 0  # server-reported xruns (informational in sync mode)
        self.overflow = False
        self._clips: tuple[Clip, ...] = ()
        self._midi: tuple[MidiEvent, ...] = ()
        self._error: BaseException | None = None

        self.client.set_process_callback(self._process)
        self.client.set_xrun_callback(self._on_xrun)
        self.client.activate()
        self._wait(lambda: self.origin is not None, 30.0, "the first JACK cycle")

    # -- realtime side -----------------------------------------------------

    def _on_xrun(self, delayed_usecs: float) -> None:
        self.xruns += 1

    def _process(self, frames: int) -> None:
        try:
            self._process_block(frames)
        except Exception as exc:  # keep the callback alive; report in the main thread
            if self._error is None:
                self._error = exc
            for port in self.outports:
                port.get_array().fill(0.0)

    def _process_block(self, frames: int) -> None:
        now = self.client.last_frame_time
        if self.origin is None:
            self.origin = now
        start = (now - self.origin) & _FRAME_MASK
        if start > self._frame:  # this client missed cycles: a gap of silence
            self.dropped_frames += start - self._frame
        end = start + frames
        # Inputs first: a port connected from this same client is copied when
        # its buffer is fetched, so reading before writing keeps the loop-back
        # delay at exactly one period.
        self._record_inputs(start, frames)
        self._play_clips(start, end)
        if self.lights is not None:
            self._receive_lights(self.lights, start)
        if self.pedal is not None:
            self._send_pedal(self.pedal, start, end)
        self._frame = end
        self.cycles += 1

    def _record_inputs(self, start: int, frames: int) -> None:
        if self.overflow:
            return
        n = min(frames, self.capacity - start)
        if n > 0:
            for row, port in zip(self._rec, self.inports, strict=True):
                np.copyto(row[start : start + n], port.get_array()[:n])
        if n < frames:
            self.overflow = True

    def _play_clips(self, start: int, end: int) -> None:
        outs = [port.get_array() for port in self.outports]
        for out in outs:
            out.fill(0.0)
        for clip in self._clips:
            if clip.done:
                continue
            if clip.start is None:
                clip.start = start
            cs = clip.start
            if cs >= end:
                continue
            if not clip.reached:  # the first block that reaches the clip...
                clip.reached = True
                clip.late = cs < start  # ...should be the one holding its start
            ce = cs + clip.data.shape[1]
            lo = max(cs, start)
            hi = min(ce, end)
            if lo < hi:
                for row, ch in zip(clip.data, clip.channels, strict=True):
                    seg = outs[ch][lo - start : hi - start]
                    np.add(seg, row[lo - cs : hi - cs], out=seg)
            if ce <= end:
                clip.done = True

    def _receive_lights(self, lights: jack.OwnMidiPort, start: int) -> None:
        for offset, data in lights.incoming_midi_events():
            i = self._received
            self._received = i + 1
            if i < _RECEIVED:
                n = min(len(data), 3)
                self._received_frames[i] = start + offset
                self._received_data[i, :n] = np.frombuffer(data, np.uint8, n)
                self._received_sizes[i] = n

    def _send_pedal(self, pedal: jack.OwnMidiPort, start: int, end: int) -> None:
        pedal.clear_buffer()
        for ev in self._midi:  # sorted by frame
            if ev.sent:
                continue
            if ev.frame >= end:
                break
            offset = ev.frame - start
            if offset < 0:
                offset = 0
                ev.late = True
            pedal.write_midi_event(offset, ev.data)
            ev.sent = True

    # -- scheduling (main thread) -------------------------------------------

    def play(
        self,
        signal: np.ndarray | Sequence[float],
        at: int | None = None,
        channels: Iterable[int] | None = None,
    ) -> Clip:
        """Play ``signal`` (frames, or frames x channels) from harness frame ``at``.

        ``channels`` are 0-based output indices (default: 0..k-1). With
        ``at=None`` the clip starts at the next block; its ``start`` is filled in
        by the callback. Overlapping clips add up.
        """
        data = np.asarray(signal, dtype=np.float32)
        if data.ndim == 1:
            data = data[:, None]
        if data.ndim != 2:
            raise ValueError(f"signal must be frames or frames x channels, not {data.shape}")
        chans = tuple(range(data.shape[1])) if channels is None else tuple(channels)
        if len(chans) != data.shape[1]:
            raise ValueError(f"{data.shape[1]} signal channels but channels={chans}")
        for ch in chans:
            if not 0 <= ch < len(self.outports):
                raise ValueError(f"no output {ch} (the harness has {len(self.outports)})")
        if at is not None and at < self._frame:
            raise ValueError(f"frame {at} has already passed (harness is at {self._frame})")
        clip = Clip(np.ascontiguousarray(data.T), chans, at)
        self._clips = (*(c for c in self._clips if c.late or not c.done), clip)
        return clip

    def send_midi(self, data: bytes | Sequence[int], at: int) -> MidiEvent:
        """Send one raw MIDI message at harness frame ``at`` (sample-exact)."""
        if at < self._frame:
            raise ValueError(f"frame {at} has already passed (harness is at {self._frame})")
        if self.pedal is None:
            raise HarnessError("this harness has no MIDI port (midi=False)")
        event = MidiEvent(at, bytes(data))
        pending = [e for e in self._midi if e.late or not e.sent]
        pending.append(event)
        pending.sort(key=lambda e: e.frame)  # stable: same-frame events keep their order
        self._midi = tuple(pending)
        return event

    def note_on(self, note: int, at: int, velocity: int = 127, channel: int = 1) -> MidiEvent:
        return self.send_midi((0x90 | (channel - 1), note, velocity), at)

    def note_off(self, note: int, at: int, velocity: int = 0, channel: int = 1) -> MidiEvent:
        return self.send_midi((0x80 | (channel - 1), note, velocity), at)

    def cc(self, number: int, value: int, at: int, channel: int = 1) -> MidiEvent:
        return self.send_midi((0xB0 | (channel - 1), number, value), at)

    def program(self, number: int, at: int, channel: int = 1) -> MidiEvent:
        return self.send_midi((0xC0 | (channel - 1), number), at)

    def stomp(
        self, note: int, at: int, hold: int | None = None, channel: int = 1
    ) -> tuple[MidiEvent, MidiEvent]:
        """Press a note footswitch at ``at`` and release it ``hold`` frames later
        (default: 100 ms, a quick tap)."""
        hold = int(0.1 * self.samplerate) if hold is None else hold
        return (
            self.note_on(note, at, channel=channel),
            self.note_off(note, at + hold, channel=channel),
        )

    # -- time ----------------------------------------------------------------

    @property
    def frame(self) -> int:
        """Harness frames processed so far: the frame the next block starts at."""
        return self._frame

    def frame_after(self, seconds: float = 0.25) -> int:
        """A frame safely in the future to schedule at (``seconds`` from now)."""
        return self._frame + int(seconds * self.samplerate)

    def run_until(self, frame: int, timeout: float | None = None) -> None:
        """Block until the harness timeline has passed ``frame``."""
        if timeout is None:
            timeout = 30.0 + 10.0 * max(0, frame - self._frame) / self.samplerate
        self._wait(lambda: self._frame >= frame, timeout, f"frame {frame}")

    def wait_frames(self, n: int, timeout: float | None = None) -> None:
        """Block until ``n`` more frames have been processed."""
        self.run_until(self._frame + n, timeout)

    def wait_clip(self, clip: Clip, timeout: float | None = None) -> None:
        """Block until ``clip`` has been played out completely."""
        self._wait(lambda: clip.start is not None, 30.0, f"{clip} to start")
        assert clip.end is not None
        self.run_until(clip.end, timeout)

    def _wait(
        self, done: Callable[[], bool], timeout: float, what: str, poll: float = 0.002
    ) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            self.check()
            if time.monotonic() > deadline:
                raise HarnessError(
                    f"timed out after {timeout:.0f} s waiting for {what}"
                    f" (harness at frame {self._frame}, {self.cycles} cycles)"
                    f"\njackd output:\n{self.server.log_tail()}"
                )
            time.sleep(poll)
        self.check()

    def check(self) -> None:
        """Raise if the callback failed or the server died."""
        if self._error is not None:
            raise HarnessError(f"harness process callback failed: {self._error!r}") from (
                self._error
            )
        if not self.server.running:
            raise HarnessError(f"JACK server died\njackd output:\n{self.server.log_tail()}")

    def assert_clean(self) -> None:
        """Fail unless every frame was seen and everything went out on time."""
        self.check()
        problems = []
        if self.dropped_frames:
            problems.append(f"{self.dropped_frames} frames dropped from the timeline")
        if self.overflow:
            problems.append("recording buffer overflowed")
        if self._received > _RECEIVED:
            problems.append(f"{self._received - _RECEIVED} MIDI messages at lights not recorded")
        problems += [f"{c} was late" for c in self._clips if c.late]
        problems += [f"{e} was late" for e in self._midi if e.late]
        if problems:
            raise AssertionError("harness timing: " + "; ".join(problems))

    # -- recording -----------------------------------------------------------

    @property
    def recording(self) -> np.ndarray:
        """A copy of everything recorded, frames x inputs, index = harness frame."""
        n = min(self._frame, self.capacity)
        return self._rec[:, :n].T.copy()

    @property
    def received(self) -> list[tuple[int, bytes]]:
        """What the ``lights`` port received, in order: (harness frame, message bytes)."""
        n = min(self._received, _RECEIVED)
        return [
            (
                int(self._received_frames[i]),
                self._received_data[i, : self._received_sizes[i]].tobytes(),
            )
            for i in range(n)
        ]

    # -- connections ---------------------------------------------------------
    # -- lifecycle -------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.client.deactivate()
        finally:
            self.client.close()

    def __enter__(self) -> Harness:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"<Harness {self.name!r} on {self.server.name!r} at frame {self._frame},"
            f" {len(self.outports)} out, {len(self.inports)} in>"
        )
