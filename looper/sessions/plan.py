"""What one run does with sessions: where `save` writes, and the session loaded at start.

Decided in the main process before any audio starts (the CLI reads the
session, `with_session_tempo` sets the config's tempo to the session's), then
handed to the audio process, which gives the saved loops to its new engine
(`SessionPlan.restore`) and to its saver (`SessionPlan.target`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from looper.config import Config
from looper.core.engine import Engine
from looper.core.grid import Grid
from looper.sessions.store import STAMP, LoadedSession, counted, read_session


@dataclass(frozen=True, slots=True)
class SessionPlan:
    """Where `save` writes and what to load at start: decided in the main process."""

    directory: Path | None  # --session DIR: every save goes there
    root: Path  # without it, each save makes root/<date_time>/
    loaded: LoadedSession | None = None

    def target(self, now: datetime) -> Path:
        return self.directory if self.directory is not None else self.root / now.strftime(STAMP)

    def restore(self, engine: Engine) -> None:
        """Give each saved loop back to its track, stopped; before the stream starts."""
        if self.loaded is not None:
            for loop in self.loaded.loops:
                engine.load_loop(loop.number - 1, loop.audio, loop.volume)

    def describe(self, saving: bool) -> str | None:
        """What this run does with sessions, for the performer at start; None: nothing to say
        (no --session, no pedal bound to save).

        `saving`: a pedal is bound to `save`.
        """
        if self.directory is None and not saving:
            return None
        save = "save writes it there" if saving else "no pedal is bound to save"
        if self.loaded is not None:
            loops = self.loaded.loops
            numbers = ", ".join(str(loop.number) for loop in loops)
            what = (
                f"{counted(len(loops), 'loop')} (track {numbers}), stopped" if loops else "no loop"
            )
            return (
                f"session {self.loaded.directory}, saved {self.loaded.created}: {what}; play or "
                f"toggle starts a track on the next downbeat; {save}"
            )
        if self.directory is not None:
            return f"session {self.directory}: new; {save}"
        return f"save writes the session to {self.root / 'YYYY-MM-DD_hh-mm-ss'}"


def last_session() -> Path:
    """Where the loops of a run without --session are kept: `$XDG_STATE_HOME/looper/last-session`
    (an absolute XDG_STATE_HOME only, as the XDG spec says), else `~/.local/state/...`."""
    state = os.environ.get("XDG_STATE_HOME", "")
    base = Path(state) if os.path.isabs(state) else Path.home() / ".local" / "state"
    return base / "looper" / "last-session"


def with_session_tempo(config: Config, loaded: LoadedSession) -> tuple[Config, str | None]:
    """The config with the session's tempo and meter (its loops are whole bars of those).

    The note says so when they differ from the config's clicktrack.
    """
    c = config.clicktrack
    click = c.model_copy(update={"bpm": loaded.bpm, "beats_per_bar": loaded.beats_per_bar})
    session_beat = Grid.from_bpm(loaded.sample_rate, loaded.bpm, loaded.beats_per_bar).beat
    same = (
        c.bpm != "auto"
        and Grid.from_bpm(loaded.sample_rate, c.bpm, c.beats_per_bar).beat == session_beat
        and c.beats_per_bar == loaded.beats_per_bar
    )
    note = None
    if not same:
        bpm = c.bpm if c.bpm == "auto" else f"{c.bpm:g}"
        note = (
            f"tempo {loaded.bpm:.2f} bpm, {loaded.beats_per_bar} beats a bar, from the session "
            f"{loaded.directory} (the config's clicktrack says {bpm} bpm, {c.beats_per_bar}): "
            "its loops are whole bars of it"
        )
    return config.model_copy(update={"clicktrack": click}), note


def plan_run(
    config: Config, config_path: Path, session: Path | None
) -> tuple[Config, SessionPlan, str | None]:
    """What `looper run --config CONFIG_PATH [--session SESSION]` plays and where it saves.

    The config comes back with the session's tempo, and the note says when that differs
    from the config's; without --session, each save makes a dated directory in
    `sessions/` beside the config. Raises SessionError before any audio starts.
    """
    loaded = None if session is None else read_session(session, config)
    note = None
    if loaded is not None:
        config, note = with_session_tempo(config, loaded)
    return config, SessionPlan(session, config_path.resolve().parent / "sessions", loaded), note
