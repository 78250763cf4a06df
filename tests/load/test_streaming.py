"""Streaming figures measured by the generator against a server whose timing is set.

The server (:mod:`tests.load.stream_server`, its own process) starts each answer's
schedule at the kernel's arrival time of the request and writes every token at an
absolute time, so what the generator measures can be held to what the server was told.
Medians are asserted tightly (the brief's 0.5 ms); tails loosely, since on a loaded
2-core machine any single event can wait milliseconds for a CPU on either side.
"""

from __future__ import annotations

import itertools
import json
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from aichaos.engine.journal import read_journal, summary_path
from aichaos.eventloop import run
from aichaos.load.histogram import LatencyHistogram
from aichaos.load.spec import LoadSpec, run_load
from aichaos.load.stats import WindowStats

from .streaming import StreamServer


@pytest.fixture(scope="module")
def server() -> Iterator[StreamServer]:
    with StreamServer() as srv:
        yield srv


def _load(url: str, duration_s: float = 0.5, rate_rps: float = 20, **kw: Any) -> WindowStats:
    spec = LoadSpec(url=url, rate_rps=rate_rps, method="POST", body='{"stream": true}', **kw)
    gen = run(run_load(spec, duration_s=duration_s))
    return gen.total  # type: ignore[no-any-return]


@pytest.mark.slow
def test_ttft_itl_tpot_match_what_the_server_was_told(tmp_path: Path) -> None:
    """Within 0.5 ms of what the server did. The server logs when each token really
    left (from the kernel's arrival stamp); on a loaded machine it is itself late by
    tenths of a millisecond now and then, which is not the generator's error, so the
    tight bound holds the generator to the server's record and a loose one to the
    server's instructions."""
    with StreamServer(log=tmp_path / "sent.jsonl") as srv:
        total = _load(srv.url("ttft_ms=50&itl_ms=10&tokens=8"), duration_s=1.5)
        sent = srv.sent()
    s = total.stream
    assert total.completed == 30 and s.streams == 30 and s.incomplete == 0 and len(sent) == 30
    assert s.ttft.count == 30 and s.itl.count == 30 * 7 and s.tpot.count == 30
    gaps = [b - a for t in sent for a, b in itertools.pairwise(t["tokens"])]
    did_ttft = statistics.median(t["tokens"][0] for t in sent) * 1e3
    did_itl = statistics.median(gaps) * 1e3
    did_end = statistics.median(t["end"] for t in sent) * 1e3
    assert abs(s.ttft.percentile_ms(50) - did_ttft) < 0.5, (s.ttft, did_ttft)
    assert abs(s.itl.percentile_ms(50) - did_itl) < 0.5, (s.itl, did_itl)
    assert abs(s.itl.percentile_ms(50) - 10.0) < 0.5
    assert abs(s.tpot.percentile_ms(50) - 10.0) < 0.5, s.tpot
    # e2e spans two trips over loopback and a wake-up, like TTFT, and its histogram
    # bucket at 120 ms is 64 µs wide: 1 ms
    assert abs(s.e2e.percentile_ms(50) - did_end) < 1.0, (s.e2e, did_end)
    assert abs(s.ttft.percentile_ms(50) - 50.0) < 2.0 and s.ttft.min_ms >= 50.0 - 0.05
    # tails only rule out gross errors: at load average 10 on 2 cores, 3 of 30 requests
    # waited 40+ ms for a CPU on one side or the other (a p90 of 92 ms was seen)
    assert s.ttft.percentile_ms(90) < 50 + 250 and s.itl.percentile_ms(90) < 10 + 250
    assert s.ttft.max_ms < 50 + 2000 and s.itl.max_ms < 10 + 2000
    assert s.output_tokens == 30 * 8 and s.usage_tokens == 0
    m = total.metrics()
    assert m["incomplete_stream_rate"] == 0.0 and "goodput_rps" not in m


