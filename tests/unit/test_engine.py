"""Offline renders checked sample by sample against the timing contract.

The input is self-describing (input frame u carries u + 1), so every output
sample names the input frame it came from and a wrong slice cannot hide.
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import BAR, BASE, BEAT, RATE, main, ramp_input, render, said
from signals import ramp

from looper.core.commands import (
    Backloop,
    ClickToggle,
    ClickVolume,
    Mute,
    Overdub,
    Play,
    Record,
    Redo,
    Reset,
    SetTempo,
    Stop,
    TapTempo,
    Toggle,
    TrackVolume,
    Undo,
)
from looper.core.playback import click_sounds
from looper.core.track import MAX_LAYERS
from looper.core.tracks import State
from looper.core.view import EngineView


def looped(t: np.ndarray, end: int, start: int, latency: int = 0) -> np.ndarray:
    """What a loop of output bars [start, end) plays at frames t: input (tau + latency) + 1."""
    return (start + latency + (t - end) % (end - start) + 1).astype(np.float32)


def frames(a: int, b: int) -> np.ndarray:
    return np.arange(a, b)


@pytest.mark.parametrize("latency", [0, 37])
def test_backloop_early_press_plays_the_bars_before_the_downbeat_just_passed(latency: int) -> None:
    p = 2 * BAR + 300  # in the first three quarters of bar 2: the loop ends at 2 * BAR
    engine, out = render([(p, Backloop(0, 2))], 6 * BAR, latency_frames=latency)
    y = main(out)
    assert not y[:p].any()
    t = frames(p, 6 * BAR)
    np.testing.assert_array_equal(y[p:], looped(t, 2 * BAR, 0, latency))
    assert engine.tracks[0].state is State.PLAYING


def test_backloop_late_press_waits_for_the_coming_downbeat() -> None:
    p = 3 * BAR + 1600  # in the last quarter: the loop ends at 4 * BAR
    engine, out = render([(p, Backloop(0, 2))], 4 * BAR - 1)
    assert engine.tracks[0].state is State.WAITING
    engine, out = render([(p, Backloop(0, 2))], 8 * BAR)
    y = main(out)
    assert not y[: 4 * BAR].any()
    np.testing.assert_array_equal(y[4 * BAR :], looped(frames(4 * BAR, 8 * BAR), 4 * BAR, 2 * BAR))


def test_the_late_press_window_follows_the_setting() -> None:
    p = 3 * BAR + 1100  # past half a bar
    _, out = render([(p, Backloop(0, 1))], 6 * BAR, late_press=0.5)
    np.testing.assert_array_equal(
        main(out)[4 * BAR :], looped(frames(4 * BAR, 6 * BAR), 4 * BAR, 3 * BAR)
    )


def test_backloop_takes_the_whole_bars_there_are() -> None:
    p = BAR + 100
    engine, out = render([(p, Backloop(0, 4))], 5 * BAR)
    assert engine.tracks[0].bars == 1
    np.testing.assert_array_equal(main(out)[p:], looped(frames(p, 5 * BAR), BAR, 0))


def test_backloop_without_a_whole_bar_of_history_is_ignored_and_said() -> None:
    engine, out = render([(300, Backloop(0, 2))], 3 * BAR)
    assert not out.any()
    assert engine.tracks[0].state is State.EMPTY
    assert any("no whole bar" in text for text in said(engine))


def test_history_forgets_what_is_older_than_its_capacity() -> None:
    p = 14 * BAR + 100  # 20 s of history at 1000 frames/s is 10 bars (+1 being written)
    engine, _ = render([(p, Backloop(0, 16))], p + 1)
    assert engine.tracks[0].bars == 10


def test_record_start_and_end_snap_and_the_loop_plays_from_its_end() -> None:
    script = [(BAR + 300, Record(0)), (3 * BAR + 1700, Record(0))]  # start 1 bar, end 4 bars
    engine, out = render(script, 4 * BAR - 1)
    assert engine.tracks[0].state is State.RECORDING
    engine, out = render(script, 9 * BAR)
    y = main(out)
    assert not y[: 4 * BAR].any()
    np.testing.assert_array_equal(y[4 * BAR :], looped(frames(4 * BAR, 9 * BAR), 4 * BAR, BAR))
    assert engine.tracks[0].bars == 3


def test_record_lasts_at_least_one_bar() -> None:
    _, out = render([(BAR + 300, Record(0)), (BAR + 400, Record(0))], 5 * BAR)
    np.testing.assert_array_equal(
        main(out)[2 * BAR :], looped(frames(2 * BAR, 5 * BAR), 2 * BAR, BAR)
    )


def test_record_start_in_the_future_waits() -> None:
    engine, _ = render([(BAR - 100, Record(0))], BAR - 1)
    assert engine.tracks[0].state is State.WAITING
    engine, _ = render([(BAR - 100, Record(0))], BAR + 1)
    assert engine.tracks[0].state is State.RECORDING


def test_record_with_latency_takes_the_shifted_history() -> None:
    script = [(BAR + 300, Record(0)), (2 * BAR + 300, Record(0))]
    _, out = render(script, 5 * BAR, latency_frames=37)
    t = frames(2 * BAR + 300, 5 * BAR)
    np.testing.assert_array_equal(main(out)[2 * BAR + 300 :], looped(t, 2 * BAR, BAR, 37))


def overdubbed(t: np.ndarray, end: int, start: int, dub_from: int, latency: int = 0) -> np.ndarray:
    """A loop [start, end) with one full pass of input layered from output frame dub_from."""
    i = (t - end) % (end - start)
    base = start + latency + i + 1
    dub_phase = (dub_from - end) % (end - start)
    dub = dub_from + latency + (i - dub_phase) % (end - start) + 1
    return (base + dub).astype(np.float32)


@pytest.mark.parametrize("latency", [0, 37])
def test_overdub_layers_one_pass_at_its_phase_and_undo_redo_swap_it(latency: int) -> None:
    script = [
        (2 * BAR + 300, Backloop(0, 2)),  # loop [0, 2 BAR) playing from 2 BAR
        (4 * BAR + 200, Overdub(0)),  # starts at 4 BAR (already passed: catches up)
        (6 * BAR + 100, Overdub(0)),  # ends at 6 BAR: exactly one pass
        (9 * BAR + 100, Undo(0)),
        (11 * BAR + 100, Redo(0)),
    ]
    engine, out = render(script, 13 * BAR, latency_frames=latency)
    y = main(out)
    old = looped(frames(0, 13 * BAR), 2 * BAR, 0, latency)
    new = overdubbed(frames(0, 13 * BAR), 2 * BAR, 0, 4 * BAR, latency)
    np.testing.assert_array_equal(y[2 * BAR + 300 : 6 * BAR], old[2 * BAR + 300 : 6 * BAR])
    np.testing.assert_array_equal(y[6 * BAR : 9 * BAR + 100], new[6 * BAR : 9 * BAR + 100])
    np.testing.assert_array_equal(
        y[9 * BAR + 100 : 11 * BAR + 100], old[9 * BAR + 100 : 11 * BAR + 100]
    )
    np.testing.assert_array_equal(y[11 * BAR + 100 :], new[11 * BAR + 100 :])
    assert engine.tracks[0].state is State.PLAYING


def test_each_overdub_pass_is_one_undo_step() -> None:
    script = [
        (BAR + 100, Backloop(0, 1)),  # a one-bar loop [0, BAR)
        (2 * BAR + 100, Overdub(0)),
        (4 * BAR + 100, Overdub(0)),  # two passes: bars 2 and 3
        (5 * BAR + 100, Undo(0)),  # drops the second pass only
    ]
    _, out = render(script, 6 * BAR)
    y = main(out)
    i = np.arange(BAR)
    one_pass = (i + 1) + (2 * BAR + i + 1)
    two_passes = one_pass + (3 * BAR + i + 1)
    np.testing.assert_array_equal(y[4 * BAR : 5 * BAR], two_passes)
    np.testing.assert_array_equal(y[5 * BAR + 100 : 6 * BAR], one_pass[100:])


def test_past_the_undo_depth_the_oldest_layers_go_and_the_rest_stay_exact() -> None:
    passes = MAX_LAYERS + 8
    script = [(BAR + 100, Backloop(0, 1)), (2 * BAR + 100, Overdub(0))]
    # Ending on a pass boundary: that boundary had already opened (and made room for) one
    # more layer, which the snapped end takes back; so MAX_LAYERS - 1 layers remain.
    script += [((2 + passes) * BAR + 100, Overdub(0))]
    script += [((3 + passes) * BAR + 100 + k, Undo(0)) for k in range(MAX_LAYERS - 2)]
    engine, out = render(script, (5 + passes) * BAR, history_seconds=10, memory_seconds=120)
    tr = engine.tracks[0]
    assert tr.count == MAX_LAYERS - 1 and tr.top == 0
    dropped = 1 + passes - tr.count  # the base loop and the oldest passes
    i = np.arange(BAR)
    kept = (i + 1) + sum((2 + k) * BAR + i + 1 for k in range(dropped))
    np.testing.assert_array_equal(main(out)[(4 + passes) * BAR : (5 + passes) * BAR], kept)
    assert engine.pool.refs.sum() == sum(int(tr.nbars[k]) for k in range(tr.count))


def test_undo_while_overdubbing_drops_the_pass_in_progress() -> None:
    script = [(BAR + 100, Backloop(0, 1)), (2 * BAR + 100, Overdub(0)), (3 * BAR + 500, Undo(0))]
    _engine, out = render(script, 5 * BAR)
    i = np.arange(BAR)
    np.testing.assert_array_equal(main(out)[3 * BAR : 4 * BAR], (i + 1) + (2 * BAR + i + 1))
    engine2, out2 = render(
        [*script[:1], (2 * BAR + 100, Overdub(0)), (2 * BAR + 500, Undo(0))], 5 * BAR
    )
    np.testing.assert_array_equal(main(out2)[3 * BAR :], np.tile(i + 1, 2))
    assert engine2.tracks[0].count == 1


def test_undo_of_the_loop_itself_empties_the_track_and_redo_brings_it_back_in_phase() -> None:
    script = [(BAR + 100, Backloop(0, 1)), (2 * BAR + 300, Undo(0)), (3 * BAR + 700, Redo(0))]
    _engine, out = render(script, 5 * BAR)
    y = main(out)
    assert not y[2 * BAR + 300 : 3 * BAR + 700].any()
    t = frames(3 * BAR + 700, 5 * BAR)
    np.testing.assert_array_equal(y[3 * BAR + 700 :], looped(t, BAR, 0))


def test_backloop_on_a_playing_track_replaces_the_loop_and_undo_brings_the_old_one_back() -> None:
    script = [
        (BAR + 100, Backloop(0, 1)),
        (4 * BAR + 100, Backloop(0, 2)),
        (6 * BAR + 100, Undo(0)),
    ]
    _, out = render(script, 8 * BAR)
    y = main(out)
    np.testing.assert_array_equal(
        y[4 * BAR + 100 : 6 * BAR + 100],
        looped(frames(4 * BAR + 100, 6 * BAR + 100), 4 * BAR, 2 * BAR),
    )
    np.testing.assert_array_equal(
        y[6 * BAR + 100 :], looped(frames(6 * BAR + 100, 8 * BAR), BAR, 0)
    )


def test_stop_and_play_happen_at_the_next_downbeat_and_play_restarts_from_the_top() -> None:
    script = [(2 * BAR + 100, Backloop(0, 2)), (3 * BAR + 300, Stop(0)), (5 * BAR + 1900, Play(0))]
    _, out = render(script, 9 * BAR, play_from="top")  # phrase: test_transitions_sound.py
    y = main(out)
    np.testing.assert_array_equal(
        y[2 * BAR + 100 : 4 * BAR], looped(frames(2 * BAR + 100, 4 * BAR), 2 * BAR, 0)
    )
    assert not y[4 * BAR : 6 * BAR].any()
    np.testing.assert_array_equal(
        y[6 * BAR :], looped(frames(6 * BAR, 9 * BAR), 6 * BAR, 4 * BAR)[:] - 4 * BAR
    )


def test_toggle_stops_and_starts() -> None:
    script = [
        (2 * BAR + 100, Backloop(0, 1)),
        (2 * BAR + 200, Toggle(0)),
        (3 * BAR + 200, Toggle(0)),
    ]
    _, out = render(script, 6 * BAR)
    y = main(out)
    assert not y[3 * BAR : 4 * BAR].any()
    np.testing.assert_array_equal(
        y[4 * BAR :], looped(frames(4 * BAR, 6 * BAR), 4 * BAR, 3 * BAR) - 3 * BAR + BAR
    )


def test_mute_is_immediate_and_keeps_the_phase() -> None:
    script = [(2 * BAR + 100, Backloop(0, 2)), (2 * BAR + 777, Mute(0)), (3 * BAR + 333, Mute(0))]
    _, out = render(script, 5 * BAR)
    y = main(out)
    assert not y[2 * BAR + 777 : 3 * BAR + 333].any()
    np.testing.assert_array_equal(
        y[3 * BAR + 333 :], looped(frames(3 * BAR + 333, 5 * BAR), 2 * BAR, 0)
    )


def test_reset_is_immediate_and_gives_the_memory_back() -> None:
    script = [
        (2 * BAR + 100, Backloop(0, 2)),
        (2 * BAR + 150, Overdub(0)),
        (4 * BAR + 50, Reset(0)),
    ]
    engine, out = render(script, 5 * BAR)
    assert not main(out)[4 * BAR + 50 :].any()
    assert engine.tracks[0].state is State.EMPTY
    assert engine.pool.refs.sum() == 0 and engine.pool.debt == 0
    assert engine.pool.free == engine.pool.count - engine.pool.in_ring.sum()


def test_reset_all_empties_every_track() -> None:
    script = [
        (2 * BAR + 100, Backloop(0, 1)),
        (2 * BAR + 100, Backloop(1, 2)),
        (3 * BAR, Reset(None)),
    ]
    engine, out = render(script, 4 * BAR)
    assert not main(out)[3 * BAR :].any()
    assert all(tr.state is State.EMPTY for tr in engine.tracks)


def test_pressing_the_pedal_of_a_waiting_action_again_cancels_it() -> None:
    script = [(3 * BAR + 1600, Backloop(0, 2)), (3 * BAR + 1700, Backloop(0, 2))]
    engine, out = render(script, 6 * BAR)
    assert not out.any()
    assert engine.tracks[0].state is State.EMPTY
    script = [(2 * BAR + 100, Backloop(0, 1)), (2 * BAR + 300, Stop(0)), (2 * BAR + 400, Stop(0))]
    engine, out = render(script, 5 * BAR)
    assert engine.tracks[0].state is State.PLAYING
    assert main(out)[3 * BAR :].all()


def test_tracks_of_different_lengths_stay_in_phase_with_the_grid() -> None:
    script = [(BAR + 100, Backloop(0, 1)), (3 * BAR + 100, Backloop(1, 3))]
    _, out = render(script, 40 * BAR, history_seconds=60)
    t = frames(3 * BAR + 100, 40 * BAR)
    want = looped(t, BAR, 0) + looped(t, 3 * BAR, 0)
    np.testing.assert_array_equal(main(out)[3 * BAR + 100 :], want)


def test_track_volume_scales_the_loop() -> None:
    script = [(BAR + 100, Backloop(0, 1)), (BAR + 100, TrackVolume(0, 0.5))]
    _, out = render(script, 3 * BAR)
    np.testing.assert_array_equal(
        main(out)[BAR + 100 :], looped(frames(BAR + 100, 3 * BAR), BAR, 0) * np.float32(0.5)
    )


def test_monitor_sends_the_dry_input_to_the_main_outputs() -> None:
    _, out = render([], BAR, monitor=0.25)
    np.testing.assert_array_equal(main(out), ramp_input(BAR)[:, 0] * np.float32(0.25))


def test_mono_input_goes_to_every_main_output_and_inputs_are_picked_by_channel() -> None:
    n = 3 * BAR
    x = np.zeros((n, 3), np.float32)
    x[:, 2] = ramp_input(n)[:, 0]
    x[:, 0] = -1.0
    _, out = render(
        [(BAR + 100, Backloop(0, 1))], n, signal=x, inputs=(2,), outputs=(0, 1), click_outputs=(2,)
    )
    want = looped(frames(BAR + 100, n), BAR, 0)
    np.testing.assert_array_equal(out[BAR + 100 :, 0], want)
    np.testing.assert_array_equal(out[BAR + 100 :, 1], want)


def test_the_click_is_accented_on_the_downbeat_and_goes_only_to_its_outputs() -> None:
    _engine, out = render(
        [(2 * BAR + 10, ClickVolume(0.5)), (3 * BAR, ClickToggle())],
        4 * BAR,
        click_enabled=True,
        click_volume=1.0,
    )
    accent, beat = click_sounds(RATE)
    assert not out[:, 0].any()
    click = out[:, 1]
    np.testing.assert_array_equal(click[: len(accent)], accent)
    np.testing.assert_array_equal(click[BEAT : BEAT + len(beat)], beat)
    np.testing.assert_array_equal(click[BAR : BAR + len(accent)], accent)
    np.testing.assert_array_equal(
        click[2 * BAR + BEAT : 2 * BAR + BEAT + len(beat)], beat * np.float32(0.5)
    )
    assert not click[3 * BAR :].any()
    assert not accent.any() or not np.array_equal(accent, beat)


def test_tempo_changes_while_empty_restart_the_grid_at_the_next_beat() -> None:
    engine, _ = render([(1100, SetTempo(60.0))], 1600)
    assert engine.grid.beat == RATE and engine.grid.origin == 1500
    p = 1500 + 4 * RATE * 2 + 100  # two new bars after the new origin
    engine, out = render([(1100, SetTempo(60.0)), (p, Backloop(0, 2))], p + 9000)
    new_bar = 4 * RATE
    end = 1500 + 2 * new_bar
    np.testing.assert_array_equal(main(out)[p:], looped(frames(p, p + 9000), end, 1500))


def test_tempo_does_not_change_while_a_track_has_a_loop() -> None:
    engine, _ = render([(BAR + 100, Backloop(0, 1)), (BAR + 200, SetTempo(90.0))], 2 * BAR)
    assert engine.grid.beat == BEAT
    assert any("empty" in text for text in said(engine))


def test_tap_tempo_takes_the_mean_of_the_taps() -> None:
    taps = [(100 + k * 800, TapTempo()) for k in range(4)]
    engine, _ = render(taps, 4000)
    assert engine.grid.beat == 800
    engine, _ = render([(100, TapTempo()), (100 + 3 * RATE, TapTempo())], 4000)
    assert engine.grid.beat == BEAT, "taps further apart than the window do not set a tempo"


SCRIPT = [
    (BAR + 123, Backloop(0, 1)),
    (2 * BAR + 1700, Backloop(1, 2)),
    (3 * BAR + 50, Record(2)),
    (5 * BAR + 999, Record(2)),
    (4 * BAR + 321, Overdub(0)),
    (6 * BAR + 77, Overdub(0)),
    (6 * BAR + 500, Mute(1)),
    (7 * BAR + 5, Mute(1)),
    (7 * BAR + 1234, TrackVolume(2, 0.3)),
    (8 * BAR + 1, Stop(0)),
    (8 * BAR + 900, Undo(0)),
    (9 * BAR + 1600, Play(0)),
    (11 * BAR + 10, Reset(1)),
]


@pytest.mark.parametrize("level", [0.1, 0.8], ids=["quiet", "limited"])
def test_output_is_identical_for_every_block_size(level: float) -> None:
    """With the master limiter on: at 0.8 the loops and the monitor sum far over its ceiling."""
    n = 13 * BAR
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, 2)).astype(np.float32) * level
    settings = dict(
        inputs=(0, 1),
        outputs=(0, 1),
        click_outputs=(2,),
        crossfade_frames=20,
        click_enabled=True,
        latency_frames=37,
        monitor=0.5,
        limiter=True,
    )
    outs = [
        render(SCRIPT, n, block=b, signal=x, **settings)[1] for b in (1, 63, 64, 256, 1024, 4097)
    ]
    assert outs[0][BAR:].any()
    ceiling = BASE.ceiling
    if level > 0.5:  # the limiter acted: the same sum without it goes over
        unlimited = render(SCRIPT, n, block=64, signal=x, **{**settings, "limiter": False})[1]
        assert np.abs(unlimited).max() > 2.0 and np.abs(outs[0]).max() <= ceiling
        assert not np.array_equal(unlimited, outs[0])
    for other in outs[1:]:
        np.testing.assert_array_equal(other, outs[0])


def max_step(y: np.ndarray) -> float:
    return float(np.abs(np.diff(y)).max())


@pytest.mark.parametrize("xfade", [0, 200])
def test_a_continuous_tone_has_no_click_at_the_seam_with_a_crossfade(xfade: int) -> None:
    """200 frames at 1000 frames/s is 10 ms at 48 kHz scaled with the tone's pitch."""
    n = 10 * BAR
    tone = (0.5 * np.sin(2 * np.pi * 7.3 * np.arange(n) / RATE)).astype(np.float32)
    p = 2 * BAR + 100
    _, out = render([(p, Backloop(0, 1))], n, signal=tone, crossfade_frames=xfade)
    y = main(out)[p:]
    tone_step = max_step(tone)
    if xfade:
        assert max_step(y) <= 1.1 * tone_step  # every wrap, the first one (at 3 bars) included
        assert abs(y[0]) <= 0.5 / xfade + 1e-6  # fading in from silence
    else:
        assert max_step(y) > 10 * tone_step  # without the crossfade the seam clicks


