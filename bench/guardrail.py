"""How fast does a guardrail breach turn into a reverted fault, per fault kind?

Runs the real engine (uvloop where available, real clock) N times per fault kind,
against real things: a ``sleep`` process, an ``aichaos proxy`` process, a service with
an in-process control endpoint, files, a directory model registry, child processes
holding memory or burning CPU. A probe reports a healthy value until the journal says
the fault was applied, then a breaching one; the figure is the time from the moment the
breaching sample was returned to the moment the journal records ``fault-reverted``
(the revert has returned): the engine's own reaction, not the wait for the sample.

Goal (issue 14): p99 under 50 ms for every fault kind, over at least 50 runs each.
Usage: python bench/guardrail.py [--runs 50] [--kinds proxy-toxic,process-pause]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from aichaos.engine.journal import Journal
from aichaos.engine.runner import Engine
from aichaos.experiment.model import Experiment

MARKS: dict[str, float] = {}
STATE = {"bad": False}
GOAL_MS = 50.0

_SERVICE = """
import sys, time
from aichaos.inprocess import ControlServer, Hook, Switchboard
from aichaos.inprocess.hooks import Raise
board = Switchboard()
Hook("predict", error=Raise(), board=board)
server = ControlServer(board, token="bench-token-123").start()
print(server.url, flush=True)
sys.stdin.read()
"""


async def probe() -> dict[str, float]:
    """Healthy until the fault is applied; marks the first breaching sample."""
    if STATE["bad"] and "breach" not in MARKS:
        MARKS["breach"] = time.perf_counter()
    return {"latency_ms": 5000.0 if STATE["bad"] else 10.0}


def _listen(record: dict[str, Any]) -> None:
    if record["event"] == "fault-applied":
        STATE["bad"] = True
    elif record["event"] == "fault-reverted" and "revert" not in MARKS:
        MARKS["revert"] = time.perf_counter()
        STATE["bad"] = False


class Fixtures:
    """The real things the faults act on, started once and stopped at the end."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: list[subprocess.Popen[str]] = []

    def _spawn(self, args: list[str], **kw: Any) -> subprocess.Popen[str]:
        proc = subprocess.Popen(args, text=True, **kw)
        self.procs.append(proc)
        return proc

    def sleeper(self) -> int:
        return self._spawn(["sleep", "3600"]).pid

    def proxy_api(self) -> str:
        cfg = self.root / "proxies.json"
        # the upstream is never dialled: the toxic API is what is measured
        cfg.write_text(
            json.dumps([{"name": "dep", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:9"}])
        )
        args = [sys.executable, "-m", "aichaos.cli", "proxy", "--port", "0", "--config", str(cfg)]
        proc = self._spawn(args, stdout=subprocess.PIPE)
        assert proc.stdout is not None
        m = re.search(r"API on (http://\S+)", proc.stdout.readline())
        assert m, "aichaos proxy did not start"
        return m.group(1)

    def service(self) -> str:
        proc = self._spawn(
            [sys.executable, "-c", _SERVICE], stdout=subprocess.PIPE, stdin=subprocess.PIPE
        )
        assert proc.stdout is not None
        return proc.stdout.readline().strip()

    def registry(self) -> str:
        reg = self.root / "registry"
        for v in ("v1", "v2"):
            (reg / v).mkdir(parents=True, exist_ok=True)
            (reg / v / "model.bin").write_bytes(v.encode())
        (reg / "current").write_text("v2")
        return str(reg)

    def data_file(self) -> str:
        path = self.root / "batch.csv"
        path.write_text("a,b\n" + "1,2\n" * 1000)
        return str(path)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    pipe.close()


Kind = Callable[[Fixtures], tuple[dict[str, Any], dict[str, Any] | None]]


def kinds() -> dict[str, Kind]:
    """Fault kind -> (fault, target) built on the fixtures. One per injector family."""
    return {
        "python-callable": lambda f: (
            {"type": "python-callable", "apply": "os:getpid"},
            None,
        ),
        "process-pause": lambda f: (
            {"type": "process-pause"},
            {"type": "process", "pid": f.sleeper()},
        ),
        "proxy-toxic": lambda f: (
            {"type": "proxy-toxic", "toxic": "latency", "attributes": {"latency": 100}},
            {"type": "proxy", "api_url": f.proxy_api(), "proxy": "dep"},
        ),
        "inprocess": lambda f: (
            {"type": "inprocess", "hooks": ["predict"]},
            {"type": "inprocess", "url": f.service(), "token": "bench-token-123"},
        ),
        "file-truncate": lambda f: ({"type": "file-truncate", "path": f.data_file()}, None),
        "model-stale-version": lambda f: (
            {"type": "model-stale-version"},
            {"type": "model-registry", "path": f.registry()},
        ),
        "memory-pressure": lambda f: ({"type": "memory-pressure", "size_mb": 32}, None),
        "cpu-burn": lambda f: ({"type": "cpu-burn", "workers": 1, "load_fraction": 0.5}, None),
        "disk-fill": lambda f: (
            {"type": "disk-fill", "directory": str(f.root), "size_mb": 8},
            None,
        ),
        "fd-exhaustion": lambda f: ({"type": "fd-exhaustion", "count": 256}, None),
        "thread-exhaustion": lambda f: ({"type": "thread-exhaustion", "count": 16}, None),
    }


def experiment(halt: str, fault: dict[str, Any], target: dict[str, Any] | None) -> Experiment:
    me = "bench.guardrail" if __name__ != "__main__" else "__main__"
    step: dict[str, Any] = {"fault": fault, "duration_s": 5}
    targets = {}
    if target is not None:
        targets["victim"] = target
        step["target"] = "victim"
    return Experiment.model_validate(
        {
            "title": "guardrail reaction",
            "seed": 1,
            "targets": targets,
            "probes": {"p": {"type": "python", "call": f"{me}:probe", "every_s": 0.05}},
            "steady_state": ["p.latency_ms < 100"],
            "guardrails": ["p.latency_ms < 1000"],
            "method": [step],
            "phases": {"baseline_s": 0.15, "recovery_s": 0.0},
            "safety": {"guardrail_interval_s": 0.2, "ttl_s": 5, "kill_switch": halt},
        }
    )


async def one(exp: Experiment) -> float:
    MARKS.clear()
    STATE["bad"] = False
    journal = Journal(None)
    journal.listeners.append(_listen)
    result = await Engine(exp, journal=journal, watchdog=False).run()
    assert result.status == "aborted", result.reason
    return (MARKS["revert"] - MARKS["breach"]) * 1e3


@contextlib.contextmanager
def fixtures() -> Iterator[Fixtures]:
    with tempfile.TemporaryDirectory(prefix="aichaos-bench-") as d:
        f = Fixtures(Path(d))
        try:
            yield f
        finally:
            f.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--kinds", default="", help="comma-separated fault kinds (default: all)")
    args = ap.parse_args()
    try:
        import uvloop

        runner: Callable[[Any], float] = uvloop.run
        loop_name = "uvloop"
    except ImportError:
        runner = asyncio.run
        loop_name = "asyncio"
    chosen = {k: v for k, v in kinds().items() if not args.kinds or k in args.kinds.split(",")}
    print(f"guardrail breach -> fault reverted, {args.runs} runs per kind ({loop_name}):")
    print(f"  {'fault kind':<20} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'p99/goal':>9}")
    worst = 0.0
    with fixtures() as f:
        halt = str(f.root / "halt")
        for name, build in chosen.items():
            fault, target = build(f)
            exp = experiment(halt, fault, target)
            samples = sorted(runner(one(exp)) for _ in range(args.runs))
            p50 = statistics.median(samples)
            p99 = samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))]
            worst = max(worst, p99 / GOAL_MS)
            print(f"  {name:<20} {p50:8.2f} {p99:8.2f} {samples[-1]:8.2f} {p99 / GOAL_MS:9.3f}")
    print(f"  worst p99 / goal ({GOAL_MS:g} ms) = {worst:.3f}")


if __name__ == "__main__":
    main()
