"""A minimal experiment, aichaos vs Chaos Toolkit, side by side: wall time and memory.

The same hypothesis for both: one HTTP probe of a real local service (``/health``
answers 200), one short step that changes nothing (a Python call), the same schedule
(0.2 s of observation before the step, 0.2 s of step). ``aichaos run`` observes the
baseline with its probe every 0.1 s; ``chaos run`` probes once before and once after,
and pauses 0.2 s before and after its action. Runs alternate (hyperfine-like: one warm-up
of each, then N of each, interleaved) so both see the same machine load. Figures per
command: median and min wall time from spawn to exit, median peak RSS (``ru_maxrss`` of
the command's process from ``wait4``, as GNU ``time`` reports it), then every run's
figures and the load average before and after (the machine may be shared). Every run's
verdict is checked (passed / completed): a failed run is an error, not a sample. Both
tools run with their bytecode cached, as an installed package has it: the warm-up
writes any missing ``.pyc`` even where ``PYTHONDONTWRITEBYTECODE`` is set (a source
checkout on ``PYTHONPATH`` would otherwise be compiled again on every run).

A third row, ``deps only``, is the floor under any aichaos code: the same interpreter
imports the libraries a run cannot do without (click, PyYAML, asyncio, pydantic), builds
and validates one one-field model, and waits out the same 0.4 s on an event loop. What
aichaos costs beyond it is its own; where the floor itself is above ``chaos run``, no
change to aichaos' code alone can reach the goal. A fourth row, ``no pydantic``, is
that floor without pydantic, so the bench prints what the validation library alone costs.

Goal (issue 14): aichaos / chaos <= 1.0 for both.
Usage: python bench/startup.py [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def aichaos_files(d: Path, url: str) -> list[str]:
    exp = d / "min.yaml"
    exp.write_text(f"""
title: minimal
targets:
  api: {{type: http, url: "{url}"}}
probes:
  health: {{type: http, target: api, path: /health, every_s: 0.1}}
steady_state: ['health.ok == 1']
method:
  - {{name: idle, fault: {{type: python-callable, apply: "os:getpid"}}, duration_s: 0.2}}
phases: {{baseline_s: 0.2, recovery_s: 0}}
safety: {{kill_switch: "{d / "halt"}"}}
""")
    journal = d / "aichaos.jsonl"
    return [_bin("aichaos"), "run", "-q", "--overwrite", str(exp), "--journal", str(journal)]


def ctk_files(d: Path, url: str) -> list[str]:
    exp = d / "min.json"
    exp.write_text(
        json.dumps(
            {
                "version": "1.0.0",
                "title": "minimal",
                "description": "one HTTP probe, one short step",
                "steady-state-hypothesis": {
                    "title": "the service answers",
                    "probes": [
                        {
                            "type": "probe",
                            "name": "health",
                            "tolerance": 200,
                            "provider": {"type": "http", "url": f"{url}/health", "timeout": 5},
                        }
                    ],
                },
                "method": [
                    {
                        "type": "action",
                        "name": "idle",
                        "provider": {"type": "python", "module": "os", "func": "getpid"},
                        "pauses": {"before": 0.2, "after": 0.2},
                    }
                ],
                "rollbacks": [],
            }
        )
    )
    journal = d / "chaos-journal.json"
    return [_bin("chaos"), "--no-log-file", "run", "--journal-path", str(journal), str(exp)]


DEPS_ONLY = """
import asyncio
import click, yaml
from pydantic import BaseModel

class Minimal(BaseModel):
    title: str

Minimal.model_validate({"title": "minimal"})
asyncio.run(asyncio.sleep(0.4))  # the schedule: 0.2 s of baseline, 0.2 s of step
"""

#: the same floor without pydantic: what the one validation library costs, side by side
DEPS_NO_PYDANTIC = """
import asyncio
import click, yaml

asyncio.run(asyncio.sleep(0.4))
"""


def once(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS in MiB of one run; raises if it did not pass."""
    t0 = time.perf_counter()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    proc = subprocess.Popen(
        cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    )
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed (exit {proc.returncode}): {err[-2000:]}")
    if Path(cmd[0]).name == "chaos":
        journal = json.loads((cwd / "chaos-journal.json").read_text())
        if journal["status"] != "completed" or journal["deviated"]:
            raise SystemExit(f"chaos run did not complete: {journal['status']}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    service = subprocess.Popen(
        [sys.executable, "-m", "aichaos.demo.tinyservice"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert service.stdout is not None
        url = f"http://127.0.0.1:{int(service.stdout.readline())}"
        load_before = os.getloadavg()
        with tempfile.TemporaryDirectory(prefix="aichaos-startup-") as tmp:
            d = Path(tmp)
            cmds = {
                "aichaos run": aichaos_files(d, url),
                "chaos run": ctk_files(d, url),
                "deps only": [sys.executable, "-c", DEPS_ONLY],
                "no pydantic": [sys.executable, "-c", DEPS_NO_PYDANTIC],
            }
            for cmd in cmds.values():
                once(cmd, d)  # warm-up: page cache, .pyc files
            results: dict[str, list[tuple[float, float]]] = {k: [] for k in cmds}
            for _ in range(args.runs):
                for name, cmd in cmds.items():
                    results[name].append(once(cmd, d))
        load_after = os.getloadavg()
    finally:
        service.terminate()
        service.wait(timeout=10)
        if service.stdout is not None:
            service.stdout.close()
    print(f"minimal experiment, {args.runs} interleaved runs each (after one warm-up):")
    print(f"  {'command':<12} {'wall median':>12} {'wall min':>9} {'peak RSS median':>16}")
    med: dict[str, tuple[float, float]] = {}
    for name, rows in results.items():
        walls = [w for w, _ in rows]
        rss = [m for _, m in rows]
        med[name] = (statistics.median(walls), statistics.median(rss))
        print(f"  {name:<12} {med[name][0]:>11.3f}s {min(walls):>8.3f}s {med[name][1]:>14.1f} MiB")
    a, c = med["aichaos run"], med["chaos run"]
    print(f"  aichaos / chaos: wall {a[0] / c[0]:.2f}, memory {a[1] / c[1]:.2f} (goal <= 1.0)")
    f = med["deps only"]
    print(f"  deps only / chaos: wall {f[0] / c[0]:.2f}, memory {f[1] / c[1]:.2f} (the floor)")
    n = med["no pydantic"]
    print(
        f"  pydantic's share of the floor: {f[0] - n[0]:+.3f} s, {f[1] - n[1]:+.1f} MiB "
        "(import plus one model built and validated)"
    )
    print("every run (wall s / peak RSS MiB):")
    for name, rows in results.items():
        print(f"  {name:<12} " + "  ".join(f"{w:.3f}/{m:.1f}" for w, m in rows))
    print(
        "load average (1, 5, 15 min): before "
        + " ".join(f"{x:.2f}" for x in load_before)
        + ", after "
        + " ".join(f"{x:.2f}" for x in load_after)
    )


if __name__ == "__main__":
    main()
