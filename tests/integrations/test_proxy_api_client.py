"""The one proxy API client, synchronous form: the handle, its target and the watchdog's
undo reach a token-protected API through the same URLs, header and error mapping."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from aichaos.errors import SafetyError, ValidationError
from aichaos.faults.undo import HttpRequest, perform
from aichaos.integrations.proxyproc import ProxyHandle
from aichaos.proxy.server import ApiSite, ProxyApp
from aichaos.proxyapi import ProxyApi, send_sync

TOKEN = "t" * 40


@pytest.fixture
def api_url() -> Iterator[str]:
    """A token-protected proxy API on its own event loop thread, with proxy ``a b``."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    app = ProxyApp(seed=1)
    site = ApiSite(app, "127.0.0.1", 0, token=TOKEN)
    asyncio.run_coroutine_threadsafe(site.start(), loop).result(10)
    status, text = send_sync(
        "POST",
        ProxyApi(site.url).url("proxies"),
        headers=ProxyApi(site.url, TOKEN).headers(),
        body={"name": "a b", "upstream": "127.0.0.1:9", "listen": "127.0.0.1:0"},
    )
    assert status == 201, text
    try:
        yield site.url
    finally:
        asyncio.run_coroutine_threadsafe(site.stop(), loop).result(10)
        asyncio.run_coroutine_threadsafe(app.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_handle_quotes_names_sends_the_token_and_maps_errors(api_url: str) -> None:
    handle = ProxyHandle(api_url, "a b", "127.0.0.1:1", token=TOKEN)
    name = handle.add_toxic("latency", name="lat/1", latency=5)
    assert [t["name"] for t in handle.toxics()] == ["lat/1"]
    assert handle.update_toxic(name, attributes={"latency": 7})["attributes"]["latency"] == 7
    with pytest.raises(ValidationError, match="invalid toxic type"):
        handle.add_toxic("no-such-toxic")
    with pytest.raises(SafetyError, match="401"):
        ProxyHandle(api_url, "a b", "127.0.0.1:1", token="w" * 40).toxics()
    handle.remove_toxic(name)
    handle.remove_toxic(name)  # gone already: not an error
    assert handle.toxics() == []


def test_target_keeps_the_token_and_the_watchdog_undo_uses_it(
    api_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # target() sets this process's variable: recorded as unset, so teardown unsets it
    monkeypatch.delenv(f"AICHAOS_PROXY_TOKEN_{urlsplit(api_url).port}", raising=False)
    handle = ProxyHandle(api_url, "a b", "127.0.0.1:1", token=TOKEN)
    target = handle.target()
    assert target.token_env == f"AICHAOS_PROXY_TOKEN_{urlsplit(api_url).port}"
    assert target.api() == ProxyApi(api_url, TOKEN)
    handle.add_toxic("latency", name="x/y", latency=5)
    action = HttpRequest(url=target.toxics_url("x/y"), bearer_env=target.token_env)
    perform(action)
    assert handle.toxics() == []
    perform(action)  # 404: already undone
    with pytest.raises(OSError, match="401"):
        monkeypatch.setenv(target.token_env, "w" * 40)
        perform(HttpRequest(url=target.toxics_url("x/y"), bearer_env=target.token_env))
