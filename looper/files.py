"""The files a performer names (a config, a session, a MIDI file, a WAV): regular, bounded.

A path can name something that is not a file: a FIFO (opening it for reading waits
for a writer, forever), a device (`/dev/zero` reads forever, `/dev/random` blocks),
a directory, or a link to any of them. And a file can be far larger than what it
claims to be (a 50 MB "config"), or grow while it is read. Each would hang the
looper or fill its memory before a single line could be checked, so every such
read goes through here: the path is opened with O_NONBLOCK (a FIFO's open returns
at once instead of waiting for a writer), `fstat` on the open descriptor says what
it is (no race between a check and the open), anything but a regular file is
refused before a byte is read, and at most `limit + 1` bytes are ever read (the
size fstat gave is checked first, the bytes read are checked again, for a file
that grows). Files read by a library (libsndfile for WAVs) are checked with
`regular` before the library opens them.

A refusal is a `FileRefused`, whose `found` text keeps the house shape ("found
a FIFO (named pipe); allowed: a regular file"); each caller puts its own file
name and fix around it (a config problem, a session problem, a render problem).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from looper.errors import LooperError

__all__ = ["MAX_TEXT_BYTES", "FileRefused", "FileTooBig", "read_bounded", "regular"]

#: The largest config or session manifest read: a pedal map is a few KB, a session's a few
#: hundred bytes, so 1 MB is far beyond any real one and still read and checked in well under
#: a second.
MAX_TEXT_BYTES = 1_000_000

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class FileRefused(LooperError, ValueError):
    """A path that names no regular file, or a file over its limit; `found` says which."""

    def __init__(self, path: Path, found: str) -> None:
        super().__init__(f"{path}: {found}")
        self.path = path
        self.found = found


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    return next((words for test, words in _KINDS if test(mode)), "not a regular file")


def _refused(path: Path, mode: int) -> FileRefused | None:
    kind = _kind(mode)
    if kind is None:
        return None
    return FileRefused(path, f"found {kind}; allowed: a regular file")


def regular(path: Path) -> int:
    """The size of the regular file at `path` (links followed), else FileRefused.

    A `stat`, not an open: it never blocks on a FIFO. Raises FileNotFoundError and
    the other OSErrors as they are, for the caller's own words.
    """
    info = os.stat(path)
    refused = _refused(path, info.st_mode)
    if refused is not None:
        raise refused
    return info.st_size


class FileTooBig(FileRefused):
    """A regular file over the limit its reader sets."""


def _too_big(path: Path, found: str, limit: int) -> FileTooBig:
    return FileTooBig(path, f"found {found}; allowed: at most {limit:,} bytes")


def read_bounded(path: Path, limit: int) -> bytes:
    """The bytes of the regular file at `path`, at most `limit` of them, else FileRefused.

    Raises FileNotFoundError and the other OSErrors (permission denied...) as they are.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        refused = _refused(path, info.st_mode)
        if refused is not None:
            raise refused
        if info.st_size > limit:
            raise _too_big(path, f"{info.st_size:,} bytes", limit)
        chunks, got = [], 0
        while got <= limit:  # a file that grew since fstat stops at limit + 1 bytes
            chunk = os.read(fd, limit + 1 - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        if got > limit:
            raise _too_big(path, "a file that grew past that while it was read", limit)
        return b"".join(chunks)
    finally:
        os.close(fd)
