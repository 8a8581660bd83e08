"""JACK clients and port wiring for the rig: a client under its exact name, ports connected.

`PortWiring` is the harness's connection side, kept apart from its realtime side: it
only needs the client, the harness's own ports and its `_wait` (which fails with the
server's log when something never appears).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import jack

from looper.errors import LooperError

if TYPE_CHECKING:
    from looper.rig.jackserver import JackServer


class HarnessError(LooperError, RuntimeError):
    pass


def open_client(server: JackServer, name: str, attempts: int = 5) -> jack.Client:
    """A JACK client with exactly ``name`` on ``server``, retried a few times.

    Opening has failed (rarely, with ``server_error``) while other test runs
    started and stopped their own servers on the same machine; a retry works.
    """
    error: jack.JackOpenError | None = None
    for attempt in range(attempts):
        try:
            return jack.Client(
                name, use_exact_name=True, servername=server.name, no_start_server=True
            )
        except jack.JackOpenError as exc:
            error = exc
            if not server.running:
                break
            time.sleep(0.2 * (attempt + 1))
    raise HarnessError(
        f"cannot open JACK client {name!r} on {server.name!r}: {error}"
        f"\njackd output:\n{server.log_tail()}"
    ) from error


class PortWiring:
    """Finding and connecting ports by regex, for a client with audio and pedal ports."""

    client: jack.Client
    name: str
    outports: list[jack.OwnPort]
    inports: list[jack.OwnPort]
    pedal: jack.OwnMidiPort | None

    def _wait(
        self, done: Callable[[], bool], timeout: float, what: str, poll: float = 0.002
    ) -> None:
        raise NotImplementedError

    def port_name(self, port: str) -> str:
        return f"{self.name}:{port}"

    def wait_for_ports(
        self,
        pattern: str,
        *,
        count: int = 1,
        timeout: float = 30.0,
        **flags: bool,
    ) -> list[str]:
        """Names of ports matching the regex ``pattern`` (and JACK-Client's
        ``get_ports`` flags, e.g. ``is_audio=True, is_input=True``), waiting until
        at least ``count`` exist."""
        names: list[str] = []

        def found() -> bool:
            nonlocal names
            names = [p.name for p in self.client.get_ports(pattern, **flags)]
            return len(names) >= count

        self._wait(found, timeout, f"{count} port(s) matching {pattern!r} {flags or ''}", 0.02)
        return names

    def connect(
        self, source: str | jack.Port, destination: str | jack.Port, *, timeout: float = 30.0
    ) -> None:
        """Connect two ports (names or Port objects), unless already connected.

        Retries until ``timeout``: a client's ports exist as soon as it
        registers them, but JACK refuses connections until it has activated.
        """
        src = source if isinstance(source, str) else source.name
        dst = destination if isinstance(destination, str) else destination.name
        failure: list[Exception] = []

        def connected() -> bool:
            if dst in self._connected_names(src):
                return True
            try:
                self.client.connect(src, dst)
            except jack.JackError as exc:
                failure[:] = [exc]
                return False
            return True

        try:
            self._wait(connected, timeout, f"a connection {src} -> {dst}", poll=0.05)
        except HarnessError as exc:
            raise HarnessError(f"{exc}\nlast connect error: {failure}") from None

    def connect_outputs(
        self, pattern: str, *, exclusive: bool = True, timeout: float = 30.0
    ) -> list[str]:
        """Connect ``out_k`` to the k-th audio input port matching the regex
        ``pattern`` (as many as match, up to the number of outputs); returns
        the targets. With ``exclusive``, other sources feeding those ports
        (e.g. PortAudio's auto-connected ``system:capture_*``) are disconnected."""
        targets = self.wait_for_ports(pattern, is_audio=True, is_input=True, timeout=timeout)
        pairs = list(zip(self.outports, targets, strict=False))
        for ours, target in pairs:
            self.connect(ours, target, timeout=timeout)
            if exclusive:
                self._disconnect_others(target, ours.name)
        return [t for _, t in pairs]

    def connect_inputs(
        self, pattern: str, *, exclusive: bool = True, timeout: float = 30.0
    ) -> list[str]:
        """Connect the k-th audio output port matching the regex ``pattern`` to
        ``in_k``; returns the sources. With ``exclusive``, those ports' other
        destinations are disconnected."""
        sources = self.wait_for_ports(pattern, is_audio=True, is_output=True, timeout=timeout)
        pairs = list(zip(sources, self.inports, strict=False))
        for source, ours in pairs:
            self.connect(source, ours, timeout=timeout)
            if exclusive:
                self._disconnect_others(source, ours.name)
        return [s for s, _ in pairs]

    def connect_pedal(self, pattern: str, *, timeout: float = 30.0) -> str:
        """Connect ``pedal`` to the first MIDI input port matching the regex
        ``pattern``; returns its name."""
        if self.pedal is None:
            raise HarnessError("this harness has no MIDI port (midi=False)")
        target = self.wait_for_ports(pattern, is_midi=True, is_input=True, timeout=timeout)[0]
        self.connect(self.pedal, target, timeout=timeout)
        return target

    def _connected_names(self, port: str) -> list[str]:
        return [p.name for p in self.client.get_all_connections(port)]

    def _disconnect_others(self, port: str, keep: str) -> None:
        is_output = self.client.get_port_by_name(port).is_output
        for other in self._connected_names(port):
            if other != keep:
                if is_output:
                    self.client.disconnect(port, other)
                else:
                    self.client.disconnect(other, port)
