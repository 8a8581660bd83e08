"""Sessions on disk: a performance's loops and history as files, and back at the next start.

A session is a directory holding `session.yaml` (the manifest: tempo, meter,
sample rate, channels and each saved track), each track's loop as
`trackN.wav` and the last `audio.history_seconds` of input as `history.wav`,
all 32-bit float WAV.

Writing (`write_session`) takes a `Snapshot`, plain data: the copies out of a
running engine are the saver's business (`looper.sessions.saver`), so this
module knows files, not engines. Every file goes under a temporary name first
and is renamed into place at the end, the manifest last, so a crash while
writing leaves the previous session whole.

Loading is pure: `read_session` checks everything against the config before
any audio starts, so a damaged session stops the looper with a message naming
the file, and nothing in it is overwritten. What to do with a loaded session
(its tempo, giving its loops to the engine) is `looper.sessions.plan`'s.
"""

from __future__ import annotations

import os
import re
import secrets
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf
import yaml

from looper.config import Config
from looper.core.grid import Grid
from looper.core.settings import loop_bars_room, memory_seconds_needed
from looper.files import FileRefused, regular
from looper.sessions.manifest import FIX, MANIFEST, VERSION, Manifest, SessionError, parse_manifest

HISTORY = "history.wav"
TMP_SUFFIX = ".looper-tmp"  # a file being written; never part of a session
TRACK_FILE = re.compile(r"track\d+\.wav")
STAMP = "%Y-%m-%d_%H-%M-%S"  # sessions/<STAMP>/ when no --session DIR is given


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


def counted(n: int, noun: str) -> str:
    """The noun counted, "1 loop" or "2 loops": words of the saver and the plan."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


# ---- writing -----------------------------------------------------------------


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
            with _create(directory, name, staged) as file:
                sf.write(file, audio, snap.sample_rate, subtype="FLOAT", format="WAV")
                _flush(file)
        with _create(directory, MANIFEST, staged) as file:
            file.write(_manifest(snap, created).encode("utf-8"))
            _flush(file)
        for tmp, final in staged:
            os.replace(tmp, final)  # a rename replaces a link at `final`, never follows it
    finally:
        for tmp, _ in staged:  # gone already when all went well
            tmp.unlink(missing_ok=True)
    for path in directory.iterdir():
        if TRACK_FILE.fullmatch(path.name) and path.name not in wavs:
            path.unlink()
    _fsync(directory)


def temporary_name(name: str) -> str:
    """A fresh hidden name for `name` being written: no one can plant a link there first."""
    return f".{name}.{secrets.token_hex(8)}{TMP_SUFFIX}"


def _create(directory: Path, name: str, staged: list[tuple[Path, Path]]) -> BinaryIO:
    """A new file under a temporary name, for `name`; added to `staged` once it exists.

    O_EXCL with O_NOFOLLOW: if anything is at the temporary name already (a link
    planted to make the save overwrite another file), the open fails and nothing is
    written through it.
    """
    tmp = directory / temporary_name(name)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(tmp, flags, 0o644)
    except FileExistsError:
        raise SessionError(
            [
                f"{tmp}: something is there already (a link planted to be written through?); "
                "nothing was written through it: remove it, or give --session another directory"
            ]
        ) from None
    staged.append((tmp, directory / name))
    return os.fdopen(fd, "w+b")  # soundfile reads back and seeks in what it writes


def _flush(file: BinaryIO) -> None:
    """Push a written file to the disk before it is renamed over the old one."""
    file.flush()
    os.fsync(file.fileno())


def _fsync(path: Path) -> None:
    """Push a directory's entries to the disk, after the renames."""
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


def read_session(directory: Path, config: Config) -> LoadedSession | None:
    """The session saved in `directory`, checked against the config; None when there is none yet.

    Raises SessionError with every problem found; reads, never writes.
    """
    try:
        _refuse_foreign(directory)
        manifest_path = directory / MANIFEST
        if not manifest_path.exists():
            return None
        manifest = parse_manifest(manifest_path)
        return _check(directory, manifest, config)
    except OSError as error:  # permissions, a disk that went away
        raise SessionError([f"{directory}: cannot be read ({error}); {FIX}"]) from None


def _check(directory: Path, m: Manifest, config: Config) -> LoadedSession:
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
    twice = sorted(n for n, times in Counter(numbers).items() if times > 1)
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


def _check_memory(manifest: Path, m: Manifest, config: Config, bar: int) -> list[str]:
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


def _check_wav(path: Path, m: Manifest, problems: list[str]) -> int | None:
    """The file's length in frames when it matches the session's rate and channels."""
    try:
        regular(path)  # a FIFO or a device would hang libsndfile's open or read
        info = sf.info(str(path))
    except FileNotFoundError:
        problems.append(f"{path}: missing ({MANIFEST} names it); {FIX}")
        return None
    except FileRefused as error:
        problems.append(f"{error}; {FIX}")
        return None
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
    audio: np.ndarray  # soundfile has no types
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
