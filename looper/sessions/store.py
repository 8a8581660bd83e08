"""Sessions: a performance's loops and history on disk, and back at the next start.

A session is a directory holding `session.yaml` (the manifest: tempo, meter,
sample rate, channels and each saved track), each track's loop as
`trackN.wav` and the last `audio.history_seconds` of input as `history.wav`,
all 32-bit float WAV.

Saving never runs in the audio callback. The audio process's pump thread hands
each `save` to a `Saver` thread, which copies the loops and the history out of
the page pool bar by bar while the callback keeps running (checking after each
copy that the engine did not reuse the page meanwhile), then writes every
file under a temporary name and renames them into place at the end, the
manifest last, so a crash while writing leaves the previous session whole.

Loading is pure: `read_session` checks everything against the config before
any audio starts, so a damaged session stops the looper with a message naming
the file, and nothing in it is overwritten.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import soundfile as sf
import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from looper.config.schema import Config
from looper.core.engine import Engine
from looper.core.grid import Grid
from looper.core.settings import loop_bars_room, memory_seconds_needed
from looper.core.view import EngineView

VERSION = 1
MANIFEST = "session.yaml"
HISTORY = "history.wav"
TMP_SUFFIX = ".looper-tmp"  # a file being written; never part of a session
TRACK_FILE = re.compile(r"track\d+\.wav")
STAMP = "%Y-%m-%d_%H-%M-%S"  # sessions/<STAMP>/ when no --session DIR is given
RETRY_SECONDS = 0.005
FIX = "restore it from a backup, or give --session another directory"


class SessionError(Exception):
    """A session that cannot be loaded or written; one line per problem, each with its fix."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class SavedLoop:
    """One track's loop, as saved or loaded."""

    number: int  # 1-based, as the YAML and the status count tracks
    state: str  # what the track was doing when saved; it always comes back stopped
    volume: float
    audio: np.ndarray  # frames x channels, float32, whole bars


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a save writes: copies taken from the running engine."""

    sample_rate: int
    bpm: float  # the grid's exact tempo, so the bar comes back to the frame
    beats_per_bar: int
    bar: int  # frames
    channels: int
    loops: tuple[SavedLoop, ...]
    history: np.ndarray  # the held whole bars, oldest first
    notes: tuple[str, ...]  # what the performer should know about this save


@dataclass(frozen=True, slots=True)
class LoadedSession:
    """A session read back and checked against the config, ready for a new engine."""

    directory: Path
    created: str
    sample_rate: int
    bpm: float
    beats_per_bar: int
    loops: tuple[SavedLoop, ...]


@dataclass(frozen=True, slots=True)
class SessionPlan:
    """Where `save` writes and what to load at start: decided in the main process."""

    directory: Path | None  # --session DIR: every save goes there
    root: Path  # without it, each save makes root/<date_time>/
    loaded: LoadedSession | None = None

    def target(self, now: datetime) -> Path:
        return self.directory if self.directory is not None else self.root / now.strftime(STAMP)

    def restore(self, engine: Engine) -> None:
        """Give each saved loop back to its track, stopped; before the stream starts."""
        if self.loaded is not None:
            for loop in self.loaded.loops:
                engine.load_loop(loop.number - 1, loop.audio, loop.volume)

    def describe(self, saving: bool) -> str:
        """What this run does with sessions, for the performer at start.

        `saving`: a pedal is bound to `save`.
        """
        save = "save writes it there" if saving else "no pedal is bound to save"
        if self.loaded is not None:
            loops = self.loaded.loops
            numbers = ", ".join(str(loop.number) for loop in loops)
            what = (
                f"{_count(len(loops), 'loop')} (track {numbers}), stopped" if loops else "no loop"
            )
            return (
                f"session {self.loaded.directory}, saved {self.loaded.created}: {what}; play or "
                f"toggle starts a track on the next downbeat; {save}"
            )
        if self.directory is not None:
            return f"session {self.directory}: new; {save}"
        return f"save writes the session to {self.root / 'YYYY-MM-DD_hh-mm-ss'}"


# ---- saving: the saver thread ------------------------------------------------------


class Saver:
    """Saves the session on its own thread when asked, so the callback never does the work.

    The thread starts with the object and lives as long as the audio process.
    """

    def __init__(self, engine: Engine, plan: SessionPlan) -> None:
        self.engine = engine
        self.plan = plan
        self.messages: deque[str] = deque(maxlen=16)  # for the status; the publisher drains it
        self._asked = threading.Event()
        threading.Thread(target=self._run, name="looper-saver", daemon=True).start()

    def ask(self) -> None:
        """One `save` stomp (from the pump thread); stomps during a save make one more save."""
        self._asked.set()

    def _run(self) -> None:
        while True:
            self._asked.wait()
            self._asked.clear()
            try:
                text = self.save()
            except Exception as error:  # a bug: say so, and keep saving at later stomps
                text = f"session NOT saved: {error!r}"
            self.messages.append(text)

    def save(self) -> str:
        """Write the session now; what happened, in words."""
        now = datetime.now().astimezone()
        directory = self.plan.target(now)
        try:
            snap = snapshot(self.engine)
            write_session(directory, snap, now)
        except SessionError as error:
            return f"session NOT saved to {directory}: {error}"
        except (OSError, sf.LibsndfileError) as error:
            return f"session NOT saved to {directory}: {error} (is the disk full or read-only?)"
        seconds = len(snap.history) / snap.sample_rate
        notes = "".join(f"; {note}" for note in snap.notes)
        return (
            f"session saved to {directory} ({_count(len(snap.loops), 'loop')}, "
            f"{seconds:.0f} s of history){notes}"
        )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


# ---- saving: copies out of a running engine ----------------------------------------


def snapshot(engine: Engine) -> Snapshot:
    """Copy the loops and the history out of the engine, bar by bar, off the callback.

    The callback may run between any two bytecodes of this function, so every
    copy is checked afterwards against the engine's tables and taken again
    (or, for history, dropped) if the engine reused a page during it.
    """
    view = EngineView(engine)
    grid, pages = view.grid, view.pages
    loops: list[SavedLoop] = []
    notes: list[str] = []
    for index in range(view.track_count):
        loop = _copy_loop(view, index, pages)
        if loop is not None:
            loops.append(loop)
            if loop.state == "overdubbing":
                notes.append(f"track {loop.number} without its overdub pass in progress")
    history = _copy_history(view, pages)
    if view.grid is not grid:
        raise SessionError(["the tempo changed while saving (that empties every track)"])
    return Snapshot(
        sample_rate=view.sample_rate,
        bpm=grid.bpm,
        beats_per_bar=grid.beats_per_bar,
        bar=grid.bar,
        channels=view.channels,
        loops=tuple(loops),
        history=history,
        notes=tuple(notes),
    )


def _copy_loop(view: EngineView, index: int, pages: np.ndarray) -> SavedLoop | None:
    """A copy of the track's loop once it holds still: not changed, no bar still arriving.

    A loop's last bar can still be arriving for the latency after it was
    captured; that is shorter than a bar, so waiting a bar and a second suffices.
    """
    deadline = time.monotonic() + view.grid.bar / view.sample_rate + 1.0
    while True:
        info = view.track(index)
        state, volume = info.state.value, float(info.volume)
        held = view.settled_pages(index)
        if not held:
            return None
        if view.writing_page() not in held[:-1]:
            audio = view.with_seam(_copy_pages(pages, held[:-1]), held[-1])
            if view.settled_pages(index) == held:
                return SavedLoop(index + 1, state, volume, audio)
        if time.monotonic() > deadline:
            raise SessionError([f"track {index + 1} kept changing while saving; save again"])
        time.sleep(RETRY_SECONDS)


def _copy_pages(pages: np.ndarray, held: list[int]) -> np.ndarray:
    bar = pages.shape[1]
    out = np.empty((len(held) * bar, pages.shape[2]), dtype=np.float32)
    for i, page in enumerate(held):
        np.copyto(out[i * bar : (i + 1) * bar], pages[page])  # releases the GIL
        time.sleep(0)  # and let the callback's thread have it between bars
    return out


def _copy_history(view: EngineView, pages: np.ndarray) -> np.ndarray:
    """The history's whole bars, oldest first; a bar the ring reused while copying is dropped.

    The ring overwrites its oldest bar as each new bar begins, so only the
    first bars can be lost, and only when a bar begins during the copy.
    """
    bars = view.history_bars()  # the bar being written is left out
    bar = pages.shape[1]
    out = np.empty((len(bars) * bar, pages.shape[2]), dtype=np.float32)
    kept_from = 0
    for i, k in enumerate(bars):
        page = view.history_page(k)
        if page >= 0:
            np.copyto(out[i * bar : (i + 1) * bar], pages[page])
        if page < 0 or view.history_page(k) != page:
            kept_from = i + 1
        time.sleep(0)
    return out[kept_from * bar :]


# ---- saving: files -----------------------------------------------------------------


def write_session(directory: Path, snap: Snapshot, created: datetime) -> None:
    """Write the snapshot into `directory` (missing, empty, or a session).

    Every file goes to a temporary name first and is renamed into place after
    all of them are written, the manifest last; then the loops of tracks that
    no longer have one go.
    """
    _refuse_foreign(directory)
    directory.mkdir(parents=True, exist_ok=True)
    wavs = {f"track{loop.number}.wav": loop.audio for loop in snap.loops}
    wavs[HISTORY] = snap.history
    staged: list[tuple[Path, Path]] = []
    try:
        for name, audio in wavs.items():
            tmp = directory / f".{name}{TMP_SUFFIX}"
            staged.append((tmp, directory / name))
            sf.write(str(tmp), audio, snap.sample_rate, subtype="FLOAT", format="WAV")
            _fsync(tmp)
        tmp = directory / f".{MANIFEST}{TMP_SUFFIX}"
        staged.append((tmp, directory / MANIFEST))
        tmp.write_text(_manifest(snap, created), encoding="utf-8")
        _fsync(tmp)
        for tmp, final in staged:
            os.replace(tmp, final)
    finally:
        for tmp, _ in staged:  # gone already when all went well
            tmp.unlink(missing_ok=True)
    for path in directory.iterdir():
        if TRACK_FILE.fullmatch(path.name) and path.name not in wavs:
            path.unlink()
    _fsync(directory)


def _fsync(path: Path) -> None:
    """Push a file, or a directory's entries, to the disk before renaming over the old ones."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _manifest(snap: Snapshot, created: datetime) -> str:
    data = {
        "version": VERSION,
        "created": created.isoformat(timespec="seconds"),
        "sample_rate": snap.sample_rate,
        "bpm": snap.bpm,
        "beats_per_bar": snap.beats_per_bar,
        "channels": snap.channels,
        "history": {"file": HISTORY, "seconds": len(snap.history) / snap.sample_rate},
        "tracks": [
            {
                "number": loop.number,
                "state": loop.state,
                "bars": len(loop.audio) // snap.bar,
                "volume": loop.volume,
                "file": f"track{loop.number}.wav",
            }
            for loop in snap.loops
        ],
    }
    head = "# A looper session: `looper --config FILE --session DIR` plays it again.\n"
    return head + yaml.safe_dump(data, sort_keys=False)


