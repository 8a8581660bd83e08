"""`python -m looper.rig.midibench`: what the MIDI process costs idle, and how late a stomp is.

On a private `jackd -d dummy` (48 kHz, 128 frames), `midi_process` runs in a spawned child
as `looper run` starts it, listening to the harness's pedal. Two numbers:

- idle CPU: the time the child's threads ran (/proc/PID/task/*/schedstat) over
  `--idle` seconds with no message, as a share of one core;
- stomp-to-command latency: for each of `--stomps` presses, the time from the
  harness's process callback writing the note-on (its cycle, `time.monotonic()`) to
  the command's stamp (when the MIDI process read the message) and to the command's
  arrival in this process (the stamp, the mapping and the queue). Medians and 90th
  percentiles; CLOCK_MONOTONIC is one clock for every process on the machine.

The machine may be shared: read medians, and compare runs made back to back.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import queue
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING

from looper.config import parse_config
from looper.midi.keepers import PortState
from looper.midi.process import midi_process
from looper.rig.harness import Harness
from looper.rig.jackserver import JackServer

if TYPE_CHECKING:
    import jack

PEDALS = """
midi: {backend: jack, input: "harness:pedal"}
pedals:
  - {note: 60, action: backloop, track: 1}
"""


class TimedPedal(Harness):
    """The harness, noting when its callback writes each pedal message (by frame)."""

    sent_at: dict[int, float]

    def _send_pedal(self, pedal: jack.OwnMidiPort, start: int, end: int) -> None:
        waiting = [e for e in self._midi if not e.sent]
        super()._send_pedal(pedal, start, end)
        now = time.monotonic()
        for event in waiting:
            if event.sent:
                self.sent_at[event.frame] = now


def cpu_seconds(pid: int) -> float:
    """Time a process's threads have run, from each thread's /proc schedstat (in ns):
    finer than /proc/PID/stat's clock ticks, which charge a whole tick to a thread
    that wakes briefly on it."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):  # a thread that just ended
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    return f"median {statistics.median(ordered) * 1000:.3f} ms, p90 {p90 * 1000:.3f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of idle CPU")
    parser.add_argument("--stomps", type=int, default=200)
    parser.add_argument(
        "--stop",
        choices=("pipe", "event"),
        default="pipe",
        help="tell the child to stop by closing a pipe (waited on) or setting an Event (looked at)",
    )
    args = parser.parse_args()
    with JackServer() as server:
        os.environ.update(server.jack_env)  # the spawned child finds the server
        pedal = TimedPedal(server)
        pedal.sent_at = {}
        ctx = mp.get_context("spawn")
        commands: mp.Queue[tuple[object, float]] = ctx.Queue()
        events: mp.Queue[object] = ctx.Queue()
        event = ctx.Event()
        reader, writer = ctx.Pipe(duplex=False)
        stop = reader if args.stop == "pipe" else event
        config = parse_config(PEDALS, "midibench.yaml")
        child = ctx.Process(target=midi_process, args=(config, commands, events, stop))
        child.start()
        reader.close()
        try:
            while not isinstance(state := events.get(timeout=30), PortState):
                pass
            assert state.connected, state.text
            assert child.pid is not None
            time.sleep(1.0)
            before, t0 = cpu_seconds(child.pid), time.monotonic()
            time.sleep(args.idle)
            used, spent = cpu_seconds(child.pid) - before, time.monotonic() - t0
            print(f"idle CPU: {100 * used / spent:.2f} % of a core over {spent:.1f} s")
            to_stamp, to_arrival = [], []
            for _ in range(args.stomps):
                at = pedal.frame_after(0.02)
                pedal.stomp(60, at, hold=pedal.samplerate // 50)
                _, stamp = commands.get(timeout=10)
                arrived = time.monotonic()
                sent = pedal.sent_at[at]
                to_stamp.append(stamp - sent)
                to_arrival.append(arrived - sent)
                time.sleep(0.03)
            print(f"stomp to stamp ({args.stomps}): {_ms(to_stamp)}")
            print(f"stomp to command here: {_ms(to_arrival)}")
        except queue.Empty:
            raise SystemExit("the MIDI process did not answer") from None
        finally:
            event.set()
            writer.close()
            child.join(10)
            if child.is_alive():
                child.kill()
            pedal.close()


if __name__ == "__main__":
    main()
