"""The python-rtmidi binding: the one module that touches a MIDI system.

Everything else in `looper.midi` is pure or goes through here: `list_inputs`
for `looper devices`, `open_port` to open one of our ports (connected to the
port a `pick` chooses from the names, or virtual), and `Port` to read, send,
notice a pulled cable and close.

Loading python-rtmidi takes care (`_rtmidi`): the system libjack must be
loaded first, and libjack's and ALSA's own stderr messages silenced, without a
Python handler, since no Python may run on their threads (see
`looper.midi.process` for the deadlock).

An input port is read through a pipe (`_Inbox`): rtmidi's callback, on rtmidi's
own thread (JACK's process thread, or ALSA's input thread), only stamps the
message with `time.monotonic()` and writes it, stamp first, into the pipe
(non-blocking: a full pipe drops the message rather than hold up JACK), and the
MIDI process waits on the pipe's read end (`Port.fileno`). That thread needs the
GIL for those few microseconds, so any call here that waits for that thread
while holding the GIL (closing the port, or opening and closing the lights'
JACK client, which waits for a graph change the stuck thread holds up) must
first `pause` the callback: cancel it (new messages wait in rtmidi's queue, no
Python), then give up the GIL for GRACE_SECONDS so that a callback already
waiting for it runs and returns, with its (function, data) tuple kept alive
here: python-rtmidi frees it on cancel_callback, and a waiting callback would
then use freed memory (the crash seen when the port was polled with a callback).
`resume` sets the callback again and takes what waited in rtmidi's queue,
stamped from rtmidi's delta times (the time since the message before, whose
stamp is known), never later than when taken. Pauses nest.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import importlib
import os
import struct
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any, Literal

from looper.midi.ports import CLIENT_NAME

__all__ = [
    "BACKENDS",
    "GRACE_SECONDS",
    "SHOWN",
    "Backend",
    "Port",
    "list_inputs",
    "open_port",
    "rtmidi_error",
]

Backend = Literal["alsa", "jack"]

#: The backends `midi.backend` tries, in order: `auto` prefers ALSA (USB footswitches
#: appear there directly), then JACK.
BACKENDS: dict[str, tuple[Backend, ...]] = {
    "auto": ("alsa", "jack"),
    "alsa": ("alsa",),
    "jack": ("jack",),
}
#: A backend as the performer reads it, in texts and as the keys of what was found.
SHOWN: dict[Backend, str] = {"alsa": "ALSA", "jack": "JACK"}

#: How long `Port.pause` gives up the GIL after cancelling the callback, for a callback
#: already waiting for it to run and return: many JACK periods, and an ALSA wake-up.
GRACE_SECONDS = 0.02

# What the callback writes for each message: its stamp, its length, then its bytes; one
# os.write of at most PIPE_BUF bytes, so a message is never split or interleaved.
_HEADER = struct.Struct("=dH")
_LONGEST = 4096 - _HEADER.size  # PIPE_BUF; longer (sysex, which rtmidi ignores) is dropped

# The handler that silences libjack's and ALSA's own stderr messages: libc's strlen, which
# reads the text (the first argument of both handler types) and returns, in plain C. A
# Python handler would need the GIL on libjack's threads: the deadlock the polling avoids.
_SILENT = ctypes.cast(ctypes.CDLL(None).strlen, ctypes.c_void_p)


@functools.cache
def _rtmidi() -> ModuleType:
    """python-rtmidi, bound to the system's libjack, with libjack and ALSA kept quiet.

    The python-rtmidi wheel bundles its own libjack, which Debian's jackd refuses
    ("CheckRes error"); the system libjack loaded first with RTLD_GLOBAL is the
    one rtmidi's JACK calls bind to. A missing port is retried every
    CHECK_SECONDS, and libjack and ALSA print a few lines to stderr at each failed
    attempt: that would flood the performer's terminal, and the failure is
    reported in words (PortState) instead.
    """
    try:
        libjack = ctypes.CDLL("libjack.so.0", mode=os.RTLD_GLOBAL)
    except OSError:  # no JACK installed: rtmidi's bundled libjack will say so
        pass
    else:
        libjack.jack_set_error_function(_SILENT)
        libjack.jack_set_info_function(_SILENT)
    rtmidi = importlib.import_module("rtmidi")  # only now: it binds to what is loaded

    with contextlib.suppress(OSError):  # no ALSA library: nothing to quiet
        ctypes.CDLL("libasound.so.2").snd_lib_error_set_handler(_SILENT)
    return rtmidi


def _client(backend: Backend, output: bool = False) -> Any:
    """A new rtmidi input (or output) client on `backend`; raises rtmidi.RtMidiError if
    unavailable."""
    rtmidi = _rtmidi()
    api = rtmidi.API_LINUX_ALSA if backend == "alsa" else rtmidi.API_UNIX_JACK
    if api not in rtmidi.get_compiled_api():  # else RtMidi silently picks another API
        raise rtmidi.SystemError(f"this python-rtmidi was built without {SHOWN[backend]}")
    return (rtmidi.MidiOut if output else rtmidi.MidiIn)(api, name=CLIENT_NAME)


def _unavailable(backend: Backend, error: Exception) -> str:
    """Why a backend cannot be used, short: 'not available (no /dev/snd/seq ...)'."""
    if backend == "alsa" and not os.path.exists("/dev/snd/seq"):
        return "not available (no /dev/snd/seq: no ALSA sequencer on this machine)"
    return f"not available ({str(error).split('::initialize: ')[-1]})"


def list_inputs(backend: str) -> dict[str, list[str] | str]:
    """Per backend `midi.backend` would try, its MIDI input port names, or why it is
    unavailable. Keys are 'ALSA' and 'JACK'."""
    rtmidi = _rtmidi()
    found: dict[str, list[str] | str] = {}
    for name in BACKENDS[backend]:
        try:
            client = _client(name)
        except rtmidi.RtMidiError as error:
            found[SHOWN[name]] = _unavailable(name, error)
            continue
        try:
            found[SHOWN[name]] = client.get_ports()
        finally:
            client.delete()
    return found


def _forward(event: tuple[list[int], float], fd: int) -> None:
    """rtmidi's callback, on rtmidi's thread: the message, stamped, into the inbox pipe."""
    message = event[0]
    if len(message) <= _LONGEST:
        with contextlib.suppress(OSError):  # full (the loop is stuck) or closed: drop it
            os.write(fd, _HEADER.pack(time.monotonic(), len(message)) + bytes(message))


class _Inbox:
    """The pipe an input port's callback writes into, and what waits to be read.

    `read` gives the messages in arrival order: first those taken while the callback
    was paused (`taken`), then the pipe's. The write end is closed only after the
    rtmidi client is deleted, when no callback can run: a callback writing to a closed
    (and perhaps reused) descriptor number would write into another file.
    """

    def __init__(self, client: Any) -> None:
        self.fd, self._write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.client = client
        self.taken: list[tuple[list[int], float]] = []
        self.last: float | None = None  # the stamp of the newest message out of the pipe
        self._buffer = bytearray()
        self._kept: list[object] = []
        self.listen()

    def listen(self) -> None:
        """Set the callback, and keep python-rtmidi's (function, data) tuple alive."""
        self.client.set_callback(_forward, self._write)
        held = gc.get_referents(self.client)
        self._kept = [r for r in held if isinstance(r, tuple) and r[:1] == (_forward,)]

    def drain(self) -> None:
        """Move what the pipe holds to `taken` (before the queue's, which is newer)."""
        while (got := self._next()) is not None:
            self.taken.append(got)

    def read(self) -> tuple[list[int], float] | None:
        return self.taken.pop(0) if self.taken else self._next()

    def _next(self) -> tuple[list[int], float] | None:
        if len(self._buffer) < _HEADER.size:
            with contextlib.suppress(BlockingIOError):
                self._buffer += os.read(self.fd, 65536)
        if len(self._buffer) < _HEADER.size:
            return None
        stamp, size = _HEADER.unpack_from(self._buffer)
        end = _HEADER.size + size
        data = list(self._buffer[_HEADER.size : end])
        del self._buffer[:end]  # whole messages only: each was one atomic write
        self.last = stamp
        return data, stamp

    def close(self) -> None:
        os.close(self.fd)
        os.close(self._write)


