"""One spec base: every registered spec type is frozen, refuses unknown keys and inf/nan.

Before :class:`aichaos.spec.Spec`, each family wrote its own ``model_config`` and some
left a rule out: a corruption took ``scale: inf``, the control endpoint armed a hook with
``latency_ms: Infinity``, quality settings took an infinite tolerance, and a toxic took
an unknown attribute silently (``latncy: 100`` ran as a latency of 0).
"""

from __future__ import annotations

import json
import math

import httpx
import pydantic
import pytest

from aichaos.data import CORRUPTIONS, make
from aichaos.errors import ValidationError
from aichaos.faults.base import FAULTS
from aichaos.inprocess import ControlServer, Hook, Switchboard
from aichaos.load.base import WORKLOADS
from aichaos.load.quality import QualitySettings
from aichaos.probes.base import PROBES
from aichaos.proxy.toxics.base import TOXICS
from aichaos.spec import Spec
from aichaos.targets import TARGETS
from aichaos.validation import SpecError

FAMILIES = {"fault": FAULTS, "probe": PROBES, "target": TARGETS, "workload": WORKLOADS}
FAMILIES |= {"corruption": CORRUPTIONS, "toxic": TOXICS}


REGISTERED = {
    f"{family}:{name}": cls for family, reg in FAMILIES.items() for name, cls in reg.items()
}


@pytest.mark.parametrize("name", sorted(REGISTERED))
def test_every_registered_type_keeps_the_spec_rules(name: str) -> None:
    cls = REGISTERED[name]
    assert issubclass(cls, Spec), name
    config = cls.model_config
    assert config.get("frozen") is True, name
    assert config.get("extra") == "forbid", name
    assert config.get("allow_inf_nan") is False, name


def test_parse_words_every_problem_in_the_house_form() -> None:
    with pytest.raises(SpecError) as info:
        TOXICS.get("latency").parse({"latency": -5, "latncy": 1}, "toxic t")
    assert str(info.value) == (
        "latency must be >= 0, got -5 (toxic t); latncy is not a known field "
        "(did you mean 'latency'?); known: jitter, jitter_ms, latency, latency_ms (toxic t)"
    )
    assert [p.path for p in info.value.problems] == ["latency", "latncy"]


def test_a_corruption_refuses_an_infinite_magnitude() -> None:
    with pytest.raises(ValidationError) as info:
        make("gaussian-noise", scale=math.inf)
    assert str(info.value) == "scale must be a finite number, got inf (gaussian-noise)"


def test_quality_settings_refuse_an_infinite_tolerance() -> None:
    with pytest.raises(pydantic.ValidationError, match="finite"):
        QualitySettings(agreement_tolerance=math.inf)


def test_the_control_endpoint_refuses_an_infinite_latency() -> None:
    board = Switchboard()
    Hook("predict", board=board)
    token = "t" * 32
    server = ControlServer(board, token=token).start()
    try:
        r = httpx.post(
            f"{server.url}/faults/predict",
            content=b'{"ttl_s": 5, "latency_ms": Infinity}',
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
        armed = httpx.get(
            f"{server.url}/faults", headers={"Authorization": f"Bearer {token}"}, timeout=5
        )
    finally:
        server.close()
    assert r.status_code == 400, r.text
    assert json.loads(r.text)["error"] == "latency_ms must be a finite number, got inf (body)"
    assert armed.json()["armed"] == {}, armed.text
