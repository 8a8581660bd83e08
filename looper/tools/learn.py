"""MIDI learn: stomp each switch once when asked, and the pedalboard YAML gains its binding.

`looper learn` walks a short list of steps (an action, its track, its gesture), takes
the first press heard for each, and appends the bindings to the file's `pedals` list.
The parts that need no MIDI are plain functions: the steps, what a raw message presses,
conflicts with the bindings already there, the new items as YAML. `Inputs` reads the
footswitch and the terminal in parallel and `walk` runs the questions; cli.py prints.

The file is edited as text (looper.config.edit says why, and how): the new items go
after the last item of `pedals` and the comments indented under it, so every byte
already there stays; the written file is then checked with `load_config`, and put
back if it fails.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import mido

from looper.config import Config, ConfigError, Midi, load_config
from looper.config.edit import EditError, item_lines, snippet, with_items
from looper.core.bindings import Gesture, MessageKind
from looper.core.commands import ACTIONS, CONTINUOUS, TRACK_ACTIONS
from looper.errors import LooperError
from looper.midi.gestures import CC_PRESS_THRESHOLD, PROGRAM_GESTURES
from looper.midi.keepers import PortState
from looper.midi.process import stamped

__all__ = [
    "DEFAULT_ACTIONS",
    "HOLD_ACTIONS",
    "LEARNABLE",
    "Board",
    "Input",
    "Inputs",
    "LearnError",
    "Source",
    "Step",
    "Stomp",
    "Switch",
    "Track",
    "item",
    "pressed",
    "snippet",  # from config.edit: what `looper learn --print` shows, beside the rest of learn
    "steps",
    "walk",
    "write",
]

#: What a bare `looper learn` asks for: each track's actions, then the board's.
DEFAULT_ACTIONS = ("backloop", "record", "overdub", "undo", "reset", "tap_tempo")
#: Held, not pressed: a slip of the foot must not drop a loop or empty every track.
HOLD_ACTIONS = frozenset({"undo", "reset"})
#: Actions one stomp can bind: the others need a `value` (or an expression pedal).
LEARNABLE = tuple(name for name in ACTIONS if name not in CONTINUOUS and name != "tempo")

Track = int | Literal["all"] | None


class LearnError(LooperError, RuntimeError):
    """What stops learn before or instead of writing, in words for the performer."""


def _what(action: str, track: Track) -> str:
    """An action and its track as the performer reads them: 'backloop track 1'."""
    if action == "reset" and track in (None, "all"):
        return "reset all tracks"
    return action if track is None else f"{action} track {track}"


@dataclass(frozen=True, slots=True)
class Step:
    """One question: the binding a stomp will make."""

    action: str
    gesture: Gesture
    track: Track = None

    def __str__(self) -> str:
        return f"{_what(self.action, self.track)} ({self.gesture})"

    @property
    def prompt(self) -> str:
        return f"Stomp the switch for: {self} — or press Enter to skip"


def _choices(option: str, text: str, allowed: Sequence[str], shown: str) -> list[str]:
    """The comma-separated items of an option, each once, each one of `allowed`."""
    items = list(dict.fromkeys(item.strip() for item in text.split(",")))
    for item in items:
        if item not in allowed:
            raise LearnError(f"{option}: found {item!r}; allowed: {shown}, comma-separated")
    return items


def steps(track_count: int, actions: str | None = None, tracks: str | None = None) -> list[Step]:
    """What to ask for, in order: for each track its actions, then reset and the rest.

    `actions` and `tracks` are the options as typed ("backloop,undo", "1,2"); None
    means the defaults (DEFAULT_ACTIONS, every track).
    """
    names = list(DEFAULT_ACTIONS)
    if actions is not None:
        names = _choices("--actions", actions, LEARNABLE, ", ".join(LEARNABLE))
    numbers = [str(n) for n in range(1, track_count + 1)]
    if tracks is not None:
        numbers = _choices("--tracks", tracks, numbers, f"track numbers from 1 to {track_count}")
    per_track = [name for name in names if name in TRACK_ACTIONS and name != "reset"]
    board = [name for name in names if name not in per_track]
    gesture: dict[str, Gesture] = {
        name: "hold" if name in HOLD_ACTIONS else "press" for name in names
    }
    return [Step(name, gesture[name], int(n)) for n in numbers for name in per_track] + [
        Step(name, gesture[name], "all" if name == "reset" else None) for name in board
    ]


@dataclass(frozen=True, slots=True)
class Switch:
    """A footswitch, as bindings name it: a message kind and its number."""

    kind: MessageKind
    number: int

    def __str__(self) -> str:
        return f"{self.kind} {self.number}"


def pressed(data: Sequence[int], channel: int | None) -> Switch | None:
    """The switch a raw message presses, as the mapping reads presses (a note-on, a cc
    at 64 or more, a program change); None for anything else or another `channel`."""
    try:
        message = mido.Message.from_bytes(list(data))
    except ValueError:
        return None
    if channel is not None and getattr(message, "channel", None) != channel - 1:
        return None
    if message.type == "note_on" and message.velocity > 0:
        return Switch("note", message.note)
    if message.type == "control_change" and message.value >= CC_PRESS_THRESHOLD:
        return Switch("cc", message.control)
    if message.type == "program_change":
        return Switch("program", message.program)
    return None


class Board:
    """The bindings in the file and those learned so far: what a new one would clash with."""

    def __init__(self, config: Config, text: str) -> None:
        """`config` is `text` validated: the bindings come from it, their lines from `text`."""
        self.learned: list[tuple[Step, Switch]] = []
        self._bound: dict[tuple[Switch, Gesture], str] = {}
        self._pedal: dict[int, str] = {}  # cc number -> the expression pedal's binding
        lines = item_lines(text)
        for pedal, binding, line in zip(config.pedals, config.bindings(), lines, strict=True):
            switch = Switch(binding.kind, binding.number)
            what = f"{_what(pedal.action, pedal.track)} at line {line}"
            if binding.continuous:
                self._pedal[binding.number] = what
            else:
                self._bound[(switch, binding.gesture)] = what

    @classmethod
    def read(cls, path: Path, config: Config) -> Board:
        """The board of the file `config` was loaded from."""
        return cls(config, path.read_text(encoding="utf-8-sig"))

    def conflict(self, switch: Switch, gesture: Gesture) -> str | None:
        """Why `switch` cannot take `gesture`, or None: the performer decides, not learn."""
        if switch.kind == "program" and gesture not in PROGRAM_GESTURES:
            return f"{switch} cannot {gesture}: a program change has no release; skipped"
        pedal = self._pedal.get(switch.number) if switch.kind == "cc" else None
        if pedal is not None:
            return f"{switch} is already the expression pedal for {pedal}; skipped"
        bound = self._bound.get((switch, gesture))
        if bound is not None:
            return f"{switch} {gesture} is already bound to {bound}; skipped"
        return None

    def learn(self, step: Step, switch: Switch) -> None:
        self._bound[(switch, step.gesture)] = (
            f"{_what(step.action, step.track)} earlier in this session"
        )
        self.learned.append((step, switch))

    def items(self) -> list[str]:
        """The learned bindings as `pedals` items, in the file's own style."""
        return [item(step, switch) for step, switch in self.learned]


