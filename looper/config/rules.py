"""Pass 3: the rules that span keys or sections, run on what passed the field checks.

A pydantic model checks one section or one pedal at a time, so that a mistake in
one never hides the mistakes in the others; what only shows when keys are read
together lives here: timings that make a gesture unplayable, a count-in without a
tempo, a loop memory too small for the tempo, a latency longer than a bar, a loop
memory larger than the machine has free, the arguments each action takes, tracks
within `tracks.count`, one binding per message and gesture, one use per cc, a
light that needs a track. Each rule reports and carries on, so the performer sees
every problem in one go. The arguments an action takes come from its command's
fields (schema.ARGS), never from a list of their own.
"""

from __future__ import annotations

from pathlib import Path

from looper.config.checks import MAX_BPM, MIN_BPM, is_number, unknown_key
from looper.config.engine import crossfade_frames, engine_settings
from looper.config.lines import Loc, Report, show
from looper.config.schema import (
    ARGS,
    DEFAULT_LIGHTS,
    MESSAGE_KINDS,
    Audio,
    Clicktrack,
    Config,
    Midi,
    Pedal,
    Tracks,
)
from looper.core.bindings import MessageKind
from looper.core.commands import CONTINUOUS, TRACK_ACTIONS
from looper.core.grid import Grid
from looper.core.settings import (
    EngineSettings,
    holds,
    latency_fits,
    latency_frames,
    max_loop_bars,
    memory_frames,
    memory_seconds_needed,
)
from looper.core.track import MAX_LAYERS

__all__ = [
    "check_clicktrack",
    "check_latency",
    "check_machine",
    "check_memory",
    "check_midi",
    "check_pedals",
    "check_routing",
    "loop_memory_bytes",
]


def check_midi(midi: Midi, report: Report) -> None:
    """Timings that would make a gesture impossible to play."""
    if midi.debounce_ms >= midi.double_ms:
        report(
            ("midi", "debounce_ms"),
            f"found {midi.debounce_ms:g}, not below double_ms ({midi.double_ms:g}); allowed: "
            "less than double_ms (else the second press of a double is dropped as a bounce)",
        )


def check_clicktrack(click: Clicktrack, report: Report) -> None:
    """A count-in is counted at a tempo, so it cannot wait for one to be tapped."""
    if click.bpm == "auto" and click.count_in_bars:
        report(
            ("clicktrack", "count_in_bars"),
            f"found {click.count_in_bars} with bpm: auto; allowed: 0 (a count-in needs a tempo: "
            "set clicktrack.bpm to a number)",
        )


def check_routing(audio: Audio, tracks: Tracks, report: Report) -> None:
    """At most one routing entry per track; a track takes only inputs the looper records."""
    if len(tracks.routing) > tracks.count:
        report(
            ("tracks", "routing"),
            f"found {len(tracks.routing)} entries; allowed: at most tracks.count "
            f"({tracks.count}), one per track from track 1",
        )
    for i, route in enumerate(tracks.routing):
        for j, ch in enumerate(route.inputs or ()):
            if ch not in audio.inputs:
                report(
                    ("tracks", "routing", i, "inputs", j),
                    f"found {ch}; allowed: the channels of audio.inputs "
                    f"({', '.join(map(str, audio.inputs))}), which the looper records",
                )


def check_memory(audio: Audio, click: Clicktrack, tracks: Tracks, report: Report) -> None:
    """The loop memory holds, at the tempo, the history ring and a bar of loops.

    `core.settings.holds` is the rule, the same the engine asks of every tempo. A number
    bpm must pass it (else the engine could not start); with `bpm: auto`, the first loop's
    bars must fit at the fastest tempo (else no first loop could ever be taken). A slower
    tempo tapped or set on stage is refused there, with a message."""
    auto = click.bpm == "auto"
    bpm, bars = (MAX_BPM, click.first_loop_bars) if auto else (float(click.bpm), 1)
    rate, history = audio.sample_rate, audio.history_seconds
    bar = Grid.from_bpm(rate, bpm, click.beats_per_bar).bar
    if holds(history, tracks.memory_seconds, rate, bar, bars):
        return
    need = memory_seconds_needed(bars, history, rate, bar)
    what = f"the first loop's {bars} bars" if auto else "a bar of loops"
    report(
        ("tracks", "memory_seconds"),
        f"found {tracks.memory_seconds:g}; allowed: {need} or more at {bpm:g} bpm (the memory "
        f"holds the {history:g} s of history and {what}: raise tracks.memory_seconds, or "
        "lower audio.history_seconds)",
    )


