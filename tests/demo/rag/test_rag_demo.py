"""``aichaos demo --rag`` end to end: the RAG system, every bundled fault, every verdict
as predicted, and *which* SLO saw each fault (read back from the journals)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from aichaos.demo.cli import bundled_experiments
from aichaos.engine.journal import read_journal
from aichaos.report import load_run

pytest.importorskip("sqlite_vec")
pytest.importorskip("apsw")

# the demo runs in the module's first test: on a loaded 2-core machine it can pass 120 s
pytestmark = [pytest.mark.slow, pytest.mark.long, pytest.mark.timeout(300)]

AICHAOS = [sys.executable, "-m", "aichaos.cli"]
RAG = "aichaos.demo.rag"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, float]:
    out = tmp_path_factory.mktemp("rag") / "demo"
    env = {**os.environ, "AICHAOS_KILL_SWITCH": str(out.parent / "halt")}
    t0 = time.monotonic()
    proc = subprocess.run(
        [*AICHAOS, "demo", "--rag", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    return out, proc, time.monotonic() - t0


def _checks(out: Path, name: str, metric: str, phase: str) -> list[tuple[bool, Any]]:
    """(ok, value) of every evaluation of ``metric``'s SLO in ``phase`` that had data."""
    found = []
    for event in read_journal(out / f"{name}.jsonl"):
        if event["event"] == "steady-state" and event["phase"] == phase:
            for check in event["checks"]:
                if check["slo"].startswith(metric + " ") and check["value"] is not None:
                    found.append((check["ok"], check["value"]))
    return found


def _samples(out: Path, name: str, key: str) -> list[float]:
    """Every window's ``key`` from the workload's samples."""
    return [
        event["values"][key]
        for event in read_journal(out / f"{name}.jsonl")
        if event["event"] == "sample" and event["source"] == "load" and key in event["values"]
    ]


def test_rag_demo_verdicts_are_the_predicted_ones(demo: tuple[Path, Any, float]) -> None:
    out, proc, wall = demo
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    names = [n for n, _ in bundled_experiments(RAG)]
    assert len(names) == 8
    for name in names:
        run = load_run(out / name.replace(".yaml", ".jsonl"))
        assert run.complete and run.prediction is not None, name
        assert run.verdict == run.prediction, f"{name}: {run.verdict} ({run.reason})"
        assert run.faults and all(w.closed for w in run.faults), name
    for f in ("report.html", "report.md", "junit.xml"):
        assert (out / f).exists()
    html = (out / "report.html").read_text()
    for panel in ("time to first token (ms)", "between tokens (ms)", "load.goodput_rps"):
        assert html.count(panel) >= 8, panel  # in every experiment's timeline
    assert "aichaos demo --rag" in proc.stderr
    assert wall < 150, f"the RAG demo took {wall:.1f}s"


def test_each_fault_is_seen_by_the_slo_the_experiment_names(
    demo: tuple[Path, Any, float],
) -> None:
    out = demo[0]
    ramp = load_run(out / "10-vector-latency-ramp.jsonl")
    assert ramp.breaking_points and ramp.breaking_points[0]["held"] == 300
    assert ramp.breaking_points[0]["broke"] == 900
    # an empty retriever: HTTP is fine, groundedness is not
    assert all(ok for ok, _ in _checks(out, "30-retriever-empty", "load.error_rate", "injecting"))
    assert not all(
        ok for ok, _ in _checks(out, "30-retriever-empty", "load.groundedness", "injecting")
    )
    # a stale index: every answer is grounded in what was retrieved, and wrong
    stale = "40-stale-index"
    assert all(ok for ok, _ in _checks(out, stale, "load.groundedness", "injecting"))
    assert not all(ok for ok, _ in _checks(out, stale, "load.answer_accuracy", "injecting"))
    # slow and hung retrieval: time to first token, then errors and goodput
    ttft = "p99(load.ttft_ms)"
    assert not all(ok for ok, _ in _checks(out, "10-vector-latency-ramp", ttft, "injecting"))
    assert all(
        ok for ok, _ in _checks(out, "10-vector-latency-ramp", "load.error_rate", "injecting")
    )
    goodput = "mean(load.goodput_rps)"
    assert not all(ok for ok, _ in _checks(out, "20-vector-timeouts", goodput, "injecting"))
    assert not all(
        ok for ok, _ in _checks(out, "20-vector-timeouts", "load.error_rate", "injecting")
    )
    # the fallback carries the answers: TTFT and goodput hold, the fallback rate shows it
    fallback = "60-primary-rate-limited"
    assert max(_samples(out, fallback, "fallback_rate")) == 1.0
    for held in (ttft, goodput, "load.error_rate", "load.answer_accuracy"):
        assert _checks(out, fallback, held, "injecting"), held
    # throttled and stalled tokens: time per token breaks, time to first token holds
    throttle = "70-token-stream-throttle"
    assert not all(ok for ok, _ in _checks(out, throttle, "p90(load.tpot_ms)", "injecting"))
    assert all(ok for ok, _ in _checks(out, throttle, ttft, "injecting"))
    tools = "80-tool-args-corrupt"
    assert all(ok for ok, _ in _checks(out, tools, "load.error_rate", "injecting"))
    assert not all(ok for ok, _ in _checks(out, tools, "load.tool_call_valid_rate", "injecting"))


def test_rag_demo_left_no_process(demo: tuple[Path, Any, float]) -> None:
    out = demo[0]
    leftovers = [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if any(str(out) in part for part in (p.info["cmdline"] or []))
    ]
    assert leftovers == []


def test_a_flag_that_selects_nothing_is_a_clear_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*AICHAOS, "demo", "--rag", "--only", "no-such", "--out", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "no bundled experiment matches --only no-such" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_rag_experiments_all_state_a_prediction() -> None:
    from aichaos.report.model import predicted_verdict

    for name, text in bundled_experiments(RAG):
        assert predicted_verdict(text) is not None, name