def item(step: Step, switch: Switch) -> str:
    """One binding as a flow mapping: '{note: 70, gesture: hold, action: undo, track: 1}'."""
    keys: dict[str, object] = {switch.kind: switch.number}
    if step.gesture != "press":
        keys["gesture"] = step.gesture
    keys["action"] = step.action
    if step.track is not None:
        keys["track"] = step.track
    return "{" + ", ".join(f"{key}: {value}" for key, value in keys.items()) + "}"


def write(path: Path, items: Sequence[str]) -> None:
    """Append `items` to the file's `pedals`, then read it back as the looper will: if
    that fails, the file is put back as it was, and LearnError says why."""
    try:
        raw = path.read_bytes()
        newline = "\r\n" if b"\r\n" in raw else "\n"
        text = with_items(raw.decode("utf-8-sig").replace("\r\n", "\n"), items)
        path.write_text(text, encoding="utf-8", newline=newline)
    except OSError as error:
        raise LearnError(f"{path}: cannot update it ({error.strerror}); nothing written") from None
    except EditError as error:
        raise LearnError(f"{path}:{error}; nothing written") from None
    try:
        load_config(path)
    except ConfigError as error:
        path.write_bytes(raw)
        problems = "\n".join(map(str, error.problems))
        raise LearnError(
            f"{path}: the new bindings make the config invalid, so it is back as it was:\n"
            f"{problems}"
        ) from None


