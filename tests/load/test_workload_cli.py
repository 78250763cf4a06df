"""The `http` workload as the engine drives it, multi-process merging, and `aichaos load`."""

from __future__ import annotations

import asyncio
import json
import random
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from aichaos.errors import TargetError, ValidationError
from aichaos.load.base import WORKLOADS, WorkloadContext
from aichaos.load.multiproc import run_multiprocess
from aichaos.load.spec import LoadSpec
from aichaos.targets import HttpTarget

from .servers import RawServer, ThreadedUvicorn, plain_app


@pytest.fixture(scope="module")
def app_url() -> Iterator[str]:
    with ThreadedUvicorn(plain_app()) as srv:
        yield srv.url


async def _ok(head: bytes, body: bytes) -> tuple[int, bytes]:
    return 200, b'{"prediction": 1}'


async def test_workload_emits_windows_until_stopped() -> None:
    cls = WORKLOADS.get("http")
    async with RawServer(_ok) as srv:
        wl = cls(
            target="api",
            path="/predict",
            rate_rps=100,
            window_s=0.25,
            method="POST",
            body='{"x": 1}',
            quality={"json_path": "$.prediction"},
        )
        ctx = WorkloadContext(targets={"api": HttpTarget(url=srv.url)}, rng=random.Random(5))
        emitted: list[dict[str, float]] = []
        stop = asyncio.Event()

        def emit(m: dict[str, float]) -> None:
            emitted.append(m)
            if len(emitted) == 4:  # the engine sets stop when the experiment ends
                stop.set()

        await asyncio.wait_for(wl.run(ctx, emit, stop), 10)
    assert [m["sent"] for m in emitted[:4]] == [25, 25, 25, 25]
    assert sum(m["sent"] for m in emitted) <= 101
    for key in ("sent", "completed", "rate_rps", "p50_ms", "p99_ms", "max_ms", "error_rate"):
        assert key in emitted[0]
    assert emitted[0]["errors_5xx"] == 0 and emitted[0]["silent_failure_rate"] == 0.0
    assert srv.requests == sum(m["completed"] for m in emitted)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate_rps": 5}, "exactly one of target, url"),
        ({"rate_rps": 5, "target": "a", "url": "http://x"}, "exactly one of target, url"),
        ({"rate_rps": 0, "url": "http://x"}, "greater than 0"),
        ({"rate_rps": 5, "url": "http://x", "timeout_ms": -1}, "greater than 0"),
        ({"rate_rps": 5, "url": "http://x", "max_concurrency": 0}, "greater than or equal to 1"),
    ],
)
def test_workload_bad_settings(kwargs: dict[str, object], message: str) -> None:
    import pydantic

    with pytest.raises(pydantic.ValidationError, match=message):
        WORKLOADS.get("http")(**kwargs)


async def test_workload_unknown_target() -> None:
    wl = WORKLOADS.get("http")(target="nope", rate_rps=5)
    with pytest.raises(TargetError, match="unknown target 'nope'"):
        await wl.run(WorkloadContext(), lambda m: None, asyncio.Event())


def test_load_spec_errors_name_field_and_value() -> None:
    from aichaos.load.spec import validated

    with pytest.raises(ValidationError, match=r"rate_rps must be > 0, got -5"):
        validated(LoadSpec, url="http://x", rate_rps=-5)


@pytest.mark.slow
async def test_two_processes_split_the_rate_and_merge_exactly(app_url: str) -> None:
    spec = LoadSpec(url=app_url + "/", rate_rps=300, processes=2, window_s=0.5)
    total, windows, _ = await run_multiprocess(spec, duration_s=1.5)
    assert total.sent == 450 and total.completed == 450
    assert total.errors == dict.fromkeys(total.errors, 0)
    assert sum(w.sent for w in windows) == 450
    assert total.latency.count == 450
    merged = windows[0].latency.copy()
    for w in windows[1:]:
        merged.merge(w.latency)
    assert merged == total.latency
    # interleaved constant schedules: each full window holds both halves of the rate
    assert [w.sent for w in windows[:3]] == [150, 150, 150]


# ------------------------------------------------------------------ CLI
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(*args: str) -> tuple[int, str, str]:
    from aichaos.cli import cli

    res = CliRunner().invoke(cli, ["load", *args])
    return res.exit_code, res.stdout, res.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate", "0"], "rate_rps must be > 0, got 0.0"),
        (["--rate", "-3"], "rate_rps must be > 0"),
        (["--rate", "10", "--duration", "0s"], "duration must be > 0"),
        (["--rate", "10", "--duration", "100000h"], "at most 7 days"),
        (["--rate", "10", "--duration", "soon"], "duration must look like 30s"),
        (["--rate", "10", "--timeout", "-1s"], "timeout must look like"),
        (["--rate", "10", "-H", "nocolon"], "header must look like 'Name: value'"),
    ],
)
def test_cli_bad_flags(app_url: str, args: list[str], message: str) -> None:
    code, out, err = _cli(app_url, *args)
    assert code == 2
    assert message in err and "Traceback" not in err + out


def test_cli_unreachable_url() -> None:
    code, _, err = _cli(f"http://127.0.0.1:{_free_port()}/", "--rate", "5", "--duration", "1s")
    assert code == 2
    assert "is unreachable: Connection refused" in err


def test_cli_malformed_body_file(app_url: str, tmp_path: Path) -> None:
    f = tmp_path / "bad.jsonl"
    f.write_text('{"features": [1]}\n{"features": [2\n')
    code, _, err = _cli(app_url, "--rate", "5", "--body", str(f))
    assert code == 2
    assert "line 2 is not valid JSON" in err


def test_cli_non_json_response_with_json_path(app_url: str) -> None:
    code, _, err = _cli(app_url + "/text", "--rate", "5", "--json-path", "$.prediction")
    assert code == 2
    assert "non-JSON body" in err and "b'hello'" in err


def test_cli_bad_json_path(app_url: str) -> None:
    code, _, err = _cli(app_url, "--rate", "5", "--json-path", "prediction")
    assert code == 2 and "json_path must start with '$'" in err


def test_cli_json_summary(app_url: str) -> None:
    code, out, err = _cli(app_url + "/", "--rate", "50", "--duration", "1s", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["total"]["sent"] == 50 and summary["total"]["completed"] == 50
    assert summary["total"]["errors"] == 0
    assert len(summary["windows"]) >= 1
    from aichaos.load.histogram import LatencyHistogram

    assert LatencyHistogram.decode(summary["histogram"]).count == 50


def test_cli_live_summary_table(app_url: str) -> None:
    code, out, _ = _cli(app_url + "/", "--rate", "20", "--duration", "0.5s")
    assert code == 0
    assert "latency p50 / p90 / p99 / max" in out and "10 / 10 / 0" in out