@pytest.mark.parametrize(
    ("query", "reset", "incomplete"),
    [
        ("cut=3&end=reset", True, True),  # connection dropped mid-stream
        ("cut=3&end=clean", False, True),  # body ended properly, no [DONE]
        ("shape=generic", False, True),  # a plain event stream has no end marker
        ("shape=anthropic", False, False),
        ("shape=chunked", False, False),  # chunked text: the last chunk ends it
    ],
)
def test_incomplete_streams_are_detected_and_counted(
    server: StreamServer, query: str, reset: bool, incomplete: bool
) -> None:
    total = _load(server.url(f"ttft_ms=5&itl_ms=2&{query}"), duration_s=0.25, rate_rps=40)
    s = total.stream
    assert total.sent == 10 and s.streams == 10
    assert total.errors["reset"] == (10 if reset else 0)
    assert s.incomplete == (10 if incomplete else 0)
    assert total.metrics()["incomplete_stream_rate"] == (1.0 if incomplete else 0.0)
    # a cut stream still shows the tokens it delivered, and the gaps between them
    assert s.ttft.count == 10 and s.itl.count == 10 * (2 if "cut" in query else 7)


@pytest.mark.parametrize(
    ("query", "tokens", "from_usage"),
    [
        ("usage=20", 20, True),
        ("shape=anthropic&usage=13", 13, True),
        ("", 8, False),
        ("shape=chunked", 8, False),
    ],
)
def test_output_tokens_from_usage_fields_else_events(
    server: StreamServer, query: str, tokens: int, from_usage: bool
) -> None:
    total = _load(server.url(f"ttft_ms=5&itl_ms=2&{query}"), duration_s=0.25, rate_rps=40)
    s = total.stream
    assert s.output_tokens == 10 * tokens
    assert s.usage_tokens == (10 * tokens if from_usage else 0)
    # TPOT divides the time after the first token by the tokens after it
    expected = 7 * 2.0 / (tokens - 1)
    assert abs(s.tpot.percentile_ms(50) - expected) < 0.5, (s.tpot, expected)


def test_a_plain_response_has_ttft_at_its_first_byte(server: StreamServer) -> None:
    total = _load(server.url("shape=plain&ttft_ms=20"), duration_s=0.25, rate_rps=40)
    s = total.stream
    assert s.streams == 0 and s.output_tokens == 0 and s.itl.count == 0 and s.tpot.count == 0
    # what is asserted here is where TTFT is taken (its accuracy is the test above's):
    # never before the server answered
    assert s.ttft.min_ms >= 20.0 - 0.05 and s.ttft.percentile_ms(50) < 25.0
    # one piece: the first byte and the last arrive together
    assert abs(s.ttft.percentile_ms(50) - s.e2e.percentile_ms(50)) < 0.1
    assert "incomplete_stream_rate" not in total.metrics()  # no stream, no rate


def test_goodput_counts_exactly_the_requests_that_met_every_bound() -> None:
    with StreamServer() as srv:  # a fresh server: its request count starts at 1
        # wide margins (10 ms vs a 200 ms bound vs 400 ms): a loaded machine's stalls do
        # not move a request across the bound
        url = srv.url("ttft_ms=10&itl_ms=2&tokens=4&slow_every=4&slow_ttft_ms=400")
        total = _load(url, duration_s=1.0, rate_rps=40, goodput={"ttft_ms": 200, "e2e_ms": 1000})
    assert total.completed == 40
    assert total.stream.good == 40 - 40 // 4, total.stream  # every 4th was slow
    m = total.metrics()
    assert m["good_requests"] == 30 and m["goodput_rps"] == pytest.approx(30 / 1.0, rel=0.01)


