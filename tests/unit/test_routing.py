"""`tracks.routing`: a track's loops take some inputs, and play on outputs of their own.

Offline, sample-exact, with the self-describing ramp on two inputs (input 1 carries
u + 1, input 2 carries -(u + 1)): a singer-guitarist loops voice (input 1) on track 1
and guitar (input 2) on track 2 from the same bars, and sends track 2 to outputs 3-4.
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import BAR, settings
from signals import ramp

from looper.config import ConfigError, parse_config
from looper.core.commands import Backloop
from looper.core.engine import Engine
from looper.core.view import EngineView

CONFIG = """
audio: {inputs: [1, 2], outputs: [1, 2], history_seconds: 20}
clicktrack: {bpm: 120, enabled: false, outputs: [5]}
tracks: {count: 2, crossfade_ms: 0, memory_seconds: 60, routing: ROUTING}
master: {limiter: false}
"""
N = 5 * BAR


def run(routing: str, block: int = 64) -> tuple[Engine, np.ndarray]:
    engine = Engine(settings(CONFIG.replace("ROUTING", routing)))
    for track in (0, 1):
        engine.submit(Backloop(track, bars=1), 2 * BAR + 100)  # history bar 1, from bar 2 on
    x = ramp(N, gains=(1, -1))
    out = np.zeros((N, engine.settings.out_channels), dtype=np.float32)
    for i in range(0, N, block):
        engine.process(x[i : i + block], out[i : i + block])
    return engine, out


#: The backloops arrive 100 frames into bar 2 (snapped to its downbeat): heard from then.
S = 2 * BAR + 100


def looped() -> np.ndarray:
    """What a one-bar loop of history bar 1 plays from S on, channel 1's ramp."""
    t = np.arange(S, N)
    return (BAR + (t - 2 * BAR) % BAR + 1).astype(np.float32)


def test_without_routing_both_tracks_play_both_inputs_on_the_outputs() -> None:
    _, out = run("[]")
    np.testing.assert_array_equal(out[S:, 0], 2 * looped())
    np.testing.assert_array_equal(out[S:, 1], -2 * looped())


def test_each_track_takes_its_own_input() -> None:
    _, out = run("[{inputs: [1]}, {inputs: [2]}]")
    np.testing.assert_array_equal(out[S:, 0], looped())  # voice: track 1 only
    np.testing.assert_array_equal(out[S:, 1], -looped())  # guitar: track 2 only
    assert not out[:S].any()


def test_a_track_with_outputs_of_its_own_plays_only_there() -> None:
    engine, out = run("[{inputs: [1]}, {inputs: [2], outputs: [3, 4]}]")
    assert out.shape[1] == 5  # outputs 1-2, track 2's 3-4, the click's 5
    np.testing.assert_array_equal(out[S:, 0], looped())
    assert not out[:, 1].any()  # track 1 takes only input 1; track 2 is not here
    assert not out[:, 2].any()  # track 2's loop channel 1 is masked (it takes input 2)
    np.testing.assert_array_equal(out[S:, 3], -looped())
    meters = EngineView(engine).take_meters()
    assert meters.tracks[1] == pytest.approx(float(looped().max()))  # its meter reads it


@pytest.mark.parametrize("block", [1, 63, 4097])
def test_routing_gives_the_same_output_for_every_block_size(block: int) -> None:
    routing = "[{inputs: [1]}, {inputs: [2], outputs: [3, 4]}]"
    np.testing.assert_array_equal(run(routing, block)[1], run(routing, 256)[1])


@pytest.mark.parametrize(
    ("routing", "path", "words"),
    [
        ("[{}, {}, {}]", "tracks.routing", "found 3 entries; allowed: at most tracks.count (2)"),
        ("[{inputs: [3]}]", "tracks.routing[0].inputs[0]", "found 3; allowed: the channels of"),
        ("[{outputs: [0]}]", "tracks.routing[0].outputs[0]", "found 0; allowed: a channel number"),
    ],
)
def test_routing_mistakes_are_named_with_their_line(routing: str, path: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(CONFIG.replace("ROUTING", routing), "pedalboard.yaml")
    [problem] = caught.value.problems
    assert problem.path == path and words in problem.message, problem
    assert problem.line == 4


def test_the_stream_opens_every_output_a_track_is_routed_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The device is opened as wide as the engine writes (it wrote past a narrower one)."""
    from types import SimpleNamespace

    from looper.live import device

    opened: dict[str, object] = {}
    fake = SimpleNamespace(Stream=lambda **kw: opened.update(kw))
    monkeypatch.setattr(device, "sounddevice", lambda: fake)
    config = parse_config("tracks: {routing: [{outputs: [3, 4]}]}", "pedalboard.yaml")
    device.open_stream(config, lambda *a: None)
    assert opened["channels"] == (2, 4)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "tracks: {routing: [{inputs: [1], outpts: [3]}]}",
            "found unknown key 'outpts'; allowed: inputs, outputs (did you mean 'outputs'?)",
        ),
        ("tracks: {routing: voice}", "found 'voice'; allowed: a list of {inputs: [...], outputs"),
        ("tracks: {play_from: start}", "found 'start'; allowed: phrase, top"),
    ],
)
def test_routing_and_play_from_mistakes_say_what_is_allowed(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "pedalboard.yaml")
    [problem] = caught.value.problems
    assert problem.message.startswith(message), problem
