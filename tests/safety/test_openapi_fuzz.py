"""The proxy control API's OpenAPI description, served and shipped, fuzzed with schemathesis.

schemathesis generates requests from ``openapi.json`` (valid and invalid bodies, odd path
parameters) and sends them to a real ``aichaos proxy`` on 127.0.0.1; every answer must be
described by the document and none may be a 500 -- except the one Toxiproxy documents: a
``listen`` address that cannot be bound. Generated ``listen`` values are pinned to
``127.0.0.1:0`` because binding an arbitrary address is a real side effect (a port on a
public interface, a DNS lookup); everything else is left to the fuzzer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from importlib import resources
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import _stop
from tests.safety.conftest import ProxyProc, start_proxy

pytestmark = pytest.mark.slow

SHIPPED = json.loads(resources.files("aichaos.proxy").joinpath("openapi.json").read_text())


@pytest.fixture(scope="module")
def fuzz_proxy() -> Iterator[ProxyProc]:
    """One ``aichaos proxy`` for the whole fuzz run, with a proxy and a toxic to hit."""
    p = start_proxy()
    r = httpx.post(p.url + "/proxies", json={"name": "fuzz", "upstream": "127.0.0.1:9"})
    assert r.status_code == 201
    yield p
    assert p.proc.poll() is None, "the proxy died during fuzzing"
    _stop(p.proc)


_BINDABLE = re.compile(r"^[^\s]*:\d{1,5}$")


def _pin_listen(body: Any) -> Any:
    """A listen address that would be bound becomes 127.0.0.1:0; an invalid one (negative
    mode) is left alone, since the server refuses it before binding anything."""
    if isinstance(body, dict):
        listen = body.get("listen")
        if isinstance(listen, str) and _BINDABLE.match(listen):
            body["listen"] = "127.0.0.1:0"
        if isinstance(body.get("proxies"), list):
            body["proxies"] = [_pin_listen(b) for b in body["proxies"]]
    elif isinstance(body, list):
        return [_pin_listen(b) for b in body]
    return body


# every operation with valid requests; those that take a body with invalid ones too
CASES = [
    (f"{method.upper()} {path}", mode)
    for path, item in SHIPPED["paths"].items()
    for method, op in item.items()
    if method != "parameters" and path != "/openapi.json"
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or "requestBody" in op
]


@pytest.mark.parametrize(("label", "mode"), CASES)
def test_api_conforms_and_never_fails(
    fuzz_proxy: ProxyProc, label: str, mode: GenerationMode
) -> None:
    # schemathesis's pytest integration does not load under pytest 9: drive its strategies
    schema = schemathesis.openapi.from_url(fuzz_proxy.url + "/openapi.json")
    (operation,) = [r.ok() for r in schema.get_all_operations() if r.ok().label == label]
    statuses: list[int] = []

    @settings(
        max_examples=15,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: schemathesis.Case) -> None:
        if isinstance(case.body, dict | list):
            case.body = _pin_listen(case.body)
        response = case.call(base_url=fuzz_proxy.url, timeout=10)
        statuses.append(response.status_code)
        # Not positive_data_acceptance: toxic attributes are validated per type (documented
        # in docs/proxy.md), so a schema-valid body may still be a 400.
        checks = [
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ]
        if mode is GenerationMode.NEGATIVE:
            checks.append(negative_data_rejection)  # an invalid request is refused
        case.validate_response(response, checks=checks)
        if label == "DELETE /proxies/{proxy}":  # put back the proxy the next examples hit
            httpx.post(
                fuzz_proxy.url + "/proxies", json={"name": "fuzz", "upstream": "127.0.0.1:9"}
            )

    check()
    assert statuses, "no request was sent"
    assert fuzz_proxy.proc.poll() is None


def test_served_document_is_the_shipped_file(fuzz_proxy: ProxyProc) -> None:
    served = httpx.get(fuzz_proxy.url + "/openapi.json").json()
    assert served == SHIPPED
    assert served["openapi"].startswith("3.")


def test_every_documented_route_exists(fuzz_proxy: ProxyProc) -> None:
    """No route in the document answers 404 'not found' for its path (the router knows it)."""
    for path, item in SHIPPED["paths"].items():
        concrete = path.replace("{proxy}", "fuzz").replace("{toxic}", "none")
        for method in item:
            if method == "parameters":
                continue
            r = httpx.request(method.upper(), fuzz_proxy.url + concrete, content=b"{}")
            assert r.status_code != 405, (method, path, r.text)
            if r.headers.get("content-type") == "application/json":
                assert r.json().get("error") != "not found", (method, path)


def test_document_lists_every_toxic_type() -> None:
    from aichaos.proxy.toxics.base import TOXICS

    schemas = SHIPPED["components"]["schemas"]
    documented = schemas["ToxicCreateBase"]["properties"]["type"]["enum"]
    assert sorted(documented) == sorted(TOXICS.names())
    assert sorted(schemas["ToxicCreate"]["discriminator"]["mapping"]) == sorted(documented)
