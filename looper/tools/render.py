"""`looper render`: a recorded performance through the real engine, offline.

The input WAV is what the performer played; each message of the MIDI file
goes through the same mapping as on stage, at its exact frame (the file's own
tempo map gives the seconds). Gestures recognised late (a hold, a double) reach
the engine when they would live, stamped with the stomp's frame.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np
import soundfile as sf

from looper.config import Config
from looper.config.engine import engine_settings
from looper.core.commands import Command, Save
from looper.core.engine import MESSAGES_KEPT, Engine
from looper.core.messages import words
from looper.core.settings import latency_frames
from looper.core.view import EngineView
from looper.errors import LooperError
from looper.midi.gestures import Fired, Mapper

RENDER_BLOCK = 4096


class RenderError(LooperError, ValueError):
    """A problem with the files given; the message names it and the fix."""


@dataclass(frozen=True, slots=True)
class PedalEvent:
    """A command as the engine receives it: when it arrives, and when the stomp was."""

    frame: int
    stamp: int
    command: Command


@dataclass(frozen=True, slots=True)
class RenderResult:
    frames: int
    sample_rate: int
    events: tuple[PedalEvent, ...]
    messages: tuple[tuple[int, str], ...]
    stems: tuple[Path, ...]


def read_midi(path: Path) -> list[tuple[float, mido.Message]]:
    """The file's channel messages with their time in seconds from the start."""
    try:
        midi = mido.MidiFile(path)
    except FileNotFoundError:
        raise RenderError(f"{path}: no such MIDI file") from None
    except (OSError, EOFError, ValueError, KeyError, IndexError) as error:
        raise RenderError(f"{path}: not a readable MIDI file ({error})") from None
    now = 0.0
    events = []
    for message in midi:  # merges the tracks and turns ticks into seconds by the tempo map
        now += message.time
        if not message.is_meta:
            events.append((now, message))
    return events


def pedal_events(
    messages: list[tuple[float, mido.Message]], mapper: Mapper, sample_rate: int
) -> list[PedalEvent]:
    """Run the mapping over the messages, polling its deadlines at their exact times."""
    events: list[PedalEvent] = []

    def add(fired: list[Fired], now: float) -> None:
        for f in fired:
            events.append(
                PedalEvent(round(now * sample_rate), round(f.at * sample_rate), f.command)
            )

    def poll_until(until: float) -> None:
        while (deadline := mapper.next_deadline()) is not None and deadline <= until:
            add(mapper.poll(deadline), deadline)

    for now, message in messages:
        poll_until(now)
        add(mapper.feed(message, now), now)
    poll_until(float("inf"))
    return events


def read_input(path: Path, config: Config) -> np.ndarray:
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as error:
        raise RenderError(f"{path}: not a readable audio file ({error})") from None
    rate = config.audio.sample_rate
    if info.samplerate != rate:
        raise RenderError(
            f"{path}: the sample rate is {info.samplerate} Hz but audio.sample_rate is {rate}; "
            f"looper does not resample: convert the file (sox {path} -r {rate} out.wav) "
            f"or set audio.sample_rate: {info.samplerate}"
        )
    need = max(config.audio.inputs)
    if info.channels < need:
        raise RenderError(
            f"{path}: has {info.channels} channel(s) but audio.inputs uses channel {need}; "
            f"set audio.inputs to channels the file has (e.g. [1])"
        )
    data: np.ndarray = sf.read(str(path), dtype="float32", always_2d=True)[0]
    return data


def render(
    config: Config,
    input_path: Path,
    midi_path: Path,
    output_path: Path,
    *,
    tail_bars: int = 0,
    click: bool = True,
    stems_dir: Path | None = None,
) -> RenderResult:
    """Render the performance to a 32-bit float WAV of the input's length plus the tail."""
    audio = read_input(input_path, config)
    rate = config.audio.sample_rate
    mapper = Mapper(config.bindings(), config.midi_timing())
    events = pedal_events(read_midi(midi_path), mapper, rate)
    latency = latency_frames(config.audio.latency_ms, rate, None)  # offline, auto is 0
    no_click = {} if click else {"click_enabled": False}
    settings = engine_settings(config, latency, **no_click)
    try:
        engine = Engine(settings)
    except ValueError as error:
        raise RenderError(str(error)) from None
    view = EngineView(engine)
    said: deque[tuple[int, str]] = deque(maxlen=MESSAGES_KEPT)
    for event in events:
        if isinstance(event.command, Save):  # sessions are the live looper's; stems are here
            said.append((event.frame, "save ignored: render writes no session (--stems)"))
        else:
            engine.submit(event.command, event.frame, event.stamp)

    n = len(audio)
    out = np.zeros((n, settings.out_channels), dtype=np.float32)
    for i in range(0, n, RENDER_BLOCK):
        engine.process(audio[i : i + RENDER_BLOCK], out[i : i + RENDER_BLOCK])
    if tail_bars:
        tail = tail_bars * view.grid.bar
        silence = np.zeros((RENDER_BLOCK, audio.shape[1]), dtype=np.float32)
        out = np.concatenate([out, np.zeros((tail, settings.out_channels), np.float32)])
        for i in range(n, n + tail, RENDER_BLOCK):
            m = min(RENDER_BLOCK, n + tail - i)
            engine.process(silence[:m], out[i : i + m])

    _write(output_path, out, rate)
    said.extend((frame, words(code, args)) for frame, code, args in view.take_messages())
    stems = []
    if stems_dir is not None:
        for index in range(view.track_count):
            loop = view.stem(index)  # its seam in it: played as a loop, it wraps cleanly
            if loop is not None:
                stems.append(_write(stems_dir / f"track{index + 1}.wav", loop, rate))
    return RenderResult(len(out), rate, tuple(events), tuple(said), tuple(stems))


def _write(path: Path, data: np.ndarray, rate: int) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), data, rate, subtype="FLOAT")
    except (OSError, sf.LibsndfileError) as error:
        raise RenderError(f"{path}: cannot write ({error})") from None
    return path