class Port:
    """An open port; `name` is the port at the other end, None for our own virtual port.

    An input port has an `inbox`: its messages arrive through a pipe (`fileno` to wait
    on, `read` to take them) from the moment it opens.
    """

    def __init__(
        self, client: Any, backend: Backend, name: str | None, inbox: _Inbox | None = None
    ) -> None:
        self.client = client
        self.backend = backend
        self.name = name
        self.inbox = inbox
        self.pauses = 0

    def present(self) -> bool:
        """Whether the port still exists: a pulled cable makes it vanish from the list."""
        if self.name is None:
            return True
        try:
            return self.name in self.client.get_ports()
        except rtmidi_error():
            return False

    def fileno(self) -> int | None:
        """What to wait on for messages: the inbox's read end (None for an output)."""
        return None if self.inbox is None else self.inbox.fd

    def read(self) -> tuple[list[int], float] | None:
        """The next message that arrived, as bytes, with its `time.monotonic()` stamp, or None."""
        return None if self.inbox is None else self.inbox.read()

    def pause(self) -> None:
        """Stop the callback before a call that waits for rtmidi's thread (see above)."""
        self.pauses += 1
        if self.inbox is None or self.pauses > 1:
            return
        self.client.cancel_callback()
        time.sleep(GRACE_SECONDS)  # the GIL given up: a callback waiting for it returns
        self.inbox.drain()

    def resume(self) -> None:
        """Set the callback again (after the last of nested pauses) and take what waited in
        rtmidi's queue, each stamped a delta time after the one before."""
        self.pauses -= 1
        if self.inbox is None or self.pauses > 0:
            return
        self.inbox.listen()
        now, at = time.monotonic(), self.inbox.last
        while (got := self.client.get_message()) is not None:
            message, delta = got
            at = now if at is None else min(now, at + delta)
            self.inbox.taken.append((message, at))
        self.inbox.last = at

    def send(self, message: list[int]) -> None:
        """Send one message; raises `rtmidi_error()` if the port cannot take it."""
        self.client.send_message(message)

    def close(self) -> None:
        self.pause()
        self.client.close_port()
        self.client.delete()  # rtmidi's threads are gone: no callback can run any more
        if self.inbox is not None:
            self.inbox.close()