def test_a_command_at_the_exact_frame_lands_on_that_frame() -> None:
    p = 2 * BAR + 1234
    _, out = render([(p, Backloop(0, 1))], 3 * BAR, block=1024)
    y = main(out)
    assert y[p - 1] == 0 and y[p] == looped(np.array([p]), 2 * BAR, BAR)[0]


def test_memory_is_fixed_whatever_the_session_length() -> None:
    engine, _ = render([(BAR + 100, Backloop(0, 1))], 40 * BAR, block=1024)
    used = engine.pool.count - engine.pool.free
    assert (
        used == engine.ring.slots + 1 + 0
    )  # the ring, the one-bar loop (pre-roll is bar -1: none)


def test_a_loaded_loop_waits_stopped_and_plays_from_its_top_on_the_next_downbeat() -> None:
    engine, _ = render([], 0)
    audio = ramp(2 * BAR, unit=1 / 8)
    engine.load_loop(1, audio, volume=0.5)
    assert engine.tracks[1].state is State.STOPPED and engine.tracks[1].bars == 2
    view = EngineView(engine)
    assert view.loop_pages(1) and view.loop(1) is not None
    np.testing.assert_array_equal(view.loop(1), audio)
    engine.submit(Play(1), BAR + 300)
    out = np.zeros((4 * BAR, 2), np.float32)
    x = np.zeros((4 * BAR, 1), np.float32)
    for i in range(0, 4 * BAR - 10, 512):
        engine.process(x[i : i + 512], out[i : i + 512])
    y = out[: 4 * BAR - 10, 0]
    assert not y[: 2 * BAR].any()
    t = np.arange(2 * BAR, 4 * BAR - 10)
    np.testing.assert_array_equal(
        y[2 * BAR :], audio[(t - 2 * BAR) % (2 * BAR), 0] * np.float32(0.5)
    )
    with pytest.raises(ValueError, match="whole number"):
        engine.load_loop(0, audio[:100])


