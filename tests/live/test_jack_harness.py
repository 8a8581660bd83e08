"""The live-test plumbing proven against a real JACK server (no looper needed).

* audio loops back sample-exactly, exactly one period late;
* the virtual pedal's MIDI arrives at the exact frames, in order, both at a
  JACK-Client port and at python-rtmidi's JACK API (how the looper listens);
* a subprocess given ``server.env`` finds the server through sounddevice.

Nothing here asserts how fast anything runs: on a loaded 2-core machine the
server (``--sync``) runs late, but its frame timeline never skips.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from signals import live_ramp

from looper.rig.harness import Harness
from looper.rig.jackserver import JackServer, JackServerError
from looper.rig.ports import HarnessError, open_client

pytestmark = pytest.mark.jack

SUBPROCESS_TIMEOUT = 120  # seconds; generous for a loaded machine


@pytest.fixture
def jack_server(jack_server_module: JackServer) -> JackServer:
    """One server for the module: every client here closes; a test that needs a server of
    its own (another period, a failing start) makes it."""
    return jack_server_module


def first_nonzero(recorded: np.ndarray) -> int:
    """Index of the first nonzero recorded sample (the signal is never 0)."""
    nonzero = np.flatnonzero(recorded)
    assert nonzero.size, "nothing was recorded"
    return int(nonzero[0])


# -- audio -------------------------------------------------------------------


@pytest.mark.parametrize("period", [64, 128, 256])
def test_direct_loopback_is_sample_exact_and_one_period_late(period: int) -> None:
    with JackServer(period=period) as server, Harness(server) as h:
        assert h.blocksize == period
        assert h.connect_outputs(f"^{h.name}:in_") == [f"{h.name}:in_1", f"{h.name}:in_2"]

        n = 3 * 48000 + 17  # ends mid-block
        signal = live_ramp(n, gains=(1, 2))  # never 0; the channels unlike
        start = h.frame_after(0.25) + 37  # not on a block boundary
        clip = h.play(signal, at=start)
        h.wait_clip(clip)
        h.wait_frames(4 * period)
        h.assert_clean()

        rec = h.recording
        latency = first_nonzero(rec[:, 0]) - start
        assert latency == period
        delayed = start + latency
        np.testing.assert_array_equal(rec[delayed : delayed + n], signal)
        assert not rec[:delayed].any()
        assert not rec[delayed + n :].any()


def test_round_trip_through_another_client_is_one_period(harness: Harness) -> None:
    """harness:out_1 -> pass:in_1 -> pass:out_1 -> harness:in_1 (a graph cycle),
    the shape of a live test with the looper in the middle."""
    passthrough = open_client(harness.server, "pass")
    inp = passthrough.inports.register("in_1")
    out = passthrough.outports.register("out_1")

    @passthrough.set_process_callback
    def process(frames: int) -> None:
        out.get_array()[:] = inp.get_array()

    passthrough.activate()
    try:
        assert harness.connect_outputs("^pass:in_") == ["pass:in_1"]
        assert harness.connect_inputs("^pass:out_") == ["pass:out_1"]

        signal = live_ramp(48000)
        start = harness.frame_after(0.25) + 5
        clip = harness.play(signal, at=start)
        harness.wait_clip(clip)
        harness.wait_frames(1024)
        harness.assert_clean()

        rec = harness.recording[:, 0]
        assert first_nonzero(rec) - start == harness.blocksize
        delayed = start + harness.blocksize
        np.testing.assert_array_equal(rec[delayed : delayed + len(signal)], signal[:, 0])
        assert not harness.recording[:, 1].any()  # in_2 unconnected
    finally:
        passthrough.deactivate()
        passthrough.close()


def test_clips_overlap_add_and_asap_start(harness: Harness) -> None:
    harness.connect_outputs(f"^{harness.name}:in_")
    a = harness.play(np.full(1000, 0.25, np.float32))  # at the next block
    harness.wait_clip(a)
    assert a.start is not None and a.start % harness.blocksize == 0

    at = harness.frame_after(0.25)
    harness.play(np.full(300, 0.5, np.float32), at=at, channels=[1])
    harness.play(np.full(100, 0.125, np.float32), at=at + 200, channels=[1])
    harness.run_until(at + 1000)
    harness.assert_clean()

    rec = harness.recording[:, 1]
    d = at + harness.blocksize
    expected = np.zeros(400, np.float32)
    expected[:300] += 0.5
    expected[200:300] += 0.125
    np.testing.assert_array_equal(rec[d : d + 400], expected)

    with pytest.raises(ValueError, match="already passed"):
        harness.play(np.ones(10, np.float32), at=0)
    with pytest.raises(ValueError, match="already passed"):
        harness.send_midi(b"\x90\x3c\x7f", at=0)


def test_recording_grows_with_the_timeline(harness: Harness) -> None:
    harness.wait_frames(1000)
    rec = harness.recording
    assert rec.shape[1] == 2
    assert rec.shape[0] >= 1000
    assert rec.shape[0] % harness.blocksize == 0
    assert rec.dtype == np.float32


# -- MIDI ----------------------------------------------------------------------


class MidiSink:
    """A second JACK client that notes (JACK frame time, bytes) of every event."""

    def __init__(self, server: JackServer, name: str = "sink") -> None:
        self.client = open_client(server, name)
        self.port = self.client.midi_inports.register("in")
        self.events: list[tuple[int, bytes]] = []
        self.client.set_process_callback(self._process)
        self.client.activate()

    def _process(self, frames: int) -> None:
        block_start = self.client.last_frame_time
        for offset, data in self.port.incoming_midi_events():
            self.events.append((block_start + offset, bytes(data)))

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()


def test_pedal_midi_arrives_at_exact_frames_in_order(harness: Harness) -> None:
    sink = MidiSink(harness.server)
    try:
        assert harness.connect_pedal("^sink:in$") == "sink:in"
        block = harness.blocksize
        base = (harness.frame_after(0.25) // block + 1) * block  # a block boundary
        sent = [
            harness.note_on(60, at=base),  # offset 0
            harness.cc(64, 127, at=base + block - 1),  # last frame of a block
            harness.note_off(60, at=base + block),  # first frame of the next
            harness.send_midi(b"\xc0\x05", at=base + block),  # same frame: keeps order
            harness.note_on(62, at=base + 1000, velocity=90, channel=2),
        ]
        press, release = harness.stomp(61, at=base + 5000, hold=2400)
        sent += [press, release]
        harness.run_until(release.frame + 4 * block)
        harness.assert_clean()
        assert all(e.sent for e in sent)

        assert harness.origin is not None
        got = [((t - harness.origin) & 0xFFFFFFFF, data) for t, data in sink.events]
        expected = [(e.frame, e.data) for e in sent]
        assert got == expected  # same cycle: harness -> sink adds no delay
        assert expected[0][1] == bytes([0x90, 60, 127])
        assert expected[4][1] == bytes([0x91, 62, 90])
        assert expected[6] == (base + 7400, bytes([0x80, 61, 0]))
    finally:
        sink.close()


# python-rtmidi 1.5.8's manylinux wheel bundles its own libjack (1.9.22), which
# Debian bookworm's jackd 1.9.21 refuses ("CheckRes error", then "JACK server
# not running?"). Loading the system libjack with RTLD_GLOBAL before importing
# rtmidi makes rtmidi's JACK calls bind to it. The looper's MIDI process needs
# the same step to open a JACK MIDI port. It must also call `.delete()` (or
# close the mido port) before exiting: a JACK client that vanishes without
# closing stalls a --sync server for ~10 client timeouts.
RTMIDI_SINK = r"""
import ctypes, json, os, sys, time
ctypes.CDLL("libjack.so.0", mode=os.RTLD_GLOBAL)
import rtmidi
assert rtmidi.API_UNIX_JACK in rtmidi.get_compiled_api(), rtmidi.get_compiled_api()
count = int(sys.argv[1])
midi_in = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="rtsink")
midi_in.ignore_types(sysex=False, timing=False, active_sense=False)
midi_in.open_virtual_port("pedal_in")
messages = []
deadline = time.monotonic() + 90
while len(messages) < count and time.monotonic() < deadline:
    msg = midi_in.get_message()
    if msg is None:
        time.sleep(0.001)
    else:
        messages.append(msg[0])
