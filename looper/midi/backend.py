"""The python-rtmidi binding: the one module that touches a MIDI system.

Everything else in `looper.midi` is pure or goes through here: `list_inputs`
for `looper devices`, `open_port` to open one of our ports (connected to the
port a `pick` chooses from the names, or virtual), and `Port` to read, send,
notice a pulled cable and close.

Loading python-rtmidi takes care (`_rtmidi`): the system libjack must be
loaded first, and libjack's and ALSA's own stderr messages silenced, without a
Python handler, since no Python may run on their threads (see
`looper.midi.process` for the deadlock).

No rtmidi callback is ever given: the MIDI process polls `Port.read`.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib
import os
from collections.abc import Callable
from types import ModuleType
from typing import Any, Literal

from looper.midi.ports import CLIENT_NAME

__all__ = ["BACKENDS", "SHOWN", "Backend", "Port", "list_inputs", "open_port", "rtmidi_error"]

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


class Port:
    """An open port; `name` is the port at the other end, None for our own virtual port."""

    def __init__(self, client: Any, backend: Backend, name: str | None) -> None:
        self.client = client
        self.backend = backend
        self.name = name

    def present(self) -> bool:
        """Whether the port still exists: a pulled cable makes it vanish from the list."""
        if self.name is None:
            return True
        try:
            return self.name in self.client.get_ports()
        except rtmidi_error():
            return False

    def read(self) -> list[int] | None:
        """The next message waiting in rtmidi's queue, as bytes, or None."""
        got = self.client.get_message()
        return None if got is None else got[0]

    def send(self, message: list[int]) -> None:
        """Send one message; raises `rtmidi_error()` if the port cannot take it."""
        self.client.send_message(message)

    def close(self) -> None:
        self.client.close_port()
        self.client.delete()


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
        try:
            if pick is None:
                client.open_virtual_port(own)
                name = None
            else:
                names = client.get_ports()
                found[SHOWN[backend]] = names
                index = pick(names)
                if index is None:
                    client.delete()
                    continue
                client.open_port(index, own)
                name = names[index]
        except rtmidi.RtMidiError as error:  # e.g. the port vanished while being opened
            found[SHOWN[backend]] = f"could not open a port ({error})"
            client.delete()
            continue
        return Port(client, backend, name)
    return None
