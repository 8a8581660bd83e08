"""Mapping tests: hand-built bindings, hand-fed messages, time passed in by hand.

Times are chosen to be exact in binary floating point (T0 = 100.0, hold 0.5 s,
double 0.25 s), so "exactly at the deadline" means exactly.
"""

from __future__ import annotations

from dataclasses import replace

import mido
import pytest

from looper.core.bindings import Binding, Gesture, MessageKind, MidiTiming
from looper.core.commands import (
    Backloop,
    ClickToggle,
    ClickVolume,
    Command,
    Mute,
    Play,
    Record,
    Reset,
    Stop,
    TrackVolume,
    Undo,
)
from looper.midi.gestures import Fired, Mapper

T0 = 100.0
TIMING = MidiTiming(channel=None, debounce_ms=20.0, hold_ms=500.0, double_ms=250.0)
HOLD = TIMING.hold_ms / 1000.0
DOUBLE = TIMING.double_ms / 1000.0
DEBOUNCE = TIMING.debounce_ms / 1000.0

PRESS_CMD = Backloop(track=0, bars=2)
HOLD_CMD = Backloop(track=0, bars=4)
DOUBLE_CMD = Backloop(track=0, bars=1)
RELEASE_CMD = Stop(track=0)

COMMANDS: dict[Gesture, Command] = {
    "press": PRESS_CMD,
    "hold": HOLD_CMD,
    "double": DOUBLE_CMD,
    "release": RELEASE_CMD,
}


def bind(
    gesture: Gesture = "press",
    command: Command | None = None,
    kind: MessageKind = "note",
    number: int = 60,
    action: str = "backloop",
    continuous: bool = False,
) -> Binding:
    """A binding as the config would hand it over."""
    return Binding(
        kind=kind,
        number=number,
        gesture=gesture,
        action=action,
        command=COMMANDS[gesture] if command is None else command,
        continuous=continuous,
    )


def mapper(*gestures: Gesture, kind: MessageKind = "note", number: int = 60, **timing) -> Mapper:
    """A mapper with one switch bound to the given gestures (the default commands)."""
    return Mapper([bind(g, kind=kind, number=number) for g in gestures], replace(TIMING, **timing))


def on(note: int = 60, velocity: int = 100, channel: int = 0) -> mido.Message:
    return mido.Message("note_on", note=note, velocity=velocity, channel=channel)


def off(note: int = 60, channel: int = 0) -> mido.Message:
    return mido.Message("note_off", note=note, channel=channel)


def cc(value: int, control: int = 64, channel: int = 0) -> mido.Message:
    return mido.Message("control_change", control=control, value=value, channel=channel)


def pc(program: int = 3, channel: int = 0) -> mido.Message:
    return mido.Message("program_change", program=program, channel=channel)


def fired(gesture: Gesture, at: float, switch: str = "note 60") -> Fired:
    return Fired(COMMANDS[gesture], at, gesture, switch)


# --- message decoding ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("down", "up"),
    [
        (on(velocity=100), off()),
        (on(velocity=1), on(velocity=0)),  # running-status style release
        (on(velocity=127), off()),
    ],
    ids=["note_off", "velocity_0", "full_velocity"],
)
def test_note_press_and_release(down: mido.Message, up: mido.Message) -> None:
    m = mapper("press", "release")
    assert m.feed(down, T0) == [fired("press", T0)]
    assert m.feed(up, T0 + 0.1) == [fired("release", T0 + 0.1)]


@pytest.mark.parametrize(
    ("value", "gesture"),
    [(127, "press"), (64, "press"), (63, "release"), (0, "release")],
)
def test_cc_threshold(value: int, gesture: Gesture) -> None:
    m = mapper("press", "release", kind="cc", number=64)
    # Put the switch in the state where `value` is a change: down for a release, up for a press.
    if gesture == "release":
        m.feed(cc(127), T0 - 1.0)
    assert m.feed(cc(value), T0) == [fired(gesture, T0, "cc 64")]


@pytest.mark.parametrize(("value", "expected"), [(0, 0.0), (64, 64 / 127), (127, 1.0)])
def test_continuous_cc_scales_value(value: int, expected: float) -> None:
    b = bind("press", TrackVolume(track=1), kind="cc", number=7, continuous=True)
    m = Mapper([b], TIMING)
    assert m.feed(cc(value, control=7), T0) == [
        Fired(TrackVolume(1, expected), T0, "press", "cc 7")
    ]


