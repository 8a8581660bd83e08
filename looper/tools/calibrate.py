"""`looper calibrate`: measure the round-trip latency through a cable from an output to an input.

The engine needs the round trip L in frames (what is played at output frame t
arrives at input frame t + L) to line loops up with the click, and what a card
reports is often wrong by a block or two. So the looper measures it the way
the audio process runs: the same device, channels and block size, one duplex
stream whose callback plays a click train on the first main output and records
the first input, output frame k and input frame k of a callback being the same
moment.

Each click is a burst of white noise, so its cross-correlation with what came
back has one sharp peak exactly at its delay (a tone would alias by whole
periods), with either polarity. The gaps between clicks differ, so only the
true delay lines up every click at once: the train's correlation peak finds the
delay up to `MAX_LATENCY_S` without mistaking one click's echo for the next;
each click is then located on its own, to report the spread and catch a
measurement that is not one fixed delay.

The finding (`find_onsets`) is pure and tested without audio, as is the YAML edit
behind `write_latency` (looper.config.edit.with_latency); `calibrate` is the part
that opens the stream.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from looper.config import Config
from looper.config.edit import EditError, with_latency, yaml_number
from looper.errors import LooperError

LEAD_S = 0.5  # silence first: the card settles (some unmute late), the cables get connected
GAPS_S = (0.25, 0.27, 0.29, 0.26, 0.28)  # cycled: unequal, so echoes of other clicks never align
CLICKS = 12
CLICK_S = 0.005
CLICK_LEVEL = 0.5  # peak of the burst, -6 dBFS
MAX_LATENCY_S = 0.5  # silence after the last click: the longest round trip it can measure
NOISE_RATIO = 8.0  # a click's peak must stand this far above the typical correlation...
MIN_LEVEL_DB = -60.0  # ...and come back no weaker than this, relative to what was played
TOLERANCE_MS = 1.0  # clicks whose delays differ more than this are not one round trip
STOP_TIMEOUT_S = 20.0  # beyond the train's length: a device that stalls is reported


@dataclass(frozen=True, slots=True)
class Train:
    """What the output plays: `signal`, with `click` starting at each frame of `emitted`."""

    signal: np.ndarray
    click: np.ndarray
    emitted: np.ndarray


def click_train(sample_rate: int) -> Train:
    """The clicks at uneven gaps after a lead-in, then room for the longest round trip."""
    rng = np.random.default_rng(20240601)  # the same burst every run: plots compare
    click = rng.uniform(-1.0, 1.0, round(CLICK_S * sample_rate))
    click = (CLICK_LEVEL * click / np.abs(click).max()).astype(np.float32)
    click -= click.mean()  # a DC offset on the input does not correlate
    gaps = [GAPS_S[i % len(GAPS_S)] for i in range(CLICKS - 1)]
    emitted = np.round(sample_rate * (LEAD_S + np.cumsum([0.0, *gaps]))).astype(np.int64)
    signal = np.zeros(int(emitted[-1]) + len(click) + round(MAX_LATENCY_S * sample_rate), "f4")
    for frame in emitted:
        signal[frame : frame + len(click)] = click
    return Train(signal, click, emitted)


@dataclass(frozen=True, slots=True)
class Onsets:
    """Where each click came back; `problem` says why no latency can be trusted, else None."""

    emitted: np.ndarray  # frame each click started on the output
    found: np.ndarray  # frame it was found at on the input, -1 where not found
    sample_rate: int
    problem: str | None

    @property
    def latencies(self) -> np.ndarray:
        """The round trip of each click found, in frames."""
        hit = self.found >= 0
        late: np.ndarray = self.found[hit] - self.emitted[hit]  # numpy types the difference Any
        return late

    @property
    def frames(self) -> int:
        """The median round trip (the lower middle one: a delay actually measured).

        Only when `problem` is None: then at least half the clicks were found.
        """
        latencies = np.sort(self.latencies)
        return int(latencies[(len(latencies) - 1) // 2])

    @property
    def ms(self) -> float:
        return self.frames * 1000 / self.sample_rate


def _correlate(recording: np.ndarray, click: np.ndarray) -> np.ndarray:
    """|sum_k recording[n + k] * click[k]| for every n where the click fits, via the FFT."""
    size = 1 << int(len(recording) + len(click)).bit_length()
    spectrum = np.fft.rfft(recording, size) * np.conj(np.fft.rfft(click, size))
    return np.abs(np.fft.irfft(spectrum, size)[: len(recording) - len(click) + 1])


def find_onsets(
    recording: np.ndarray, click: np.ndarray, emitted: np.ndarray, sample_rate: int
) -> Onsets:
    """Locate each click of a train in a recording made with it, exactly to the frame."""
    rec = np.asarray(recording, dtype=np.float64)
    clk = np.asarray(click, dtype=np.float64)
    lags = len(rec) - len(clk) + 1 - int(emitted[-1])
    if lags <= 0:
        raise ValueError("the recording is shorter than the click train")
    xc = _correlate(rec, clk)
    # The delay that lines up the whole train; then each click near it, on its own.
    lag = int(np.argmax(np.sum([xc[e : e + lags] for e in emitted], axis=0)))
    threshold = max(
        NOISE_RATIO * float(np.percentile(xc, 75)), 10 ** (MIN_LEVEL_DB / 20) * float(clk @ clk)
    )
    found = np.full(len(emitted), -1, dtype=np.int64)
    for i, e in enumerate(emitted):
        lo, hi = max(0, e + lag - len(clk)), min(len(xc), e + lag + len(clk) + 1)
        at = lo + int(np.argmax(xc[lo:hi]))
        if xc[at] >= threshold:
            found[i] = at
    onsets = Onsets(emitted, found, sample_rate, None)
    return replace(onsets, problem=_problem(onsets, rec))


def _problem(onsets: Onsets, recording: np.ndarray) -> str | None:
    """None when enough clicks came back at one delay, else what went wrong, plainly."""
    count, needed = len(onsets.latencies), (len(onsets.emitted) + 1) // 2
    if count < needed:
        peak = float(np.abs(recording).max(initial=0.0))
        if peak == 0.0:
            return "no onsets found: the input was silent (digital zero) while the clicks played"
        return (
            f"no onsets found: {count} of {len(onsets.emitted)} clicks came back clearly (above "
            f"the noise and no weaker than {MIN_LEVEL_DB:g} dB of what was played; at least "
            f"{needed} needed); the input peaked at {20 * np.log10(peak):.1f} dBFS"
        )
    low, high = int(onsets.latencies.min()), int(onsets.latencies.max())
    if (high - low) * 1000 / onsets.sample_rate > TOLERANCE_MS:
        return (
            f"inconsistent onsets: the clicks came back {low} to {high} frames late, more than "
            f"{TOLERANCE_MS:g} ms apart (lost blocks, or another sound on the input?)"
        )
    return None


def advice(config: Config) -> str:
    """What to try when no latency came out of the measurement."""
    a = config.audio
    return (
        f"Try: cable output {a.outputs[0]} to input {a.inputs[0]} of the interface (and nothing "
        "else on that input); raise the interface's output level and input gain; check "
        "audio.output_device / audio.input_device and the channel lists with `looper devices`."
    )


# ---- the stream -------------------------------------------------------------------


class CalibrationError(LooperError, RuntimeError):
    """The measurement could not run, or its result could not be written; the text says why."""


class _Loopback:
    """The realtime body: copy the train out and the input in, frame k against frame k."""

    def __init__(self, play: np.ndarray, output: int, input_: int, stop: type[Exception]) -> None:
        self.play = play
        self.rec = np.full_like(play, 0.0)  # np.full touches its pages now, not in the callback
        self.output = output
        self.input = input_
        self.stop = stop
        self.pos = 0
        self.xruns = 0

    def __call__(
        self, indata: np.ndarray, outdata: np.ndarray, frames: int, when: Any, status: Any
    ) -> None:
        if status:
            self.xruns += 1
        outdata.fill(0.0)
        start = self.pos
        n = min(frames, len(self.play) - start)
        outdata[:n, self.output] = self.play[start : start + n]
        self.rec[start : start + n] = indata[:n, self.input]
        self.pos = start + n
        if self.pos == len(self.play):
            raise self.stop


@dataclass(frozen=True, slots=True)
class Calibration:
    """One measurement: what came back on the input, where the clicks are, and how it went."""

    recording: np.ndarray
    onsets: Onsets
    device: str
    xruns: int


def calibrate(config: Config) -> Calibration:
    """Play the click train through the configured device and find it in what comes back."""
    from looper.live.device import DeviceError, device_name, open_stream, sounddevice

    try:
        sd = sounddevice()
        a = config.audio
        train = click_train(a.sample_rate)
        body = _Loopback(train.signal, a.outputs[0] - 1, a.inputs[0] - 1, sd.CallbackStop)
        finished = threading.Event()
        stream = open_stream(config, body, finished_callback=finished.set)
    except DeviceError as error:
        raise CalibrationError(str(error)) from None
    with stream:
        device = device_name(stream)
        seconds = len(train.signal) / a.sample_rate
        if not finished.wait(seconds + STOP_TIMEOUT_S):
            raise CalibrationError(
                f"the audio device stopped delivering blocks ({body.pos} of "
                f"{len(train.signal)} frames came); is the audio server running?"
            )
    onsets = find_onsets(body.rec, train.click, train.emitted, a.sample_rate)
    return Calibration(body.rec, onsets, device, body.xruns)


# ---- the results ------------------------------------------------------------------


def save_plot(result: Calibration, path: Path) -> None:
    """The recording with each click's emitted and found onset, and the clicks overlaid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    onsets, rec = result.onsets, result.recording
    rate = onsets.sample_rate
    fig, (whole, near) = plt.subplots(2, 1, figsize=(12, 6))
    whole.plot(np.arange(len(rec)) / rate, rec, lw=0.4, color="#1f4e79")
    for e in onsets.emitted:
        whole.axvline(e / rate, color="#888888", lw=0.8, ls="--")
    for f in onsets.found[onsets.found >= 0]:
        whole.axvline(f / rate, color="red", lw=0.8)
    whole.set_xlabel("seconds (grey dashes: clicks emitted; red: clicks found on the input)")
    late = onsets.frames if onsets.problem is None else 0
    lo, hi = -round(CLICK_S * rate), late + 4 * round(CLICK_S * rate)
    x = np.arange(lo, hi)
    for e in onsets.emitted:
        seen = rec[e + lo : e + hi]  # the last click's window may run past the recording
        near.plot(x[: len(seen)], seen, lw=0.5, alpha=0.6)
    near.axvline(0, color="#888888", ls="--", label="emitted")
    if onsets.problem is None:
        near.axvline(late, color="red", label=f"found: {late} frames = {onsets.ms:.3f} ms")
    near.set_xlabel("frames after each click was emitted (all clicks overlaid)")
    near.legend(loc="upper right")
    title = onsets.problem or f"round-trip latency {late} frames on '{result.device}'"
    fig.suptitle(title, wrap=True)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_latency(path: Path, ms: float) -> str:
    """Set audio.latency_ms in the YAML file and change nothing else; returns the value written.

    The file is edited as text (looper.config.edit says why); a layout the edit cannot
    place the key in is refused, and the file left as it was.
    """
    value = yaml_number(ms)
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CalibrationError(f"{path}: cannot read it to set audio.latency_ms: {error}") from None
    try:
        new = with_latency(text, value)
    except EditError as error:
        raise CalibrationError(f"{path}: {error}") from None
    try:
        path.write_bytes(new.encode("utf-8"))
    except OSError as error:
        raise CalibrationError(f"{path}: cannot write it: {error}") from None
    return value
