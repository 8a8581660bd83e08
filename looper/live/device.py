"""The audio interface: the duplex stream every command opens the same way."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from looper.config import Config
from looper.config.engine import engine_settings
from looper.errors import LooperError
from looper.midi.ports import CLIENT_NAME


class DeviceError(LooperError, RuntimeError):
    """The device could not be opened; the text names it, lists the others, and the fix."""


#: PortAudio keeps the pointer, not a copy: the bytes must live as long as the module.
_JACK_NAME = CLIENT_NAME.encode()


def sounddevice() -> ModuleType:
    """sounddevice, imported once PortAudio's JACK client is named `looper`.

    PortAudio calls its JACK client 'PortAudio' unless told before it initialises,
    which sounddevice does on import.
    """
    path = ctypes.util.find_library("portaudio")
    if path is not None:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(path).PaJack_SetClientName(ctypes.c_char_p(_JACK_NAME))
    try:
        import sounddevice as sd
    except OSError as error:
        raise DeviceError(f"audio: PortAudio is not available ({error})") from None
    module: ModuleType = sd  # untyped: no stubs
    return module


@dataclass(frozen=True, slots=True)
class Device:
    """One audio device, as `audio.input_device` / `audio.output_device` can name it."""

    index: int
    name: str
    host_api: str
    inputs: int  # channels
    outputs: int
    default: str  # "input", "output", "input, output" (the system's default) or ""


def devices(sd: ModuleType) -> list[Device]:
    """The devices PortAudio sees, for `looper devices` and for a device that failed to open."""
    defaults: dict[str, int] = {}
    for kind in ("input", "output"):
        with contextlib.suppress(sd.PortAudioError):  # no default device of that kind
            defaults[kind] = sd.query_devices(kind=kind)["index"]
    apis = sd.query_hostapis()
    return [
        Device(
            index=d["index"],
            name=d["name"],
            host_api=apis[d["hostapi"]]["name"],
            inputs=d["max_input_channels"],
            outputs=d["max_output_channels"],
            default=", ".join(kind for kind, i in defaults.items() if i == d["index"]),
        )
        for d in sd.query_devices()
    ]


def device_list(sd: ModuleType) -> str:
    rows = [
        f"  {d.index}: {d.name} ({d.host_api}, {d.inputs} in, {d.outputs} out)" for d in devices(sd)
    ]
    return "\n".join(rows) or "  (none: is the interface plugged in, is the audio server running?)"


def open_stream(config: Config, callback: Callable[..., None], **options: Any) -> Any:
    """The configured duplex stream (not started), float32, low latency."""
    sd = sounddevice()
    a = config.audio
    wants = engine_settings(config, 0)  # the channels the engine reads and writes
    in_channels, out_channels = wants.in_channels, wants.out_channels
    try:
        return sd.Stream(
            samplerate=a.sample_rate,
            blocksize=a.block_size,
            device=(a.input_device, a.output_device),
            channels=(in_channels, out_channels),
            dtype="float32",
            latency="low",
            callback=callback,
            **options,
        )
    except (sd.PortAudioError, ValueError) as error:
        raise DeviceError(
            f"cannot open the audio device (input {a.input_device!r}, output "
            f"{a.output_device!r}) with {in_channels} in / {out_channels} out at "
            f"{a.sample_rate} Hz: {error}\nAudio devices here:\n{device_list(sd)}\n"
            "Fix audio.input_device / audio.output_device (a part of the name or the index) "
            "or the channel lists in the YAML; `looper devices` lists them."
        ) from None


def device_name(stream: Any) -> str:
    """The output device's name, as PortAudio gives it."""
    return str(sounddevice().query_devices(stream.device[1])["name"])