def check_latency(audio: Audio, click: Clicktrack, tracks: Tracks, report: Report) -> None:
    """A bar longer than the latency and the crossfade together (`core.settings.latency_fits`).

    A loop's history is read one latency late, and its seam fades in over the crossfade:
    a shorter bar would be played before it was recorded, and the engine could not start.
    With `bpm: auto` the slowest tempo's bar (3 s at least) is longer than any latency and
    crossfade the schema allows (1 s and 0.1 s): the engine refuses a first loop too fast
    for the latency, on stage. With `latency_ms: auto` the latency is what the card
    reports at start, unknown here: the engine says then."""
    if audio.latency_ms == "auto" or click.bpm == "auto":
        return
    rate, bpm = audio.sample_rate, float(click.bpm)
    bar = Grid.from_bpm(rate, bpm, click.beats_per_bar).bar
    latency = latency_frames(audio.latency_ms, rate, None)
    if latency_fits(bar, latency, crossfade_frames(audio, tracks)):
        return
    bar_ms = bar * 1000 / rate
    report(
        ("audio", "latency_ms"),
        f"found {audio.latency_ms:g}: with tracks.crossfade_ms ({tracks.crossfade_ms:g}) not "
        f"shorter than a bar ({bar_ms:.0f} ms at {bpm:g} bpm); allowed: latency plus "
        f"crossfade under {bar_ms:.0f} ms, since a loop's history is read one latency late (a "
        "bar must be longer than the latency and the crossfade): lower audio.latency_ms "
        "(looper calibrate measures it) or tracks.crossfade_ms, or set a slower clicktrack.bpm "
        "or more beats_per_bar",
    )


#: Where Linux says how much memory can be had without swapping; without it, no check.
MEMINFO = Path("/proc/meminfo")
_FLOAT32, _INT64 = 4, 8  # the bytes of a sample in the page pool, of a page id in a table


def available_memory() -> int | None:
    """MemAvailable in bytes; None where /proc/meminfo is missing or does not say."""
    try:
        text = MEMINFO.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        return None
    for row in text.splitlines():
        name, _, value = row.partition(":")
        if name == "MemAvailable" and value.split()[:1] and value.split()[0].isdigit():
            return int(value.split()[0]) * 1024  # the kernel counts in kB
    return None


def loop_memory_bytes(settings: EngineSettings) -> int:
    """What the engine allocates (and touches, at set-up) for the loops: the page pool
    (the history and the loop memory, a float32 per frame and input) and each track's
    layer tables (MAX_LAYERS page ids for the longest loop, core.settings.max_loop_bars)."""
    s = settings
    pool = memory_frames(s.history_seconds, s.memory_seconds, s.sample_rate) * len(s.inputs)
    return pool * _FLOAT32 + s.tracks * MAX_LAYERS * max_loop_bars(s) * _INT64


def check_machine(config: Config, report: Report) -> None:
    """The loop memory fits in the memory this machine has free now (MemAvailable).

    Run on a whole config (the engine's arithmetic needs every section). A pool larger
    than that would fail to allocate in the audio process, or push the machine into
    swapping mid-song; so `check` says it before anything starts."""
    available = available_memory()
    if available is None:
        return
    need = loop_memory_bytes(engine_settings(config, 0))
    if need <= available:
        return
    a, t = config.audio, config.tracks
    report(
        ("tracks", "memory_seconds"),
        f"found {t.memory_seconds:g}: with audio.history_seconds {a.history_seconds:g} and "
        f"{len(a.inputs)} input(s) at {a.sample_rate} Hz, the loops need {_gb(need)} of "
        f"memory and this machine has {_gb(available)} available (MemAvailable); allowed: "
        "what the machine has: lower tracks.memory_seconds or audio.history_seconds, record "
        "fewer audio.inputs or at a lower audio.sample_rate, or free memory",
    )


def _gb(size: int) -> str:
    return f"{size / 1e9:,.1f} GB" if size >= 1e8 else f"{size / 1e6:,.0f} MB"


def _check_feedback(at: Loc, pedal: Pedal, report: Report) -> None:
    """A light shows one track's state: it needs a track, one message, known states."""
    fb = pedal.feedback
    if fb is None:
        return
    where = (*at, "feedback")
    if (fb.note is None) == (fb.cc is None):
        found = "both note and cc" if fb.note is not None else "neither note nor cc"
        report(where, f"found {found}; allowed: exactly one of note, cc (what the light receives)")
    if not isinstance(pedal.track, int):
        report(
            where,
            "found feedback without a track number; allowed: feedback on a binding "
            "with a track (the light shows that track's state)",
        )
    for state, value in fb.values.items():
        if state not in DEFAULT_LIGHTS:
            report((*where, "values", state), unknown_key(state, DEFAULT_LIGHTS))
        elif not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 127:
            report((*where, "values", state), f"found {show(value)}; allowed: 0 to 127")


