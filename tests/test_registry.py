"""Registries import only what a lookup needs, and know every built-in they hold."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aichaos.data.base import CORRUPTIONS
from aichaos.faults.base import FAULTS
from aichaos.load.base import WORKLOADS
from aichaos.probes.base import PROBES
from aichaos.proxy.toxics.base import TOXICS
from aichaos.registry import Registry
from aichaos.targets import TARGETS
from tests.conftest import ROOT


@pytest.mark.parametrize("registry", [FAULTS, PROBES, TARGETS, WORKLOADS, CORRUPTIONS, TOXICS])
def test_every_builtin_name_is_found_in_the_module_that_registers_it(
    registry: Registry[object],
) -> None:
    # the lookup of one name reads sources to find its module; a name it could not
    # find would still load (everything), but slowly: none may be missed
    for name, cls in registry.items():
        if cls.__module__ in registry.builtin_modules:
            assert registry._builtin_module(name) == cls.__module__, name


def test_loading_an_experiment_imports_only_the_types_it_names(tmp_path: Path) -> None:
    exp = tmp_path / "exp.yaml"
    exp.write_text("""
title: minimal
targets:
  api: {type: http, url: "http://127.0.0.1:9"}
probes:
  health: {type: http, target: api, path: /health}
steady_state: ['health.ok == 1']
method:
  - {name: idle, fault: {type: python-callable, apply: "os:getpid"}, duration_s: 1}
""")
    code = (
        "import json, sys\n"
        "from aichaos.experiment.loader import load_experiment\n"
        f"load_experiment({str(exp)!r})\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('aichaos.'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    loaded = set(json.loads(out.stdout))
    assert {"aichaos.faults.python_callable", "aichaos.probes.http"} <= loaded
    # not one of the other fault, probe or target modules (nor what they pull in)
    for module in ("aichaos.resource.cpu", "aichaos.proxy.fault", "aichaos.model.pointer"):
        assert module not in loaded, module
    assert "aichaos.probes.prometheus" not in loaded
