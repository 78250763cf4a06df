"""Toxic attributes are checked by name, in an experiment file and on the wire API."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.proxy.conftest import Api, Echo

# (fault in the experiment file, a fragment its one problem must contain)
BAD_FAULTS = [
    (
        "{type: proxy-toxic, toxic: latency, attributes: {latncy: 100}}",
        "attributes.latncy (line 5): is not a known field (did you mean 'latency'?)",
    ),
    (
        "{type: proxy-toxic, toxic: bandwidth, attributes: {rte: 4}}",
        "attributes.rte (line 8): is not a known field (did you mean 'rate'?)",
    ),
    (
        "{type: proxy-http-error, statsu: 500}",
        "fault.statsu (line 11): is not a known field (did you mean 'status'?)",
    ),
    (
        "{type: proxy-http-error, attributes: {retry_after: 2}}",
        "retry_after (line 14): is not a known field (did you mean 'retry_after_s'?)",
    ),
    (
        "{type: proxy-http-error, attributes: {status: 429}}",
        "attribute 'status' is set by status in fault 'proxy-http-error'; give status only",
    ),
    (
        "{type: proxy-latency, latency_ms: 100, attributes: {latency: 5}}",
        "attribute 'latency' is set by latency_ms in fault 'proxy-latency'",
    ),
    (
        "{type: proxy-latency, toxic: bandwidth, latency_ms: 100}",
        "fault 'proxy-latency' always adds a 'latency' toxic, got toxic 'bandwidth'",
    ),
    (
        "{type: proxy-latency, latency_ms: 100, jiter_ms: 5}",
        "fault.jiter_ms (line 26): is not a known field (did you mean 'jitter_ms'?)",
    ),
]


def test_validate_names_every_unknown_attribute(tmp_path: Path) -> None:
    steps = "".join(
        f"  - fault: {fault}\n    target: p\n    duration_s: 1\n" for fault, _ in BAD_FAULTS
    )
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        "title: typos\ntargets:\n"
        '  p: {type: proxy, api_url: "http://127.0.0.1:8474", proxy: api}\n'
        f"method:\n{steps}"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "aichaos.cli", "validate", str(exp)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "Traceback" not in out
    assert f"{len(BAD_FAULTS)} problem(s)" in out
    for i, (_, fragment) in enumerate(BAD_FAULTS):
        line = next(ln for ln in out.splitlines() if f"method[{i}].fault" in ln)
        assert fragment in line, line


@pytest.mark.parametrize(
    "fault",
    [
        "{type: proxy-toxic, toxic: latency, attributes: {latency: 100, jitter_ms: 5}}",
        "{type: proxy-latency, latency_ms: 100, toxic: latency}",
        "{type: proxy-http-error, status: 429, attributes: {path: /v1/*}}",
    ],
)
def test_good_attributes_validate(fault: str) -> None:
    from aichaos.experiment.loader import parse_experiment

    parse_experiment(
        "title: fine\ntargets:\n"
        '  p: {type: proxy, api_url: "http://127.0.0.1:8474", proxy: api}\n'
        f"method:\n  - fault: {fault}\n    target: p\n    duration_s: 1\n"
    )


async def test_the_wire_api_refuses_an_unknown_attribute(api: Api, echo_server: Echo) -> None:
    # Toxiproxy ignores it and adds a latency of 0: a test through it passes proving nothing
    await api.proxy(echo_server.addr)
    r = await api.client.post(
        "/proxies/p/toxics", json={"type": "latency", "attributes": {"latncy": 100}}
    )
    assert r.status_code == 400
    assert r.json()["error"] == (
        "bad request body: latncy is not a known field (did you mean 'latency'?); "
        "known: jitter, jitter_ms, latency, latency_ms (toxic latency_downstream)"
    )
    assert (await api.client.get("/proxies/p/toxics")).json() == []
