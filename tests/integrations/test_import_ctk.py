"""`aichaos import-ctk`: Chaos Toolkit experiments -> aichaos experiments."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from aichaos.errors import ValidationError
from aichaos.experiment.loader import parse_experiment
from aichaos.integrations.chaostoolkit.convert import convert

CTK: dict[str, Any] = {
    "version": "1.0.0",
    "title": "api under a slow dependency",
    "configuration": {"base": "http://127.0.0.1:8000", "api": "http://127.0.0.1:8474"},
    "steady-state-hypothesis": {
        "title": "h",
        "probes": [
            {
                "type": "probe",
                "name": "health",
                "tolerance": [200, 204],
                "provider": {"type": "http", "url": "${base}/health", "timeout": 2},
            },
            {
                "type": "probe",
                "name": "errors",
                "tolerance": {"type": "range", "range": [0, 0.05], "target": "error_rate"},
                "provider": {
                    "type": "python",
                    "module": "aichaos.integrations.chaostoolkit.probes",
                    "func": "load",
                    "arguments": {"url": "${base}/health", "duration_s": 1},
                },
            },
            {
                "type": "probe",
                "name": "logs",
                "tolerance": {"type": "regex", "pattern": "ok"},
                "provider": {"type": "process", "path": "cat", "arguments": "/tmp/x"},
            },
        ],
    },
    "method": [
        {
            "type": "action",
            "name": "slow",
            "pauses": {"before": 2, "after": 5},
            "provider": {
                "type": "python",
                "module": "aichaos.integrations.chaostoolkit.actions",
                "func": "add_toxic",
                "arguments": {
                    "proxy": "db",
                    "api_url": "${api}",
                    "type": "latency",
                    "toxic_name": "slow",
                    "attributes": {"latency": 300},
                },
            },
        },
        {
            "type": "action",
            "name": "unslow",
            "provider": {
                "type": "python",
                "module": "aichaos.integrations.chaostoolkit.actions",
                "func": "remove_toxic",
                "arguments": {"proxy": "db", "api_url": "${api}", "toxic_name": "slow"},
            },
        },
        {
            "type": "action",
            "name": "burn",
            "pauses": {"after": 3},
            "provider": {
                "type": "python",
                "module": "aichaos.integrations.chaostoolkit.actions",
                "func": "apply_fault",
                "arguments": {"name": "burn", "fault": {"type": "cpu-burn", "workers": 1}},
            },
        },
        {"type": "action", "name": "restart", "provider": {"type": "process", "path": "systemctl"}},
        {
            "type": "action",
            "name": "custom",
            "provider": {
                "type": "python",
                "module": "mymod.chaos",
                "func": "drop_cache",
                "arguments": {"n": 1},
            },
        },
    ],
    "rollbacks": [
        {
            "type": "action",
            "name": "reload",
            "provider": {"type": "http", "url": "${base}/admin/reload", "method": "POST"},
        },
        {
            "type": "action",
            "name": "revert",
            "provider": {
                "type": "python",
                "module": "aichaos.integrations.chaostoolkit.actions",
                "func": "revert_all_faults",
            },
        },
    ],
}


def test_convert_maps_what_it_can_and_names_the_rest() -> None:
    result = convert(CTK)
    exp = result.experiment
    loaded = parse_experiment(yaml.safe_dump(exp)).experiment  # a valid aichaos experiment
    assert exp["targets"]["p_127_0_0_1"] == {"type": "http", "url": "http://127.0.0.1:8000"}
    assert exp["probes"]["health"] == {
        "type": "http",
        "target": "p_127_0_0_1",
        "path": "/health",
        "method": "GET",
        "expect_status": [200, 204],
        "timeout_s": 2.0,
    }
    assert exp["steady_state"] == [
        "health.ok == 1",
        "errors.error_rate >= 0",
        "errors.error_rate <= 0.05",
    ]
    slow, burn, custom = exp["method"]
    assert slow["fault"] == {
        "type": "proxy-toxic",
        "toxic": "latency",
        "name": "slow",
        "stream": "downstream",
        "toxicity": 1.0,
        "attributes": {"latency": 300},
    }
    assert exp["targets"][slow["target"]] == {
        "type": "proxy",
        "api_url": "http://127.0.0.1:8474",
        "proxy": "db",
    }
    assert (slow["start_s"], slow["duration_s"]) == (2.0, 5.0)  # removed after its 5 s pause
    assert burn["fault"] == {"type": "cpu-burn", "workers": 1} and burn["start_s"] == 7.0
    assert burn["duration_s"] == 4.0  # to the end of the method (custom starts at 10 s, lasts 1 s)
    assert custom["fault"] == {
        "type": "python-callable",
        "apply": "mymod.chaos:drop_cache",
        "arguments": {"n": 1},
    }
    assert exp["rollbacks"] == [
        {"type": "http", "target": "p_127_0_0_1", "path": "/admin/reload", "method": "POST"}
    ]
    assert custom["start_s"] == 10.0 and loaded.method_duration_s == 11.0
    skipped = "\n".join(result.skipped)
    assert (
        "steady-state-hypothesis.probes[2] 'logs': process provider has no aichaos counterpart"
        in skipped
    )
    assert "method[3] 'restart': process actions have no aichaos counterpart" in skipped
    assert any("'revert': dropped" in n for n in result.notes)
    assert result.weaker == ["steady-state-hypothesis.probes[2] 'logs'"]


@pytest.mark.parametrize(
    ("ctk", "message"),
    [
        ([], "expected a mapping with 'method'"),
        ({"method": []}, "no method action"),
        (
            {"method": [{"type": "action", "provider": {"type": "process", "path": "x"}}]},
            "process actions have no",
        ),
        (
            {"method": [{"type": "action", "provider": {"type": "python"}}]},
            "malformed Chaos Toolkit experiment",
        ),
    ],
)
def test_bad_input(ctk: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        convert(ctk)


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aichaos.cli", "import-ctk", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )


def test_cli_writes_and_names_what_did_not_convert(tmp_path: Path) -> None:
    src = tmp_path / "exp.json"
    src.write_text(json.dumps(CTK))
    res = _cli(tmp_path, str(src), "-o", str(tmp_path / "out.yaml"))
    # a steady-state probe did not convert: a weaker hypothesis is refused by default
    assert res.returncode == 2, res.stderr
    assert "the converted steady state would be weaker" in res.stderr
    assert "steady-state-hypothesis.probes[2] 'logs': process provider" in res.stderr
    assert "--allow-weaker-hypothesis" in res.stderr
    assert not (tmp_path / "out.yaml").exists()
    res = _cli(tmp_path, str(src), "-o", str(tmp_path / "out.yaml"), "--allow-weaker-hypothesis")
    assert res.returncode == 1, res.stderr
    assert "not converted: method[3] 'restart'" in res.stderr
    text = (tmp_path / "out.yaml").read_text()
    assert text.startswith("# converted from Chaos Toolkit experiment exp.json")
    assert "# WEAKER HYPOTHESIS: steady-state-hypothesis.probes[2] 'logs' did not" in text
    assert "# not converted: steady-state-hypothesis.probes[2]" in text
    description = yaml.safe_load(text)["description"]
    assert "WEAKER HYPOTHESIS than the Chaos Toolkit original" in description
    check = subprocess.run(
        [sys.executable, "-m", "aichaos.cli", "validate", str(tmp_path / "out.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stderr


def test_cli_clean_conversion_exits_0(tmp_path: Path) -> None:
    clean = {"title": "t", "method": [CTK["method"][2]]}
    src = tmp_path / "exp.yaml"
    src.write_text(yaml.safe_dump(clean))
    res = _cli(tmp_path, str(src))
    assert res.returncode == 0, res.stderr
    assert yaml.safe_load(res.stdout)["method"][0]["fault"]["type"] == "cpu-burn"


def test_cli_bad_file(tmp_path: Path) -> None:
    res = _cli(tmp_path, str(tmp_path / "missing.json"))
    assert res.returncode == 2 and "cannot read" in res.stderr
    (tmp_path / "bad.json").write_text("{not json")
    res = _cli(tmp_path, str(tmp_path / "bad.json"))
    assert res.returncode == 2 and res.stderr.startswith("aichaos: ")


def _gateway_probe(name: str, path: str) -> dict[str, Any]:
    return {
        "type": "probe",
        "name": name,
        "tolerance": 200,
        "provider": {"type": "http", "url": "${gateway_url}" + path, "timeout": 1},
    }


# the usual Chaos Toolkit pattern: the service URL comes from the environment
GATEWAY: dict[str, Any] = {
    "title": "gateway keeps answering",
    "configuration": {"gateway_url": {"type": "env", "key": "GATEWAY_URL"}, "n": 1},
    "secrets": {"gateway": {"admin_token": {"type": "env", "key": "GATEWAY_TOKEN"}}},
    "steady-state-hypothesis": {
        "title": "h",
        "probes": [
            _gateway_probe("health", "/health"),
            _gateway_probe("deep", "/fail"),
            {
                "type": "probe",
                "name": "local",
                "tolerance": True,
                "provider": {"type": "python", "module": "os", "func": "getpid"},
            },
            {
                "type": "probe",
                "name": "health-again",
                "tolerance": [200],
                "provider": {"type": "http", "url": "${gateway_url}/health?full=${n}"},
            },
        ],
    },
    "method": [
        {
            "type": "action",
            "name": f"burn{i}",
            "pauses": {"after": 1},
            "provider": {
                "type": "python",
                "module": "aichaos.integrations.chaostoolkit.actions",
                "func": "apply_fault",
                "arguments": {
                    "name": f"pause{i}",
                    "fault": {"type": "process-pause"},
                    "target": {"type": "process", "pid": 1},
                },
            },
        }
        for i in range(2)
    ],
    "rollbacks": [
        {
            "type": "action",
            "name": "reset",
            "provider": {
                "type": "http",
                "url": "${gateway_url}/admin/reset",
                "method": "POST",
                "headers": {"Authorization": "Bearer ${admin_token}"},
            },
        }
    ],
}


def test_configuration_references_in_urls_convert_to_env_placeholders() -> None:
    result = convert(GATEWAY)
    exp = result.experiment
    assert result.weaker == [] and result.skipped == []
    # one gateway target for every probe and the rollback; one process target for both steps
    assert exp["targets"] == {
        "gateway_url": {"type": "http", "url": "${env:GATEWAY_URL}"},
        "pause0_target": {"type": "process", "pid": 1},
    }
    assert [p.get("path") for p in exp["probes"].values()] == [
        "/health",
        "/fail",
        None,
        "/health?full=1",
    ]
    assert exp["steady_state"] == [
        "health.ok == 1",
        "deep.ok == 1",
        "local.value == 1",
        "health-again.ok == 1",
    ]
    assert [s["target"] for s in exp["method"]] == ["pause0_target", "pause0_target"]
    assert exp["rollbacks"][0]["target"] == "gateway_url"


def test_an_unknown_reference_is_named(tmp_path: Path) -> None:
    ctk = {**GATEWAY, "configuration": {}}
    result = convert(ctk)
    assert len(result.weaker) == 3
    assert any(
        "url '${gateway_url}/health' references gateway_url, which no configuration or "
        "secret defines" in s
        for s in result.skipped
    )


@pytest.mark.slow
def test_converted_gateway_hypothesis_fails_like_the_original(
    tmp_path: Path, tinyservice: str
) -> None:
    """Before: 2 of 4 probes were dropped and the converted run passed; /fail answers 500."""
    ctk = copy.deepcopy({**GATEWAY, "method": GATEWAY["method"][:1], "rollbacks": []})
    del ctk["steady-state-hypothesis"]["probes"][2:]  # the two gateway probes alone
    ctk["method"][0]["provider"]["arguments"]["fault"] = {"type": "cpu-burn"}
    del ctk["method"][0]["provider"]["arguments"]["target"]
    src = tmp_path / "ctk.json"
    src.write_text(json.dumps(ctk))
    res = _cli(tmp_path, str(src), "-o", str(tmp_path / "exp.yaml"))
    assert res.returncode == 0, res.stderr
    exp = yaml.safe_load((tmp_path / "exp.yaml").read_text())
    exp["phases"] = {"baseline_s": 0.5, "recovery_s": 0.1}
    exp["safety"] = {"probe_interval_s": 0.2}
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(exp))
    run = subprocess.run(
        [sys.executable, "-m", "aichaos.cli", "run", str(tmp_path / "exp.yaml"), "-q",
         "--journal", str(tmp_path / "run.jsonl")],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={**os.environ, "GATEWAY_URL": tinyservice, "AICHAOS_KILL_SWITCH": str(tmp_path / "h")},
    )  # fmt: skip
    assert run.returncode == 4, run.stdout + run.stderr  # failed-baseline: deep.ok is 0
    assert "deep.ok == 1" in run.stdout + run.stderr and "health.ok" not in run.stdout
