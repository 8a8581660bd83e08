"""`looper render`: a recorded performance through the real engine, offline.

The input WAV is what the performer played; each message of the MIDI file
goes through the same mapping as on stage, at its exact frame (the file's own
tempo map gives the seconds). Gestures recognised late (a hold, a double) reach
the engine when they would live, stamped with the stomp's frame.

Every path is checked before any work (`check_paths`): the output must not be a
file the render reads (the input, the MIDI file, or one of them through a link),
and its extension picks its format (`FORMATS`). The input and the output are
streamed block by block, so memory stays a few blocks whatever the length or the
tail (itself bounded: `MAX_TAIL_BARS`). The input goes through the engine's input
guard as live input does: a NaN or an infinite sample becomes silence, and the
messages say which input sent it. A MIDI file is read whole but bounded
(looper.files), and its header checked by hand: mido reads an SMPTE time
division as a negative tempo, divides by a zero one, and cannot play a type 2
file's independent tracks as one performance.
"""

from __future__ import annotations

import io
import os
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
from looper.files import FileRefused, read_bounded, regular
from looper.midi.gestures import Fired, Mapper

RENDER_BLOCK = 4096
#: The output's format by its extension: (libsndfile format, subtype). WAV keeps the engine's
#: 32-bit float; FLAC holds integers (24 bits); OGG is Vorbis, lossy.
FORMATS = {".wav": ("WAV", "FLOAT"), ".flac": ("FLAC", "PCM_24"), ".ogg": ("OGG", "VORBIS")}
_NAMES = ", ".join(f"name{ext}" for ext in FORMATS)
#: The longest tail: loops repeat, so more bars only repeat them (and take minutes to render).
MAX_TAIL_BARS = 256
#: The largest MIDI file read: a night of stomps is a few hundred KB.
MAX_MIDI_BYTES = 16_000_000


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
        data = read_bounded(path, MAX_MIDI_BYTES)
    except FileNotFoundError:
        raise RenderError(f"{path}: no such MIDI file") from None
    except FileRefused as error:
        raise RenderError(f"{error}; give --midi a MIDI file") from None
    except OSError as error:
        raise RenderError(f"{path}: cannot be read ({error.strerror})") from None
    _check_midi_header(path, data)
    now = 0.0
    events = []
    try:
        # merges the tracks and turns ticks into seconds by the tempo map
        for message in mido.MidiFile(file=io.BytesIO(data)):
            now += message.time
            if not message.is_meta:
                events.append((now, message))
    except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError) as error:
        raise RenderError(f"{path}: not a readable MIDI file ({error})") from None
    return events


def _check_midi_header(path: Path, data: bytes) -> None:
    """The header chunk's format and time division, as the Standard MIDI File gives them."""
    if len(data) < 14 or data[:4] != b"MThd":
        raise RenderError(f"{path}: not a MIDI file (no MThd header); give --midi a .mid file")
    kind = int.from_bytes(data[8:10], "big")
    division = int.from_bytes(data[12:14], "big")
    if kind == 2:
        raise RenderError(
            f"{path}: found a type 2 MIDI file (independent sequences); allowed: type 0 or 1, "
            "one performance: export the stomps as type 0 or 1"
        )
    if division & 0x8000:
        raise RenderError(
            f"{path}: found SMPTE time (frames per second); allowed: ticks per beat, the "
            "time most sequencers write: export with musical (PPQ) timing"
        )
    if division == 0:
        raise RenderError(
            f"{path}: found 0 ticks per beat; allowed: 1 or more (the file is damaged: "
            "export it again)"
        )


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


def check_paths(
    config: Config, input_path: Path, midi_path: Path, output_path: Path, stems_dir: Path | None
) -> tuple[str, str]:
    """The output's (format, subtype), after refusing to overwrite what the render reads."""
    if output_path.is_dir():
        raise RenderError(f"{output_path}: is a directory; give --output a file name ({_NAMES})")
    chosen = FORMATS.get(output_path.suffix.lower())
    if chosen is None:
        found = f"the extension {output_path.suffix!r}" if output_path.suffix else "no extension"
        raise RenderError(
            f"{output_path}: found {found}; allowed: {_NAMES} (the extension picks the format)"
        )
    written = [output_path]
    if stems_dir is not None:
        written += [stems_dir / f"track{i + 1}.wav" for i in range(config.tracks.count)]
    for out in written:
        for given, what in ((input_path, "--input"), (midi_path, "--midi")):
            if _same_file(out, given):
                raise RenderError(
                    f"{out}: is the {what} file {given}; render never writes over what it "
                    "reads: give --output (or --stems) another name"
                )
    return chosen


def _same_file(a: Path, b: Path) -> bool:
    """The same file, through links too; a path that does not exist yet is no other's."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def check_input(path: Path, config: Config) -> None:
    """The input WAV: a regular file at the config's rate, with the channels it records."""
    try:
        regular(path)
        info = sf.info(str(path))
    except FileRefused as error:
        raise RenderError(f"{error}; give --input an audio file") from None
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
    """Render the performance to a file of the input's length plus the tail (WAV, FLAC, OGG)."""
    if not 0 <= tail_bars <= MAX_TAIL_BARS:
        raise RenderError(
            f"--tail-bars: found {tail_bars}; allowed: 0 to {MAX_TAIL_BARS} bars (the loops "
            "repeat: a longer tail only repeats them)"
        )
    kind = check_paths(config, input_path, midi_path, output_path, stems_dir)
    check_input(input_path, config)
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

    out = np.zeros((RENDER_BLOCK, settings.out_channels), dtype=np.float32)
    frames = 0
    try:
        with (
            sf.SoundFile(str(input_path)) as src,
            _output(output_path, rate, settings.out_channels, kind) as dst,
        ):
            for block in src.blocks(RENDER_BLOCK, dtype="float32", always_2d=True):
                engine.process(block, out[: len(block)])
                dst.write(out[: len(block)])
                frames += len(block)
            silence = np.zeros((RENDER_BLOCK, src.channels), dtype=np.float32)
            end = frames + tail_bars * view.grid.bar  # the tempo's bar where the input ends
            while frames < end:
                m = min(RENDER_BLOCK, end - frames)
                engine.process(silence[:m], out[:m])
                dst.write(out[:m])
                frames += m
    except (sf.LibsndfileError, RuntimeError, OSError) as error:
        raise RenderError(f"{input_path} -> {output_path}: the render stopped ({error})") from None

    said.extend((frame, words(code, args)) for frame, code, args in view.take_messages())
    stems = []
    if stems_dir is not None:
        for index in range(view.track_count):
            loop = view.stem(index)  # its seam in it: played as a loop, it wraps cleanly
            if loop is not None:
                stems.append(_write(stems_dir / f"track{index + 1}.wav", loop, rate))
    return RenderResult(frames, rate, tuple(events), tuple(said), tuple(stems))


def _output(path: Path, rate: int, channels: int, kind: tuple[str, str]) -> sf.SoundFile:
    fmt, subtype = kind
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return sf.SoundFile(str(path), "w", rate, channels, subtype, format=fmt)
    except (OSError, sf.LibsndfileError, RuntimeError) as error:
        raise RenderError(f"{path}: cannot write {fmt} ({error})") from None


def _write(path: Path, data: np.ndarray, rate: int) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), data, rate, subtype="FLOAT")
    except (OSError, sf.LibsndfileError) as error:
        raise RenderError(f"{path}: cannot write ({error})") from None
    return path
