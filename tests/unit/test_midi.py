"""The MIDI side without a MIDI system: port names, the words for what was heard, and
bindings refused before any port opens (the MIDI process live, on a dummy JACK server:
tests/live/test_midi_live.py).
"""

from __future__ import annotations

import threading

import mido
import pytest

from looper.config import Config, Pedal
from looper.core.commands import Backloop, Reset
from looper.midi.backend import BACKENDS
from looper.midi.gestures import Fired
from looper.midi.ports import choose_port, no_match_text, stable_name
from looper.midi.process import describe, message_text, watch

ALSA_PORTS = [
    "Midi Through:Midi Through Port-0 14:0",
    "looper:midi_out 128:0",
    "FCB1010:FCB1010 MIDI 1 24:0",
    "nanoKONTROL2:nanoKONTROL2 MIDI 1 28:0",
]


def test_choose_port_by_part_of_the_name_in_any_case() -> None:
    assert choose_port(ALSA_PORTS, "nanokontrol") == 3
    assert choose_port(ALSA_PORTS, "MIDI 1") == 2  # the first of several matches
    assert choose_port(ALSA_PORTS, "through") == 0  # asked for by name: allowed
    assert choose_port(ALSA_PORTS, "behringer") is None


def test_choose_first_port_skips_through_and_own_ports() -> None:
    assert choose_port(ALSA_PORTS, None) == 2
    assert choose_port(["a2j:Midi Through [14] (capture): Midi Through Port-0"], None) is None
    assert choose_port(["looper-01:midi_out", "harness:pedal"], None) == 1
    assert choose_port(["looper:midi_out"], "looper") is None  # never listen to ourselves
    assert choose_port([], None) is None


def test_a_replugged_alsa_port_is_found_by_its_stable_name() -> None:
    assert stable_name("FCB1010:FCB1010 MIDI 1 24:0") == "FCB1010:FCB1010 MIDI 1"
    assert stable_name("harness:pedal") == "harness:pedal"
    replugged = ["Midi Through:Midi Through Port-0 14:0", "FCB1010:FCB1010 MIDI 1 32:0"]
    assert choose_port(replugged, stable_name("FCB1010:FCB1010 MIDI 1 24:0")) == 1


def test_no_match_names_what_was_looked_for_what_exists_and_the_fix() -> None:
    ports = {"ALSA": "not available (no /dev/snd/seq)", "JACK": ["harness:pedal"]}
    text = no_match_text("fcb", ports)
    assert "no input port matches 'fcb'" in text
    assert "ALSA: not available (no /dev/snd/seq); JACK: 'harness:pedal'" in text
    assert "midi.input" in text and "looper devices" in text and "waiting" in text
    text = no_match_text(None, {"JACK": []})
    assert "no footswitch port found" in text and "JACK: no ports" in text
    assert "midi.input" in text


def test_auto_tries_alsa_then_jack() -> None:
    assert BACKENDS == {"auto": ("alsa", "jack"), "alsa": ("alsa",), "jack": ("jack",)}


def test_words_count_tracks_and_channels_from_one() -> None:
    fired = Fired(Backloop(track=0, bars=2), 1.0, "press", "note 60")
    assert describe(fired) == "note 60 press -> backloop track 1 bars 2"
    hold = Fired(Reset(None), 1.0, "hold", "note 64")
    assert describe(hold) == "note 64 hold -> reset all tracks"
    message = mido.Message.from_bytes([0x91, 60, 127])
    assert message_text(message) == "note_on channel 2 note 60 velocity 127"


def impossible_config() -> Config:
    """A program change bound to hold: validation refuses it, so build it around validation."""
    pedal = Pedal.model_construct(program=3, gesture="hold", action="play", track=1)
    return Config.model_construct(pedals=(pedal,))


def test_watch_refuses_impossible_bindings_before_opening_anything() -> None:
    with pytest.raises(ValueError, match="program change"):
        watch(impossible_config(), threading.Event())
