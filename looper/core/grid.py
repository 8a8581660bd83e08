"""The click grid in whole frames: loops and click cannot drift apart, not after hours."""

from __future__ import annotations

from dataclasses import dataclass, field

#: The tempo range: taps and `set_tempo` are clamped to it, a first loop's length too, and
#: the smallest bar (at MAX_BPM) sizes the tracks' tables.
MIN_BPM, MAX_BPM = 20, 300


@dataclass(frozen=True, slots=True)
class Grid:
    """Tempo and meter, with bar k starting at `origin + k * bar`."""

    sample_rate: int
    beat: int  # frames per beat
    beats_per_bar: int
    origin: int = 0
    bar: int = field(init=False)  # frames per bar: a plain field, read in every segment

    def __post_init__(self) -> None:
        object.__setattr__(self, "bar", self.beat * self.beats_per_bar)

    @classmethod
    def from_bpm(cls, sample_rate: int, bpm: float, beats_per_bar: int, origin: int = 0) -> Grid:
        """A beat is a whole number of frames, so the exact tempo is what that rounds to."""
        return cls(sample_rate, max(1, round(60 * sample_rate / bpm)), beats_per_bar, origin)

    @property
    def bpm(self) -> float:
        """The exact tempo the whole-frame beat gives (what the status shows)."""
        return 60.0 * self.sample_rate / self.beat

    def bar_index(self, frame: int) -> int:
        return (frame - self.origin) // self.bar

    def bar_start(self, frame: int) -> int:
        """Start of the bar containing `frame`."""
        return self.origin + self.bar_index(frame) * self.bar

    def next_bar(self, frame: int) -> int:
        """First downbeat at or after `frame`."""
        return self.origin - ((self.origin - frame) // self.bar) * self.bar

    def next_beat(self, frame: int) -> int:
        """First beat at or after `frame`."""
        return self.origin - ((self.origin - frame) // self.beat) * self.beat

    def next_beat_after(self, frame: int) -> int:
        """First beat strictly after `frame`."""
        return self.next_beat(frame + 1)

    def snap(self, frame: int, late: float) -> int:
        """The downbeat a press means: the one just passed, unless it is in the bar's last part."""
        start = self.bar_start(frame)
        return start if frame - start < late * self.bar else start + self.bar

    def beat_in_bar(self, frame: int) -> int:
        """0-based beat number within its bar."""
        return ((frame - self.origin) // self.beat) % self.beats_per_bar
