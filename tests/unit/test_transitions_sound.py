"""What each change of what a track plays sounds like: no click, and the phase kept.

Measured as a performer would hear it: a continuous 437 Hz sine at -6 dBFS on
the input, at 48 kHz with the default 10 ms crossfade, and the largest step
between two output frames around each event must stay within twice the
tone's own (a hard cut measures about 0.5; see the issue's table). The tempo
is 207 bpm so a bar is not a whole number of the tone's cycles: an overdub
pass then adds the tone at another phase (the layers sum to about the tone's
level), and each loop's seam has a phase to cross. Phase is checked frame by
frame with the self-describing ramp at the test rate (1000 frames a second).
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import BAR, main, render, settings
from signals import tone

from looper.config import ConfigError
from looper.core.commands import (
    Backloop,
    Command,
    Mute,
    Overdub,
    Play,
    Record,
    Redo,
    Reset,
    SetTempo,
    Stop,
    Undo,
)
from looper.core.tracks import State

RATE = 48000
XFADE = 480  # tracks.crossfade_ms: 10 at 48 kHz
BPM = 207.0
B = 4 * round(60 * RATE / BPM)  # a bar: 55652 frames
SOUND = dict(sample_rate=RATE, bpm=BPM, crossfade_frames=XFADE, tracks=2)
TONE_STEP = float(np.abs(np.diff(tone(RATE))).max())  # about 0.029
LOOP = (2 * B + 100, Backloop(0, 1))  # the loop every row starts from: bar 1, from bar 2


def steps(script: list[tuple[int, Command]], n: int, block: int = 256) -> np.ndarray:
    """|y[u+1] - y[u]| of the main output, for the tone through the script."""
    _, out = render(script, n, block=block, signal=tone(n), **SOUND)
    return np.abs(np.diff(main(out)))


ROWS = {
    "reset of a playing loop": [LOOP, (3 * B + 12345, Reset(0))],
    "backloop replacing a playing loop": [LOOP, (4 * B + 20000, Backloop(0, 2))],
    "backloop replacing it at the next downbeat": [LOOP, (4 * B + 50000, Backloop(0, 2))],
    "record replacing a playing loop": [LOOP, (4 * B + 100, Record(0)), (5 * B + 9000, Record(0))],
    "undo of an overdub pass, mid-loop": [
        LOOP,
        (3 * B + 100, Overdub(0)),
        (4 * B + 100, Overdub(0)),
        (5 * B + 20000, Undo(0)),
    ],
    "redo, mid-loop": [
        LOOP,
        (3 * B + 100, Overdub(0)),
        (4 * B + 100, Overdub(0)),
        (4 * B + 30000, Undo(0)),
        (5 * B + 20000, Redo(0)),
    ],
    "undo of the overdub pass in progress": [
        LOOP,
        (3 * B + 100, Overdub(0)),
        (4 * B + 20000, Undo(0)),
    ],
    "undo of the only layer": [LOOP, (3 * B + 20000, Undo(0))],
    "redo of the only layer": [LOOP, (3 * B + 20000, Undo(0)), (4 * B + 7000, Redo(0))],
    "stop": [LOOP, (3 * B + 20000, Stop(0))],
    "play after stop": [LOOP, (3 * B + 20000, Stop(0)), (4 * B + 20000, Play(0))],
    "play of a playing loop": [LOOP, (3 * B + 20000, Play(0))],
    "mute and unmute": [LOOP, (3 * B + 20000, Mute(0)), (3 * B + 40000, Mute(0))],
    "three changes within one crossfade": [
        LOOP,
        (3 * B + 100, Overdub(0)),
        (4 * B + 100, Overdub(0)),
        (5 * B + 20000, Undo(0)),
        (5 * B + 20100, Redo(0)),
        (5 * B + 20200, Undo(0)),
    ],
}


@pytest.mark.parametrize("row", ROWS)
def test_every_change_of_what_a_track_plays_is_crossfaded(row: str) -> None:
    script = ROWS[row]
    n = 7 * B
    d = steps(script, n)
    for frame, _ in script[1:]:
        at = frame if frame % B < 0.75 * B else (frame // B + 1) * B  # a late press waits
        for u in (frame, at, (frame // B + 1) * B):  # now, when it acts, the next downbeat
            window = d[u - 2 * XFADE : u + 3 * XFADE]
            assert window.max() <= 2 * TONE_STEP, (row, u, window.max() / TONE_STEP)
    assert d[2 * B + 100 :].max() <= 2 * TONE_STEP  # and everywhere else: the seams too


def test_the_pages_a_reset_frees_are_held_until_its_fade_has_ended() -> None:
    p = 3 * B + 12345
    n = p + XFADE // 2
    engine, _ = render([LOOP, (p, Reset(0))], n, signal=tone(n), **SOUND)
    tails = [tail for tail in engine.tracks[0].tails if tail.held]
    assert len(tails) == 1 and engine.pool.refs[tails[0].page] > 0
    held = (tails[0].page, tails[0].nxt, tails[0].pre)
    assert engine.pool.refs.sum() == sum(page >= 0 for page in held)  # the tail's refs alone
    assert tails[0].page not in engine.pool._free[: engine.pool.free]
    engine.process(np.zeros((XFADE, 1), np.float32), np.zeros((XFADE, 2), np.float32))
    assert not any(tail.held for tail in engine.tracks[0].tails)
    assert engine.pool.refs.sum() == 0 and engine.pool.debt == 0
    assert engine.pool.free == engine.pool.count - engine.pool.in_ring.sum()


def test_a_tempo_change_waits_for_the_tails_to_end_before_the_memory_is_cut_anew() -> None:
    script = [(2 * BAR + 100, Backloop(0, 1)), (3 * BAR + 490, Reset(None))]
    script.append((3 * BAR + 490, SetTempo(100.0)))  # its beat, 3 BAR + 500, is in the fade
    engine, out = render(script, 4 * BAR, crossfade_frames=20)
    assert engine.grid.bpm != 120.0 and engine.grid.origin == 3 * BAR + 1000  # a beat on
    assert not any(tail.held for tail in engine.tracks[0].tails)
    assert engine.pool.refs.min() == 0 and engine.pool.refs.max() == 0
    y = main(out)
    assert y[3 * BAR + 505] != 0  # the reset's fade plays out whole
    assert not y[3 * BAR + 510 :].any()


def test_a_reset_fades_the_loop_out_to_silence() -> None:
    p = 3 * B + 12345
    n = 4 * B
    _, out = render([LOOP, (p, Reset(0))], n, signal=tone(n), **SOUND)
    y = np.abs(main(out))
    assert y[p : p + 100].max() > 0.4  # still heard as it begins to fade
    assert not y[p + XFADE :].any()


# ---- phase, frame by frame, with the self-describing ramp at 1000 frames a second ----


def looped(t: np.ndarray, end: int, start: int) -> np.ndarray:
    """What a loop of input bars [start, end) placed at `end` plays at output frames t."""
    return (start + (t - end) % (end - start) + 1).astype(np.float32)


def frames(a: int, b: int) -> np.ndarray:
    return np.arange(a, b)


@pytest.mark.parametrize("xfade", [0, 20])
def test_undo_and_redo_of_a_replace_bring_each_loop_back_where_it_was(xfade: int) -> None:
    script = [
        (3 * BAR + 100, Backloop(0, 2)),  # bars [1, 3), placed at bar 3
        (6 * BAR + 100, Backloop(0, 3)),  # bars [3, 6), placed at bar 6
        (8 * BAR + 300, Undo(0)),
        (10 * BAR + 500, Redo(0)),
    ]
    _, out = render(script, 13 * BAR, crossfade_frames=xfade)
    y = main(out)
    steady = slice(xfade, None)  # after the crossfade from the other layer
    a, b = 8 * BAR + 300, 10 * BAR + 500
    old = looped(frames(a, b), 3 * BAR, BAR)
    new = looped(frames(b, 13 * BAR), 6 * BAR, 3 * BAR)
    if xfade:  # away from the seams too
        keep_old = ((frames(a, b) - 3 * BAR) % (2 * BAR) < 2 * BAR - xfade)[steady]
        keep_new = ((frames(b, 13 * BAR) - 6 * BAR) % (3 * BAR) < 3 * BAR - xfade)[steady]
    else:
        keep_old = np.ones(b - a, bool)
        keep_new = np.ones(13 * BAR - b, bool)
    np.testing.assert_array_equal(y[a:b][steady][keep_old], old[steady][keep_old])
    np.testing.assert_array_equal(y[b:][steady][keep_new], new[steady][keep_new])


@pytest.mark.parametrize("press", [5 * BAR + 1800, 6 * BAR + 300])  # the coming downbeat, now
def test_a_replaced_loop_fades_out_from_where_it_was_under_the_new_one(press: int) -> None:
    xfade = 20
    script = [(3 * BAR + 100, Backloop(0, 2)), (press, Backloop(0, 1))]
    _, out = render(script, 8 * BAR, crossfade_frames=xfade)
    at = max(press, 6 * BAR)
    t = frames(at, at + xfade)
    r = (t - at + 1) / xfade
    old = looped(t, 3 * BAR, BAR)  # bars [1, 3) from bar 3: at bar 6, its second bar
    new = looped(t, 6 * BAR, 5 * BAR)
    np.testing.assert_allclose(main(out)[at : at + xfade], old * (1 - r) + new * r, rtol=1e-6)
    u = frames(at + xfade, 8 * BAR)
    keep = (u - 6 * BAR) % BAR < BAR - xfade  # away from the new loop's seams
    np.testing.assert_array_equal(main(out)[at + xfade :][keep], looped(u, 6 * BAR, 5 * BAR)[keep])


def test_a_waiting_play_leaves_an_overdub_begun_since_the_press_going() -> None:
    script = [
        (8 * BAR + 396, Backloop(0, 2)),
        (10 * BAR + 695, Play(0)),  # waits for bar 11
        (10 * BAR + 999, Overdub(0)),  # from bar 10, at once
        (11 * BAR + 899, Undo(0)),  # the pass in progress goes
        (11 * BAR + 1710, Undo(0)),  # and the loop
    ]
    engine, _ = render(script, 13 * BAR, crossfade_frames=20)
    assert engine.tracks[0].state is State.EMPTY and not engine.tracks[0].dubbing


def test_a_record_closed_into_an_overdub_at_a_downbeat_takes_one_page_for_its_bar() -> None:
    """It took two, and freed the first while still layering onto it: another track's
    overdub then got that page, and both wrote into it (a click, and a wrong loop)."""
    script = [
        (BAR + 1845, Record(0)),  # from bar 2
        (2 * BAR + 100, Backloop(1, 1)),
        (2 * BAR + 185, Overdub(0)),  # closes at bar 3, at least a bar: overdubs from there
        (2 * BAR + 320, Overdub(1)),  # from bar 2
    ]
    engine, _ = render(script, 3 * BAR + 100)
    one, two = engine.tracks[:2]
    assert one.state is State.OVERDUBBING and int(one.fresh[one.top]) == 1
    assert engine.pool.refs[one.dub_old] > 0 and one.dub_page != two.dub_page


def test_tracks_play_from_is_read_from_the_yaml_and_checked() -> None:
    assert settings().play_from == "phrase"  # the default
    assert settings("tracks: {play_from: top}").play_from == "top"
    with pytest.raises(ConfigError):
        settings("tracks: {play_from: bottom}")


STOP_PLAY = [(2 * BAR + 100, Backloop(0, 2)), (3 * BAR + 300, Stop(0)), (6 * BAR + 1900, Play(0))]


def test_play_brings_a_stopped_loop_back_at_the_next_downbeat_in_phrase() -> None:
    _, out = render(STOP_PLAY, 10 * BAR)
    y = main(out)
    assert not y[4 * BAR : 7 * BAR].any()
    t = frames(7 * BAR, 10 * BAR)  # bar 1 of the loop first: where it would be had it played on
    np.testing.assert_array_equal(y[7 * BAR :], looped(t, 2 * BAR, 0))


def test_play_from_top_restarts_a_stopped_loop_from_its_top() -> None:
    _, out = render(STOP_PLAY, 10 * BAR, play_from="top")
    y = main(out)
    assert not y[4 * BAR : 7 * BAR].any()
    t = frames(7 * BAR, 10 * BAR)
    np.testing.assert_array_equal(y[7 * BAR :], looped(t, 7 * BAR, 5 * BAR) - 5 * BAR)


SCRIPT = [
    (BAR + 123, Backloop(0, 1)),
    (2 * BAR + 1700, Backloop(1, 2)),
    (3 * BAR + 300, Backloop(0, 2)),  # replace, mid-loop
    (3 * BAR + 1995, Overdub(1)),
    (4 * BAR + 10, Record(0)),  # record over a playing loop
    (5 * BAR + 1990, Record(0)),
    (6 * BAR + 5, Overdub(1)),
    (6 * BAR + 777, Undo(1)),  # undo an overdub pass, mid-loop
    (6 * BAR + 785, Redo(1)),  # and redo it within the crossfade
    (6 * BAR + 790, Undo(1)),  # and once more
    (6 * BAR + 792, Redo(1)),
    (6 * BAR + 794, Undo(1)),
    (6 * BAR + 796, Redo(1)),  # the sixth change within the crossfade: the quietest tail is cut
    (7 * BAR + 1500, Stop(0)),
    (9 * BAR + 1600, Play(0)),  # back in phrase
    (10 * BAR + 300, Undo(0)),
    (10 * BAR + 1010, Undo(0)),  # the only layer goes
    (10 * BAR + 1019, Redo(0)),
    (11 * BAR + 1990, Reset(1)),  # its fade crosses the downbeat
    (12 * BAR + 10, Backloop(1, 1)),
    (12 * BAR + 15, Reset(None)),
]


@pytest.mark.parametrize("play_from", ["phrase", "top"])
def test_tails_and_phrase_give_the_same_output_for_every_block_size(play_from: str) -> None:
    n = 13 * BAR
    rng = np.random.default_rng(2)
    x = rng.standard_normal((n, 1)).astype(np.float32) * 0.1
    settings = dict(crossfade_frames=20, latency_frames=37, play_from=play_from)
    runs = [render(SCRIPT, n, block=b, signal=x, **settings) for b in (1, 63, 64, 256, 1024, 4097)]
    first = runs[0][1]
    assert first[BAR:].any()
    for _, out in runs[1:]:
        np.testing.assert_array_equal(out, first)
    engine = runs[0][0]
    assert engine.pool.refs.sum() == 0 and engine.pool.debt == 0  # every tail gave its pages back