def rtmidi_error() -> type[Exception]:
    """rtmidi.RtMidiError, what rtmidi raises, for a caller of `Port.send` to catch."""
    error: type[Exception] = _rtmidi().RtMidiError
    return error


def open_port(
    backends: tuple[Backend, ...],
    output: bool,
    own: str,
    pick: Callable[[list[str]], int | None] | None,
    found: dict[str, list[str] | str],
) -> Port | None:
    """Open our port `own` on the first backend where `pick` chooses a port to connect it
    to (`pick` None: a virtual port, for others to connect to). `found` gets each backend's
    ports, or why it could not be used, for the performer."""
    rtmidi = _rtmidi()
    for backend in backends:
        try:
            client = _client(backend, output)
        except rtmidi.RtMidiError as error:
            found[SHOWN[backend]] = _unavailable(backend, error)
            continue
        # The callback is set before the port opens: no message waits in rtmidi's queue.
        inbox = None if output else _Inbox(client)
        try:
            if pick is None:
                client.open_virtual_port(own)
                name = None
            else:
                names = client.get_ports()
                found[SHOWN[backend]] = names
                index = pick(names)
                if index is None:
                    _discard(client, inbox)
                    continue
                client.open_port(index, own)
                name = names[index]
        except rtmidi.RtMidiError as error:  # e.g. the port vanished while being opened
            found[SHOWN[backend]] = f"could not open a port ({error})"
            _discard(client, inbox)
            continue
        return Port(client, backend, name, inbox)
    return None


def _discard(client: Any, inbox: _Inbox | None) -> None:
    """Delete a client whose port did not open: no port, so no callback can be running."""
    client.delete()
    if inbox is not None:
        inbox.close()