def _refuse_foreign(directory: Path) -> None:
    """Files but no manifest: someone's folder, or a session that lost its manifest."""
    if directory.exists() and not directory.is_dir():
        raise SessionError(
            [f"{directory}: is a file; give --session a directory (new, empty, or a session)"]
        )
    if not directory.is_dir() or (directory / MANIFEST).exists():
        return
    found = sorted(p.name for p in directory.iterdir() if not p.name.endswith(TMP_SUFFIX))
    if not found:
        return
    shown = ", ".join(found[:3]) + (", ..." if len(found) > 3 else "")
    if any(TRACK_FILE.fullmatch(name) or name == HISTORY for name in found):
        raise SessionError(
            [
                f"{directory / MANIFEST}: missing, though the folder holds {shown}: a session "
                f"that lost its manifest; {FIX}"
            ]
        )
    raise SessionError(
        [
            f"{directory}: not a looper session (it holds {shown} but no {MANIFEST}); looper "
            "does not mix a session into another folder: give --session a new or empty directory"
        ]
    )


# ---- loading -----------------------------------------------------------------------


def _plain_wav_name(name: str) -> str:
    if "/" in name or "\\" in name or not name.endswith(".wav") or name.startswith("."):
        raise ValueError("a file name in the session directory, ending in .wav")
    return name


