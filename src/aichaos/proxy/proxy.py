"""One proxy: a listener, an upstream address, an ordered set of toxics, live connections."""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING, Any

from aichaos.proxy.busypoll import BusyPoll
from aichaos.proxy.connection import Connection
from aichaos.proxy.errors import ApiBadRequest, ApiConflict, ApiNotFound, ApiServerError
from aichaos.proxy.toxic import Toxic
from aichaos.proxy.upstream_tls import UpstreamTls, valid_host

if TYPE_CHECKING:
    from aichaos.proxy.toxics.http_base import RequestFilter

__all__ = ["Proxy", "split_hostport"]


def split_hostport(value: str, field: str) -> tuple[str, int]:
    """``"127.0.0.1:80"`` / ``"[::1]:80"`` / ``"localhost:80"`` -> (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isascii() or not port.isdigit() or int(port) > 65535:
        raise ApiBadRequest(f"bad request body: {field} must be host:port, got {value!r}")
    host = host.strip("[]") or "0.0.0.0"
    if not valid_host(host):
        # checked here, not at bind time: a name the resolver cannot even encode would
        # otherwise fail later, on an enable or a /reset, as a 500
        raise ApiBadRequest(
            f"bad request body: {field} must be host:port with an IP or a DNS name, got {value!r}",
        )
    if host == "localhost":
        # one address only: port 0 on a name with two addresses would bind two ports
        host = "127.0.0.1"
    return host, int(port)


def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Proxy:
    """A named proxy from ``listen`` to ``upstream``; toxics apply to live connections."""

    def __init__(
        self,
        name: str,
        listen: str,
        upstream: str,
        *,
        enabled: bool = True,
        rng: random.Random,
        half_close: bool = False,
        http: bool | None = None,
        poller: BusyPoll | None = None,
        upstream_tls: UpstreamTls | None = None,
    ) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.upstream_addr = split_hostport(upstream, "upstream")
        self.listen_addr = split_hostport(listen, "listen")
        self.enabled = enabled
        #: TLS to the upstream (None: plain TCP); new connections read it, live ones keep theirs
        self.upstream_tls = upstream_tls
        #: upstream connections that failed (refused, unreachable, TLS), and the last reason:
        #: the client only sees its connection closed, so the API says why
        self.upstream_errors = 0
        self.last_upstream_error: str | None = None
        self.half_close = half_close
        #: the loop's busy poller; connections poke it on every I/O event
        self.poller = poller if poller is not None else BusyPoll(0.0)
        #: ``True``: every connection in the HTTP layer; ``False``: never parse;
        #: ``None`` (auto): HTTP connections are tracked and enter the layer while the
        #: proxy has HTTP toxics
        self.http_mode = http
        #: whether connections should be in the HTTP layer now (kept by :meth:`_sync`)
        self.wants_layer = http is True or self.host_header is not None
        self.rng = rng
        self.toxics: dict[str, Toxic] = {}
        #: the HTTP toxics' request filters in chain order (kept by :meth:`_sync`)
        self.http_filters: tuple[RequestFilter, ...] = ()
        #: (method, target) -> whether a filter selects it: the fast path's memo, valid
        #: for these filters (emptied by :meth:`_sync`); None when a filter reads headers
        self.http_decided: dict[tuple[bytes, bytes], bool] | None = {}
        self.conns: set[Connection] = set()
        self.connections_total = 0
        self.requests_upstream = 0
        #: connections moved into or out of the HTTP layer while open
        self.http_switches = 0
        #: bytes read by connections that have closed, by stream (open ones add theirs)
        self.bytes_closed = {"upstream": 0, "downstream": 0}
        self._server: asyncio.AbstractServer | None = None
        #: the loop the listener runs on (set by :meth:`start`); connections take it from
        #: here, since asyncio.get_running_loop() costs a getpid() system call each time
        self.loop: asyncio.AbstractEventLoop | None = None

    def to_json(self) -> dict[str, Any]:
        """The proxy as the API returns it (Toxiproxy's shape plus our extras)."""
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [t.to_json() for t in self.toxics.values()],
            "half_close": self.half_close,
            "http": self.http_mode,
            "upstream_tls": None if self.upstream_tls is None else self.upstream_tls.wire(),
            "last_upstream_error": self.last_upstream_error,
        }

    # -- listener ----------------------------------------------------------------------

    def _accept(self) -> asyncio.Protocol:
        self.connections_total += 1
        # One RNG per connection, drawn from the proxy's seeded RNG in accept order.
        conn = Connection(self, self.rng.getrandbits(64))
        return conn.client

    async def start(self) -> None:
        """Bind the listener (port 0 allowed) and rewrite ``listen`` to the bound address."""
        if not self.enabled or self._server is not None:
            return
        loop = asyncio.get_running_loop()
        self.loop = loop
        self.poller.attach(loop)
        host, port = self.listen_addr
        try:
            server = await loop.create_server(
                self._accept, host, port, reuse_address=True, backlog=1024
            )
        except (OSError, UnicodeError, ValueError) as exc:  # unresolvable names included
            self.enabled = False
            why = getattr(exc, "strerror", None) or exc
            raise ApiServerError(f"listen tcp {self.listen}: bind: {why}") from exc
        self._server = server
        bound = server.sockets[0].getsockname()
        self.listen_addr = (host, bound[1])
        self.listen = _join(bound[0], bound[1])

    async def stop(self) -> None:
        """Stop listening and drop every connection."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for conn in list(self.conns):
            conn.close()

    async def set_enabled(self, enabled: bool) -> None:
        """Enable (listen again on the same address) or disable (drop everything)."""
        if enabled == self.enabled:
            return
        self.enabled = enabled
        if enabled:
            await self.start()
        else:
            await self.stop()

    # -- toxics ------------------------------------------------------------------------

    def set_http_mode(self, mode: bool | None) -> None:
        """Change ``http`` (true / false / null = auto); live connections follow."""
        self.http_mode = mode
        self._sync()

    @property
    def host_header(self) -> str | None:
        """The Host header the HTTP layer sends upstream (``upstream_tls.host_header``)."""
        tls = self.upstream_tls
        return None if tls is None else tls.host(self.upstream_addr)

    def set_upstream_tls(self, tls: UpstreamTls | None) -> None:
        """Change ``upstream_tls``: new connections dial with it, live ones keep theirs
        (a Host rewrite applies to their next request)."""
        self.upstream_tls = tls
        self._sync()

    def _sync(self) -> None:
        from aichaos.proxy.toxics.http_base import HttpToxic, RequestFilter

        toxics = list(self.toxics.values())
        self.http_filters = tuple(
            RequestFilter(t.attributes, t) for t in toxics if isinstance(t.attributes, HttpToxic)
        )
        self.http_decided = None if any(f.headers for f in self.http_filters) else {}
        self.wants_layer = (
            self.http_mode is True
            or (self.http_mode is None and any(t.is_http for t in toxics))
            or self.host_header is not None
        )
        for conn in list(self.conns):
            conn.sync(toxics)

    def add_toxic(self, toxic: Toxic) -> None:
        """Add a toxic (409 if the name exists on either stream); live connections get it."""
        if toxic.name in self.toxics:
            raise ApiConflict("toxic already exists")
        self.toxics[toxic.name] = toxic
        self._arm(toxic)
        self._sync()

    def update_toxic(self, current: Toxic, new: Toxic) -> None:
        """Apply ``new``'s settings to ``current`` in place (stages read them live)."""
        current.attributes = new.attributes
        current.stream = new.stream
        current.toxicity = new.toxicity
        current.ttl_s = new.ttl_s
        self._arm(current)
        self._sync()

    def remove_toxic(self, name: str) -> None:
        """Remove a toxic; its held bytes flow on at once (sleeps are interrupted)."""
        toxic = self.toxics.pop(name, None)
        if toxic is None:
            raise ApiNotFound("toxic not found")
        if toxic.expiry is not None:
            toxic.expiry.cancel()
        self._sync()

    def remove_all_toxics(self) -> None:
        """Remove every toxic (``POST /reset``)."""
        for toxic in self.toxics.values():
            if toxic.expiry is not None:
                toxic.expiry.cancel()
        self.toxics.clear()
        self._sync()

    def _arm(self, toxic: Toxic) -> None:
        """(Re)start a toxic's TTL: it removes itself unless renewed (a dead-man's switch)."""
        if toxic.expiry is not None:
            toxic.expiry.cancel()
            toxic.expiry = None
        if toxic.ttl_s is not None:
            loop = asyncio.get_running_loop()
            toxic.expiry = loop.call_later(toxic.ttl_s, self._expire, toxic)

    def _expire(self, toxic: Toxic) -> None:
        if self.toxics.get(toxic.name) is toxic:
            self.remove_toxic(toxic.name)
