"""The engine-facing fault: a toxic applied and reverted on every exit path, TTL, undo."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time

import pytest

from aichaos.errors import Conflict, NotFound, TargetError, ValidationError
from aichaos.faults.base import FAULTS, BlastRadius, InjectionContext
from aichaos.faults.undo import HttpRequest, perform
from aichaos.proxy.target import ProxyTarget
from aichaos.targets import TARGETS
from tests.proxy.conftest import Api, Echo, read_exactly


def ctx(api: Api, **kw: object) -> InjectionContext:
    target = ProxyTarget(api_url=api.site.url, proxy="p")
    return InjectionContext(target=target, rng=random.Random(3), **kw)  # type: ignore[arg-type]


async def _toxics(api: Api) -> list[dict[str, object]]:
    return (await api.client.get("/proxies/p/toxics")).json()  # type: ignore[no-any-return]


async def rtt(addr: tuple[str, int]) -> float:
    reader, writer = await asyncio.open_connection(*addr)
    start = time.perf_counter()
    writer.write(b"x")
    await read_exactly(reader, 1)
    took = time.perf_counter() - start
    writer.close()
    return took


def test_registered() -> None:
    assert {"proxy-toxic", "proxy-latency", "proxy-http-error"} <= set(FAULTS.names())
    assert TARGETS.get("proxy") is ProxyTarget


async def test_apply_and_revert_on_every_exit_path(api: Api, echo_server: Echo) -> None:
    addr = await api.proxy(echo_server.addr)
    fault = FAULTS.get("proxy-latency").model_validate({"latency_ms": 80})
    async with contextlib.AsyncExitStack() as stack:
        injection = await stack.enter_async_context(fault.injection(ctx(api)))
        toxics = await _toxics(api)
        assert [t["name"] for t in toxics] == [injection.name]  # type: ignore[attr-defined]
        assert toxics[0]["ttl_s"] == 30.0
        assert await rtt(addr) >= 0.08
    assert await _toxics(api) == []
    assert await rtt(addr) < 0.05

    with pytest.raises(RuntimeError, match="boom"):
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(fault.injection(ctx(api)))
            assert len(await _toxics(api)) == 1
            raise RuntimeError("boom")
    assert await _toxics(api) == []


async def test_ttl_expires_unless_renewed(api: Api, echo_server: Echo) -> None:
    await api.proxy(echo_server.addr)
    fault = FAULTS.get("proxy-toxic").model_validate({"toxic": "noop"})
    # renewals every 0.2 s keep a 0.8 s TTL alive with room for a busy machine
    injection = fault.injection(ctx(api, ttl_s=0.8))
    await injection.apply()
    for _ in range(5):
        await asyncio.sleep(0.2)
        await injection.renew(0.8)
    assert len(await _toxics(api)) == 1
    await asyncio.sleep(1.2)
    assert await _toxics(api) == []
    await injection.revert()  # already expired: still a clean revert
    with pytest.raises(NotFound, match=r"cannot renew toxic .*: 404 toxic not found"):
        await injection.renew(1.0)


async def test_undo_action_deletes_the_toxic(api: Api, echo_server: Echo) -> None:
    await api.proxy(echo_server.addr)
    injection = FAULTS.get("proxy-toxic").model_validate({"toxic": "noop"}).injection(ctx(api))
    await injection.apply()
    (action,) = injection.undo_actions()
    assert isinstance(action, HttpRequest) and action.method == "DELETE"
    await asyncio.to_thread(perform, action)
    assert await _toxics(api) == []
    await asyncio.to_thread(perform, action)  # idempotent: 404 counts as done


async def test_blast_radius_narrows_http_toxics(api: Api, echo_server: Echo) -> None:
    await api.proxy(echo_server.addr)
    fault = FAULTS.get("proxy-http-error").model_validate({"preset": "openai_rate_limit"})
    radius = BlastRadius(fraction=0.5, match={"path": "/v1/*", "header:x-chaos": "on"})
    injection = fault.injection(ctx(api, blast_radius=radius))
    await injection.apply()
    (toxic,) = await _toxics(api)
    assert toxic["toxicity"] == 0.5
    attrs = toxic["attributes"]
    assert attrs["path"] == "/v1/*" and attrs["headers"] == {"x-chaos": "on"}  # type: ignore[index]
    assert attrs["preset"] == "openai_rate_limit"  # type: ignore[index]
    await injection.revert()

    tcp = FAULTS.get("proxy-latency").model_validate({"latency_ms": 1})
    with pytest.raises(ValidationError, match="needs an HTTP toxic"):
        await tcp.injection(ctx(api, blast_radius=BlastRadius(match={"path": "/"}))).apply()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"toxic": "nope"}, "unknown toxic type"),
        ({"toxic": "latency", "attributes": {"latency": -1}}, "greater than or equal"),
        ({"toxic": "latency", "toxicity": 2}, "less than or equal"),
    ],
)
def test_bad_fault_fails_at_load(body: dict[str, object], message: str) -> None:
    import pydantic

    with pytest.raises(pydantic.ValidationError, match=message):
        FAULTS.get("proxy-toxic").model_validate(body)


async def test_unreachable_api_and_missing_proxy(api: Api) -> None:
    fault = FAULTS.get("proxy-toxic").model_validate({"toxic": "noop"})
    with pytest.raises(NotFound, match=r"proxy refused toxic .*: 404 proxy not found"):
        await fault.injection(ctx(api)).apply()
    dead = InjectionContext(target=ProxyTarget(api_url="http://127.0.0.1:1", proxy="p"))
    with pytest.raises(TargetError, match="unreachable"):
        await fault.injection(dead).apply()


async def test_each_refusal_is_the_error_tree_kind_of_its_status(
    api: Api, echo_server: Echo
) -> None:
    # proxyapi.api_error is the one status -> error map, as it is for ProxyHandle
    await api.proxy(echo_server.addr)
    r = await api.client.post("/proxies/p/toxics", json={"type": "noop", "name": "taken"})
    assert r.status_code == 200, r.text
    taken = FAULTS.get("proxy-toxic").model_validate({"toxic": "noop", "name": "taken"})
    with pytest.raises(Conflict, match="proxy refused toxic taken: 409"):
        await taken.injection(ctx(api)).apply()
    fresh = FAULTS.get("proxy-toxic").model_validate({"toxic": "noop", "name": "fresh"})
    with pytest.raises(ValidationError, match=r"proxy refused toxic fresh: 400 .*ttl_s"):
        await fresh.injection(ctx(api, ttl_s=1e12)).apply()
    with pytest.raises(NotFound, match="cannot renew toxic fresh: 404"):
        await fresh.injection(ctx(api)).renew(5.0)
    assert [t["name"] for t in await _toxics(api)] == ["taken"]
