"""One proxied connection: the client side, the upstream side, and the links between.

The client's reading stays paused until the upstream connection is up, so no byte is
read that has nowhere to go. :meth:`Connection.sync` rebuilds the stage chains from the
proxy's toxics; a toxic already on the connection keeps its stage (and its state, and
its toxicity roll: rolled once per connection, re-rolled only if toxicity changes).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import ssl
import struct
from collections.abc import Iterable
from typing import TYPE_CHECKING

from aichaos.proxy.http_switch import HttpSwitch
from aichaos.proxy.link import NOT_READY, Link, Side
from aichaos.proxy.toxic import Toxic
from aichaos.proxy.toxics.base import Stage, StageEnv, stateful
from aichaos.proxy.upstream_tls import HANDSHAKE_TIMEOUT_S

if TYPE_CHECKING:
    from aichaos.proxy.proxy import Proxy

__all__ = ["Connection"]

_LINGER_RST = struct.pack("ii", 1, 0)


class _Slot:
    """A toxic's place on one link of one connection: its stage, or None if not rolled."""

    __slots__ = ("stage", "toxic", "toxicity")

    def __init__(self, toxic: Toxic, stage: Stage | None) -> None:
        self.toxic = toxic
        self.stage = stage
        self.toxicity = toxic.toxicity