WavName = Annotated[str, AfterValidator(_plain_wav_name)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _HistoryEntry(_Strict):
    file: WavName
    seconds: float = Field(ge=0)


class _TrackEntry(_Strict):
    number: int = Field(ge=1)
    state: Literal["recording", "playing", "stopped", "muted", "overdubbing"]
    bars: int = Field(ge=1)
    volume: float = Field(ge=0.0, le=1.0)
    file: WavName


class _Manifest(_Strict):
    version: int
    created: str | datetime
    sample_rate: int = Field(ge=8000, le=384000)
    bpm: float = Field(gt=0)
    beats_per_bar: int = Field(ge=1, le=16)
    channels: int = Field(ge=1, le=64)
    history: _HistoryEntry
    tracks: list[_TrackEntry]


def read_session(directory: Path, config: Config) -> LoadedSession | None:
    """The session saved in `directory`, checked against the config; None when there is none yet.

    Raises SessionError with every problem found; reads, never writes.
    """
    try:
        _refuse_foreign(directory)
        manifest_path = directory / MANIFEST
        if not manifest_path.exists():
            return None
        manifest = _parse_manifest(manifest_path)
        return _check(directory, manifest, config)
    except OSError as error:  # permissions, a disk that went away
        raise SessionError([f"{directory}: cannot be read ({error}); {FIX}"]) from None


def _parse_manifest(path: Path) -> _Manifest:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise SessionError([f"{path}: not UTF-8 text; {FIX}"]) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        what = getattr(error, "problem", None) or "unreadable"
        raise SessionError([f"{where}: invalid YAML ({what}); fix the line or {FIX}"]) from None
    if not isinstance(data, dict):
        raise SessionError(
            [f"{path}: found {type(data).__name__}, not a mapping of session keys; {FIX}"]
        )
    version = data.get("version")
    if version != VERSION:
        newer = isinstance(version, int) and version > VERSION
        whom = " (written by a newer looper: update this one)" if newer else ""
        raise SessionError(
            [f"{path}: version is {version!r}; this looper reads version {VERSION}{whom}"]
        )
    try:
        return _Manifest.model_validate(data)
    except ValidationError as error:
        problems = []
        for e in error.errors(include_url=False):
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e["loc"])
            found = "nothing" if e["type"] == "missing" else repr(e["input"])
            why = e["msg"].removeprefix("Value error, ")
            problems.append(f"{path}: {where.lstrip('.')}: found {found}: {why}; {FIX}")
        raise SessionError(problems) from None


