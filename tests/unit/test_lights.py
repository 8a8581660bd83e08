"""Pedal lights: each light shows its track's state, sent only when it changes.

* pure: which messages `Lights` sends for a sequence of track states and beat
  phases (changes only, in order, one per target, waiting blinks), what the main
  process forwards for a status (`shown_by`), which port is the footswitch's own
  output (`device_port`);
* live (tests/live/test_lights_live.py): the whole looper on a dummy JACK server,
  stomped by the harness, whose `lights` port records what the looper's MIDI process
  sends. Nothing there asserts how fast anything runs: it checks the messages, their
  order, and that none arrives before what caused it.
"""

from __future__ import annotations

from looper.config import parse_config
from looper.live.status import Status, TrackStatus
from looper.midi.lights import Lights, lights_of, shown_by
from looper.midi.ports import device_port

# -- pure: no port, no clock ---------------------------------------------------------------

PEDALS = """
tracks: {count: 3}
pedals:
  - {note: 60, action: backloop, track: 1, feedback: {note: 60}}
  - {note: 60, gesture: hold, action: reset, track: 1, feedback: {note: 60}}
  - {note: 61, action: record, track: 2, feedback: {note: 61, blink: false}}
  - {note: 62, action: play, track: 3, feedback: {cc: 20, channel: 3, values: {playing: 100}}}
"""

EMPTY = ("empty", "empty", "empty")


def on(note: int, value: int) -> list[int]:
    return [0x90, note, value]


def lights() -> Lights:
    return Lights(lights_of(parse_config(PEDALS, "pedalboard.yaml")))


def test_a_binding_sharing_a_target_adds_no_light() -> None:
    found = lights_of(parse_config(PEDALS, "pedalboard.yaml"))
    assert [(light.target, light.track) for light in found] == [
        ((1, "note", 60), 0),
        ((1, "note", 61), 1),
        ((3, "cc", 20), 2),
    ]


def test_every_light_once_at_start_then_only_changes_in_order() -> None:
    ls = lights()
    assert ls.changes() == [on(60, 0), on(61, 0), [0xB2, 20, 0]]  # all empty, before any status
    assert ls.changes() == []
    ls.show((EMPTY, True))
    assert ls.changes() == []
    ls.show((("playing", "recording", "playing"), True))
    assert ls.changes() == [on(60, 127), on(61, 127), [0xB2, 20, 100]]
    ls.show((("muted", "playing", "stopped"), True))
    assert ls.changes() == [on(60, 64), [0xB2, 20, 0]]  # recording -> playing: both 127
    ls.show((("overdubbing", "playing", "stopped"), True))
    assert ls.changes() == [on(60, 127)]


def test_a_reopened_port_gets_every_light_again() -> None:
    ls = lights()
    ls.show((("playing", "empty", "empty"), True))
    assert ls.changes() == [on(60, 127), on(61, 0), [0xB2, 20, 0]]
    ls.forget()
    assert ls.changes() == [on(60, 127), on(61, 0), [0xB2, 20, 0]]


def test_waiting_blinks_with_the_beat_unless_blink_is_false() -> None:
    ls = lights()
    ls.changes()
    sent = []
    for lit in (True, False, True, True, False):
        ls.show((("waiting", "waiting", "empty"), lit))
        sent += ls.changes()
    ls.show((("playing", "recording", "empty"), False))
    sent += ls.changes()
    assert sent == [on(60, 127), on(61, 127), on(60, 0), on(60, 127), on(60, 0), on(60, 127)]


def status(states: tuple[str, ...], bar: int, beat: int, beats_per_bar: int = 3) -> Status:
    tracks = tuple(
        TrackStatus(n + 1, state, 0, 0.0, None, 1.0, 0) for n, state in enumerate(states)
    )
    return Status(0, 48000, 120.0, beats_per_bar, bar, beat, tracks, 0, 0.0, 0.0, 0.0, 256)


def test_waiting_lights_are_lit_on_every_other_beat_across_odd_bars() -> None:
    waiting = ("waiting", "playing")
    beats = [(bar, beat) for bar in (1, 2) for beat in (1, 2, 3)]
    assert [shown_by(status(waiting, *b))[1] for b in beats] == [
        True,
        False,
        True,
        False,  # bar 2, beat 1: beat 4 since the origin
        True,
        False,
    ]
    assert shown_by(status(waiting, 2, 1)) == (waiting, False)
    assert {shown_by(status(("playing", "empty"), *b))[1] for b in beats} == {True}


def test_the_footswitch_lights_go_to_its_own_device() -> None:
    alsa_outputs = [
        "Midi Through:Midi Through Port-0 14:0",
        "nanoKONTROL2:nanoKONTROL2 MIDI 1 28:0",
        "FCB1010:FCB1010 MIDI 1 24:0",
    ]
    assert device_port(alsa_outputs, "FCB1010:FCB1010 MIDI 1 24:0") == 2
    assert device_port(["looper:midi_in", "harness:lights"], "harness:pedal") == 1
    assert device_port(["looper:midi_in", "harness:lights"], "looper-01:x") is None  # not ours
    assert device_port(alsa_outputs, "FCB:FCB 1 20:0") is None
