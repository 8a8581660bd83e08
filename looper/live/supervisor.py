"""The main process of `looper run`: it owns the loops, starts the audio and MIDI processes,
and outlives them.

A `Session` (driven by the CLI) creates the shared memory the loops live in
(looper/live/shared.py), starts the audio process (looper/live/audio.py) and,
once that runs, the MIDI process (looper/midi/process.py). Each `tick` reads
the status out of the shared memory through a `Mirror` (looper/live/mirror.py),
forwards the pedal lights, saves the loops in the background when they
change, and watches both children:

- the audio process died (killed, crashed): a new one is started at once,
  takes the loops over from the memory and plays on in phase (the status says
  so); one that keeps dying as it starts ends the session, saved. (A spare
  audio process waiting with its imports done was tried: its start, right
  after each restart, cost the playing one xruns on a busy 2-core machine.);
- the audio stopped running (the audio server went away, or the callback
  stalled for STALL_SECONDS): the audio process is ended, the loops are kept,
  and a new one is tried every RETRY_SECONDS until the server is back (the
  ports the looper was connected to are connected again) or, with
  `server_timeout`, until that passes: then the session is saved and ends;
- the MIDI process died: restarted, unless it keeps dying as it starts.

Nothing here can block on a dead child: children are told to stop by closing
a pipe (looper/live/pipes.py), waited for with a deadline, then killed.
`shutdown` saves first (the loops are in this process's memory, whatever
became of the audio process), then stops the children, all within a couple
of seconds. It prints nothing: each `tick` returns what the CLI draws.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType

from looper.config import Config
from looper.config.engine import engine_settings
from looper.core.messages import words
from looper.live.audio import Failure, Ready, audio_process
from looper.live.children import Child, midi_child, spawn
from looper.live.mirror import Mirror, rss_mb
from looper.live.pipes import PipeOutbox, RingOutbox
from looper.live.shared import Mapping, live_bytes, ring_span
from looper.live.status import RUNNING, Status
from looper.live.wiring import Wiring
from looper.sessions.plan import SessionPlan
from looper.sessions.saver import Saver

START_TIMEOUT = 20.0
STALL_SECONDS = 1.0  # no callback for this long: the audio is not running
RETRY_SECONDS = 1.0  # between tries to start the audio again
AUDIO_RETRIES = 3  # audio processes dying as they start, in a row, before the session ends
QUICK_DEATH = 2.0  # seconds: a child dying sooner failed at start
MIDI_RETRIES = 3
AUTOSAVE_SECONDS = 2.0  # the loops held still this long after a change: saved
EXIT_SAVE_WAIT = 0.3  # at exit, how long a save waits for a loop's last bar
WIRING_SECONDS = 1.0  # how often the audio ports' connections are looked at


class Session:
    """One `looper run`: owns the loops' memory, starts and watches the children."""

    def __init__(
        self,
        config: Config,
        plan: SessionPlan,
        keep: Path,
        server_timeout: float | None = None,
    ) -> None:
        self.config = config
        self.plan = plan  # where `save` writes, and the session loaded at start
        self.keep = keep  # where the loops are saved as they change, and at exit
        self.server_timeout = server_timeout
        self.ctx = mp.get_context("spawn")
        sizing = engine_settings(config, 0)  # the memory's layout does not depend on latency
        self.mapping = Mapping(live_bytes(sizing))
        self.memory, _, self.board = self.mapping.views(sizing)
        self.latency: int | None = None  # the engine's, from the first audio process
        self.ready: Ready | None = None
        self.audio: Child | None = None
        self.midi: Child | None = None
        self.lights: PipeOutbox | None = None
        self.mirror: Mirror | None = None
        self.saver: Saver | None = None
        self.audio_text = "audio: starting"
        self.audio_failures = 0  # audio processes that died as they started, in a row
        self.gone_since: float | None = None  # when the audio stopped running
        self.retry_at = 0.0
        self.midi_failures = 0
        self.midi_text = "MIDI: starting"
        self.shown: tuple[tuple[str, ...], bool] | None = None  # last sent to the lights
        self.said: deque[str] = deque(maxlen=6)
        self.latest: Status | None = None
        self.rss_start = 0.0
        self.loops_seen: tuple[tuple[str, int, int], ...] = ()  # the tracks, at the last look
        self.changed_at: float | None = None  # the loops changed and are not saved yet
        self.saved_to: str | None = None
        self.closed = False
        self.wiring = Wiring()  # the audio ports' connections, made again after a restart
        self.wired_at = 0.0
        self.saves = 0  # `save` stomps the callback counted

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()

    # ---- starting --------------------------------------------------------------------

    def _spawn_audio(self, first: bool = False) -> Child:
        """An audio process; only the first one loads the session (later ones take the
        loops over from the memory)."""
        shared = (self.mapping.path, self.mapping.size)
        plan = self.plan if first else replace(self.plan, loaded=None)
        args = (self.config, self.latency, shared, plan)
        return spawn(self.ctx, audio_process, "looper-audio", *args)

    def start(self, stopping: threading.Event) -> Ready | Failure | None:
        """Start the audio process, and the MIDI process once the audio runs; None when
        `stopping` was set meanwhile (Ctrl-C during start-up)."""
        self.audio = self._spawn_audio(first=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if stopping.is_set():
                return None
            first = self._report(self.audio, 0.1)
            if isinstance(first, Ready):
                self._running(first)
                self._start_midi()
                return first
            if isinstance(first, Failure):
                return first
            if not self.audio.alive() and not self.audio.report.poll():
                return Failure(f"the audio process ended at start ({self.audio.ended()})")
        return Failure(f"the audio device did not start within {START_TIMEOUT:.0f} s")

    @staticmethod
    def _report(child: Child, wait: float) -> Ready | Failure | None:
        try:
            if child.report.poll(wait):
                item: Ready | Failure = child.report.recv()
                return item
        except (EOFError, OSError):
            pass
        return None

    def _running(self, ready: Ready) -> None:
        """An audio process runs: the first one builds the mirrors and the saver."""
        self.ready = ready
        self.latency = ready.latency_frames
        self.gone_since = None
        self.audio_text = RUNNING
        if self.mirror is None:
            self.mirror = Mirror(self.config, ready.latency_frames, self.memory, self.board)
            saving = Mirror(self.config, ready.latency_frames, self.memory, self.board)
            self.saver = Saver(saving.engine, self.plan, saving.refresh)
            self.rss_start = rss_mb(self.audio.process.pid if self.audio else None)

    def _start_midi(self) -> None:
        offset, length = ring_span(engine_settings(self.config, 0))
        commands = RingOutbox(self.mapping.path, self.mapping.size, offset, length)
        lights_r, lights_w = self.ctx.Pipe(duplex=False)
        self.midi = spawn(self.ctx, midi_child, "looper-midi", self.config, commands, lights_r)
        lights_r.close()
        self.lights = PipeOutbox(lights_w)
        self.shown = None  # a new MIDI process starts dark: forward the lights again

    # ---- each tick -------------------------------------------------------------------

    def tick(self) -> Tick:
        """What happened since the last tick: new lines, the status, or a fatal error."""
        lines = self._midi_events()
        fatal = self._watch_audio(lines)
        if self.mirror is not None and self.ready is not None:
            self.mirror.refresh()
            lines.extend(
                f"bar {bar}: {words(code, args)}" for bar, (_, code, args) in self.mirror.news()
            )
            self.latest = replace(
                self.mirror.status(self.ready.latency_ms, self.ready.block, self._audio_pid()),
                rss_start_mb=self.rss_start,
            )
            self._autosave()
        if self.saver is not None:
            while self.saver.messages:
                lines.append(self.saver.messages.popleft())
        self._forward_lights()
        lines.extend(self._watch_midi())
        self.said.extend(lines)
        status = None
        if self.latest is not None:
            status = replace(
                self.latest,
                midi=self.midi_text,
                audio=self.audio_text,
                messages=tuple(self.said),
            )
        return Tick(lines, status, fatal)

    def _audio_pid(self) -> int | None:
        return self.audio.process.pid if self.audio is not None else None

    def _midi_events(self) -> list[str]:
        from looper.midi.keepers import LightsState, PortState
        from looper.midi.process import Heard

        lines: list[str] = []
        if self.midi is None:
            return lines
        with contextlib.suppress(EOFError, OSError):
            while self.midi.report.poll():
                event = self.midi.report.recv()
                if isinstance(event, PortState):
                    self.midi_text = event.text
                    lines.append(event.text)
                elif isinstance(event, Heard) and event.fired:
                    heard = f"{event.message} -> " if event.message else ""
                    lines.append(heard + "; ".join(event.fired))
                elif isinstance(event, LightsState):
                    lines.append(event.text)
        return lines

    def _watch_audio(self, lines: list[str]) -> str | None:
        """Restart the audio when it died or stopped; the reason the session must end, if so."""
        now = time.monotonic()
        audio = self.audio
        if self.gone_since is None and audio is not None:
            report = self._report(audio, 0.0)
            stalled = self.mirror is not None and now - self.mirror.stamp > STALL_SECONDS
            server_said = self.wiring.shut_down.is_set()
            if isinstance(report, Failure) or stalled or server_said:
                why = "the audio server stopped" if server_said else "the audio stopped running"
                why = report.text if isinstance(report, Failure) else why
                self.wiring.drop()
                audio.stop(0.2)
                self._gone(now, f"{why}; the loops are kept; waiting for the audio server", lines)
            elif audio.alive():
                if now - self.wired_at > WIRING_SECONDS:
                    self.wired_at = now
                    self.wiring.remember()
            else:
                quick = now - audio.started < QUICK_DEATH
                self.audio_failures = self.audio_failures + 1 if quick else 1
                if self.audio_failures > AUDIO_RETRIES:
                    return _dying(audio)
                lines.append(
                    f"the audio process ended ({audio.ended()}); restarting it: the loops are kept"
                )
                audio.stop(0.0)
                self.audio = self._spawn_audio()
                self.audio_text = "audio: restarting; the loops are kept"
                self.gone_since = now  # counted as gone until the new one is ready
                self.retry_at = now + START_TIMEOUT  # the one just started is the try
            return None
        return self._retry_audio(now, lines)

    def _gone(self, now: float, text: str, lines: list[str]) -> None:
        self.gone_since = now
        self.retry_at = now
        self.audio_text = f"audio: {text}"
        lines.append(text)

    def _retry_audio(self, now: float, lines: list[str]) -> str | None:
        """The audio is not running: look whether the try under way is ready, or try again."""
        audio = self.audio
        if audio is not None:
            report = self._report(audio, 0.0)
            if isinstance(report, Ready):
                self._running(report)
                links = self.wiring.restore()
                wired = f"; {links} connection(s) made again" if links else ""
                lines.append(
                    f"the audio runs again on '{report.device}'{wired}; every loop plays on "
                    "in phase"
                )
                return None
            if isinstance(report, Failure) or not audio.alive():
                audio.stop(0.0)
                self.audio = None
                self.retry_at = now + RETRY_SECONDS
                if isinstance(report, Failure) and not report.device:
                    return report.text
                if report is None:  # it died before it said anything: not the device's
                    self.audio_failures += 1
                    lines.append(f"the audio process ended as it started ({audio.ended()})")
                    if self.audio_failures > AUDIO_RETRIES:
                        return _dying(audio)
        since = self.gone_since or now
        if self.server_timeout is not None and now - since > self.server_timeout:
            return f"no audio for {self.server_timeout:g} s (--server-timeout)"
        if self.audio is not None and now >= self.retry_at:  # started, never ready
            self.audio.stop(0.0)
            self.audio = None
        if self.audio is None and now >= self.retry_at:
            if not self.wiring.server_up():  # asked cheaply: no interpreter started in vain
                self.retry_at = now + RETRY_SECONDS
                return None
            self.audio = self._spawn_audio()
            self.retry_at = now + START_TIMEOUT
        return None

    def _forward_lights(self) -> None:
        from looper.midi.lights import shown_by

        if self.latest is None or self.lights is None:
            return
        shown = shown_by(self.latest)
        if shown != self.shown:
            self.shown = shown if self.lights.put(shown) else None

    def _autosave(self) -> None:
        """Save to `keep` once the loops changed and then held still for AUTOSAVE_SECONDS."""
        if self.mirror is None or self.saver is None:
            return
        loops = tuple((t.state.value, t.bars, t.layers) for t in self.mirror.view.tracks())
        now = time.monotonic()
        if not self.loops_seen:  # the first look: what was loaded is saved already
            self.loops_seen = loops
        elif loops != self.loops_seen:
            self.loops_seen = loops
            self.changed_at = now
        elif self.changed_at is not None and now - self.changed_at > AUTOSAVE_SECONDS:
            self.changed_at = None
            self.saver.ask(self.keep)

    def _watch_midi(self) -> list[str]:
        """Restart a MIDI process that died, unless it keeps dying as it starts."""
        if self.midi is None or self.midi.alive() or self.closed:
            return []
        quick = time.monotonic() - self.midi.started < QUICK_DEATH
        self.midi_failures = self.midi_failures + 1 if quick else 1
        ended = self.midi.ended()
        self.midi.stop(0.0)
        if self.midi_failures > MIDI_RETRIES:
            self.midi = None
            self.midi_text = "MIDI: stopped after failing at start; loops keep playing"
            return [
                f"the MIDI process failed {MIDI_RETRIES + 1} times at start ({ended}); "
                "the loops keep playing; fix the midi section and restart looper"
            ]
        self._start_midi()
        return [f"the MIDI process ended ({ended}); restarted it"]

    # ---- the end ---------------------------------------------------------------------

    def save_at_exit(self) -> str | None:
        """Save the loops to `keep` now; what happened, or None when there is nothing to save
        (no audio process ever ran, or no track holds a loop: the last save stays)."""
        if self.mirror is None or self.saver is None:
            return None
        self.mirror.refresh()
        if not any(t.bars for t in self.mirror.view.tracks()):
            return None
        self.saved_to = self.saver.save(self.keep, wait=EXIT_SAVE_WAIT)
        return self.saved_to

    def shutdown(self) -> None:
        """Stop the children (told, then killed) and free the memory; never blocks long."""
        if self.closed:
            return
        self.closed = True
        children = [c for c in (self.midi, self.audio) if c is not None]
        for child in children:
            with contextlib.suppress(OSError):
                child.life.close()
        for child in children:
            child.stop()
        self.mirror = None
        self.saver = None
        self.wiring.drop()
        self.mapping.close()


def _dying(audio: Child) -> str:
    """Why the session ends when audio processes keep dying as they start."""
    return (
        f"the audio process died {AUDIO_RETRIES + 1} times as it started ({audio.ended()}); "
        "see the lines above"
    )


@dataclass(frozen=True, slots=True)
class Tick:
    lines: list[str]  # to show once: MIDI port changes, stomps heard, engine messages
    status: Status | None  # the latest snapshot with the MIDI state and recent lines
    fatal: str | None  # the session must end: why
