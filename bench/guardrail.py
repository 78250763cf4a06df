"""How fast does a guardrail breach turn into a reverted fault?

Runs the real engine (uvloop where available, real clock) N times. A probe reports a
healthy value until the fault is applied, then a breaching one; the fault's revert
records when it ran. The figure is revert time minus the moment the breaching sample
was returned -- the engine's own reaction, not the wait for the sample.

Goal (issue 2): p99 under 50 ms over at least 50 runs.
Usage: python bench/guardrail.py [--runs 50]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from aichaos.engine.runner import Engine
from aichaos.experiment.model import Experiment

MARKS: dict[str, float] = {}
STATE = {"bad": False}


async def probe() -> dict[str, float]:
    value = 5000.0 if STATE["bad"] else 10.0
    if STATE["bad"] and "breach" not in MARKS:
        MARKS["breach"] = time.perf_counter()
    return {"latency_ms": value}


async def apply() -> None:
    STATE["bad"] = True


async def revert() -> None:
    MARKS["revert"] = time.perf_counter()
    STATE["bad"] = False


def experiment(halt: str) -> Experiment:
    me = "bench.guardrail" if __name__ != "__main__" else "__main__"
    return Experiment.model_validate(
        {
            "title": "guardrail reaction",
            "seed": 1,
            "probes": {"p": {"type": "python", "call": f"{me}:probe", "every_s": 0.05}},
            "steady_state": ["p.latency_ms < 100"],
            "guardrails": ["p.latency_ms < 1000"],
            "method": [
                {
                    "fault": {
                        "type": "python-callable",
                        "apply": f"{me}:apply",
                        "revert": f"{me}:revert",
                    },
                    "duration_s": 5,
                }
            ],
            "phases": {"baseline_s": 0.15, "recovery_s": 0.0},
            "safety": {"guardrail_interval_s": 1.0, "kill_switch": halt},
        }
    )


async def one(halt: str) -> float:
    MARKS.clear()
    STATE["bad"] = False
    result = await Engine(experiment(halt), watchdog=False).run()
    assert result.status == "aborted", result.reason
    return (MARKS["revert"] - MARKS["breach"]) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50)
    args = ap.parse_args()
    halt = str(Path(tempfile.mkdtemp()) / "halt")
    try:
        import uvloop

        runner = uvloop.run
        loop_name = "uvloop"
    except ImportError:
        runner = asyncio.run  # type: ignore[assignment]
        loop_name = "asyncio"
    samples = sorted(runner(one(halt)) for _ in range(args.runs))
    p50 = statistics.median(samples)
    p99 = samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))]
    print(f"guardrail breach -> fault reverted, {args.runs} runs ({loop_name}):")
    print(f"  p50 {p50:.2f} ms   p99 {p99:.2f} ms   max {samples[-1]:.2f} ms   goal p99 < 50 ms")
    print(f"  p99 / goal = {p99 / 50:.3f}")


if __name__ == "__main__":
    main()
