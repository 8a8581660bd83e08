"""Make configs/demo/: a synthesized phrase (input.wav) and the pedal stomps (pedals.mid).

The phrase is what a performer would play against the click at 120 bpm; the
stomps land slightly off the beat, as feet do. Run again to regenerate.
"""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import soundfile as sf

RATE = 48000
BPM = 120
BEAT = 60 / BPM
BAR = 4 * BEAT
BARS = 13
DEMO = Path(__file__).resolve().parent.parent / "configs" / "demo"

A2, C3, D3, E3, G2 = 45, 48, 50, 52, 43
RIFF = [A2, A2, C3, A2, D3, A2, E3, G2, A2, A2, C3, A2, E3, D3, C3, G2]  # two bars of eighths
MELODY = [
    (76, 1),
    (79, 1),
    (81, 1),
    (84, 1),
    (83, 2),
    (81, 2),
    (79, 1),
    (76, 1),
    (74, 2),
    (76, 3),
    (72, 1),
]  # (note, beats): four bars
STABS = [(57, 60, 64), (53, 57, 60)]  # Am, F: on beats 2 and 4 of two bars
LEAD = [(81, 0.5), (84, 0.5), (86, 1), (84, 1), (81, 1), (79, 2), (76, 2)] * 3


def tone(note: int, seconds: float, level: float, bright: int) -> np.ndarray:
    """A plucked-string-like note: decaying harmonics."""
    t = np.arange(round(seconds * RATE)) / RATE
    f = 440.0 * 2 ** ((note - 69) / 12)
    y = sum(np.sin(2 * np.pi * f * h * t) * np.exp(-t * (2 + 3 * h)) / h for h in range(1, bright))
    fade = np.minimum(1.0, (len(t) - np.arange(len(t))) / 240)  # no click at the note's end
    return level * y * np.minimum(1.0, np.arange(len(t)) / 48) * fade


def place(track: np.ndarray, at_seconds: float, sound: np.ndarray) -> None:
    i = round(at_seconds * RATE)
    n = min(len(sound), len(track) - i)
    track[i : i + n] += sound[:n]


def phrase() -> np.ndarray:
    y = np.zeros(round(BARS * BAR * RATE))
    for k, note in enumerate(RIFF):  # bars 1-2: the riff
        place(y, BAR + k * BEAT / 2, tone(note, BEAT / 2, 0.35, 6))
    at = 3 * BAR  # bars 3-4: a melody over the looped riff
    for note, beats in MELODY[:6]:
        place(y, at, tone(note, beats * BEAT, 0.25, 4))
        at += beats * BEAT
    for bar in (5, 6):  # bars 5-6: stabs, overdubbed onto track 1
        for beat, chord in zip((1, 3), STABS, strict=True):
            for note in chord:
                place(y, bar * BAR + beat * BEAT, tone(note, BEAT * 0.9, 0.12, 5))
    at = 9 * BAR  # bars 9-12: a lead line over the loops
    for note, beats in LEAD[:14]:
        place(y, at, tone(note, beats * BEAT, 0.2, 4))
        at += beats * BEAT
    return (y / max(1.0, np.abs(y).max() / 0.9)).astype(np.float32)


# (seconds, note, held seconds): what the feet do. See demo.yaml for the switches.
STOMPS = [
    (3 * BAR + 0.06, 60, 0.1),  # backloop track 1, 2 bars: a little late, snaps back to bar 3
    (5 * BAR - 0.15, 61, 0.1),  # backloop track 2, 2 bars: a little early, snaps to bar 5
    (5 * BAR + 0.10, 62, 0.1),  # overdub track 1 on (from bar 5)
    (7 * BAR + 0.05, 62, 0.1),  # overdub off at bar 7: one layer of stabs
    (8 * BAR + 0.03, 62, 0.8),  # hold: undo the stabs
    (8 * BAR + 1.70, 63, 0.1),  # toggle track 2: stops at bar 9
    (10 * BAR + 0.10, 63, 0.1),  # toggle track 2: plays again from bar 11
]


def pedals() -> mido.MidiFile:
    midi = mido.MidiFile(type=0, ticks_per_beat=480)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(BPM), time=0))
    events = []
    for at, note, held in STOMPS:
        events.append((at, mido.Message("note_on", note=note, velocity=100)))
        events.append((at + held, mido.Message("note_off", note=note, velocity=0)))
    now = 0
    for at, message in sorted(events, key=lambda e: e[0]):
        tick = round(mido.second2tick(at, 480, mido.bpm2tempo(BPM)))
        track.append(message.copy(time=tick - now))
        now = tick
    return midi


def main() -> None:
    DEMO.mkdir(parents=True, exist_ok=True)
    sf.write(str(DEMO / "input.wav"), phrase(), RATE, subtype="PCM_16")
    pedals().save(str(DEMO / "pedals.mid"))


if __name__ == "__main__":
    main()
