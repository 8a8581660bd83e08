"""Shared fixtures. JACK: a private dummy-backend server and a harness client.

The JACK modules are imported inside the fixtures, so tests that do not use
them run even where libjack is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from looper.rig.harness import Harness
    from looper.rig.jackserver import JackServer


@pytest.fixture
def jack_server() -> Iterator[JackServer]:
    """A fresh ``jackd -d dummy`` (48 kHz, period 128) under its own name."""
    from looper.rig.jackserver import JackServer

    with JackServer() as server:
        yield server


@pytest.fixture
def harness(jack_server: JackServer) -> Iterator[Harness]:
    """A Harness client ``harness`` (out_1..2, in_1..2, MIDI ``pedal``) on ``jack_server``."""
    from looper.rig.harness import Harness

    with Harness(jack_server) as h:
        yield h