def test_a_count_in_restarts_the_grid_at_the_stomp_and_records_after_its_bars() -> None:
    p = 3 * BAR + 300
    start = p + BAR  # one bar of count-in from the stomp
    end = start + 2 * BAR  # the second stomp, late in the second bar, snaps to its end
    script = [(p, Record(0)), (end - 100, Record(0))]
    engine, out = render(script, end + 3 * BAR, count_in_bars=1, click_enabled=False)
    assert engine.grid.origin == p
    y = main(out)
    assert not y[:end].any()
    t = frames(end, end + 3 * BAR)
    np.testing.assert_array_equal(y[end:], looped(t, end, start))
    click = out[:, 1]
    assert click[p : p + 60].any() and click[p + BEAT : p + BEAT + 60].any(), "the count-in clicks"
    assert not click[start:].any(), "then the click is off again, as configured"
    assert not click[:p].any()


def test_record_again_during_the_count_in_cancels_it_and_its_click() -> None:
    p = 3 * BAR + 300
    script = [(p, Record(0)), (p + BEAT + 100, Record(0))]
    engine, out = render(script, p + 2 * BAR, count_in_bars=1, click_enabled=False)
    assert engine.tracks[0].state is State.EMPTY and engine.tracks[0].pending is None
    assert out[p : p + 60, 1].any() and not out[p + BEAT + 100 :, 1].any()


