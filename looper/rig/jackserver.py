"""A private JACK server for live tests: ``jackd -n NAME -d dummy``.

No sound card is needed: the dummy backend runs the JACK graph from a timer.
Each server gets its own name, so tests never touch a user's default server,
and subprocesses find it through :attr:`JackServer.env`.

Start the server *before* a process imports sounddevice (PortAudio scans its
host APIs at import time), so run the looper under test as a subprocess with
``env=server.env`` and keep sounddevice out of the test process.

Example::

    with JackServer() as server:
        subprocess.run([...], env=server.env)
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import time
import weakref
from pathlib import Path

from looper.errors import LooperError

_counter = itertools.count(1)
_running: weakref.WeakSet[JackServer] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    """Never leave a jackd behind: at most 8 JACK servers can run on a machine."""
    for server in list(_running):
        server.stop()


#: Seconds to wait for a new server to accept clients.
START_TIMEOUT = 30.0
#: Seconds to wait for jackd to exit after SIGTERM before SIGKILL.
STOP_TIMEOUT = 10.0


class JackServerError(LooperError, RuntimeError):
    """jackd did not start, or died."""


class JackServer:
    """A ``jackd`` process with the dummy backend, under a unique server name.

    Flags that matter:

    * ``--no-realtime``: no SCHED_FIFO, so it behaves the same as root or not,
      in a container or not (no rtprio limits needed).
    * ``--sync``: the driver waits for the whole client graph every cycle
      instead of skipping late clients, so a loaded machine makes cycles late
      but never drops frames from a client's timeline.
    * ``--timeout``: a generous client timeout (ms) for the same reason. The
      price of ``--sync``: a client that dies without closing (SIGKILL, crash,
      an rtmidi port never ``delete()``d) stalls the whole server for about
      ten client timeouts (20 s at the default) before JACK drops it. Clean
      exits (``jack_client_close``) cost nothing.

    JACK2 allows at most 8 servers on a machine at once ("Too many servers
    already active"), so no jackd may outlive its test: it is started under
    ``setpriv --pdeathsig TERM`` (it dies with the thread that started it, so
    start servers from the main thread) and any still running are stopped at
    exit.
    """

    def __init__(
        self,
        name: str | None = None,
        sample_rate: int = 48000,
        period: int = 128,
        *,
        capture: int = 2,
        playback: int = 2,
        sync: bool = True,
        realtime: bool = False,
        client_timeout_ms: int = 2000,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.name = name or f"looper-test-{os.getpid()}-{next(_counter)}"
        self.sample_rate = sample_rate
        self.period = period
        self.capture = capture
        self.playback = playback
        self.sync = sync
        self.realtime = realtime  # SCHED_FIFO for the server and its clients (needs rtprio)
        self.client_timeout_ms = client_timeout_ms
        self.extra_args = tuple(extra_args)
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_path: str | None = None
        self._final_log = ""

    # -- environment for clients ------------------------------------------

    @property
    def jack_env(self) -> dict[str, str]:
        """Just the variables that point a JACK client at this server."""
        return {"JACK_DEFAULT_SERVER": self.name, "JACK_NO_START_SERVER": "1"}

    @property
    def env(self) -> dict[str, str]:
        """A full environment for ``subprocess`` (``os.environ`` + :attr:`jack_env`)."""
        return {**os.environ, **self.jack_env}

    # -- lifecycle ---------------------------------------------------------

    def command(self) -> list[str]:
        jackd = shutil.which("jackd")
        if jackd is None:
            raise JackServerError("jackd not found: run scripts/bootstrap (Debian package jackd2)")
        priority = ["--realtime"] if self.realtime else ["--no-realtime"]
        cmd = [jackd, *priority, "-n", self.name, "-t", str(self.client_timeout_ms)]
        setpriv = shutil.which("setpriv")  # util-linux; jackd dies with this process
        if setpriv is not None:
            cmd = [setpriv, "--pdeathsig", "TERM", *cmd]
        if self.sync:
            cmd.append("--sync")
        cmd += list(self.extra_args)
        cmd += [
            "-d", "dummy",
            "-r", str(self.sample_rate),
            "-p", str(self.period),
            "-C", str(self.capture),
            "-P", str(self.playback),
        ]  # fmt: skip
        return cmd

    def start(self, timeout: float = START_TIMEOUT) -> JackServer:
        _forget_dead_servers()  # else 8 killed servers stop any more from starting
        if self.proc is not None:
            raise JackServerError(f"JACK server {self.name!r} already started")
        cmd = self.command()
        fd, self._log_path = tempfile.mkstemp(prefix=f"{self.name}-", suffix=".log")
        env = {k: v for k, v in os.environ.items() if not k.startswith("JACK_")}
        env["JACK_NO_AUDIO_RESERVATION"] = "1"  # no D-Bus device reservation
        with os.fdopen(fd, "wb") as log:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # a Ctrl-C in the terminal goes to pytest only
            )
        _running.add(self)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        import jack

        assert self.proc is not None
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        jack.set_error_function(lambda msg: None)  # libjack complains while polling
        try:
            while True:
                if self.proc.poll() is not None:
                    raise JackServerError(
                        f"jackd for {self.name!r} exited with status {self.proc.returncode}"
                        f" before accepting clients.\ncommand: {' '.join(self.command())}"
                        f"\njackd output:\n{self.log_tail()}"
                    )
                try:
                    client = jack.Client("probe", servername=self.name, no_start_server=True)
                except jack.JackError as exc:
                    last_error = exc
                else:
                    client.close()
                    return
                if time.monotonic() > deadline:
                    raise JackServerError(
                        f"JACK server {self.name!r} did not accept clients within"
                        f" {timeout:.0f} s ({last_error}).\ncommand: {' '.join(self.command())}"
                        f"\njackd output:\n{self.log_tail()}"
                    )
                time.sleep(0.05)
        finally:
            jack.set_error_function(None)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        _running.discard(self)
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            self._remove_shm()  # left behind after a SIGKILL or a crash
        if self._log_path is not None:
            self._final_log = self.log[-65536:]  # the dummy driver's XRun lines pile up
            with contextlib.suppress(OSError):
                os.unlink(self._log_path)
            self._log_path = None

    def _remove_shm(self) -> None:
        """Remove this server's files in /dev/shm (its name is unique, so any
        left once jackd is dead are garbage)."""
        shm = Path("/dev/shm")
        for path in [*shm.glob(f"jack_{self.name}_*"), *shm.glob(f"jack_sem.*_{self.name}_*")]:
            with contextlib.suppress(OSError):
                path.unlink()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def log(self) -> str:
        """Everything jackd printed so far."""
        if self._log_path is None:
            return self._final_log
        with open(self._log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def log_tail(self, lines: int = 40) -> str:
        """The end of jackd's output for error messages, without the per-cycle
        ``JackTimedDriver::Process XRun`` lines (the dummy driver prints one for
        every late cycle)."""
        kept = []
        xruns = 0
        for line in self.log.splitlines():
            if "XRun =" in line:
                xruns += 1
            else:
                kept.append(line)
        tail = kept[-lines:]
        if xruns:
            tail.append(f"[{xruns} 'XRun' lines left out]")
        return "\n".join(tail)

    def __enter__(self) -> JackServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<JackServer {self.name!r} {state} {self.sample_rate} Hz/{self.period}>"


REGISTRY = Path("/dev/shm/jack-shm-registry")
REGISTRY_HEAD = 24  # jack_shm_header_t before its servers (jack2 1.9: common/shm.h)
REGISTRY_ENTRY = 264  # jack_shm_server_t: pid, a 256-byte name, padding


def _forget_dead_servers() -> bool:
    """libjack's registry of servers has 8 places, and a place is given back only when a
    server of the same name starts again: the rig's servers each have a new name, so the
    places of servers that ended without unregistering (killed, or a crash) add up until no
    server starts ("Too many servers already active"). Free the places whose process is
    gone (each is the server's pid, then its name), before each start; True when one was
    freed. Done without libjack's lock: a race with another server starting that very
    moment is the rig's own, which starts one at a time."""
    try:
        with REGISTRY.open("r+b") as registry:
            data = bytearray(registry.read(REGISTRY_HEAD + 8 * REGISTRY_ENTRY))
            freed = False
            for k in range(8):
                at = REGISTRY_HEAD + k * REGISTRY_ENTRY
                pid = int.from_bytes(data[at : at + 4], "little", signed=True)
                if pid > 0 and not _alive(pid):
                    data[at : at + REGISTRY_ENTRY] = bytes(REGISTRY_ENTRY)
                    freed = True
            if freed:
                registry.seek(0)
                registry.write(data)
            return freed
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's: alive
        return True
    return True
