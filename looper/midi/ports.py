"""Which MIDI port to open, decided from port names alone: pure, testable without a MIDI system.

As in mido's `backends/rtmidi_utils.py`, choosing a port is kept apart from opening
one (`looper.midi.backend`): the choice is a function of the names a backend lists,
so every rule below is tested on lists of names written by hand.

The rules, and why:

* `midi.input` names part of a port, in any case, so that a YAML written for
  "FCB1010" works on ALSA ("FCB1010:FCB1010 MIDI 1 24:0") and JACK alike;
* with no `midi.input`, the first port that is neither a through port nor ours:
  a through port echoes other software, never a footswitch, and our own ports
  would have us listen to ourselves;
* after a pulled cable the port is looked for by its `stable_name`: ALSA's
  client:port address can change on replugging;
* the pedal lights, with no `midi.output`, go to the footswitch's own device
  (`device_port`): the client part of a port name is the same for a device's
  input and output ports.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

__all__ = [
    "CLIENT_NAME",
    "LIGHTS_PORT_NAME",
    "PORT_NAME",
    "Found",
    "available_text",
    "choose_port",
    "device_of",
    "device_port",
    "is_own",
    "is_through",
    "no_match_text",
    "stable_name",
]

#: Our MIDI client and input port: others see `looper:midi_in` (with `midi.virtual`).
CLIENT_NAME = "looper"
PORT_NAME = "midi_in"
#: Our output port for the pedal lights (virtual with `midi.virtual` and no `midi.output`).
LIGHTS_PORT_NAME = "lights_out"

#: Per backend tried (shown as 'ALSA', 'JACK'), its port names, or why it was unavailable.
Found = Mapping[str, list[str] | str]

_THROUGH = re.compile(r"midi through", re.IGNORECASE)
_OWN = re.compile(rf"^{CLIENT_NAME}(-\d+)?:", re.IGNORECASE)  # JACK renames a 2nd one looper-01
_ALSA_ADDRESS = re.compile(r"\s+\d+:\d+$")  # "nanoKONTROL:nanoKONTROL MIDI 1 24:0"


def is_through(name: str) -> bool:
    """A through port ("Midi Through" on ALSA) echoes other software, never a footswitch."""
    return _THROUGH.search(name) is not None


def is_own(name: str) -> bool:
    """One of looper's own ports: listening to it would be listening to ourselves."""
    return _OWN.match(name) is not None


def choose_port(names: Sequence[str], wanted: str | None) -> int | None:
    """Index of the port to open: the first whose name contains `wanted` (any case), or
    with `wanted` None the first that is neither a through port nor ours; None if none."""
    for index, name in enumerate(names):
        if is_own(name):
            continue
        if wanted is None and not is_through(name):
            return index
        if wanted is not None and wanted.casefold() in name.casefold():
            return index
    return None


def stable_name(name: str) -> str:
    """The port name without ALSA's client:port address, which can change on replugging."""
    return _ALSA_ADDRESS.sub("", name)


def device_of(name: str) -> str:
    """The client part of a port name, the same for a device's input and output ports
    ('FCB1010' in 'FCB1010:FCB1010 MIDI 1 24:0', 'harness' in 'harness:pedal')."""
    return name.split(":", 1)[0]


def device_port(names: Sequence[str], footswitch: str) -> int | None:
    """Index of the first port (not ours) of the footswitch's own device: where its lights
    listen when `midi.output` is null; None if the device has no such port."""
    device = device_of(footswitch)
    for index, name in enumerate(names):
        if not is_own(name) and device_of(name) == device:
            return index
    return None


def available_text(ports: Found) -> str:
    """'ALSA: not available (...); JACK: 'a:b', 'c:d'': every backend tried, one line."""
    shown = {
        backend: found if isinstance(found, str) else ", ".join(map(repr, found)) or "no ports"
        for backend, found in ports.items()
    }
    return "; ".join(f"{backend}: {text}" for backend, text in shown.items())


def no_match_text(wanted: str | None, ports: Found) -> str:
    """Why no footswitch port was opened, what there is instead, and how to fix it."""
    fix = "set midi.input in the YAML to part of a port name (`looper devices` lists them)"
    if wanted is None:
        return (
            "MIDI: no footswitch port found (through ports and looper's own are skipped); "
            f"available: {available_text(ports)}; plug it in, or {fix}; "
            "waiting for one to appear"
        )
    return (
        f"MIDI: no input port matches {wanted!r}; available: {available_text(ports)}; "
        f"{fix}; waiting for it to appear"
    )
