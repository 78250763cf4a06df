"""The one access rule every control server applies: exposure, bearer token, body size."""

from __future__ import annotations

import pytest

from aichaos.access import (
    BodyRefused,
    bearer_ok,
    check_exposure,
    content_length,
    is_loopback,
)
from aichaos.errors import ValidationError
from aichaos.inprocess.board import Switchboard
from aichaos.inprocess.control import ControlServer
from aichaos.integrations.prometheus import MetricsServer

TOKEN = "a-long-enough-token"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.9.9.9", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.1", False),
        ("example.org", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        (f"Bearer {TOKEN}", True),
        (f"Bearer {TOKEN}".encode(), True),
        (None, False),
        ("", False),
        (f"bearer {TOKEN}", False),
        (f"Bearer {TOKEN}x", False),
        (f"Bearer {TOKEN[:-1]}", False),
        ("Bearer \xff\xfe", False),  # not ASCII: refused, not an exception
    ],
)
def test_bearer_ok(header: str | bytes | None, ok: bool) -> None:
    assert bearer_ok(header, TOKEN) is ok


def test_without_a_token_every_header_passes() -> None:
    assert bearer_ok(None, None) and bearer_ok("Bearer x", None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, 0), ("", 0), ("0", 0), (" 12 ", 12), (b"64", 64), ("0064", 64)],
)
def test_content_length_accepts(raw: str | bytes | None, expected: int) -> None:
    assert content_length(raw, max_bytes=64) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("-1", "Content-Length must be"),
        ("+1", "Content-Length must be"),
        ("abc", "Content-Length must be"),
        ("1e3", "Content-Length must be"),
        ("1.0", "Content-Length must be"),
        ("\xb2", "Content-Length must be"),  # "²": str.isdigit() accepts it, int() does not
        ("9" * 5000, "Content-Length must be"),  # past int()'s digit limit: before int()
        ("65", "body larger than 64 bytes"),
        ("99999999999", "body larger than 64 bytes"),
    ],
)
def test_content_length_refuses(raw: str, message: str) -> None:
    with pytest.raises(BodyRefused) as info:
        content_length(raw, max_bytes=64)
    assert info.value.status == 400  # every server, every refused body (see access.py)
    assert info.value.message.startswith(message)
    assert len(str(info.value)) < 200  # a hostile header is not echoed in full
    assert isinstance(info.value, ValidationError)


# the same exposure rule, with the same words, on every control server
SERVERS = {
    "check_exposure": lambda host, token: check_exposure(host, token, insecure=False),
    "inprocess": lambda host, token: ControlServer(Switchboard(), token=token, host=host),
    "prometheus": lambda host, token: MetricsServer(object(), 0, host=host, token=token),
}


@pytest.mark.parametrize("server", sorted(SERVERS))
def test_a_short_token_is_refused_everywhere(server: str) -> None:
    with pytest.raises(ValidationError, match=r"^token must be at least 8 characters, got 3$"):
        SERVERS[server]("127.0.0.1", "abc")


@pytest.mark.parametrize("server", sorted(SERVERS))
def test_a_public_host_without_opt_in_is_refused_everywhere(server: str) -> None:
    with pytest.raises(ValidationError, match=r"^host '0\.0\.0\.0' is not a loopback address: "):
        SERVERS[server]("0.0.0.0", None)


def test_both_control_servers_refuse_an_oversized_body_alike() -> None:
    # one status for a body a server will not read (access.BODY_REFUSED_STATUS), so a
    # client that tells refusals apart by status sees the same answer from either
    import asyncio

    import httpx

    from aichaos.inprocess.control import MAX_BODY_BYTES as HOOK_LIMIT
    from aichaos.proxy.httpserver import MAX_BODY_BYTES as PROXY_LIMIT
    from aichaos.proxy.server import ApiSite, ProxyApp

    async def to_proxy() -> httpx.Response:
        app = ProxyApp(seed=1)
        site = ApiSite(app, "127.0.0.1", 0)
        await site.start()
        try:
            async with httpx.AsyncClient(base_url=site.url, timeout=10) as client:
                return await client.post("/proxies", content=b"x" * (PROXY_LIMIT + 1))
        finally:
            await site.stop()
            await app.close()

    proxy = asyncio.run(to_proxy())
    hooks = ControlServer(Switchboard(), token="t" * 32).start()
    try:
        hook = httpx.post(
            f"{hooks.url}/faults/h",
            content=b"x" * (HOOK_LIMIT + 1),
            headers={"Authorization": "Bearer " + "t" * 32},
            timeout=10,
        )
    finally:
        hooks.close()
    assert (proxy.status_code, hook.status_code) == (400, 400)
    assert proxy.json()["error"] == f"bad request: body larger than {PROXY_LIMIT} bytes"
    assert hook.json()["error"] == f"body larger than {HOOK_LIMIT} bytes"
