"""Fixtures: a real echo server, an in-process proxy server and its API client, on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from aichaos.proxy.server import ApiSite, ProxyApp
from tests.proxy.asgi_app import Seen, make_app
from tests.proxy.llm_upstream import LlmUpstream, make_llm_app


@dataclass
class Echo:
    """An asyncio echo server; ``connections`` counts accepts."""

    host: str
    port: int
    connections: int = 0

    @property
    def addr(self) -> str:
        return f"{self.host}:{self.port}"


async def _echo(echo: Echo, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    echo.connections += 1
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


@pytest.fixture
async def echo_server() -> AsyncIterator[Echo]:
    """A byte echo server on 127.0.0.1, port 0."""
    echo = Echo("127.0.0.1", 0)
    server = await asyncio.start_server(lambda r, w: _echo(echo, r, w), "127.0.0.1", 0)
    echo.port = server.sockets[0].getsockname()[1]
    async with server:
        yield echo
        server.close()


@dataclass
class Api:
    """An in-process proxy server with an API client."""

    app: ProxyApp
    site: ApiSite
    client: httpx.AsyncClient

    async def proxy(self, upstream: str, name: str = "p", **extra: object) -> tuple[str, int]:
        """Create a proxy to ``upstream``; its listen (host, port)."""
        body = {"name": name, "upstream": upstream, "listen": "127.0.0.1:0", **extra}
        r = await self.client.post("/proxies", json=body)
        assert r.status_code == 201, r.text
        host, port = r.json()["listen"].rsplit(":", 1)
        return host, int(port)

    async def toxic(self, proxy: str = "p", **body: object) -> dict[str, object]:
        """Create a toxic; asserts 200."""
        r = await self.client.post(f"/proxies/{proxy}/toxics", json=body)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    """A proxy server (seed 1234) with its control API on a free port."""
    app = ProxyApp(seed=1234)
    site = ApiSite(app, "127.0.0.1", 0)
    await site.start()
    async with httpx.AsyncClient(base_url=site.url, timeout=10) as client:
        yield Api(app, site, client)
    await site.stop()
    await app.close()


Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@pytest.fixture
async def connect() -> AsyncIterator[Callable[[tuple[str, int]], Awaitable[Conn]]]:
    """Open client connections; all are closed at the end of the test."""
    opened: list[asyncio.StreamWriter] = []

    async def open_(addr: tuple[str, int]) -> Conn:
        reader, writer = await asyncio.open_connection(*addr)
        opened.append(writer)
        return reader, writer

    yield open_
    for writer in opened:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def read_exactly(reader: asyncio.StreamReader, n: int, within_s: float = 5.0) -> bytes:
    """Read n bytes or fail within ``within_s``."""
    return await asyncio.wait_for(reader.readexactly(n), within_s)


@contextlib.asynccontextmanager
async def serve_asgi(app: Any, **ssl: Any) -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn on 127.0.0.1, port 0 (TLS with ``ssl_certfile``...);
    yields its ``host:port``."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", **ssl
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[str, Seen]]:
    """The model-serving ASGI app under uvicorn on 127.0.0.1: (address, requests seen)."""
    seen = Seen()
    async with serve_asgi(make_app(seen)) as addr:
        yield addr, seen


@pytest.fixture
async def llm() -> AsyncIterator[LlmUpstream]:
    """A local OpenAI- and Anthropic-compatible provider over plain HTTP."""
    state = LlmUpstream()
    async with serve_asgi(make_llm_app(state)) as addr:
        state.addr = addr
        yield state


#: the name the TLS upstream's certificate is issued for (besides 127.0.0.1)
TLS_NAME = "llm.test"


@dataclass
class TlsFiles:
    """A throwaway CA and the server certificate it issued (trustme)."""

    ca_file: str
    ca_pem: str
    cert_file: str


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A CA made for this test session; nothing is trusted beyond it."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", TLS_NAME)
    folder = tmp_path_factory.mktemp("tls")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    cert.private_key_and_cert_chain_pem.write_to_path(str(folder / "server.pem"))
    return TlsFiles(
        str(folder / "ca.pem"), ca.cert_pem.bytes().decode(), str(folder / "server.pem")
    )


@pytest.fixture
async def llm_tls(tls_files: TlsFiles) -> AsyncIterator[LlmUpstream]:
    """The same provider, HTTPS only, with a certificate from :func:`tls_files`' CA."""
    state = LlmUpstream()
    async with serve_asgi(make_llm_app(state), ssl_certfile=tls_files.cert_file) as addr:
        state.addr = addr
        yield state