midi_in.close_port()
midi_in.delete()  # closes the JACK client; `del` alone leaves it to die with the process
print(json.dumps(messages), flush=True)
"""


def test_rtmidi_jack_port_receives_the_pedal(harness: Harness) -> None:
    messages = [[0x90, 60, 127], [0x80, 60, 0], [0xB0, 64, 127], [0xC0, 3], [0x90, 60, 127]]
    proc = subprocess.Popen(
        [sys.executable, "-c", RTMIDI_SINK, str(len(messages))],
        env=harness.server.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        try:
            harness.connect_pedal("^rtsink:pedal_in$", timeout=60)
        except HarnessError:
            proc.kill()
            _, err = proc.communicate()
            raise AssertionError(f"rtmidi's JACK port never appeared; stderr:\n{err}") from None
        at = harness.frame_after(0.25)
        for i, msg in enumerate(messages):
            harness.send_midi(msg, at=at + 100 * i)
        out, err = proc.communicate(timeout=SUBPROCESS_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert json.loads(out) == messages
    harness.assert_clean()


# -- sounddevice in a subprocess -------------------------------------------------

SOUNDDEVICE_PROBE = r"""
import json
import sounddevice as sd
print(json.dumps({"hostapis": list(sd.query_hostapis()),
                  "devices": [dict(d) for d in sd.query_devices()]}))
"""


def test_subprocess_sounddevice_finds_the_server(jack_server: JackServer) -> None:
    assert jack_server.env["JACK_DEFAULT_SERVER"] == jack_server.name
    assert jack_server.env["JACK_NO_START_SERVER"] == "1"
    result = subprocess.run(
        [sys.executable, "-c", SOUNDDEVICE_PROBE],
        env=jack_server.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    jack_api = {h["name"]: h for h in found["hostapis"]}.get("JACK Audio Connection Kit")
    assert jack_api is not None, found["hostapis"]
    assert jack_api["devices"], "PortAudio's JACK host API has no device"
    system = found["devices"][jack_api["devices"][0]]
    assert system["max_input_channels"] == 2  # the dummy backend's capture ports
    assert system["max_output_channels"] == 2
    assert system["default_samplerate"] == 48000


# -- the server itself -------------------------------------------------------------


def test_server_names_are_unique_and_failures_are_explained() -> None:
    a, b = JackServer(), JackServer()
    assert a.name != b.name
    bad = JackServer(extra_args=("--no-such-flag",))
    with pytest.raises(JackServerError, match=r"(?s)exited with status.*jackd output"):
        bad.start()
    assert not bad.running
