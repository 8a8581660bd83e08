"""`looper --config FILE [ARGS]` as a subprocess on a test JACK server, wired to the harness."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from looper.rig.harness import Harness
from looper.rig.jackserver import JackServer

LOOPER = [sys.executable, "-m", "looper"]


class Looper:
    """The looper's audio ports connected to the harness, its pedal port open."""

    def __init__(
        self, server: JackServer, harness: Harness, config: Path, log: Path, *args: str
    ) -> None:
        self.log = log
        self.out = log.open("w")
        self.proc = subprocess.Popen(
            [*LOOPER, "--config", str(config), *args],
            env={**os.environ, **server.env},
            stdout=self.out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.harness = harness
        try:
            harness.connect_outputs("^looper:in_")
            harness.connect_inputs("^looper:out_")
            self.wait_for("MIDI: listening")  # the pedal's port is open
        except BaseException:
            self.stop(signal.SIGKILL)
            raise

    def text(self) -> str:
        return self.log.read_text()

    def wait_for(self, needle: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            if self.proc.poll() is not None:
                raise AssertionError(f"looper exited ({self.proc.returncode}):\n{self.text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {needle!r} from looper:\n{self.text()}")
            time.sleep(0.05)

    def stop(self, how: int = signal.SIGINT, timeout: float = 10.0) -> int:
        self.proc.send_signal(how)
        code = self.proc.wait(timeout)
        self.out.close()
        return code