def test_continuous_cc_midpoint_is_about_half() -> None:
    b = bind("press", ClickVolume(1.0), kind="cc", number=11, continuous=True)
    (f,) = Mapper([b], TIMING).feed(cc(64, control=11), T0)
    assert isinstance(f.command, ClickVolume)
    assert f.command.value == pytest.approx(0.504, abs=1e-3)


def test_continuous_cc_has_no_debounce_and_no_gesture() -> None:
    b = bind("press", TrackVolume(track=0), kind="cc", number=7, continuous=True)
    m = Mapper([b], TIMING)
    values = [10, 90, 90, 20, 0]
    out = [m.feed(cc(v, control=7), T0 + i * 0.001) for i, v in enumerate(values)]
    assert [[f.command.value * 127 for f in fs] for fs in out] == [[v] for v in values]
    assert all(f.gesture == "press" and f.at == T0 + i * 0.001 for i, (f,) in enumerate(out))
    assert m.next_deadline() is None


def test_program_change_is_a_press_with_no_release() -> None:
    m = Mapper([bind("press", Play(track=2), kind="program", number=3)], TIMING)
    assert m.feed(pc(3), T0) == [Fired(Play(2), T0, "press", "program 3")]
    # Each program change is a fresh stomp: no "already down".
    assert m.feed(pc(3), T0 + 0.1) == [Fired(Play(2), T0 + 0.1, "press", "program 3")]
    assert m.feed(pc(4), T0 + 0.2) == []


def test_program_change_double() -> None:
    m = mapper("press", "double", kind="program", number=3)
    assert m.feed(pc(3), T0) == []
    assert m.feed(pc(3), T0 + 0.1) == [fired("double", T0, "program 3")]
    assert m.poll(T0 + 10) == []
    assert m.feed(pc(3), T0 + 1.0) == []
    assert m.poll(T0 + 1.0 + DOUBLE) == [fired("press", T0 + 1.0, "program 3")]


@pytest.mark.parametrize("gesture", ["release", "hold"])
def test_program_change_cannot_release_or_hold(gesture: Gesture) -> None:
    with pytest.raises(ValueError, match="program 3"):
        mapper(gesture, kind="program", number=3)


def test_continuous_binding_must_be_cc() -> None:
    with pytest.raises(ValueError, match="note 60"):
        Mapper([bind("press", TrackVolume(0), continuous=True)], TIMING)


def test_cc_cannot_be_continuous_and_gestural() -> None:
    volume = bind("press", TrackVolume(0), kind="cc", number=7, continuous=True)
    with pytest.raises(ValueError, match="cc 7"):
        Mapper([volume, bind("press", kind="cc", number=7)], TIMING)


@pytest.mark.parametrize(
    ("channel", "message_channel", "fires"),
    [
        (None, 0, True),
        (None, 15, True),
        (1, 0, True),
        (1, 1, False),
        (16, 15, True),
        (16, 0, False),
    ],
)
def test_channel_filter(channel: int | None, message_channel: int, fires: bool) -> None:
    m = mapper("press", channel=channel)
    assert m.feed(on(channel=message_channel), T0) == ([fired("press", T0)] if fires else [])


def test_channel_filter_applies_to_release_and_cc_and_program() -> None:
    bindings = [
        bind("release"),
        bind("press", kind="cc", number=64),
        bind("press", Play(0), kind="program", number=3),
        bind("press", TrackVolume(0), kind="cc", number=7, continuous=True),
    ]
    m = Mapper(bindings, MidiTiming(channel=2, debounce_ms=20, hold_ms=500, double_ms=250))
    assert m.feed(on(channel=1), T0) == []
    assert m.feed(off(channel=0), T0 + 0.1) == []  # wrong channel: still down
    assert m.feed(off(channel=1), T0 + 0.2) == [fired("release", T0 + 0.2)]
    assert m.feed(cc(127, channel=0), T0) == []
    assert m.feed(pc(3, channel=0), T0) == []
    assert m.feed(cc(50, control=7, channel=0), T0) == []


