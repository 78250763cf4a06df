"""All proxies of one server, and the operations of the control API on them.

Every random choice comes from one seed: each proxy's RNG is derived from the server
seed and the proxy's name, each connection's from its proxy's in accept order.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections import Counter
from typing import Any

from aichaos.proxy.busypoll import DEFAULT_WINDOW_S, BusyPoll
from aichaos.proxy.errors import ApiBadRequest, ApiConflict, ApiError, ApiNotFound
from aichaos.proxy.loops import check_no_loop
from aichaos.proxy.proxy import Proxy, split_hostport
from aichaos.proxy.toxic import Toxic, parse_toxic
from aichaos.proxy.upstream_tls import UpstreamTls, parse_upstream_tls

__all__ = ["ProxyStore"]


def _text(body: dict[str, Any], key: str, required: bool) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise ApiBadRequest(f"missing required field: {key}")
        return None
    if not isinstance(value, str):
        raise ApiBadRequest(f"bad request body: {key} must be a string, got {value!r}")
    return value


def _flag(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise ApiBadRequest(f"bad request body: {key} must be true or false, got {value!r}")
    return value


def _http_mode(body: dict[str, Any], default: bool | None) -> bool | None:
    """``http``: true (always parse), false (never), null or "auto" (while HTTP toxics exist)."""
    if "http" not in body:
        return default
    value = body["http"]
    if value is None or value == "auto":
        return None
    if not isinstance(value, bool):
        raise ApiBadRequest(
            f'bad request body: http must be true, false, null or "auto", got {value!r}'
        )
    return value


def _check_host_header(http: bool | None, tls: UpstreamTls | None) -> None:
    """A Host rewrite needs the HTTP layer, which ``http: false`` turns off."""
    if http is False and tls is not None and tls.host_header:
        raise ApiBadRequest(
            "bad request body: upstream_tls.host_header needs the HTTP layer, "
            "got http false (give http true or null)",
        )


class _Spec:
    """A validated proxy body (create, or one entry of /populate)."""

    def __init__(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise ApiBadRequest(f"bad request body: expected a JSON object, got {body!r}")
        self.name = _text(body, "name", True) or ""
        self.upstream = _text(body, "upstream", True) or ""
        self.listen = _text(body, "listen", False) or "127.0.0.1:0"
        split_hostport(self.upstream, "upstream")
        split_hostport(self.listen, "listen")
        self.enabled = _flag(body, "enabled", True)
        self.half_close = _flag(body, "half_close", False)
        self.http = _http_mode(body, None)
        self.upstream_tls = parse_upstream_tls(body.get("upstream_tls"))
        _check_host_header(self.http, self.upstream_tls)

    def same_as(self, proxy: Proxy) -> bool:
        """Unchanged for /populate: same upstream, and the same listen (port 0 matches any)."""
        if self.upstream != proxy.upstream or self.upstream_tls != proxy.upstream_tls:
            return False
        host, port = split_hostport(self.listen, "listen")
        return (host, port) == proxy.listen_addr or (port == 0 and host == proxy.listen_addr[0])


class ProxyStore:
    """The proxies of one server, by name."""

    def __init__(self, seed: int | None = None, busy_poll_s: float = DEFAULT_WINDOW_S) -> None:
        self.seed = seed if seed is not None else int.from_bytes(os.urandom(8), "big")
        self.proxies: dict[str, Proxy] = {}
        #: keeps the loop polling briefly after I/O (shared by this store's proxies)
        self.poller = BusyPoll(busy_poll_s)
        #: where this server's control API listens: no proxy may forward there
        self.api_addrs: list[tuple[str, int]] = []

    def _rng(self, name: str) -> random.Random:
        return random.Random(f"{self.seed}/{name}")

    def get(self, name: str) -> Proxy:
        """The proxy called ``name`` (404 otherwise)."""
        try:
            return self.proxies[name]
        except KeyError:
            raise ApiNotFound("proxy not found") from None

    async def create(self, body: Any) -> Proxy:
        """Create and start a proxy (409 if the name exists, 500 if the address is taken)."""
        spec = _Spec(body)
        if spec.name in self.proxies:
            raise ApiConflict("proxy already exists")
        return await self._start(spec)

    async def _check(self, spec: _Spec) -> None:
        upstream = split_hostport(spec.upstream, "upstream")
        listen = split_hostport(spec.listen, "listen")
        await check_no_loop(upstream, spec.upstream, listen, self.api_addrs)

    async def _start(self, spec: _Spec) -> Proxy:
        await self._check(spec)
        proxy = Proxy(
            spec.name,
            spec.listen,
            spec.upstream,
            enabled=spec.enabled,
            rng=self._rng(spec.name),
            half_close=spec.half_close,
            http=spec.http,
            poller=self.poller,
            upstream_tls=spec.upstream_tls,
        )
        await proxy.start()
        try:  # port 0 is known now: the kernel may have picked the upstream's own port
            await check_no_loop(proxy.upstream_addr, proxy.upstream, proxy.listen_addr, [])
        except ApiError:
            await proxy.stop()
            raise
        self.proxies[spec.name] = proxy
        return proxy

    async def update(self, name: str, body: Any) -> Proxy:
        """Merge ``body`` into a proxy; a new listen restarts the listener.

        A new ``upstream`` or ``upstream_tls`` applies to connections accepted from now on.
        """
        proxy = self.get(name)
        if not isinstance(body, dict):
            raise ApiBadRequest(f"bad request body: expected a JSON object, got {body!r}")
        listen = _text(body, "listen", False)
        upstream = _text(body, "upstream", False)
        enabled = _flag(body, "enabled", proxy.enabled)
        half_close = _flag(body, "half_close", proxy.half_close)
        http = _http_mode(body, proxy.http_mode)
        # absent keeps the current setting; null or false turns TLS off
        tls = parse_upstream_tls(body["upstream_tls"]) if "upstream_tls" in body else None
        _check_host_header(http, tls if "upstream_tls" in body else proxy.upstream_tls)
        new_listen = split_hostport(listen, "listen") if listen else None
        new_upstream = split_hostport(upstream, "upstream") if upstream else None
        if new_listen is not None or new_upstream is not None:
            await check_no_loop(
                new_upstream or proxy.upstream_addr,
                upstream or proxy.upstream,
                new_listen or proxy.listen_addr,
                self.api_addrs,
            )
        proxy.half_close = half_close
        if "upstream_tls" in body:
            proxy.set_upstream_tls(tls)
        if http is not proxy.http_mode:
            proxy.set_http_mode(http)
        if new_upstream is not None and upstream != proxy.upstream:
            proxy.upstream, proxy.upstream_addr = upstream or "", new_upstream
        if new_listen is not None and new_listen != proxy.listen_addr:
            await proxy.stop()
            proxy.listen, proxy.listen_addr = listen or "", new_listen
            if proxy.enabled:
                proxy.enabled = False
                await proxy.set_enabled(True)
        await proxy.set_enabled(enabled)
        return proxy

    async def delete(self, name: str) -> None:
        """Stop and forget a proxy."""
        proxy = self.get(name)
        await proxy.stop()
        proxy.remove_all_toxics()
        del self.proxies[name]

    async def reset(self) -> None:
        """Enable every proxy and remove every toxic (``POST /reset``)."""
        for proxy in self.proxies.values():
            proxy.remove_all_toxics()
            await proxy.set_enabled(True)

    async def populate(self, body: Any) -> list[Proxy]:
        """Create or replace many proxies; everything is validated before anything changes.

        An unchanged proxy keeps its toxics and connections; a changed one is replaced.
        """
        if isinstance(body, dict) and "proxies" in body:
            body = body["proxies"]
        if not isinstance(body, list):
            raise ApiBadRequest(f"bad request body: expected a JSON array of proxies, got {body!r}")
        specs = []
        for i, item in enumerate(body):
            if i and i % 256 == 0:
                await asyncio.sleep(0)  # a large body must not hold the loop (every proxy)
            specs.append(_Spec(item))
        # counted once: names.count() per name made a large body quadratic, holding the
        # event loop (and so every proxy) for seconds
        dupes = sorted(n for n, k in Counter(s.name for s in specs).items() if k > 1)
        if dupes:
            raise ApiBadRequest(f"bad request body: proxy names repeated: {', '.join(dupes)}")
        for spec in specs:
            await self._check(spec)
        result = []
        for spec in specs:
            existing = self.proxies.get(spec.name)
            if existing is not None and spec.same_as(existing):
                await existing.set_enabled(spec.enabled)
                result.append(existing)
                continue
            if existing is not None:
                await self.delete(spec.name)
            result.append(await self._start(spec))
        return result

    # -- toxics ------------------------------------------------------------------------

    def add_toxic(self, proxy_name: str, body: Any) -> Toxic:
        """Create a toxic on a proxy."""
        proxy = self.get(proxy_name)
        toxic = parse_toxic(body)
        proxy.add_toxic(toxic)
        return toxic

    def get_toxic(self, proxy_name: str, toxic_name: str) -> Toxic:
        """A toxic by name (404 if missing)."""
        toxic = self.get(proxy_name).toxics.get(toxic_name)
        if toxic is None:
            raise ApiNotFound("toxic not found")
        return toxic

    def update_toxic(self, proxy_name: str, toxic_name: str, body: Any) -> Toxic:
        """Merge ``body`` into a toxic (attributes merged key by key)."""
        proxy = self.get(proxy_name)
        current = self.get_toxic(proxy_name, toxic_name)
        proxy.update_toxic(current, parse_toxic(body, current))
        return current

    def remove_toxic(self, proxy_name: str, toxic_name: str) -> None:
        """Remove a toxic (404 if missing)."""
        self.get(proxy_name).remove_toxic(toxic_name)

    async def close(self) -> None:
        """Stop every proxy."""
        for proxy in self.proxies.values():
            await proxy.stop()
