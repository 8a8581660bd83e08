"""The programmatic surface of the original design, as a thin layer over the live side.

Seconds are converted to frames here, at the boundary; frames rule inside.
History times are performance time (what the performer heard at that moment,
the input shifted back by the latency), in seconds since `origin`, the first
frame the stream rendered.

No second live path: the arguments become a config validated by the schema
(`parse_config`), so every default not named here (crossfade, loop memory,
click volume...) is the schema's; the engine runs inside the live side's
`Callback`, and `run` opens the stream with `looper.live.device.open_stream`.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import threading
import time as wallclock
from typing import Any

import numpy as np
import yaml

from looper.config import Config, parse_config
from looper.config.engine import engine_settings
from looper.core.commands import ClickVolume, Command, Reset, SetLoop, SetTempo
from looper.core.engine import Engine
from looper.core.view import EngineView
from looper.live.audio import Callback
from looper.live.shared import XRUNS, Board, CommandRing

log = logging.getLogger("looper.api")


def stream_config(
    channels: int,
    block_size: int,
    sample_rate: int,
    bpm: float,
    beats_per_bar: int,
    tracks: int,
    history_seconds: float,
    latency_seconds: float,
    device: int | str | None,
) -> Config:
    """The config `AudioStream` runs: its arguments as YAML, through the schema's checks.

    Every channel records, plays and clicks; `device` is both the input and the output.
    Raises ConfigError, naming the argument's key, for a value the schema refuses.
    """
    chans = list(range(1, channels + 1))
    data = {
        "audio": {
            "input_device": device,
            "output_device": device,
            "sample_rate": sample_rate,
            "block_size": block_size,
            "inputs": chans,
            "outputs": chans,
            "latency_ms": latency_seconds * 1000,
            "history_seconds": history_seconds,
        },
        "clicktrack": {"bpm": bpm, "beats_per_bar": beats_per_bar, "outputs": chans},
        "tracks": {"count": tracks},
    }
    return parse_config(yaml.safe_dump(data, sort_keys=False), "AudioStream arguments")


class AudioStream:
    """A looper on `channels` inputs and outputs, with the click mixed into the outputs."""

    def __init__(
        self,
        channels: int = 2,
        block_size: int = 256,
        sample_rate: int = 44100,
        log_level: int | str = logging.WARNING,
        *,
        bpm: float = 120.0,
        beats_per_bar: int = 4,
        tracks: int = 8,
        history_seconds: float = 60.0,
        latency_seconds: float = 0.0,
        device: int | str | None = None,
    ) -> None:
        logging.getLogger("looper").setLevel(log_level)
        self._args: dict[str, Any] = dict(
            channels=channels,
            block_size=block_size,
            sample_rate=sample_rate,
            log_level=log_level,
            bpm=bpm,
            beats_per_bar=beats_per_bar,
            tracks=tracks,
            history_seconds=history_seconds,
            latency_seconds=latency_seconds,
            device=device,
        )
        self.channels = channels
        self.block_size = block_size
        self.sample_rate = sample_rate
        self.device = device
        self.config = stream_config(
            channels,
            block_size,
            sample_rate,
            bpm,
            beats_per_bar,
            tracks,
            history_seconds,
            latency_seconds,
            device,
        )
        self.engine = Engine(engine_settings(self.config, self._frames(latency_seconds)))
        self.view = EngineView(self.engine)
        # The live side's callback, around this engine, with a ring and a board of its own.
        self._live = Callback(sample_rate, CommandRing(), Board())
        self._live.engine = self.engine
        self.origin: float | None = None  # wall-clock time of frame 0, once running
        self._commands: Any = None  # a multiprocessing queue once play() has started a process
        self._process: mp.process.BaseProcess | None = None

    # -- running --------------------------------------------------------------------

    @property
    def xruns(self) -> int:
        return int(self._live.board.ints[XRUNS])

    def callback(
        self, indata: np.ndarray, outdata: np.ndarray, frames: int, time: Any, status: Any
    ) -> None:
        """The sounddevice callback: take queued commands, then render the block."""
        if self.origin is None:
            self.origin = wallclock.time()
        self._live(indata, outdata, frames, time, status)

    def run(self) -> None:
        """Run the stream in this process until interrupted (Ctrl-C)."""
        from looper.live.device import open_stream

        with open_stream(self.config, self.callback):
            log.info("stream running at %d Hz, block %d", self.sample_rate, self.block_size)
            try:
                while True:
                    wallclock.sleep(0.1)
            except KeyboardInterrupt:
                pass

    def play(self) -> mp.process.BaseProcess:
        """Start the stream in a separate process; commands from here reach it by a queue."""
        ctx = mp.get_context("spawn")
        self._commands = ctx.Queue()
        self._process = ctx.Process(target=_serve, args=(self._args, self._commands), daemon=True)
        self._process.start()
        return self._process

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.join(timeout=2)
            self._process = None

    # -- the history ----------------------------------------------------------------

    def read(self, start: float, end: float) -> np.ndarray:
        """The input heard between `start` and `end` seconds since origin (zeros if not held)."""
        self._local("read")
        return self.engine.history(self._frames(start), self._frames(end))

    def write(self, start: float, array: np.ndarray, overwrite: bool = True) -> None:
        """Put `array` (frames x channels) into the history at `start` seconds since origin."""
        self._local("write")
        data = np.asarray(array, dtype=np.float32).reshape(len(array), -1)
        self.engine.write_history(self._frames(start), data, overwrite)

    # -- loops and click ------------------------------------------------------------

    def set_start_end_loop(
        self, start: float, end: float, track_id: int, offset: float = 0
    ) -> None:
        """Loop the history between `start` and `end` seconds (rounded to whole bars)."""
        self._send(SetLoop(track_id, self._frames(start), self._frames(end), self._frames(offset)))

    def reset_loop(self, track_id: int) -> None:
        self._send(Reset(track_id))

    @property
    def clicktrack_bpm(self) -> float:
        return self.view.grid.bpm

    @clicktrack_bpm.setter
    def clicktrack_bpm(self, bpm: float) -> None:
        self._send(SetTempo(bpm))

    @property
    def clicktrack_origin(self) -> float:
        """Seconds since origin of the click grid's first downbeat."""
        return self.view.grid.origin / self.sample_rate

    @property
    def clicktrack_volume(self) -> float:
        return self.view.click_volume

    @clicktrack_volume.setter
    def clicktrack_volume(self, volume: float) -> None:
        self._send(ClickVolume(volume))

    @property
    def latency_seconds(self) -> float:
        return self.view.latency_frames / self.sample_rate

    # -- helpers --------------------------------------------------------------------

    def _frames(self, seconds: float) -> int:
        return round(seconds * self.sample_rate)

    def _send(self, command: Command) -> None:
        """To the stream's process after play(), and to this process's engine, at its next block.

        The local engine follows too (offline use, properties); through the callback's
        ring, so that run() never has two threads submitting to the engine.
        """
        if self._commands is not None:
            self._commands.put((command, None))
        self._live.ring.push(command, None)

    def _local(self, what: str) -> None:
        if self._process is not None:
            raise RuntimeError(
                f"{what}() reads this process's history; after play() use run() instead"
            )


def _serve(args: dict[str, Any], commands: Any) -> None:
    """The process play() starts: a thread moves the queue's commands to the callback's ring
    (the one producer there: play() sends nothing to this process's own engine)."""
    stream = AudioStream(**args)
    threading.Thread(target=_pump, args=(commands, stream._live.ring), daemon=True).start()
    stream.run()


def _pump(commands: Any, ring: CommandRing) -> None:
    while True:
        try:
            command, stamp = commands.get()
        except (EOFError, OSError):
            return
        ring.push(command, stamp)