class Connection:
    """A client connection and its upstream; created by the proxy's listener per accept."""

    def __init__(self, proxy: Proxy, seed: int) -> None:
        self.proxy = proxy
        self.loop = proxy.loop or asyncio.get_running_loop()
        self._seed = seed
        self._rng: random.Random | None = None
        #: tell the busy poller that I/O happened (bound once: it runs per chunk); None
        #: when polling is off, so the forwarding path pays one test, not a call
        self.poke = proxy.poller.poke if proxy.poller.window_s > 0.0 else None
        self.client = Side(self, "client")
        self.server = Side(self, "server")
        self.up: Link | None = None
        self.down: Link | None = None
        self.closed = False
        self._slots: dict[str, dict[str, _Slot]] = {"upstream": {}, "downstream": {}}
        self._eofs = 0
        self._connect: asyncio.Task[None] | None = None
        #: how this connection treats HTTP (None until the upstream is connected)
        self.http: HttpSwitch | None = None

    @property
    def rng(self) -> random.Random:
        """This connection's RNG (made on first use: most connections never roll)."""
        if self._rng is None:
            self._rng = random.Random(self._seed)
        return self._rng

    # -- lifecycle ---------------------------------------------------------------------

    def side_made(self, side: Side) -> None:
        """The client was accepted: dial the upstream (the client's first bytes are held)."""
        if side is self.client:
            self.proxy.conns.add(self)
            self._connect = self.loop.create_task(self._dial())

    async def _dial(self) -> None:
        proxy = self.proxy
        host, port = proxy.upstream_addr
        tls = proxy.upstream_tls
        try:
            if tls is None:
                await self.loop.create_connection(lambda: self.server, host, port)
            else:
                await self.loop.create_connection(
                    lambda: self.server,
                    host,
                    port,
                    ssl=tls.context,
                    server_hostname=tls.server_hostname(host),
                    ssl_handshake_timeout=HANDSHAKE_TIMEOUT_S,
                )
        except OSError as exc:  # ssl.SSLError and TimeoutError included
            proxy.upstream_errors += 1
            kind = "TLS to upstream" if tls is not None else "upstream"
            proxy.last_upstream_error = f"{kind} {proxy.upstream}: {_reason(exc)}"
            self.close()  # Toxiproxy closes the client when the upstream is unreachable
            return
        if self.closed:
            if self.server.transport is not None:
                self.server.transport.close()
            return
        self.up = Link(self, "upstream", self.client, self.server)
        self.down = Link(self, "downstream", self.server, self.client)
        if self.proxy.toxics:
            self.sync(self.proxy.toxics.values())
        self.http = HttpSwitch(self)
        self.http.start()
        self.up.take_early()
        self.down.take_early()
        self.client.resume(NOT_READY)

    def link_eof(self, link: Link) -> None:
        """A link delivered its end of stream: half-close it, or close everything."""
        if link is self.down and self.http is not None:
            self.http.upstream_ended()
        if not self.proxy.half_close:
            self.close()
            return
        transport = link.dst_transport
        if transport is not None and not transport.is_closing() and transport.can_write_eof():
            transport.write_eof()
        self._eofs += 1
        if self._eofs >= 2:
            self.close()

    def side_lost(self, side: Side, exc: Exception | None) -> None:
        """A socket went away: a reset is passed on as a reset, anything else as a close."""
        if self.closed:
            return
        if isinstance(exc, ConnectionResetError):
            self.reset()
        else:
            self.close()

    def close(self) -> None:
        """Close both sides after their buffered writes; stop every stage."""
        if self.closed:
            return
        self.closed = True
        self._teardown()
        for side in (self.client, self.server):
            if side.transport is not None:
                side.transport.close()

    def reset(self) -> None:
        """Abort both sides with a TCP RST (SO_LINGER 0), even on a long-open connection."""
        if self.closed:
            return
        self.closed = True
        self._teardown()
        for side in (self.client, self.server):
            transport = side.transport
            if transport is None:
                continue
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
            transport.abort()

    def _teardown(self) -> None:
        if self._connect is not None and not self._connect.done():
            self._connect.cancel()
        for link in (self.up, self.down):
            if link is not None:
                link.close()
                self.proxy.bytes_closed[link.stream] += link.bytes
        for slots in self._slots.values():
            for slot in slots.values():
                _retire(slot.stage)
            slots.clear()
        self.proxy.conns.discard(self)

    # -- toxics ------------------------------------------------------------------------

    def sync(self, toxics: Iterable[Toxic]) -> None:
        """Rebuild both chains from the proxy's toxics (in order), keeping live stages.

        Then let the HTTP switch move the connection into or out of the HTTP layer (now,
        or at its next point between exchanges).
        """
        if self.closed or self.up is None or self.down is None:
            return
        ordered = [t for t in toxics if not t.is_http]
        for link in (self.up, self.down):
            old = self._slots[link.stream]
            new: dict[str, _Slot] = {}
            fresh: list[Stage] = []
            for toxic in ordered:
                if toxic.stream != link.stream:
                    continue
                slot = old.pop(toxic.name, None)
                if slot is None or slot.toxic is not toxic or slot.toxicity != toxic.toxicity:
                    if slot is not None:
                        _retire(slot.stage)
                    slot = self._roll(toxic)
                    if slot.stage is not None:
                        fresh.append(slot.stage)
                new[toxic.name] = slot
            for slot in old.values():
                _retire(slot.stage)
            self._slots[link.stream] = new
            self._chain(link)
            for stage in fresh:
                if (started := stateful(stage)) is not None:
                    started.start()
        if self.http is not None:
            self.http.update()

    def rechain(self) -> None:
        """Rebuild both chains after the HTTP layer joined or left (same TCP stages)."""
        for link in (self.up, self.down):
            if link is not None:
                self._chain(link)

    def _chain(self, link: Link) -> None:
        slots = self._slots[link.stream].values()
        link.set_stages([*link.head_stages, *(s.stage for s in slots if s.stage is not None)])

    def _roll(self, toxic: Toxic) -> _Slot:
        toxic.seen += 1
        # toxicity 1 (the default) or 0 needs no roll: no RNG made (seeding one is not free)
        chance = toxic.toxicity
        if chance <= 0.0 or (chance < 1.0 and self.rng.random() >= chance):
            return _Slot(toxic, None)
        toxic.affected += 1
        env = StageEnv(self.loop, lambda: self.rng, self, toxic)
        return _Slot(toxic, toxic.attributes.stage(env))


def _reason(exc: OSError) -> str:
    """One line saying why the upstream connection failed (no ``[SSL: ...]`` noise)."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {exc.reason or exc}"
    return str(exc.strerror or exc) or type(exc).__name__


def _retire(stage: Stage | None) -> None:
    if stage is None:
        return
    stage.interrupt()
    if (started := stateful(stage)) is not None:
        started.stop()
