"""Every fault x every target kind: a fault that cannot act on a target kind is refused.

``cpu-burn`` on a ``kubernetes`` target was accepted, printed "cpu-burn on kubernetes
ml-serving/app=model-server" and burned the local CPU. The table covers the registries,
so a new fault or target kind must say here what it needs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aichaos.errors import ExperimentError
from aichaos.experiment.loader import parse_experiment
from aichaos.faults.base import FAULTS
from aichaos.targets import TARGETS

# the smallest valid parameters of each fault (no fault is applied: validation only)
FAULT_PARAMS: dict[str, dict[str, Any]] = {
    "batch-duplicate": {"directory": "/tmp/x"},
    "batch-late": {"directory": "/tmp/x", "delay_s": 1},
    "batch-out-of-order": {"directory": "/tmp/x"},
    "cgroup-limit": {"memory_max_mb": 64},
    "checkpoint-corrupt": {"directory": "/tmp/x"},
    "cpu-burn": {},
    "data-corrupt": {"path": "/tmp/x.csv", "corruptions": [{"name": "missing-values"}]},
    "disk-fill": {"directory": "/tmp/x", "size_mb": 1},
    "fd-exhaustion": {},
    "file-corrupt-bytes": {"path": "/tmp/x"},
    "file-empty": {"path": "/tmp/x"},
    "file-missing": {"path": "/tmp/x"},
    "file-partial-write": {"path": "/tmp/x"},
    "file-permission-denied": {"path": "/tmp/x"},
    "file-truncate": {"path": "/tmp/x"},
    "inprocess": {},
    "memory-pressure": {"size_mb": 16},
    "model-corrupt-artifact": {},
    "model-delayed-promotion": {"delay_s": 1},
    "model-slow-load": {"latency_ms": 10},
    "model-stale-version": {},
    "model-weights": {},
    "model-wrong-version": {"version": "1"},
    "process-kill": {},
    "process-pause": {},
    "proxy-http-error": {},
    "proxy-latency": {"latency_ms": 10},
    "proxy-toxic": {"toxic": "latency", "attributes": {"latency": 10}},
    "python-callable": {"apply": "os:getpid"},
    "preemption": {},
    "ray-serve-fail-health": {},
    "ray-serve-kill-replica": {},
    "thread-exhaustion": {"count": 1},
    "training": {"hooks": ["trainer"], "kind": "skip"},
}

TARGET_PARAMS: dict[str, dict[str, Any]] = {
    "http": {"url": "http://127.0.0.1:1"},
    "inprocess": {"url": "http://127.0.0.1:1", "token": "t"},
    "kubernetes": {"namespace": "ml-serving", "selector": {"app": "model-server"}},
    "mlflow-registry": {"tracking_uri": "http://127.0.0.1:1", "model": "m"},
    "model-registry": {"path": "/tmp/registry"},
    "process": {"pid": 1},
    "proxy": {"proxy": "upstream"},
    "ray-serve": {"deployment": "d"},
}


def _experiment(fault: str, target: str | None) -> str:
    import json

    doc: dict[str, Any] = {
        "title": "t",
        "method": [{"fault": {"type": fault, **FAULT_PARAMS[fault]}, "duration_s": 1}],
    }
    if target is not None:
        doc["targets"] = {"it": {"type": target, **TARGET_PARAMS[target]}}
        doc["method"][0]["target"] = "it"
    return json.dumps(doc)


def test_the_table_covers_the_registries() -> None:
    assert sorted(FAULT_PARAMS) == FAULTS.names()
    assert sorted(TARGET_PARAMS) == TARGETS.names()


@pytest.mark.parametrize("target", sorted(TARGET_PARAMS))
@pytest.mark.parametrize("fault", sorted(FAULT_PARAMS))
def test_a_fault_is_accepted_only_on_a_kind_it_acts_on(fault: str, target: str) -> None:
    kinds = FAULTS.get(fault).target_kinds
    text = _experiment(fault, target)
    if target in kinds:
        parse_experiment(text)
        return
    with pytest.raises(ExperimentError) as info:
        parse_experiment(text)
    message = str(info.value)
    assert "method[0].target" in message
    assert f"fault {fault!r}" in message
    assert f"'it' is {target!r}" in message


@pytest.mark.parametrize("fault", sorted(FAULT_PARAMS))
def test_without_a_target_only_targetless_faults_pass(fault: str) -> None:
    kinds = FAULTS.get(fault).target_kinds
    if not kinds:
        parse_experiment(_experiment(fault, None))
        return
    with pytest.raises(ExperimentError, match="needs a target of type"):
        parse_experiment(_experiment(fault, None))


def test_validate_refuses_cpu_burn_on_kubernetes(tmp_path: Path) -> None:
    path = tmp_path / "exp.json"
    path.write_text(_experiment("cpu-burn", "kubernetes"))
    proc = subprocess.run(
        [sys.executable, "-m", "aichaos.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert "acts on this machine and takes no target, but 'it' is 'kubernetes'" in out
    assert "Traceback" not in out