def test_without_a_count_in_setting_record_snaps_as_usual() -> None:
    engine, _ = render([(3 * BAR + 300, Record(0))], 3 * BAR + 301)
    assert engine.grid.origin == 0 and engine.tracks[0].state is State.RECORDING


@pytest.mark.parametrize("latency", [0, 37])
def test_bpm_auto_takes_the_tempo_from_the_first_loop_and_the_grid_from_its_start(
    latency: int,
) -> None:
    p1, length = 1234, 2100  # one 4-beat bar of 2100 frames: 525 frames a beat
    later = p1 + 3 * length + 100  # a backloop in the new grid's fourth bar
    script = [(500, Backloop(1, 1)), (p1, Record(0)), (p1 + length, Record(0))]
    script.append((later, Backloop(1, 2)))
    engine, out = render(
        script, p1 + 6 * length, bpm_auto=True, click_enabled=True, latency_frames=latency
    )
    assert engine.grid.beat == 525 and engine.grid.origin == p1
    assert any("no tempo yet" in text for text in said(engine))
    end = p1 + length
    y = main(out)
    assert not y[:end].any()
    t = frames(end, later)
    np.testing.assert_array_equal(y[end:later], looped(t, end, p1, latency))
    t = frames(later, p1 + 6 * length)
    both = looped(t, end, p1, latency) + looped(t, p1 + 3 * length, p1 + length, latency)
    np.testing.assert_array_equal(y[later:], both)
    click = out[:, 1]
    assert not click[:end].any(), "no click before there is a tempo"
    assert click[end + 1] != 0 and click[end + 525 + 1] != 0, "then on the new grid's beats"


