"""Shared fixtures. JACK: a private dummy-backend server and a harness client.

Every test that starts a JACK server carries the `jack` marker (each tests/live module
sets `pytestmark = pytest.mark.jack`), so `pytest -m "not jack"` runs the fast, pure
suite. Two guards keep it so: a test that asks for a server fixture without the marker
fails before the fixture starts anything, and a test without the marker that starts a
`JackServer` itself fails at `start`.

Servers: `jack_server` is a fresh one per test; `jack_server_module` is one per module,
for modules whose tests neither kill a client (on a --sync server a client killed without
closing stalls the graph for ~20 s) nor need a pristine graph. Such a module opts in by
overriding `jack_server` with it, so `harness` and its own fixtures follow:

    @pytest.fixture
    def jack_server(jack_server_module: JackServer) -> JackServer:
        return jack_server_module

The JACK modules are imported inside the fixtures, so tests that do not use them run
even where libjack is missing.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from looper.rig.harness import Harness
    from looper.rig.jackserver import JackServer

SERVER_FIXTURES = {"jack_server", "jack_server_module", "harness"}


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test that asks for a JACK server must carry the `jack` marker."""
    used = SERVER_FIXTURES & set(getattr(item, "fixturenames", ()))
    if used and item.get_closest_marker("jack") is None:
        pytest.fail(
            f"{item.nodeid} uses {', '.join(sorted(used))} without the jack marker: "
            "put it in tests/live (pytestmark = pytest.mark.jack)",
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def _no_server_without_the_marker(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside `jack` tests, starting a JackServer fails the test instead."""
    if request.node.get_closest_marker("jack") is not None:
        return
    from looper.rig.jackserver import JackServer

    def refuse(self: JackServer, *args: object, **kwargs: object) -> JackServer:
        pytest.fail(f"{request.node.nodeid} starts a JACK server without the jack marker")

    monkeypatch.setattr(JackServer, "start", refuse)


@pytest.fixture
def jack_server() -> Iterator[JackServer]:
    """A fresh ``jackd -d dummy`` (48 kHz, period 128) under its own name."""
    from looper.rig.jackserver import JackServer

    with JackServer() as server:
        yield server


@pytest.fixture(scope="module")
def jack_server_module() -> Iterator[JackServer]:
    """One ``jackd -d dummy`` (48 kHz, period 128) for a whole module."""
    from looper.rig.jackserver import JackServer

    with JackServer() as server:
        yield server


@pytest.fixture
def harness(jack_server: JackServer) -> Iterator[Harness]:
    """A Harness client ``harness`` (out_1..2, in_1..2, MIDI ``pedal``) on ``jack_server``."""
    from looper.rig.harness import Harness

    with Harness(jack_server) as h:
        yield h


@pytest.fixture(autouse=True)
def _state_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The loops a looper keeps at exit (the last session) go to a directory of the test's,
    never the home of whoever runs the tests; children inherit it with the environment."""
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    return state


@pytest.fixture
def no_hang() -> Iterator[None]:
    """A read that blocks (a FIFO, /dev/zero) fails the test after 30 s instead of hanging the
    suite: a guard for the bad-input tests, not a timed assertion."""

    def hung(signum: int, frame: FrameType | None) -> None:
        pytest.fail("a file was read without bound: it hung")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(30)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)