def _check(directory: Path, m: _Manifest, config: Config) -> LoadedSession:
    """The manifest against the config, each file against the manifest; every problem found."""
    manifest = directory / MANIFEST
    a, t = config.audio, config.tracks
    problems = []
    if m.sample_rate != a.sample_rate:
        problems.append(
            f"{manifest}: sample_rate is {m.sample_rate} Hz but audio.sample_rate is "
            f"{a.sample_rate}; looper does not resample: set audio.sample_rate: {m.sample_rate} "
            "in the config (if the card can)"
        )
    if m.channels != len(a.inputs):
        problems.append(
            f"{manifest}: channels is {m.channels} but audio.inputs records {len(a.inputs)}; "
            f"set audio.inputs to {m.channels} channel(s) in the config"
        )
    numbers = [entry.number for entry in m.tracks]
    twice = sorted({n for n in numbers if numbers.count(n) > 1})
    if twice:
        problems.append(f"{manifest}: tracks: track {_list(twice)} saved twice; {FIX}")
    beyond = sorted(n for n in numbers if n > t.count)
    if beyond:
        problems.append(
            f"{manifest}: tracks: track {_list(beyond)} but tracks.count is {t.count}; "
            f"set tracks.count: {beyond[-1]} (or more) in the config"
        )
    bar = Grid.from_bpm(m.sample_rate, m.bpm, m.beats_per_bar).bar
    problems += _check_memory(manifest, m, config, bar)
    loops = []
    for entry in m.tracks:
        path = directory / entry.file
        frames = _check_wav(path, m, problems)
        if frames is None:
            continue
        if frames % bar:
            problems.append(
                f"{path}: {frames} frames is not a whole number of bars ({bar} frames at "
                f"{m.bpm:.2f} bpm, {m.beats_per_bar} beats a bar); restore the file, or the "
                f"bpm in {MANIFEST}"
            )
        elif frames // bar != entry.bars:
            problems.append(
                f"{path}: holds {frames // bar} bars but {MANIFEST} says {entry.bars}; "
                f"restore the file, or its bars in {MANIFEST}"
            )
        else:
            audio = _read_wav(path, frames, problems)
            if audio is not None:
                loops.append(SavedLoop(entry.number, entry.state, entry.volume, audio))
    _check_wav(directory / m.history.file, m, problems)
    if problems:
        raise SessionError(problems)
    return LoadedSession(
        directory=directory,
        created=str(m.created),
        sample_rate=m.sample_rate,
        bpm=m.bpm,
        beats_per_bar=m.beats_per_bar,
        loops=tuple(loops),
    )


