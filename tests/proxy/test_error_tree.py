"""The proxy API's refusals in the one error tree: only a bad body is bad user input."""

from __future__ import annotations

import pytest

from aichaos.errors import Conflict, NotFound, ValidationError, http_status
from aichaos.proxy.errors import ApiConflict, ApiError, ApiNotFound
from tests.proxy.conftest import Api, Echo


async def test_each_refusal_is_its_own_kind_and_http_status_gives_the_wire_status(
    api: Api, echo_server: Echo
) -> None:
    store = api.app.store
    await api.proxy(echo_server.addr, name="db")
    with pytest.raises(ApiNotFound) as missing:
        store.get("nope")
    with pytest.raises(ApiConflict) as twice:
        await store.create({"name": "db", "upstream": echo_server.addr})
    with pytest.raises(ApiError) as bad:
        await store.create({"name": "x", "upstream": "no-port"})
    # a missing proxy or a taken name is not a mistake in the caller's input
    assert isinstance(missing.value, NotFound) and not isinstance(missing.value, ValidationError)
    assert isinstance(twice.value, Conflict) and not isinstance(twice.value, ValidationError)
    assert isinstance(bad.value, ValidationError)
    statuses = [http_status(e.value) for e in (missing, twice, bad)]
    assert statuses == [404, 409, 400]
    # what a client sees is that same status, from that same function
    r = await api.client.get("/proxies/nope")
    assert r.status_code == 404 == r.json()["status"]
    r = await api.client.post("/proxies", json={"name": "db", "upstream": echo_server.addr})
    assert r.status_code == 409 == r.json()["status"]
    r = await api.client.post("/proxies", json={"name": "x", "upstream": "no-port"})
    assert r.status_code == 400 == r.json()["status"]