def _cli(*args: str) -> tuple[int, str, str]:
    from aichaos.cli import cli

    res = CliRunner().invoke(cli, ["load", *args])
    return res.exit_code, res.stdout, res.stderr


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("ttft_ms=800,tpot_msec=5", "goodput.tpot_msec is not a known field"),
        ("ttft_ms=-1", "goodput.ttft_ms must be > 0, got -1.0"),
        ("ttft_ms=nan", "goodput.ttft_ms"),
        ("ttft_ms", "--goodput must look like 'ttft_ms=800,tpot_ms=60,e2e_ms=5000'"),
        ("ttft_ms=fast", "--goodput must look like"),
    ],
)
def test_cli_bad_goodput(server: StreamServer, flag: str, message: str) -> None:
    code, _, err = _cli(
        server.url("ttft_ms=1"), "--rate", "5", "--duration", "1s", "--goodput", flag
    )
    assert code == 2 and message in err and "Traceback" not in err, err


def test_cli_reports_streaming_figures_and_goodput(server: StreamServer) -> None:
    url = server.url("ttft_ms=5&itl_ms=1&tokens=4")
    code, out, err = _cli(
        url, "--rate", "40", "--duration", "250ms", "--goodput", "ttft_ms=500", "--json"
    )
    assert code == 0, err
    total = json.loads(out)["total"]
    assert total["streams"] == 10 and total["incomplete_stream_rate"] == 0
    assert total["good_requests"] == 10 and total["output_tokens"] == 40


@pytest.mark.slow
def test_streaming_slos_judge_a_real_experiment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Engine + http workload: pausing the model server breaks the TTFT SLO (and only
    it: the streams resume and end properly), so the verdict is `deviated`."""
    monkeypatch.setenv("AICHAOS_KILL_SWITCH", str(tmp_path / "halt"))
    with StreamServer() as srv:
        exp = tmp_path / "exp.yaml"
        exp.write_text(
            f"""
title: a paused model server
seed: 1
targets:
  llm: {{type: http, url: "{srv.url("ttft_ms=20&itl_ms=2&tokens=4")}"}}
  server: {{type: process, pid: {srv.pid}}}
workload:
  type: http
  target: llm
  method: POST
  body: '{{"stream": true}}'
  rate_rps: 40
  window_s: 0.25
  timeout_ms: 3000
  goodput: {{ttft_ms: 300}}
steady_state:
  - p99(load.ttft_ms) < 300 over 1s min 5
  - load.incomplete_stream_rate < 0.01
method:
  - {{fault: {{type: process-pause}}, target: server, start_s: 0.25, duration_s: 0.75}}
phases: {{baseline_s: 1.0, recovery_s: 1.0}}
safety: {{guardrail_interval_s: 0.25, ttl_s: 3}}
"""
        )
        journal = tmp_path / "run.jsonl"
        proc = subprocess.run(
            [sys.executable, "-m", "aichaos.cli", "run", str(exp), "--journal", str(journal)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert "Traceback" not in proc.stderr, proc.stderr
    summary = json.loads(summary_path(journal).read_text())
    assert (proc.returncode, summary["status"]) == (1, "deviated"), summary
    events = list(read_journal(journal))
    samples = [e for e in events if e["event"] == "sample" and e["source"] == "load"]
    base = [e for e in samples if e["phase"] == "baseline"]
    hit = [e for e in samples if e["phase"] == "injecting"]
    assert max(e["values"]["ttft_p99_ms"] for e in base if "ttft_p99_ms" in e["values"]) < 300
    # while paused, requests without a first token enter TTFT at their age
    assert max(e["values"].get("ttft_p99_ms", 0) for e in hit) >= 400
    assert all(e["values"].get("incomplete_streams", 0) == 0 for e in samples)
    assert min(e["values"]["goodput_rps"] for e in hit) < 40 * 0.5
    # the journal keeps each window's distribution, decodable by any HdrHistogram reader
    encoded = next(e["distributions"]["ttft_ms"] for e in hit if "distributions" in e)
    assert LatencyHistogram.decode(encoded).count > 0
    broken = {r["slo"] for e in events for r in e.get("checks", []) if not r.get("ok", True)}
    assert any("ttft_ms" in s for s in broken), (broken, summary)