# --- the session: the footswitch and the terminal ------------------------------------------


@dataclass(frozen=True, slots=True)
class Stomp:
    """A press heard on the footswitch, stamped with `time.monotonic()`."""

    switch: Switch
    at: float


#: What the session waits for: the port's news, a stomp, a line typed, None at the
#: terminal's end (Ctrl-D, or a closed pipe).
Input = PortState | Stomp | str | None


class Source(Protocol):
    """Where `walk` takes its inputs from, one at a time, waiting for the next."""

    def get(self) -> Input: ...


class Inputs:
    """The footswitch's presses and the terminal's lines, on one queue as they come.

    One thread keeps the port open and reads it, another reads the terminal, so a
    test can drive both (a harness pedal, a stdin pipe). The terminal is read with
    `os.read`, not `sys.stdin`, whose lock a reader still waiting at exit would hold
    while the interpreter tries to close it.
    """

    def __init__(self, midi: Midi, fd: int = 0) -> None:
        self._queue: queue.Queue[Input] = queue.Queue()
        self._stop = threading.Event()
        self._midi = threading.Thread(target=self._listen, args=(midi,), daemon=True)
        self._midi.start()
        threading.Thread(target=self._read, args=(fd,), daemon=True).start()

    def get(self) -> Input:
        return self._queue.get()

    def close(self) -> None:
        """Close the port (in the thread that opened it); the terminal's reader stays
        blocked until the process ends."""
        self._stop.set()
        self._midi.join()

    def __enter__(self) -> Inputs:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _listen(self, midi: Midi) -> None:
        for event in stamped(midi, self._stop):
            if isinstance(event, PortState):
                self._queue.put(event)
            elif (switch := pressed(event[0], midi.channel)) is not None:
                self._queue.put(Stomp(switch, event[1]))

    def _read(self, fd: int) -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # no terminal at all: as if it closed
                chunk = b""
            if not chunk:
                break
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                self._queue.put(line.decode(errors="replace"))
        self._queue.put(None)


def walk(steps: Sequence[Step], board: Board, inputs: Source, debounce_ms: float) -> Iterator[str]:
    """Ask each step in turn and learn the first press heard; yield what to print.

    The first question waits for the port to open, so that no stomp is lost; lines
    typed before it answer nothing. A line skips the step; a press within
    `debounce_ms` of the last is contact bounce; a switch already bound for the
    gesture is reported and the step skipped. The end of the terminal ends the
    walk, keeping what was learned.
    """
    event = inputs.get()
    while not (isinstance(event, PortState) and event.connected):
        if event is None:
            return
        if isinstance(event, PortState):
            yield event.text
        event = inputs.get()
    yield event.text
    last = float("-inf")
    for step in steps:
        yield step.prompt
        while True:
            event = inputs.get()
            if event is None:
                yield "the terminal closed: the remaining steps are skipped"
                return
            if isinstance(event, str):
                yield f"skipped {step}"
                break
            if isinstance(event, PortState):
                yield event.text
                if event.connected:
                    yield step.prompt
                continue
            if event.at - last < debounce_ms / 1000:
                continue
            last = event.at
            conflict = board.conflict(event.switch, step.gesture)
            if conflict is None:
                board.learn(step, event.switch)
            yield conflict or f"{event.switch} -> {step}"
            break
