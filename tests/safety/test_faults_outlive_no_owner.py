"""Faults never outlive their owner: ``aichaos run`` SIGKILLed with every kind of fault live.

One real run applies, at once, every fault kind that leaves state outside the runner:
a paused process, a proxy toxic, a disk fill, a memory ballast, a CPU burner, damaged
data files, held and duplicated batches, armed in-process hooks, a model registry pinned
to an old version, a corrupted artifact and perturbed weights. The runner is SIGKILLed
once every fault is applied; each one must be undone within TTL + 1 s. The test is
parametrized by fault kind over that one run, so each kind passes or fails on its own.

``tests/resource/test_deadman.py`` and ``tests/engine/test_proxy_steps.py`` already kill
a runner mid-fault for some of these kinds with a hand-built runner; this one goes
through the engine and the CLI for all of them.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from aichaos.engine.journal import read_journal
from aichaos.inprocess import ControlServer, Hook, Latency, Raise, Switchboard
from tests.conftest import _stop, process_state, start_sleeper
from tests.safety.conftest import TOKEN, start_proxy

pytestmark = pytest.mark.slow

TTL_S = 2.0
KINDS = [
    "process-pause",
    "proxy-toxic",
    "disk-fill",
    "memory-pressure",
    "cpu-burn",
    "file-truncate",
    "file-missing",
    "batch-late",
    "batch-duplicate",
    "inprocess",
    "model-slow-load",
    "model-stale-version",
    "model-corrupt-artifact",
    "model-weights",
    "checkpoint-corrupt",
]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _registry(root: Path, versions: dict[str, dict[str, bytes]], current: str) -> Path:
    for version, files in versions.items():
        (root / version).mkdir(parents=True)
        for name, data in files.items():
            (root / version / name).write_bytes(data)
    os.symlink(current, root / "current")
    return root


def _joblib_model(path: Path) -> None:
    import joblib
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4))
    joblib.dump(LogisticRegression().fit(x, (x[:, 0] > 0).astype(int)), path)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Run every fault, SIGKILL the runner, time when each kind is undone."""
    tmp = tmp_path_factory.mktemp("kill")
    sleeper = start_sleeper("120")
    board = Switchboard()
    Hook("h", error=Raise(), board=board)
    Hook("model-load", latency=Latency(mean_ms=1), board=board)
    control = ControlServer(board, token=TOKEN).start()
    proxy = start_proxy()
    httpx.post(proxy.url + "/proxies", json={"name": "api", "upstream": "127.0.0.1:9"})

    data = tmp / "data"
    data.mkdir()
    (data / "a.csv").write_text("x,y\n" + "".join(f"{i},{i * 2}\n" for i in range(200)))
    (data / "b.csv").write_text("x,y\n1,2\n")
    originals = {p.name: _sha(p) for p in data.iterdir()}
    landing = tmp / "landing"
    landing.mkdir()
    for i in range(3):
        (landing / f"batch-{i}.jsonl").write_text(f'{{"i": {i}}}\n')
        os.utime(landing / f"batch-{i}.jsonl", (1000 + i, 1000 + i))
    late_dir = tmp / "late"
    late_dir.mkdir()
    (late_dir / "batch-9.jsonl").write_text('{"i": 9}\n')
    reg_ptr = _registry(tmp / "reg_ptr", {"v1": {"m": b"1"}, "v2": {"m": b"2"}}, "v2")
    reg_art = _registry(tmp / "reg_art", {"v1": {"model.bin": os.urandom(4096)}}, "v1")
    art_sha = _sha(reg_art / "v1" / "model.bin")
    reg_w = tmp / "reg_w"
    (reg_w / "v1").mkdir(parents=True)
    _joblib_model(reg_w / "v1" / "model.joblib")
    os.symlink("v1", reg_w / "current")
    weights_sha = _sha(reg_w / "v1" / "model.joblib")
    fill = tmp / "fill"
    fill.mkdir()
    ckpts = tmp / "ckpts"
    ckpts.mkdir()
    for step in (10, 20):
        (ckpts / f"ckpt-{step:06d}.bin").write_bytes(os.urandom(2048))
        os.utime(ckpts / f"ckpt-{step:06d}.bin", (1000 + step, 1000 + step))
    ckpt_sha = _sha(ckpts / "ckpt-000020.bin")

    steps = {
        "process-pause": ("{type: process-pause}", "worker"),
        "proxy-toxic": ("{type: proxy-latency, latency_ms: 50}", "dep"),
        "disk-fill": (f'{{type: disk-fill, directory: "{fill}", size_mb: 8}}', None),
        "memory-pressure": ("{type: memory-pressure, size_mb: 32}", None),
        "cpu-burn": ("{type: cpu-burn, workers: 1, load_fraction: 0.1}", None),
        "file-truncate": (f'{{type: file-truncate, path: "{data / "a.csv"}"}}', None),
        "file-missing": (f'{{type: file-missing, path: "{data / "b.csv"}"}}', None),
        "batch-late": (f'{{type: batch-late, directory: "{late_dir}", delay_s: 60}}', None),
        "batch-duplicate": (f'{{type: batch-duplicate, directory: "{landing}"}}', None),
        "inprocess": ("{type: inprocess, hooks: [h]}", "hooks"),
        "model-slow-load": ("{type: model-slow-load, latency_ms: 500}", "hooks"),
        "model-stale-version": ("{type: model-stale-version}", "reg_ptr"),
        "model-corrupt-artifact": (
            "{type: model-corrupt-artifact, version: v1, mode: bitflip, flip_fraction: 0.1}",
            "reg_art",
        ),
        "model-weights": ("{type: model-weights, sigma: 5, fraction: 1.0}", "reg_w"),
        "checkpoint-corrupt": (
            f'{{type: checkpoint-corrupt, directory: "{ckpts}", mode: truncate}}',
            None,
        ),
    }
    assert sorted(steps) == sorted(KINDS)
    method = "".join(
        f"  - fault: {fault}\n    name: {kind}\n"
        + (f"    target: {target}\n" if target else "")
        + "    duration_s: 60\n"
        for kind, (fault, target) in steps.items()
    )
    exp = tmp / "exp.yaml"
    exp.write_text(
        f"""
title: kill them all
seed: 4
targets:
  worker: {{type: process, pid: {sleeper.pid}}}
  dep: {{type: proxy, api_url: "{proxy.url}", proxy: api}}
  hooks: {{type: inprocess, url: "{control.url}", token_env: SAFETY_HOOK_TOKEN}}
  reg_ptr: {{type: model-registry, path: "{reg_ptr}"}}
  reg_art: {{type: model-registry, path: "{reg_art}"}}
  reg_w: {{type: model-registry, path: "{reg_w}"}}
method:
{method}phases: {{baseline_s: 0.2, recovery_s: 0.2}}
safety: {{guardrail_interval_s: 0.2, ttl_s: {TTL_S}, timeouts: {{apply_s: 30}}}}
"""
    )
    journal = tmp / "run.jsonl"
    runner = subprocess.Popen(
        [sys.executable, "-m", "aichaos.cli", "run", str(exp), "--journal", str(journal), "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "SAFETY_HOOK_TOKEN": TOKEN},
    )
    applied: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 60
    while len(applied) < len(KINDS) and time.monotonic() < deadline and runner.poll() is None:
        time.sleep(0.05)
        if journal.exists():
            for e in read_journal(journal):
                if e["event"] == "fault-applied":
                    applied[e["step"]] = e["fault"]
    failed = [e for e in read_journal(journal) if e["event"] in ("fault-apply-failed", "run-ended")]
    assert len(applied) == len(KINDS), f"applied {sorted(applied)}; {failed}"

    pid_mem = applied["memory-pressure"]["pid"]
    pids_cpu = applied["cpu-burn"]["pids"]
    fill_path = Path(applied["disk-fill"]["path"])
    checks: dict[str, Callable[[], bool]] = {
        "process-pause": lambda: process_state(sleeper.pid) != "T",
        "proxy-toxic": lambda: httpx.get(proxy.url + "/proxies/api/toxics").json() == [],
        "disk-fill": lambda: not fill_path.exists(),
        "memory-pressure": lambda: _gone(pid_mem),
        "cpu-burn": lambda: all(_gone(p) for p in pids_cpu),
        "file-truncate": lambda: _sha(data / "a.csv") == originals["a.csv"],
        "file-missing": lambda: (
            (data / "b.csv").exists() and _sha(data / "b.csv") == originals["b.csv"]
        ),
        "batch-late": lambda: (late_dir / "batch-9.jsonl").exists(),
        "batch-duplicate": lambda: (
            sorted(p.name for p in landing.iterdir()) == [f"batch-{i}.jsonl" for i in range(3)]
        ),
        "inprocess": lambda: board.switch("h") is None,
        "model-slow-load": lambda: board.switch("model-load") is None,
        "model-stale-version": lambda: os.readlink(reg_ptr / "current") == "v2",
        "model-corrupt-artifact": lambda: _sha(reg_art / "v1" / "model.bin") == art_sha,
        "model-weights": lambda: _sha(reg_w / "v1" / "model.joblib") == weights_sha,
        "checkpoint-corrupt": lambda: _sha(ckpts / "ckpt-000020.bin") == ckpt_sha,
    }
    # every fault is really in place before the kill
    live_before = {k for k, check in checks.items() if not check()}
    time.sleep(TTL_S * 0.75)  # a few renewals: faults outlive one TTL while the runner lives
    live_renewed = {k for k, check in checks.items() if not check()}

    runner.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    runner.wait(10)
    undone: dict[str, float] = {}
    while len(undone) < len(checks) and time.monotonic() - killed < TTL_S + 4:
        for kind, check in checks.items():
            if kind not in undone:
                try:
                    ok = check()
                except OSError:
                    ok = False  # mid-restore: a file between two renames
                if ok:
                    undone[kind] = time.monotonic() - killed
        time.sleep(0.02)
    yield {"before": live_before, "renewed": live_renewed, "undone": undone}
    sleeper.kill()
    _stop(sleeper)
    _stop(proxy.proc)
    control.close()


@pytest.mark.parametrize("kind", KINDS)
def test_fault_is_undone_within_ttl_after_sigkill(killed_run: dict[str, Any], kind: str) -> None:
    assert kind in killed_run["before"], f"{kind} was not in place before the kill"
    assert kind in killed_run["renewed"], f"{kind} did not survive its renewals"
    undone = killed_run["undone"]
    assert kind in undone, f"{kind} still in place {TTL_S + 4:g}s after SIGKILL"
    assert undone[kind] <= TTL_S + 1.0, f"{kind} undone {undone[kind]:.2f}s after SIGKILL"