@pytest.mark.parametrize(
    "message",
    [
        mido.Message("clock"),
        mido.Message("start"),
        mido.Message("sysex", data=[0x7E, 0x7F, 0x06, 0x01]),
        mido.Message("pitchwheel", pitch=8191),
        mido.Message("aftertouch", value=100),
        mido.Message("polytouch", note=60, value=100),
        mido.Message("songpos", pos=10),
        mido.MetaMessage("end_of_track"),
        on(note=61),
        off(note=61),
        cc(127, control=65),
        pc(9),
        None,
        "note_on",
    ],
    ids=lambda m: getattr(m, "type", repr(m)),
)
def test_unknown_messages_are_ignored(message: object) -> None:
    m = Mapper(
        [bind("press"), bind("hold"), bind("press", kind="cc", number=64)],
        TIMING,
    )
    assert m.feed(message, T0) == []  # type: ignore[arg-type]
    assert m.next_deadline() is None


# --- debounce and repeats -----------------------------------------------------------------


def test_bounce_press_and_its_release_are_ignored() -> None:
    m = mapper("press", "release")
    assert m.feed(on(), T0) == [fired("press", T0)]
    assert m.feed(off(), T0 + 0.005) == [fired("release", T0 + 0.005)]
    assert m.feed(on(), T0 + DEBOUNCE - 0.001) == []  # bounce
    assert m.feed(on(), T0 + DEBOUNCE + 0.001) == []  # still down (its release has not come)
    assert m.feed(off(), T0 + 0.1) == []  # the bounce's release
    assert m.feed(on(), T0 + 0.2) == [fired("press", T0 + 0.2)]


def test_press_exactly_at_debounce_counts() -> None:
    m = mapper("press")
    m.feed(on(), T0)
    m.feed(off(), T0 + 0.001)
    assert m.feed(on(), T0 + DEBOUNCE) == [fired("press", T0 + DEBOUNCE)]


@pytest.mark.parametrize("kind", ["note", "cc"])
def test_press_while_down_is_ignored(kind: MessageKind) -> None:
    number = 60 if kind == "note" else 64
    down, up = (on(), off()) if kind == "note" else (cc(127), cc(0))
    m = mapper("press", "release", kind=kind, number=number)
    switch = f"{kind} {number}"
    assert m.feed(down, T0) == [fired("press", T0, switch)]
    assert m.feed(down, T0 + 1.0) == []  # 127 twice without 0: a repeat, not a press
    assert m.feed(up, T0 + 2.0) == [fired("release", T0 + 2.0, switch)]
    assert m.feed(up, T0 + 2.5) == []  # release while up


def test_debounce_prevents_a_double() -> None:
    m = mapper("press", "double")
    m.feed(on(), T0)
    m.feed(off(), T0 + 0.002)
    assert m.feed(on(), T0 + 0.005) == []
    assert m.feed(off(), T0 + 0.05) == []
    assert m.poll(T0 + DOUBLE) == [fired("press", T0)]


# --- gestures -----------------------------------------------------------------------------


def test_press_only_fires_at_once_and_never_waits() -> None:
    m = mapper("press")
    assert m.feed(on(), T0) == [fired("press", T0)]
    assert m.next_deadline() is None
    assert m.feed(off(), T0 + 5.0) == []
    assert m.poll(T0 + 10.0) == []


def test_press_and_release_only_fires_at_once() -> None:
    m = mapper("press", "release")
    assert m.feed(on(), T0) == [fired("press", T0)]
    assert m.next_deadline() is None


def test_hold_fires_at_exactly_hold_ms_and_suppresses_press() -> None:
    m = mapper("press", "hold")
    assert m.feed(on(), T0) == []
    assert m.next_deadline() == T0 + HOLD
    assert m.poll(T0 + HOLD - 0.001) == []
    assert m.poll(T0 + HOLD) == [fired("hold", T0)]
    assert m.next_deadline() is None
    assert m.poll(T0 + 10.0) == []
    assert m.feed(off(), T0 + 2.0) == []


def test_hold_is_stamped_at_the_press_even_when_polled_late() -> None:
    m = mapper("press", "hold")
    m.feed(on(), T0)
    assert m.poll(T0 + 3.0) == [fired("hold", T0)]


def test_short_tap_with_hold_bound_fires_press_on_release_stamped_at_press() -> None:
    m = mapper("press", "hold", "release")
    assert m.feed(on(), T0) == []
    assert m.feed(off(), T0 + 0.2) == [fired("press", T0), fired("release", T0 + 0.2)]
    assert m.next_deadline() is None
    assert m.poll(T0 + HOLD) == []