def _list(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers))


def _check_memory(manifest: Path, m: _Manifest, config: Config, bar: int) -> list[str]:
    """Whether the loops fit and leave the history ring its pages, as the engine counts.

    The arithmetic is the engine's own (core/settings.py), so the two cannot disagree.
    """
    a, t = config.audio, config.tracks
    loop_bars = sum(entry.bars for entry in m.tracks)
    if loop_bars <= loop_bars_room(a.history_seconds, t.memory_seconds, a.sample_rate, bar):
        return []
    enough = memory_seconds_needed(loop_bars, a.history_seconds, a.sample_rate, bar)
    return [
        f"{manifest}: the loops do not fit in tracks.memory_seconds ({t.memory_seconds:g}) "
        f"next to the history; set tracks.memory_seconds: {enough} (or more) in the config"
    ]


def _check_wav(path: Path, m: _Manifest, problems: list[str]) -> int | None:
    """The file's length in frames when it matches the session's rate and channels."""
    if not path.is_file():
        problems.append(f"{path}: missing ({MANIFEST} names it); {FIX}")
        return None
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as error:
        problems.append(f"{path}: not a readable audio file ({error}); {FIX}")
        return None
    ok = True
    if info.samplerate != m.sample_rate:
        problems.append(
            f"{path}: the sample rate is {info.samplerate} Hz but the session's is "
            f"{m.sample_rate} ({MANIFEST}); looper does not resample: {FIX}"
        )
        ok = False
    if info.channels != m.channels:
        problems.append(
            f"{path}: has {info.channels} channel(s) but the session has {m.channels} "
            f"({MANIFEST}); {FIX}"
        )
        ok = False
    return info.frames if ok else None


def _read_wav(path: Path, frames: int, problems: list[str]) -> np.ndarray | None:
    try:
        audio, _ = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as error:
        problems.append(f"{path}: not a readable audio file ({error}); {FIX}")
        return None
    if len(audio) != frames:
        problems.append(f"{path}: cut short ({len(audio)} of {frames} frames); {FIX}")
        return None
    if not np.isfinite(audio).all():
        problems.append(f"{path}: holds NaN or infinite samples; {FIX}")
        return None
    return audio


def with_session_tempo(config: Config, loaded: LoadedSession) -> tuple[Config, str | None]:
    """The config with the session's tempo and meter (its loops are whole bars of those).

    The note says so when they differ from the config's clicktrack.
    """
    c = config.clicktrack
    click = c.model_copy(update={"bpm": loaded.bpm, "beats_per_bar": loaded.beats_per_bar})
    session_beat = Grid.from_bpm(loaded.sample_rate, loaded.bpm, loaded.beats_per_bar).beat
    same = (
        c.bpm != "auto"
        and Grid.from_bpm(loaded.sample_rate, c.bpm, c.beats_per_bar).beat == session_beat
        and c.beats_per_bar == loaded.beats_per_bar
    )
    note = None
    if not same:
        bpm = c.bpm if c.bpm == "auto" else f"{c.bpm:g}"
        note = (
            f"tempo {loaded.bpm:.2f} bpm, {loaded.beats_per_bar} beats a bar, from the session "
            f"{loaded.directory} (the config's clicktrack says {bpm} bpm, {c.beats_per_bar}): "
            "its loops are whole bars of it"
        )
    return config.model_copy(update={"clicktrack": click}), note
