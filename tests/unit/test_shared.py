"""The live side's shared memory (looper/live/shared.py, pipes.py, mirror.py), in one process.

The mapping is the real one (memfd, opened again by its /proc path as a child
does); the callback is the real `Callback` over a real engine. What crosses:
commands (in order, a full ring drops, a save never reaches the engine),
the engine's messages and timing (the board), and the status the main
process builds from the checkpoint and the meters (the mirror).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from looper.config import parse_config
from looper.config.engine import engine_settings
from looper.core.commands import Play, Record, Reset, Save, SetTempo, Stop
from looper.core.engine import Engine
from looper.core.messages import MessageCode
from looper.live.audio import Callback, resume_frame
from looper.live.mirror import Mirror
from looper.live.pipes import RingOutbox
from looper.live.shared import (
    BLOCKS,
    MESSAGE_ROWS,
    RING_ROWS,
    SAVES,
    Board,
    CommandRing,
    Mapping,
    live_bytes,
    ring_span,
)
from looper.sessions.plan import last_session

CONFIG = parse_config(
    "tracks: {count: 2, memory_seconds: 30}\naudio: {history_seconds: 10}\n"
    "clicktrack: {enabled: false}",
    "t",
)
SETTINGS = engine_settings(CONFIG, 0)


@pytest.fixture
def mapping() -> Mapping:
    return Mapping(live_bytes(SETTINGS))


def test_commands_cross_in_order_with_their_stamps() -> None:
    ring = CommandRing()
    sent = [(Record(0), 12.5), (Reset(None), None), (SetTempo(97.25), 3.0), (Stop(1), 4.0)]
    for command, stamp in sent:
        assert ring.push(command, stamp)
    got = []
    while ring.pending():
        got.append(ring.pop())
    assert got == sent


def test_a_full_ring_drops_and_says_so() -> None:
    ring = CommandRing()
    assert all(ring.push(Play(0), float(i)) for i in range(RING_ROWS))
    assert not ring.push(Play(1), 0.0)
    assert ring.pop() == (Play(0), 0.0)
    assert ring.push(Play(1), 9.0)  # room again, and the ring wraps


def test_a_child_opens_the_mapping_by_its_path(mapping: Mapping) -> None:
    offset, length = ring_span(SETTINGS)
    outbox = pickle.loads(pickle.dumps(RingOutbox(mapping.path, mapping.size, offset, length)))
    assert outbox.put((Play(1), 1.0)) and outbox.put((Save(), 2.0)) and outbox.put((Stop(0), 3.0))
    _, ring, _ = mapping.views(SETTINGS)
    got = []
    while ring.pending():
        got.append(ring.pop())
    assert got == [(Play(1), 1.0), (Save(), 2.0), (Stop(0), 3.0)]


def test_a_save_is_counted_on_the_board_and_never_reaches_the_engine(mapping: Mapping) -> None:
    memory, ring, board = mapping.views(SETTINGS)
    cb = Callback(SETTINGS.sample_rate, ring, board)
    cb.engine = Engine(SETTINGS, memory)
    ring.push(Save(), 1.0)
    ring.push(Save(), 2.0)
    x = np.zeros((256, 2), dtype=np.float32)
    cb(x, x.copy(), 256, None, None)
    assert board.ints[SAVES] == 2 and not ring.pending()
    assert not cb.engine.messages  # nothing said "does nothing": it never got there


def test_the_board_keeps_the_newest_messages() -> None:
    board = Board()
    for i in range(MESSAGE_ROWS + 5):
        board.say((i, MessageCode.NO_WHOLE_BAR, (2,)))
    said, count = board.said(0)
    assert count == MESSAGE_ROWS + 5 and len(said) == MESSAGE_ROWS
    assert said[0] == (5, MessageCode.NO_WHOLE_BAR, (2,)) and isinstance(said[0][2][0], int)
    assert board.said(count) == ([], count)


def test_the_mirror_reads_the_callbacks_engine(mapping: Mapping) -> None:
    memory, ring, board = mapping.views(SETTINGS)
    cb = Callback(SETTINGS.sample_rate, ring, board)
    from looper.core.durable import Checkpoint

    cb.engine = Engine(SETTINGS, memory)
    cb.checkpoint = Checkpoint(memory)
    cb.checkpoint.commit(cb.engine)
    mirror = Mirror(CONFIG, 0, *mapping.views(SETTINGS)[::2])
    ring.push(Record(0), None)
    x = np.zeros((256, 2), dtype=np.float32)
    x[10] = (0.5, -0.25)
    out = np.zeros((256, 2), dtype=np.float32)
    cb(x, out, 256, None, None)
    mirror.refresh()
    s = mirror.status(0.0, 256, None)
    assert s.frame == 256 and board.ints[BLOCKS] == 1
    assert s.tracks[0].state in ("waiting", "recording") or s.tracks[0].pending is not None
    assert s.input_levels == (0.5, 0.25)  # the meters are in the shared memory
    again = mirror.status(0.0, 256, None)
    assert again.input_levels == (0.0, 0.0)  # each status reads the peaks since the last


@pytest.mark.parametrize(
    ("late", "blocks"),
    [(0.0, 10), (0.0004, 10), (-0.0006, 10), (0.0014, 11), (-0.0014, 9)],
)
def test_a_taking_over_process_resumes_in_whole_blocks(late: float, blocks: int) -> None:
    """Ten periods of 128 frames (26.7 ms at 48 kHz) after the old process's last block,
    give or take the callback's lateness: the new one renders from 10 blocks on, unless it
    is more than half a block off (then the nearest whole block)."""
    period = 128 / 48000
    assert (
        resume_frame((5000, 100.0), 100.0 + 10 * period + late, 48000, 128) == 5000 + blocks * 128
    )


def test_the_last_session_follows_xdg_state_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", "/var/state")
    assert last_session() == Path("/var/state/looper/last-session")
    monkeypatch.setenv("XDG_STATE_HOME", "relative/ignored")  # the XDG spec: absolute only
    assert last_session() == Path.home() / ".local/state/looper/last-session"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert last_session() == Path.home() / ".local/state/looper/last-session"
