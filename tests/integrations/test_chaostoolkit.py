"""The Chaos Toolkit extension, run by the real `chaos run` against a real local service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aichaos.errors import AichaosError, ValidationError
from aichaos.integrations.chaostoolkit import actions, probes

EXAMPLES = Path(__file__).parents[2] / "examples" / "chaostoolkit"
CHAOS = Path(sys.executable).parent / "chaos"


def chaos_run(experiment: Path, tmp_path: Path, env: dict[str, str]) -> dict[str, Any]:
    journal = tmp_path / "journal.json"
    proc = subprocess.run(
        [
            str(CHAOS),
            "--no-version-check",
            "--log-file",
            str(tmp_path / "chaos.log"),
            "run",
            "--journal-path",
            str(journal),
            str(experiment),
        ],
        env={**os.environ, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert journal.exists(), proc.stdout + proc.stderr
    data: dict[str, Any] = json.loads(journal.read_text())
    return data


def outputs(journal: dict[str, Any], section: str = "run") -> dict[str, Any]:
    return {r["activity"]["name"]: r for r in journal[section]}


@pytest.mark.slow
def test_proxy_and_ai_toxics(tinyservice: str, tmp_path: Path) -> None:
    upstream = tinyservice.removeprefix("http://")
    journal = chaos_run(
        EXAMPLES / "proxy-and-ai-toxics.json",
        tmp_path,
        {"AICHAOS_UPSTREAM": upstream, "AICHAOS_SERVICE_URL": tinyservice},
    )
    assert journal["status"] == "completed" and journal["deviated"] is False
    run = outputs(journal)
    assert all(r["status"] == "succeeded" for r in run.values()), run
    proxy = run["start-proxy"]["output"]
    assert proxy["listen"].startswith("127.0.0.1:") and proxy["listen"] != upstream
    errors = run["through-proxy-with-503"]["output"]
    assert errors["error_rate"] == 1.0 and errors["errors_5xx"] == errors["completed"] > 0
    ttfb = run["through-proxy-with-ttfb"]["output"]
    assert ttfb["error_rate"] == 0 and ttfb["p50_ms"] >= 140
    quality = run["quality-through-proxy"]["output"]
    assert quality["silent_failure_rate"] == 1.0
    toxics = {t["name"]: t for t in run["toxics-now"]["output"]}
    assert set(toxics) == {"ttfb", "nan"} and toxics["nan"]["stats"]["affected"] > 0
    rollbacks = outputs(journal, "rollbacks")
    assert rollbacks["reset-proxy"]["output"] == 2
    assert rollbacks["stop-proxy"]["output"] == ["api"]
    # the proxy process is gone after the rollback
    assert not Path(f"/proc/{proxy['pid']}").exists() or _state(proxy["pid"]) == "Z"


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


@pytest.mark.slow
def test_data_model_resource_faults_deviate_and_roll_back(tmp_path: Path) -> None:
    service = subprocess.Popen(
        [sys.executable, "-m", "aichaos.demo.tinyservice"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert service.stdout is not None
        url = f"http://127.0.0.1:{int(service.stdout.readline())}"
        reg = tmp_path / "registry"
        (reg / "v1").mkdir(parents=True)
        (reg / "v2").mkdir()
        os.symlink("v2", reg / "current")
        data = tmp_path / "train.csv"
        original = "age,income\n" + "".join(f"{i},{i * 10}\n" for i in range(40))
        data.write_text(original)
        journal = chaos_run(
            EXAMPLES / "data-model-resource.json",
            tmp_path,
            {
                "AICHAOS_SERVICE_URL": url,
                "AICHAOS_SERVICE_PID": str(service.pid),
                "AICHAOS_DATASET": str(data),
                "AICHAOS_REGISTRY": str(reg),
            },
        )
        # the paused service broke the steady state; the rollbacks undid everything
        # (chaostoolkit-lib journals a deviated run as status "completed", deviated: true)
        assert journal["deviated"] is True and journal["status"] in ("completed", "deviated")
        run = outputs(journal)
        assert all(r["status"] == "succeeded" for r in run.values()), run
        report = run["corrupt-training-data"]["output"]["report"]
        assert 0 < report["cells_changed"]["age"] < 40
        assert run["stale-model"]["output"]["fault"]["showing"] == "v1"
        assert run["faults-applied"]["output"] == ["burn", "stale-model"]
        after = journal["steady_states"]["after"]
        assert after["steady_state_met"] is False
        assert after["probes"][0]["output"]["error_rate"] > 0.5
        rollbacks = outputs(journal, "rollbacks")
        assert rollbacks["revert-faults"]["output"] == ["stale-model", "pause"]
        assert rollbacks["restore-data"]["output"] is True
        assert data.read_text() == original
        assert os.readlink(reg / "current") == "v2"
        assert _state(service.pid) in ("S", "R")
    finally:
        service.terminate()
        service.wait(10)
        assert service.stdout is not None
        service.stdout.close()


def test_failed_action_names_the_bad_value_in_the_journal(tinyservice: str, tmp_path: Path) -> None:
    exp = {
        "version": "1.0.0",
        "title": "a bad toxic",
        "description": "latency must not be negative",
        "method": [
            {
                "type": "action",
                "name": "start",
                "provider": {
                    "type": "python",
                    "module": "aichaos.integrations.chaostoolkit.actions",
                    "func": "start_proxy",
                    "arguments": {"name": "p", "upstream": tinyservice.removeprefix("http://")},
                },
            },
            {
                "type": "action",
                "name": "bad",
                "provider": {
                    "type": "python",
                    "module": "aichaos.integrations.chaostoolkit.actions",
                    "func": "add_toxic",
                    "arguments": {"proxy": "p", "type": "latency", "attributes": {"latency": -5}},
                },
            },
        ],
    }
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(exp))
    journal = chaos_run(path, tmp_path, {})
    run = outputs(journal)
    assert run["start"]["status"] == "succeeded"
    assert run["bad"]["status"] == "failed"
    assert "latency must be >= 0, got -5" in "".join(run["bad"]["exception"])
    # the leashed proxy died with the `chaos` process
    pid = run["start"]["output"]["pid"]
    assert not Path(f"/proc/{pid}").exists() or _state(pid) == "Z"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: actions.apply_fault({"workers": 1}), "fault must be a mapping with 'type'"),
        (lambda: actions.apply_fault({"type": "cpu-burn", "workers": 0}), "workers"),
        (lambda: actions.apply_fault({"type": "process-pause"}), "needs a target of type process"),
        (lambda: actions.revert_fault("nope"), "no applied fault named 'nope'"),
        (lambda: actions.add_toxic("nope", "latency"), "no proxy 'nope' was started here"),
        (lambda: actions.stop_proxy("nope"), "no proxy 'nope' was started here"),
        (lambda: actions.corrupt_dataset("/nonexistent.csv", "missing-values"), "existing file"),
        (lambda: probes.load(), "exactly one of url, proxy"),
        (lambda: probes.load(url="http://127.0.0.1:1/", rate_rps=-1), "rate_rps"),
        (lambda: probes.load(url="http://127.0.0.1:1/", duration_s=0), "duration_s"),
    ],
)
def test_bad_arguments(call: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        call()


def test_unknown_fault_type_is_a_clear_error() -> None:
    with pytest.raises(AichaosError, match="unknown fault type 'nope'"):
        actions.apply_fault({"type": "nope"})
