"""App, runner and listener, kept apart (as aiohttp's ``AppRunner`` / ``TCPSite``).

* :class:`ProxyApp` -- the proxies and the control API; no sockets of its own.
* :class:`ApiSite` -- the control API's listener; binds port 0 and reports the real address.
* :func:`serve` / :func:`run` -- load a config, start a site, run until stopped.

Embedding in a test or another program::

    app = ProxyApp(seed=7)
    site = ApiSite(app, "127.0.0.1", 0)
    await site.start()
    print(site.url)          # http://127.0.0.1:<port>
    ...
    await site.stop(); await app.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aichaos.access import check_exposure, is_loopback
from aichaos.errors import ValidationError
from aichaos.eventloop import new_event_loop
from aichaos.proxy.api import ControlApi
from aichaos.proxy.busypoll import DEFAULT_WINDOW_S
from aichaos.proxy.errors import ApiError
from aichaos.proxy.httpserver import HttpServerProtocol, Limits, ServerState
from aichaos.proxy.store import ProxyStore

__all__ = [
    "ApiSite",
    "ProxyApp",
    "check_exposure",
    "is_loopback",
    "load_config",
    "run",
    "serve",
]


def load_config(path: str | Path) -> Any:
    """Read a proxy list (Toxiproxy's ``-config`` format: a JSON array; YAML also accepted)."""
    text = Path(path).read_text()
    try:
        if str(path).endswith((".yaml", ".yml")):
            import yaml

            return yaml.safe_load(text)
        return json.loads(text)
    except ValueError as exc:
        raise ValidationError(f"config {path}: not valid JSON/YAML: {exc}") from exc


class ProxyApp:
    """The proxies of one server and its control API."""

    def __init__(self, seed: int | None = None, busy_poll_s: float = DEFAULT_WINDOW_S) -> None:
        try:
            self.store = ProxyStore(seed, busy_poll_s)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        self.api = ControlApi(self.store)

    async def populate(self, config: Any) -> None:
        """Create the proxies of a config; a bad entry raises :class:`ValidationError`."""
        try:
            await self.store.populate(config)
        except ApiError as exc:
            raise ValidationError(f"config: {exc.message}") from exc

    async def close(self) -> None:
        """Stop every proxy and drop every connection."""
        await self.store.close()


class ApiSite:
    """The control API's listening socket."""

    def __init__(
        self,
        app: ProxyApp,
        host: str = "127.0.0.1",
        port: int = 8474,
        *,
        token: str | None = None,
        insecure: bool = False,
        limits: Limits | None = None,
    ) -> None:
        check_exposure(host, token, insecure)
        self.app = app
        self.host = host
        self.port = port
        self.state = ServerState(limits or Limits(), token)
        self._server: asyncio.AbstractServer | None = None
        if port:  # known before binding: proxies of a start-up config may not point here
            app.store.api_addrs.append((host, port))

    async def start(self) -> None:
        """Bind (port 0 picks a free port) and start accepting."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: HttpServerProtocol(self.app.api, self.state),
            self.host,
            self.port,
            reuse_address=True,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        if (self.host, self.port) not in self.app.store.api_addrs:
            self.app.store.api_addrs.append((self.host, self.port))

    @property
    def url(self) -> str:
        """The API's base URL, with the bound port."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        """Stop accepting API connections."""
        if self._server is not None:
            self._server.close()
            self._server = None
        with contextlib.suppress(ValueError):
            self.app.store.api_addrs.remove((self.host, self.port))
        for conn in list(self.state.connections):
            if conn.transport is not None:
                conn.transport.close()


async def serve(
    host: str,
    port: int,
    *,
    config: Any = None,
    seed: int | None = None,
    ready: Callable[[ApiSite], None] | None = None,
    token: str | None = None,
    insecure: bool = False,
    busy_poll_s: float = DEFAULT_WINDOW_S,
) -> None:
    """Run a server until SIGINT / SIGTERM (or cancellation)."""
    app = ProxyApp(seed, busy_poll_s)
    site = ApiSite(app, host, port, token=token, insecure=insecure)
    try:
        if config is not None:
            await app.populate(config)
        await site.start()
        if ready is not None:
            ready(site)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await site.stop()
        await app.close()


def run(
    host: str,
    port: int,
    *,
    config: Any = None,
    seed: int | None = None,
    ready: Callable[[ApiSite], None] | None = None,
    token: str | None = None,
    insecure: bool = False,
    busy_poll_s: float = DEFAULT_WINDOW_S,
) -> None:
    """Blocking entry point used by ``aichaos proxy``."""
    check_exposure(host, token, insecure)  # before anything binds
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(
            serve(
                host,
                port,
                config=config,
                seed=seed,
                ready=ready,
                token=token,
                insecure=insecure,
                busy_poll_s=busy_poll_s,
            )
        )