def test_bpm_auto_records_one_first_loop_at_a_time_and_a_second_stomp_moves_nothing() -> None:
    p1, length = 1234, 2100
    script = [(p1, Record(0)), (p1 + 700, Record(2)), (p1 + length, Record(0))]
    engine, out = render(script, p1 + 3 * length, bpm_auto=True)
    assert engine.grid.beat == 525 and engine.grid.origin == p1  # the first stomp's loop
    assert engine.tracks[2].state is State.EMPTY
    assert "track 3: not recorded: track 1 is recording the first loop" in said(engine)
    end = p1 + length
    t = frames(end, p1 + 3 * length)
    np.testing.assert_array_equal(main(out)[end:], looped(t, end, p1, 0))


def test_a_saved_loop_carries_its_seam_and_wraps_without_a_click_when_loaded() -> None:
    xfade = 200
    n = 4 * BAR
    tone = (0.5 * np.sin(2 * np.pi * 7.3 * np.arange(n) / RATE)).astype(np.float32)
    made, _ = render([(2 * BAR + 100, Backloop(0, 1))], n, signal=tone, crossfade_frames=xfade)
    view = EngineView(made)
    *_, pre = view.settled_pages(0)
    saved = view.with_seam(view.loop(0), pre)
    assert not np.array_equal(saved, view.loop(0)), "the seam is in the saved audio"
    loaded, _ = render([], 0, crossfade_frames=xfade)
    loaded.load_loop(0, saved)
    loaded.submit(Play(0), 0)
    out = np.zeros((4 * BAR, 2), np.float32)
    loaded.process(np.zeros((4 * BAR, 1), np.float32), out)
    y = main(out)[xfade:]  # after the fade-in from silence
    assert max_step(y) <= 1.1 * max_step(tone)  # the wraps at 1, 2 and 3 bars included


def test_a_recording_that_fills_the_memory_closes_into_the_bars_it_holds() -> None:
    # 30 s of memory at 1000 frames/s is 15 pages of a bar; the ring keeps 11 of them
    engine, out = render([(BAR + 100, Record(0))], 12 * BAR, memory_seconds=10)
    tr = engine.tracks[0]
    assert tr.state is State.PLAYING and tr.bars > 0
    assert "track 1: loop memory full, recording closed" in said(engine)
    end = (1 + tr.bars) * BAR  # the bar that found no page ends the loop
    t = frames(end, 12 * BAR)
    np.testing.assert_array_equal(main(out)[end:], looped(t, end, BAR))
