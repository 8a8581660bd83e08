"""The one live driver: a `looper` command as a subprocess on a test JACK server.

Every live test runs the looper through this module: `Looper` for a command that runs
while the test plays, stomps and reads its output (`looper --config`, `learn`,
`monitor`, `calibrate`), `run` for one that runs to its end by itself (a bad config,
`devices`, `demo`).

* Output: stdout and stderr are read as they come by two threads, so a test waits for
  a line without polling a file, and an exited looper's output is complete once `wait`
  or `stop` returns. `wait_for` looks anywhere in what was printed so far;
  `read_until` reads stdout line by line, in order, from where the last one stopped
  (a prompt, then its answer).
* Ctrl-C: the command runs as `python -c` with SIGINT's default handler put back, so
  SIGINT raises KeyboardInterrupt even when pytest was started as a shell's background
  job (such jobs inherit SIGINT ignored, and Python then keeps it so); SIGHUP too (the
  looper keeps an ignored SIGHUP ignored, as `nohup` asks).
* With `harness`, the looper's audio ports are wired to it (harness:out_k -> looper:in_k,
  looper:out_k -> harness:in_k) before waiting for `ready`.
* A looper left running is killed on leaving a `with` block, when setting up fails, and
  when what a test waited for never came. On a --sync server a kill stalls the graph
  for ~20 s (see looper.rig.jackserver), so tests end it with `stop` (SIGINT) or
  `finish`, and the kill is for failures.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:  # the JACK modules load with the server: collecting needs no libjack
    from looper.rig.harness import Harness
    from looper.rig.jackserver import JackServer

LOOPER = [sys.executable, "-m", "looper"]
LOOPER_WITH_CTRL_C = [
    sys.executable,
    "-c",
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "signal.signal(signal.SIGHUP, signal.SIG_DFL); "
    "from looper.cli import main; sys.exit(main())",
]
TIMEOUT = 30.0  # seconds for anything to happen; generous for a loaded 2-core machine
LISTENING = "MIDI: listening"  # the pedal's port is open


def run(
    server: JackServer | None, *args: str, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """`looper ARGS` to its end, its output captured; on `server` (None: no JACK variables)."""
    return subprocess.run(
        [*LOOPER, *args],
        env=None if server is None else server.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class Looper:
    """`looper ARGS` running on `server`; ready once it printed `ready` (None: at once)."""

    def __init__(
        self,
        server: JackServer,
        *args: str,
        harness: Harness | None = None,
        ready: str | None = LISTENING,
        stdin: bool = False,
        group: bool = False,
    ) -> None:
        self.args = [*LOOPER_WITH_CTRL_C, *args]
        self.proc = subprocess.Popen(
            self.args,
            env=server.env,
            start_new_session=group,  # a process group of its own, for signals to the group
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lock = threading.Lock()
        self._all: list[str] = []  # both streams, in the order the readers got them
        self._out: list[str] = []
        self._err: list[str] = []
        self._cursor = 0  # stdout lines read_until has gone past
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [
            threading.Thread(target=self._read, args=(stream, kept), daemon=True)
            for stream, kept in ((self.proc.stdout, self._out), (self.proc.stderr, self._err))
        ]
        for reader in self._readers:
            reader.start()
        try:
            if harness is not None:
                harness.connect_outputs("^looper:in_")
                harness.connect_inputs("^looper:out_")
            if ready is not None:
                self.wait_for(ready)
        except BaseException:
            self.kill()
            raise

    def _read(self, stream: IO[str], kept: list[str]) -> None:
        for line in stream:
            with self._lock:
                kept.append(line)
                self._all.append(line)

    # -- what it printed ---------------------------------------------------------------

    def text(self) -> str:
        """Everything printed so far, stdout and stderr."""
        with self._lock:
            return "".join(self._all)

    @property
    def stdout(self) -> str:
        with self._lock:
            return "".join(self._out)

    @property
    def stderr(self) -> str:
        with self._lock:
            return "".join(self._err)

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def _finished(self) -> bool:
        """Exited, and everything it printed has been read."""
        return not self.running and not any(reader.is_alive() for reader in self._readers)

    def wait_until(self, done: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
        """Wait until `done()`; fail with the looper's output if it never is (or it exits)."""
        deadline = time.monotonic() + timeout
        while not done():
            if self._finished():
                raise AssertionError(
                    f"looper exited ({self.proc.returncode}) before {what}:\n{self.text()}"
                )
            if time.monotonic() > deadline:
                self.kill()  # nothing waits for it any more
                raise AssertionError(f"gave up waiting for {what}; looper said:\n{self.text()}")
            time.sleep(0.05)

    def wait_for(self, needle: str, timeout: float = TIMEOUT) -> None:
        """Wait until `needle` appears anywhere in the output."""
        self.wait_until(lambda: needle in self.text(), repr(needle), timeout)

    def read_until(self, needle: str, timeout: float = TIMEOUT) -> str:
        """Read stdout, in order, up to the first line (after the last one read) with `needle`."""
        found: list[str] = []

        def seen() -> bool:
            with self._lock:
                lines = self._out[self._cursor :]
            for line in lines:
                self._cursor += 1
                if needle in line:
                    found.append(line.rstrip("\n"))
                    return True
            return False

        self.wait_until(seen, f"a line with {needle!r} on stdout", timeout)
        return found[0]

    # -- its end -----------------------------------------------------------------------

    def wait(self, timeout: float = TIMEOUT) -> int:
        """Wait for it to exit by itself; its exit status, with all its output read."""
        code = self.proc.wait(timeout)
        for reader in self._readers:
            reader.join(timeout)
        return code

    def finish(self, timeout: float = TIMEOUT) -> int:
        """Close stdin (the end of the answers) and wait for the exit status."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            return self.wait(timeout)
        finally:
            self.kill()

    def stop(self, how: int = signal.SIGINT, timeout: float = 10.0) -> int:
        """Send `how` (Ctrl-C by default) and wait for the exit status."""
        self.proc.send_signal(how)
        return self.wait(timeout)

    def kill(self) -> None:
        """SIGKILL, if it still runs (failures only: see the module docstring)."""
        if self.running:
            self.proc.kill()
            self.wait()

    def __enter__(self) -> Looper:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.kill()
