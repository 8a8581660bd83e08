"""`looper calibrate`: onsets found exactly in synthetic recordings, the YAML edited in place
(the whole command on a dummy JACK server, through a loopback of known delay:
tests/live/test_calibrate_live.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from looper.config import load_config
from looper.tools.calibrate import (
    Calibration,
    CalibrationError,
    Onsets,
    click_train,
    find_onsets,
    save_plot,
    write_latency,
)

RATE = 48000
PEDALBOARD = Path(__file__).resolve().parents[2] / "configs" / "pedalboard.yaml"


def loop_back(delay: int, gain: float = 1.0, noise: float = 0.0, smear: bool = False) -> Onsets:
    """find_onsets on what a cable of `delay` frames would bring back of the click train."""
    train = click_train(RATE)
    sent = (
        np.convolve(train.signal, [0.25, 0.5, 0.25])[: len(train.signal)] if smear else train.signal
    )
    recording = np.zeros(len(sent))
    recording[delay:] = gain * sent[: len(sent) - delay]
    recording += noise * np.random.default_rng(7).standard_normal(len(sent))
    return find_onsets(recording.astype(np.float32), train.click, train.emitted, RATE)


# ---- finding the onsets -----------------------------------------------------------


@pytest.mark.parametrize(
    ("delay", "gain", "noise"),
    [
        (0, 1.0, 0.0),
        (1, 1.0, 0.0),
        (127, 0.8, 0.001),
        (256, 0.5, 0.05),
        (4800, 1.0, 0.01),
        (23_999, 0.002, 0.0001),
    ],
)
def test_every_click_is_found_at_exactly_its_delay(delay: int, gain: float, noise: float) -> None:
    onsets = loop_back(delay, gain, noise)
    assert onsets.problem is None
    assert list(onsets.latencies) == [delay] * len(onsets.emitted)
    assert onsets.frames == delay
    assert onsets.ms == pytest.approx(delay * 1000 / RATE)


def test_an_inverted_filtered_return_counts_the_filters_delay() -> None:
    # A linear-phase [1/4, 1/2, 1/4] filter delays by one frame; the polarity does not matter.
    onsets = loop_back(300, gain=-0.7, noise=0.001, smear=True)
    assert onsets.problem is None
    assert onsets.frames == 301


def test_clicks_missed_at_the_start_do_not_matter() -> None:
    train = click_train(RATE)
    late = np.zeros_like(train.signal)
    cut = int(train.emitted[4]) + 500  # the cable went in after the fourth click
    late[cut:] = np.roll(train.signal, 500)[cut:]
    onsets = find_onsets(late, train.click, train.emitted, RATE)
    assert onsets.problem is None
    assert list(onsets.latencies) == [500] * (len(train.emitted) - 4)


@pytest.mark.parametrize(
    ("gain", "noise", "said"),
    [
        (0.0, 0.0, "the input was silent"),
        (0.0, 0.01, "0 of 12 clicks came back clearly"),  # no cable: only hiss
        (1e-4, 0.0, "0 of 12 clicks came back clearly"),  # -80 dB: far too quiet
        (0.05, 0.5, "clicks came back clearly"),  # buried in the noise
    ],
)
def test_no_clicks_no_latency_and_it_says_why(gain: float, noise: float, said: str) -> None:
    onsets = loop_back(300, gain, noise)
    assert onsets.problem is not None
    assert onsets.problem.startswith("no onsets found: ")
    assert said in onsets.problem


def test_clicks_at_two_delays_are_inconsistent() -> None:
    train = click_train(RATE)
    recording = np.zeros_like(train.signal)
    half = int(train.emitted[6])  # a block of 200 frames lost halfway through
    recording[300:half] = train.signal[: half - 300]
    recording[half + 200 :] = train.signal[half - 300 : len(train.signal) - 500]
    onsets = find_onsets(recording, train.click, train.emitted, RATE)
    assert onsets.problem is not None
    assert onsets.problem.startswith("inconsistent onsets: the clicks came back 300 to 500 frames")


@pytest.mark.parametrize("gain", [1.0, 0.0])
def test_the_plot_is_written_found_or_not(tmp_path: Path, gain: float) -> None:
    train = click_train(RATE)
    recording = np.roll(train.signal, 300) * gain
    onsets = find_onsets(recording, train.click, train.emitted, RATE)
    save_plot(Calibration(recording, onsets, "card", 0), tmp_path / "out" / "plot.png")
    assert (tmp_path / "out" / "plot.png").stat().st_size > 10_000


# ---- writing audio.latency_ms -----------------------------------------------------


def test_write_latency_changes_only_the_value_in_the_pedalboard(tmp_path: Path) -> None:
    path = tmp_path / "pedalboard.yaml"
    shutil.copy(PEDALBOARD, path)
    before = path.read_text().splitlines()
    assert write_latency(path, 257 * 1000 / RATE) == "5.3542"
    after = path.read_text().splitlines()
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert len(changed) == 1
    old, new = before[changed[0]], after[changed[0]]
    assert new.startswith("  latency_ms: 5.3542 ")
    assert new.index("#") == old.index("#") and new.split("#")[1] == old.split("#")[1]
    latency = load_config(path).audio.latency_ms
    assert round(latency * RATE / 1000) == 257  # the frames the engine will use


@pytest.mark.parametrize(
    ("text", "written"),
    [
        (
            "# no audio section\ntracks: {count: 2}\n",
            "# no audio section\ntracks: {count: 2}\naudio:\n  latency_ms: 12.5\n",
        ),
        (
            "audio:  # the card, defaults\nclicktrack: {bpm: 100}",
            "audio: {latency_ms: 12.5} # the card, defaults\nclicktrack: {bpm: 100}",
        ),
        (
            "audio: {sample_rate: 44100}  # flow\n",
            "audio: {latency_ms: 12.5, sample_rate: 44100}  # flow\n",
        ),
        (
            "audio:\n  # the card\n  sample_rate: 44100\n",
            "audio:\n  latency_ms: 12.5\n  # the card\n  sample_rate: 44100\n",
        ),
        (
            "audio:\r\n  latency_ms: auto  # what it says\r\n  monitor: 0\r\n",
            "audio:\r\n  latency_ms: 12.5  # what it says\r\n  monitor: 0\r\n",
        ),
    ],
)
def test_write_latency_adds_the_key_or_section_when_missing(
    tmp_path: Path, text: str, written: str
) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(text.encode())
    write_latency(path, 12.5)
    assert path.read_bytes().decode() == written
    assert load_config(path).audio.latency_ms == 12.5


def test_write_latency_refuses_a_layout_it_cannot_edit_and_leaves_it(tmp_path: Path) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text("audio:\n  null\n")
    with pytest.raises(CalibrationError, match="by hand"):
        write_latency(path, 5.0)
    assert path.read_text() == "audio:\n  null\n"
