"""The control API's description: its toxic parts are generated from the registry."""

from __future__ import annotations

from importlib import resources

from aichaos.proxy.openapi import builtin_toxics, generate, render, shipped
from tests.proxy.conftest import Api


def test_committed_openapi_is_the_generated_one() -> None:
    committed = resources.files("aichaos.proxy").joinpath("openapi.json").read_text()
    assert committed == render(generate(shipped())), (
        "openapi.json is stale: python -m aichaos.proxy.openapi > src/aichaos/proxy/openapi.json"
    )


def test_every_builtin_toxic_is_described_with_its_attributes() -> None:
    schemas = shipped()["components"]["schemas"]
    names = list(builtin_toxics())
    assert "stream_cut" in names and "latency" in names
    assert schemas["ToxicCreateBase"]["properties"]["type"]["enum"] == names
    assert set(schemas["ToxicCreate"]["discriminator"]["mapping"]) == set(names)
    latency = schemas["LatencyAttributes"]["properties"]
    assert latency["latency"]["minimum"] == 0  # wire names (Toxiproxy's), with bounds
    preset = schemas["HttpErrorAttributes"]["properties"]["preset"]
    assert preset["nullable"] is True and preset["enum"][-1] is None


async def test_served_description_is_the_shipped_one(api: Api) -> None:
    r = await api.client.get("/openapi.json")
    assert r.status_code == 200 and r.json() == shipped()
