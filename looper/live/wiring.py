"""The looper's audio connections on JACK, remembered and made again after a restart.

Why: a new audio process (after a crash, or once the audio server is back)
is a new JACK client with new ports, connected to nothing but what PortAudio
connects by itself; the performer wired the old ones (to the interface, to
other programs). So the main process keeps a JACK client of its own (never
in the audio process: it would take that process's interpreter lock),
looks at what the looper's audio ports are connected to while the audio
runs, and connects a new audio process's ports, by port name, to what those
were. It also hears at once when the server shuts down (`gone`).

Off JACK (an ALSA or other PortAudio device), or without a server, it does
nothing: `available` is False and every call returns at once.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

from looper.midi.ports import CLIENT_NAME

log = logging.getLogger("looper.wiring")


class Wiring:
    """What the looper's audio ports are connected to, by port short name."""

    def __init__(self) -> None:
        self.client: Any = None
        self.links: dict[str, list[str]] = {}
        self.shut_down = threading.Event()  # the server said it is going
        self.seen = False  # a JACK server was here: the looper plays on JACK

    @property
    def available(self) -> bool:
        return self.client is not None

    def _connect(self) -> bool:
        if self.client is not None:
            return True
        try:
            import jack

            client = jack.Client(f"{CLIENT_NAME}-wiring", no_start_server=True)
        except Exception:  # no libjack, no server: nothing to wire
            return False
        client.set_shutdown_callback(lambda status, reason: self.shut_down.set())
        client.activate()
        self.shut_down.clear()
        self.client = client
        self.seen = True
        return True

    def server_up(self) -> bool:
        """Whether a JACK server is there to start an audio process on (True off JACK,
        where there is no server to ask: the device is tried)."""
        return self._connect() or not self.seen

    def _ports(self) -> list[Any]:
        """The audio ports of the looper's PortAudio client (named `looper`, or `looper-NN`
        when another client took the name first)."""
        ports = self.client.get_ports(f"^{CLIENT_NAME}(-[0-9]+)?:", is_audio=True)
        return list(ports)

    def remember(self) -> None:
        """Note what each audio port of the looper is connected to (while the audio runs)."""
        if not self._connect():
            return
        try:
            links = {
                p.shortname: [c.name for c in self.client.get_all_connections(p)]
                for p in self._ports()
            }
        except Exception:  # the server went away meanwhile
            self.drop()
            return
        if links:
            self.links = links

    def restore(self) -> int:
        """Connect the new audio process's ports as the old ones were; how many links."""
        if not self.links or not self._connect():
            return 0
        made = 0
        try:
            for port in self._ports():
                for other in self.links.get(port.shortname, []):
                    with contextlib.suppress(Exception):  # the other end is not (yet) there
                        if port.is_output:
                            self.client.connect(port, other)
                        else:
                            self.client.connect(other, port)
                        made += 1
        except Exception:
            self.drop()
        return made

    def drop(self) -> None:
        """Forget the client (the server is gone); the links stay for the next server."""
        client, self.client = self.client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