def test_release_after_missed_poll_still_resolves_hold_first() -> None:
    # The MIDI loop never polled: feed resolves the hold before the release.
    m = mapper("press", "hold", "release")
    m.feed(on(), T0)
    assert m.feed(off(), T0 + HOLD + 0.1) == [
        fired("hold", T0),
        fired("release", T0 + HOLD + 0.1),
    ]


def test_hold_only_fires_nothing_on_tap() -> None:
    m = mapper("hold")
    m.feed(on(), T0)
    assert m.feed(off(), T0 + 0.1) == []
    m.feed(on(), T0 + 1.0)
    assert m.poll(T0 + 1.0 + HOLD) == [fired("hold", T0 + 1.0)]


def test_double_within_window_fires_only_double() -> None:
    m = mapper("press", "double")
    assert m.feed(on(), T0) == []
    assert m.next_deadline() == T0 + DOUBLE
    assert m.feed(off(), T0 + 0.05) == []
    assert m.feed(on(), T0 + 0.2) == [fired("double", T0)]
    assert m.next_deadline() is None
    assert m.feed(off(), T0 + 0.3) == []
    assert m.poll(T0 + 10.0) == []


@pytest.mark.parametrize("late", [DOUBLE, DOUBLE + 0.1])
def test_double_too_late_is_two_presses(late: float) -> None:
    m = mapper("press", "double")
    m.feed(on(), T0)
    m.feed(off(), T0 + 0.05)
    # No poll in between: feed fires the first press before taking the second.
    assert m.feed(on(), T0 + late) == [fired("press", T0)]
    assert m.feed(off(), T0 + late + 0.05) == []
    assert m.next_deadline() == T0 + late + DOUBLE
    assert m.poll(T0 + late + DOUBLE) == [fired("press", T0 + late)]


def test_double_pending_press_fires_from_poll_at_window_end() -> None:
    m = mapper("press", "double")
    m.feed(on(), T0)
    m.feed(off(), T0 + 0.05)
    assert m.poll(T0 + DOUBLE - 0.001) == []
    assert m.poll(T0 + DOUBLE) == [fired("press", T0)]
    assert m.next_deadline() is None


def test_double_without_hold_fires_press_at_window_end_while_still_down() -> None:
    m = mapper("press", "double", "release")
    m.feed(on(), T0)
    assert m.poll(T0 + DOUBLE) == [fired("press", T0)]
    assert m.feed(off(), T0 + 1.0) == [fired("release", T0 + 1.0)]


def test_triple_tap_is_double_then_press() -> None:
    m = mapper("press", "double")
    m.feed(on(), T0)
    m.feed(off(), T0 + 0.05)
    assert m.feed(on(), T0 + 0.1) == [fired("double", T0)]
    m.feed(off(), T0 + 0.15)
    assert m.feed(on(), T0 + 0.2) == []
    assert m.poll(T0 + 0.2 + DOUBLE) == [fired("press", T0 + 0.2)]


# press + hold + double on one switch, each row a script of (time offset, message or poll).
ALL = ("press", "hold", "double", "release")


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        pytest.param(
            [(0.0, "on"), (0.1, "off"), (DOUBLE, "poll")],
            [("release", 0.1), ("press", 0.0)],
            id="tap",
        ),
        pytest.param(
            [(0.0, "on"), (0.1, "off"), (0.2, "on"), (0.3, "off"), (5.0, "poll")],
            [("release", 0.1), ("double", 0.0), ("release", 0.3)],
            id="double",
        ),
        pytest.param(
            [(0.0, "on"), (HOLD, "poll"), (1.0, "off")],
            [("hold", 0.0), ("release", 1.0)],
            id="hold",
        ),
        pytest.param(
            [(0.0, "on"), (DOUBLE, "poll"), (0.4, "off"), (5.0, "poll")],
            [("press", 0.0), ("release", 0.4)],
            id="tap-longer-than-double-window-shorter-than-hold",
        ),
        pytest.param(
            [(0.0, "on"), (0.1, "off"), (0.2, "on"), (0.2 + HOLD, "poll"), (1.0, "off")],
            [("release", 0.1), ("double", 0.0), ("release", 1.0)],
            id="double-then-hold-second-press-is-only-double",
        ),
        pytest.param(
            [(0.0, "on"), (0.1, "off"), (0.3, "on"), (0.3 + HOLD, "poll"), (1.0, "off")],
            [("release", 0.1), ("press", 0.0), ("hold", 0.3), ("release", 1.0)],
            id="tap-then-late-hold",
        ),
    ],
)
def test_press_hold_double_on_one_switch(
    script: list[tuple[float, str]], expected: list[tuple[Gesture, float]]
) -> None:
    m = mapper(*ALL)
    out: list[Fired] = []
    for offset, what in script:
        now = T0 + offset
        if what == "poll":
            out += m.poll(now)
        else:
            out += m.feed(on() if what == "on" else off(), now)
    assert out == [fired(g, T0 + at) for g, at in expected]