def _check_arguments(at: Loc, pedal: Pedal, track_count: int | None, report: Report) -> None:
    """The arguments the pedal's action takes, each in its range."""
    action = pedal.action
    takes = ARGS[action]
    for arg in ("track", "bars", "value"):
        if getattr(pedal, arg) is not None and arg not in takes:
            allowed = ", ".join(takes) if takes else "no arguments"
            report((*at, arg), f"found {arg}, which {action} does not take; allowed: {allowed}")

    tracks = f"a track number from 1 to {track_count}" if track_count else "a track number"
    if action in TRACK_ACTIONS and action != "reset":
        if pedal.track is None:
            report((*at, "track"), f"found no track for {action}; allowed: {tracks}")
        elif pedal.track == "all":
            report((*at, "track"), f"found 'all'; allowed: {tracks} ('all' is for reset only)")
    in_range = not track_count or not isinstance(pedal.track, int) or pedal.track <= track_count
    if "track" in takes and not in_range:
        report(
            (*at, "track"),
            f"found {pedal.track}; allowed: {tracks} (tracks.count is {track_count})",
        )

    if action == "tempo" and not is_number(pedal.value, MIN_BPM, MAX_BPM):
        found = "no value" if pedal.value is None else f"{pedal.value:g}"
        report(
            (*at, "value"),
            f"found {found} for tempo; allowed: a tempo from {MIN_BPM} to {MAX_BPM} bpm",
        )
    if action in CONTINUOUS and pedal.value is not None and not is_number(pedal.value, 0, 1):
        report(
            (*at, "value"),
            f"found {pedal.value:g}; allowed: a volume from 0.0 to 1.0, or no value to follow a cc",
        )


def _check_message(at: Loc, pedal: Pedal, report: Report) -> MessageKind | None:
    """The one message the pedal binds, and the gestures it can make; its kind, if one."""
    action = pedal.action
    kinds = [k for k in MESSAGE_KINDS if getattr(pedal, k) is not None]
    if len(kinds) != 1:
        found = "none of note, cc, program" if not kinds else " and ".join(kinds)
        report(
            at if not kinds else (*at, kinds[1]),
            f"found {found}; allowed: exactly one of note, cc, program",
        )
        return None
    kind = kinds[0]
    if pedal.continuous and kind != "cc":
        report(
            (*at, kind),
            f"found {kind} {getattr(pedal, kind)} for {action} without a value; allowed: a cc "
            "(the pedal's position sets the volume), or a fixed value from 0.0 to 1.0",
        )
    elif pedal.continuous and pedal.gesture != "press":
        report(
            (*at, "gesture"),
            f"found {pedal.gesture!r} for {action} following a cc; allowed: press (the default), "
            "or a fixed value with any gesture",
        )
    if kind == "program" and pedal.gesture in ("release", "hold"):
        report(
            (*at, "gesture"),
            f"found {pedal.gesture!r} on a program change; allowed: press, double "
            "(a program change has no release)",
        )
    return kind


_CC_USE = {True: "a continuous control", False: "a switch"}


def check_pedals(pedals: dict[int, Pedal], track_count: int | None, report: Report) -> None:
    """Per-pedal rules, then one binding per message and gesture, one use per cc.

    `pedals` are those that passed their field checks, by index in the file;
    `track_count` is None when the tracks section itself was invalid.
    """
    first: dict[tuple[str, int, str], int] = {}  # (kind, number, gesture) -> pedal index
    cc_use: dict[int, tuple[bool, int]] = {}  # cc number -> (continuous, pedal index)
    for i, pedal in pedals.items():
        at = ("pedals", i)
        _check_feedback(at, pedal, report)
        _check_arguments(at, pedal, track_count, report)
        kind = _check_message(at, pedal, report)
        if kind is None:
            continue
        number = getattr(pedal, kind)
        where = (*at, kind)
        key = (kind, number, pedal.gesture)
        if key in first:
            j = first[key]
            report(
                where,
                f"found {kind} {number} {pedal.gesture} again (already bound at line "
                f"{report.line(('pedals', j))}, pedals[{j}]); allowed: one binding per message "
                "and gesture",
            )
            continue
        first[key] = i
        if kind != "cc":
            continue
        continuous, j = cc_use.setdefault(number, (pedal.continuous, i))
        if continuous != pedal.continuous:
            report(
                where,
                f"found cc {number} used as {_CC_USE[pedal.continuous]} here and as "
                f"{_CC_USE[continuous]} at line {report.line(('pedals', j))} (pedals[{j}]); "
                "allowed: one use per cc",
            )
