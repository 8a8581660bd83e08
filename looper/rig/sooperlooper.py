"""SooperLooper, the bench's live peer: started headless on the rig's JACK server, driven over OSC.

The OSC messages are written by hand (`osc_message`, `osc_parse`): SooperLooper takes a
handful of string, int and float arguments over UDP, which is twenty lines of struct
packing, against a dependency for the whole protocol.

Its workload is the stage workload's shape with SooperLooper's own commands: 8 stereo
loops of 4, 1, 2, 3, 1, 2, 4 and 8 bars at 120 bpm, recorded together from the feeder's
noise on the common inputs (one `record` hit for all, one for each as its length is
reached), then the first one overdubbing. It has no click, monitor mix, history, meters
or limiter, so its workload is lighter than the looper's. Its MIDI bridge needs an ALSA
sequencer; where the machine has none (a container) the native `noseq.so` is preloaded
so it starts without MIDI, which the bench does not use.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path

from looper.errors import LooperError
from looper.rig.feeder import NATIVE_DIR
from looper.rig.workload import BEATS_PER_BAR, BPM, DUB_TRACK, LOOP_BARS, STANDARD_TRACKS

NAME = "sooperlooper"  # its JACK client
PLAYING, OVERDUBBING = 4.0, 5.0  # its `state` values (its OSC doc)
NOSEQ = NATIVE_DIR / "noseq.so"


class PeerError(LooperError, RuntimeError):
    """SooperLooper is missing, did not start, or did not take the workload."""


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (4 - len(data) % 4)


def osc_message(address: str, *args: str | int | float) -> bytes:
    """One OSC message: the address, the type tags, then each argument big-endian."""
    tags, body = ",", b""
    for arg in args:
        if isinstance(arg, str):
            tags, body = tags + "s", body + _pad(arg.encode())
        elif isinstance(arg, int):
            tags, body = tags + "i", body + struct.pack(">i", arg)
        else:
            tags, body = tags + "f", body + struct.pack(">f", arg)
    return _pad(address.encode()) + _pad(tags.encode()) + body


def _string(data: bytes, at: int) -> tuple[str, int]:
    end = data.index(b"\0", at)
    return data[at:end].decode(), (end + 4) & ~3


def osc_parse(data: bytes) -> tuple[str, list[str | int | float]]:
    """An OSC message back into its address and arguments (s, i and f only)."""
    address, at = _string(data, 0)
    tags, at = _string(data, at)
    args: list[str | int | float] = []
    for tag in tags[1:]:
        if tag == "s":
            text, at = _string(data, at)
            args.append(text)
        elif tag in "if":
            args.append(struct.unpack_from(">i" if tag == "i" else ">f", data, at)[0])
            at += 4
        else:
            raise PeerError(f"SooperLooper sent an OSC argument of type {tag!r}")
    return address, args


class SooperLooper:
    """A headless `sooperlooper` with 8 stereo loops on `env`'s JACK server."""

    def __init__(self, env: dict[str, str], server: str, seconds_of_memory: int = 60) -> None:
        binary = shutil.which("sooperlooper")
        if binary is None:
            raise PeerError("sooperlooper not found: run scripts/bootstrap (Debian sooperlooper)")
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.5)
        self.reply_url = f"osc.udp://127.0.0.1:{self.sock.getsockname()[1]}/"
        self.port = _free_udp_port()
        env = dict(env)
        if not Path("/dev/snd/seq").exists() and NOSEQ.exists():
            env["LD_PRELOAD"] = str(NOSEQ)
        command = [binary, "-q", "-l", str(STANDARD_TRACKS), "-c", "2", "-D", "no",
                   "-t", str(seconds_of_memory), "-p", str(self.port), "-S", server,
                   "-j", NAME]  # fmt: skip
        self._dir = tempfile.TemporaryDirectory(prefix="sooperlooper-")
        self.log = Path(self._dir.name) / "sooperlooper.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        try:
            self._wait_ready()
        except BaseException:
            self.close()
            raise

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, address: str, *args: str | int | float) -> None:
        self.sock.sendto(osc_message(address, *args), ("127.0.0.1", self.port))

    def _wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.log.read_text(errors="replace")
                raise PeerError(f"sooperlooper exited with {self.proc.returncode}:\n{err[-1500:]}")
            self.send("/ping", self.reply_url, "/pong")
            with contextlib.suppress(TimeoutError):
                self.sock.recv(4096)
                return
        raise PeerError(f"sooperlooper did not answer OSC on port {self.port} in {timeout:.0f} s")

    def get(self, control: str) -> list[float]:
        """A control of every loop (`state`, `loop_len`...), asked over OSC loop by loop
        (`/sl/-1/get` answers once, for loop -1); -1 for a loop that did not answer."""
        for i in range(STANDARD_TRACKS):
            self.send(f"/sl/{i}/get", control, self.reply_url, "/value")
        found: dict[int, float] = {}
        deadline = time.monotonic() + 5
        while len(found) < STANDARD_TRACKS and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                address, args = osc_parse(self.sock.recv(4096))
                if address == "/value" and len(args) == 3 and args[1] == control:
                    found[int(args[0])] = float(args[2])
        return [found.get(i, -1.0) for i in range(STANDARD_TRACKS)]

    def perform(self) -> None:
        """The stage workload: record the 8 loops together, each to its length; overdub one.

        Lengths are timed by the wall clock, so a server running late (--sync on a busy
        machine) makes them a little short; within half a bar they are the workload's.
        """
        bar = 60 / BPM * BEATS_PER_BAR
        self.send("/set", "tempo", BPM)
        self.send("/sl/-1/set", "quantize", 0.0)
        self.send("/sl/-1/set", "sync", 0.0)
        self.send("/sl/-1/hit", "record")
        start = time.monotonic()
        lengths = LOOP_BARS[:STANDARD_TRACKS]
        for bars in sorted(set(lengths)):
            time.sleep(max(0.0, start + bars * bar - time.monotonic()))
            for i, length in enumerate(lengths):
                if length == bars:
                    self.send(f"/sl/{i}/hit", "record")
        time.sleep(0.2)
        self.send(f"/sl/{DUB_TRACK}/hit", "overdub")
        time.sleep(0.2)
        want = [OVERDUBBING if i == DUB_TRACK else PLAYING for i in range(STANDARD_TRACKS)]
        got = self.get("state")
        if got != want:
            raise PeerError(f"SooperLooper's loops are in states {got}, not {want}")
        seconds = self.get("loop_len")
        if any(abs(s - bars * bar) > bar / 2 for s, bars in zip(seconds, lengths, strict=True)):
            raise PeerError(f"SooperLooper's loops are {seconds} s long, not {lengths} bars")

    def close(self) -> None:
        """Ask it to quit; it may ignore SIGTERM, so kill it if it is still there in 5 s."""
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.send("/quit")
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._dir.cleanup()
        self.sock.close()

    def __enter__(self) -> SooperLooper:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