def test_hold_wins_over_double_when_held_past_both_windows() -> None:
    m = mapper("press", "hold", "double")
    m.feed(on(), T0)
    assert m.next_deadline() == T0 + HOLD  # not the double window: a hold may still win
    assert m.poll(T0 + DOUBLE) == []
    assert m.poll(T0 + HOLD) == [fired("hold", T0)]


@pytest.mark.parametrize("others", [(), ("press",), ("press", "hold"), ("press", "double")])
def test_release_fires_at_every_release_regardless(others: tuple[Gesture, ...]) -> None:
    m = mapper("release", *others)
    for i in range(3):
        start = T0 + i  # far apart: no doubles
        m.feed(on(), start)
        out = m.feed(off(), start + 0.1) + m.poll(start + 0.9)
        assert fired("release", start + 0.1) in out


def test_several_bindings_on_one_gesture_fire_in_order() -> None:
    bindings = [bind("press", Record(0)), bind("press", Mute(1), action="mute")]
    m = Mapper(bindings, TIMING)
    assert m.feed(on(), T0) == [
        Fired(Record(0), T0, "press", "note 60"),
        Fired(Mute(1), T0, "press", "note 60"),
    ]


def test_switches_are_independent() -> None:
    bindings = [
        bind("press", Undo(0), number=60),
        bind("hold", Reset(None), number=60),
        bind("press", ClickToggle(), number=62),
    ]
    m = Mapper(bindings, TIMING)
    assert m.feed(on(60), T0) == []
    assert m.feed(on(62), T0 + 0.1) == [Fired(ClickToggle(), T0 + 0.1, "press", "note 62")]
    assert m.feed(off(62), T0 + 0.2) == []
    assert m.feed(off(60), T0 + 0.3) == [Fired(Undo(0), T0, "press", "note 60")]


# --- next_deadline ------------------------------------------------------------------------


def test_next_deadline_is_earliest_over_switches_and_poll_fires_in_order() -> None:
    bindings = [
        bind("press", Play(0), number=60),
        bind("hold", Stop(0), number=60),
        bind("press", Play(1), number=61),
        bind("double", Stop(1), number=61),
        bind("press", Play(2), number=62),
    ]
    m = Mapper(bindings, TIMING)
    assert m.next_deadline() is None
    m.feed(on(62), T0)
    assert m.next_deadline() is None
    m.feed(on(60), T0)
    assert m.next_deadline() == T0 + HOLD
    m.feed(on(61), T0 + 0.1)
    assert m.next_deadline() == T0 + 0.1 + DOUBLE
    m.feed(off(61), T0 + 0.15)
    assert m.next_deadline() == T0 + 0.1 + DOUBLE
    assert m.poll(T0 + 5.0) == [
        Fired(Play(1), T0 + 0.1, "press", "note 61"),
        Fired(Stop(0), T0, "hold", "note 60"),
    ]
    assert m.next_deadline() is None


@pytest.mark.parametrize(
    ("gestures", "release_at", "deadline"),
    [
        (("press", "hold"), None, T0 + HOLD),
        (("press", "double"), None, T0 + DOUBLE),
        (("press", "double"), 0.1, T0 + DOUBLE),
        (("press", "hold", "double"), None, T0 + HOLD),
        (("press", "hold", "double"), 0.1, T0 + DOUBLE),
        (("press", "hold", "double"), 0.3, None),
        (("press", "release"), None, None),
    ],
)
def test_next_deadline_values(
    gestures: tuple[Gesture, ...], release_at: float | None, deadline: float | None
) -> None:
    m = mapper(*gestures)
    m.feed(on(), T0)
    if release_at is not None:
        m.feed(off(), T0 + release_at)
    assert m.next_deadline() == deadline
