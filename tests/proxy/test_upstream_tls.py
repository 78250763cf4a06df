"""``upstream_tls``: a client speaks plain HTTP to the proxy, the proxy speaks TLS upstream.

The upstream is HTTPS only, with a certificate from a throwaway CA (trustme); the clients
are the official ``openai`` SDK and ``httpx``. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import random
from typing import Any

import httpx
import openai
import pydantic
import pytest

from aichaos.errors import TargetError
from aichaos.faults.base import FAULTS, InjectionContext
from aichaos.proxy.target import ProxyTarget
from tests.proxy.conftest import TLS_NAME, Api, TlsFiles
from tests.proxy.llm_upstream import TEXT, TOKENS, LlmUpstream


def _openai(listen: tuple[str, int]) -> openai.AsyncOpenAI:
    host, port = listen
    return openai.AsyncOpenAI(
        base_url=f"http://{host}:{port}/v1", api_key="sk-test", max_retries=0, timeout=10
    )


async def _get(url: str) -> httpx.Response:
    """A GET on a connection of its own (the proxy dials upstream per connection)."""
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(url)


async def test_openai_sdk_reaches_an_https_upstream_through_http_toxics(
    api: Api, llm_tls: LlmUpstream, tls_files: TlsFiles
) -> None:
    tls = {"server_name": TLS_NAME, "ca_file": tls_files.ca_file}
    listen = await api.proxy(llm_tls.addr, upstream_tls=tls)
    async with _openai(listen) as client:
        messages: Any = [{"role": "user", "content": "hi"}]
        done = await client.chat.completions.create(model="gpt-local", messages=messages)
        assert done.choices[0].message.content == TEXT

        # an HTTP toxic acts on the cleartext exchange: the stream ends after 3 events
        await api.toxic(type="stream_cut", attributes={"after_events": 3, "mode": "end"})
        stream = await client.chat.completions.create(
            model="gpt-local", messages=messages, stream=True
        )
        pieces = [c.choices[0].delta.content async for c in stream]
        assert pieces == ["", *TOKENS[:2]]  # role chunk + two tokens; no finish, no error
        # and a JSON rewrite of a non-streamed answer
        await api.client.delete("/proxies/p/toxics/stream_cut_downstream")
        await api.toxic(
            type="json_corrupt",
            attributes={
                "ops": [{"path": "choices.*.message.content", "action": "set", "value": "X"}]
            },
        )
        done = await client.chat.completions.create(model="gpt-local", messages=messages)
        assert done.choices[0].message.content == "X"
        assert llm_tls.paths == ["/v1/chat/completions"] * 3
    body = (await api.client.get("/proxies/p")).json()
    assert body["upstream_tls"] == {**tls, "host_header": False, "verify": True}
    assert body["last_upstream_error"] is None


async def test_the_sdk_can_send_the_providers_host_through_the_proxy(
    api: Api, llm_tls: LlmUpstream, tls_files: TlsFiles
) -> None:
    # what docs/proxy.md tells users of a CDN-fronted provider to do
    host, port = await api.proxy(llm_tls.addr, upstream_tls={"ca_file": tls_files.ca_file})
    async with openai.AsyncOpenAI(
        base_url=f"http://{host}:{port}/v1",
        api_key="k",
        max_retries=0,
        default_headers={"Host": TLS_NAME},
    ) as client:
        await client.models.list()
    assert llm_tls.arrivals[0].headers["host"] == TLS_NAME


async def test_host_header_sends_the_providers_name_with_and_without_toxics(
    api: Api, llm_tls: LlmUpstream, tls_files: TlsFiles
) -> None:
    tls = {"server_name": TLS_NAME, "ca_file": tls_files.ca_file, "host_header": True}
    host, port = await api.proxy(llm_tls.addr, upstream_tls=tls)
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=10) as client:
        assert (await client.get("/v1/models")).status_code == 200  # no toxic
        await api.toxic(type="http_delay", attributes={"first_byte_ms": 1})
        assert (await client.get("/v1/models")).status_code == 200  # an HTTP toxic
    upstream_port = llm_tls.addr.rsplit(":", 1)[1]
    assert [a.headers["host"] for a in llm_tls.arrivals] == [f"{TLS_NAME}:{upstream_port}"] * 2
    # the rewrite needs the HTTP layer: http false with it is refused, both ways round
    r = await api.client.post("/proxies/p", json={"http": False})
    assert r.status_code == 400 and "host_header needs the HTTP layer" in r.text
    body = {"name": "q", "upstream": llm_tls.addr, "http": False, "upstream_tls": tls}
    assert (await api.client.post("/proxies", json=body)).status_code == 400


async def test_httpx_with_an_inline_ca_and_the_ip_as_name(
    api: Api, llm_tls: LlmUpstream, tls_files: TlsFiles
) -> None:
    # no server_name: SNI and the certificate check use the upstream's host (an IP SAN)
    host, port = await api.proxy(llm_tls.addr, upstream_tls={"ca_pem": tls_files.ca_pem})
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=10) as client:
        for _ in range(3):  # one keep-alive connection, one TLS session
            r = await client.get("/v1/models")
            assert r.status_code == 200 and r.json()["data"][0]["id"] == "gpt-local"
    assert api.app.store.get("p").connections_total == 1


@pytest.mark.parametrize(
    ("tls", "reason"),
    [
        ({"server_name": TLS_NAME}, "certificate verify failed"),  # system CAs only
        ({"server_name": "other.test", "ca_file": None}, "Hostname mismatch"),
    ],
)
async def test_an_upstream_that_fails_verification_is_an_error_not_a_pass(
    api: Api, llm_tls: LlmUpstream, tls_files: TlsFiles, tls: dict[str, Any], reason: str
) -> None:
    if "ca_file" in tls:
        tls = {**tls, "ca_file": tls_files.ca_file}
    listen = await api.proxy(llm_tls.addr, upstream_tls=tls)
    async with _openai(listen) as client:
        with pytest.raises(openai.APIConnectionError):
            await client.models.list()
    assert llm_tls.arrivals == []  # nothing was sent over an unverified connection
    body = (await api.client.get("/proxies/p")).json()
    assert reason in body["last_upstream_error"], body
    assert body["last_upstream_error"].startswith(f"TLS to upstream {llm_tls.addr}: ")
    metrics = (await api.client.get("/metrics")).text
    assert 'aichaos_proxy_upstream_errors_total{proxy="p"} 1' in metrics


async def test_verify_false_accepts_the_self_signed_upstream(
    api: Api, llm_tls: LlmUpstream
) -> None:
    listen = await api.proxy(llm_tls.addr, upstream_tls={"verify": False})
    async with _openai(listen) as client:
        page = await client.models.list()
    assert [m.id for m in page.data] == ["gpt-local"]


async def test_plain_proxy_to_a_tls_upstream_gets_no_answer(api: Api, llm_tls: LlmUpstream) -> None:
    # what a proxy without upstream_tls does: the TLS server sees garbage, the client no answer
    listen = await api.proxy(llm_tls.addr)
    async with _openai(listen) as client:
        with pytest.raises((openai.APIStatusError, openai.APIConnectionError)):
            await client.models.list()
    assert llm_tls.arrivals == []


async def test_update_turns_tls_on_and_off_for_new_connections(
    api: Api, llm_tls: LlmUpstream, llm: LlmUpstream, tls_files: TlsFiles
) -> None:
    host, port = await api.proxy(llm.addr)
    url = f"http://{host}:{port}/v1/models"
    assert (await _get(url)).status_code == 200
    r = await api.client.post(
        "/proxies/p",
        json={"upstream": llm_tls.addr, "upstream_tls": {"ca_file": tls_files.ca_file}},
    )
    assert r.status_code == 200 and r.json()["upstream_tls"] == {
        "ca_file": tls_files.ca_file,
        "host_header": False,
        "verify": True,
    }
    assert (await _get(url)).status_code == 200
    assert len(llm_tls.arrivals) == 1
    r = await api.client.patch("/proxies/p", json={"upstream": llm.addr, "upstream_tls": None})
    assert r.status_code == 200 and r.json()["upstream_tls"] is None
    assert (await _get(url)).status_code == 200
    assert len(llm.arrivals) == 2


async def test_populate_replaces_a_proxy_whose_tls_changed(
    api: Api, llm_tls: LlmUpstream, tls_files: TlsFiles
) -> None:
    plain = {"name": "p", "upstream": llm_tls.addr, "listen": "127.0.0.1:0"}
    first = (await api.client.post("/populate", json=[plain])).json()["proxies"][0]
    tls = {**plain, "upstream_tls": {"ca_file": tls_files.ca_file}}
    second = (await api.client.post("/populate", json=[tls])).json()["proxies"][0]
    assert first["upstream_tls"] is None and second["upstream_tls"]["ca_file"] == tls_files.ca_file
    same = (await api.client.post("/populate", json=[tls])).json()["proxies"][0]
    assert same["listen"] == second["listen"]  # unchanged: kept, not restarted
    assert (await _get(f"http://{second['listen']}/v1/models")).status_code == 200


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("yes", "upstream_tls must be true, false, null or an object, got 'yes'"),
        (1, "upstream_tls must be true, false, null or an object, got 1"),
        ({"ca_file": "/nonexistent/ca.pem"}, "upstream_tls.ca_file cannot be loaded as PEM CAs"),
        ({"ca_pem": "not a certificate"}, "upstream_tls.ca_pem cannot be loaded as PEM CAs"),
        ({"server_name": "bad name!"}, "server_name must be a DNS name or an IP address"),
        ({"verify": "no"}, "verify input should be a valid boolean, got 'no' (upstream_tls)"),
        ({"sni": "x"}, "sni is not a known field; known: ca_file, ca_pem, host_header"),
    ],
)
async def test_bad_upstream_tls_is_one_clear_400(api: Api, value: object, message: str) -> None:
    body = {"name": "p", "upstream": "127.0.0.1:9", "upstream_tls": value}
    r = await api.client.post("/proxies", json=body)
    assert r.status_code == 400 and message in r.json()["error"], r.text
    assert "p" not in api.app.store.proxies


async def test_a_fault_creates_the_https_proxy_its_target_describes(
    api: Api, llm_tls: LlmUpstream, tls_files: TlsFiles
) -> None:
    target = ProxyTarget.model_validate(
        {
            "api_url": api.site.url,
            "proxy": "llm",
            "upstream": llm_tls.addr,
            "upstream_tls": {"server_name": TLS_NAME, "ca_file": tls_files.ca_file},
        }
    )
    fault = FAULTS.get("proxy-http-error").model_validate({"preset": "openai_server_error"})
    injection = fault.injection(InjectionContext(target=target, rng=random.Random(1)))
    await injection.apply()
    proxy = api.app.store.get("llm")
    assert proxy.upstream == llm_tls.addr and proxy.upstream_tls is not None
    async with openai.AsyncOpenAI(
        base_url=f"http://{proxy.listen}/v1", api_key="k", max_retries=0
    ) as client:
        with pytest.raises(openai.InternalServerError):
            await client.models.list()
        await injection.revert()
        assert [m.id for m in (await client.models.list()).data] == ["gpt-local"]
    await injection.apply()  # the proxy exists and matches: the toxic goes on again
    await injection.revert()

    # a proxy of that name forwarding elsewhere, or without TLS, is refused, not changed
    for other in ({"upstream": "127.0.0.1:9"}, {"upstream_tls": None}):
        await api.client.post("/proxies/llm", json=other)
        with pytest.raises(TargetError, match=r"forwards to|has upstream_tls None"):
            await fault.injection(InjectionContext(target=target)).apply()
        await api.client.post(
            "/proxies/llm",
            json={"upstream": llm_tls.addr, "upstream_tls": target.proxy_body()["upstream_tls"]},
        )
    assert (await api.client.get("/proxies/llm/toxics")).json() == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"upstream_tls": True}, "give its upstream too"),
        ({"upstream": "x:1", "upstream_tls": {"sni": "a"}}, "Extra inputs are not permitted"),
        ({"upstream": "x:1", "upstream_tls": {"server_name": "a b"}}, "DNS name or an IP"),
        ({"upstream": "no-port"}, "should match pattern"),
    ],
)
def test_bad_proxy_target_fails_at_load(fields: dict[str, object], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        ProxyTarget.model_validate({"proxy": "p", **fields})
