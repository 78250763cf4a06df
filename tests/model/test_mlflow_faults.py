"""Registry faults on a real sqlite-backed MLflow registry with real scikit-learn models.

The client is MLflow's own: ``models:/clf@champion`` is resolved and loaded, and its
accuracy over the bundled breast-cancer data is what a quality probe would see.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

import pytest

from aichaos.errors import TargetError, ValidationError
from aichaos.faults import FAULTS
from aichaos.faults.base import InjectionContext
from aichaos.faults.swap import sha256
from aichaos.faults.undo import UNDO_ADAPTER, PythonCall, perform
from aichaos.model.mlflow_registry import MlflowRegistryTarget, wanted_tag
from aichaos.targets import TARGETS
from tests.model.conftest import Data
from tests.model.mlflow_env import (
    ALIAS,
    MLFLOW_WARNINGS,
    MODEL,
    Registry,
    mlflow_session,
    mlreg,
    serve,
    snapshot,
)

__all__ = ["mlflow_session", "mlreg"]  # fixtures used by the tests below

pytestmark = MLFLOW_WARNINGS


def _ctx(target: Any, seed: int = 0, ttl_s: float = 30) -> InjectionContext:
    return InjectionContext(target=target, rng=random.Random(seed), ttl_s=ttl_s)


def _fault(spec: dict[str, Any]) -> Any:
    spec = dict(spec)
    return FAULTS.get(spec.pop("type")).model_validate(spec)


async def _serve(reg: Registry, data: Data) -> dict[str, Any]:
    return await asyncio.to_thread(serve, reg.uri, data)


def _alias(reg: Registry) -> str:
    return str(reg.client().get_registered_model(MODEL).aliases.get(ALIAS))


def test_target_is_registered_and_described() -> None:
    target = TARGETS.get("mlflow-registry").model_validate(
        {"tracking_uri": "http://bob:secret@127.0.0.1:5000", "model": "clf"}
    )
    assert isinstance(target, MlflowRegistryTarget)
    assert target.describe() == "mlflow-registry clf@champion at http://bob:***@127.0.0.1:5000"
    for kind in ("model-stale-version", "model-wrong-version", "model-delayed-promotion"):
        assert "mlflow-registry" in FAULTS.get(kind).target_kinds
    assert "mlflow-registry" in FAULTS.get("model-corrupt-artifact").target_kinds


async def test_baseline_serves_the_champion(mlreg: Registry, data: Data) -> None:
    q = await _serve(mlreg, data)
    assert q["version"] == "2" and q["accuracy"] >= 0.97


@pytest.mark.parametrize(
    ("spec", "version", "max_accuracy"),
    [
        ({"type": "model-stale-version"}, "1", 0.93),
        ({"type": "model-stale-version", "version": 1}, "1", 0.93),
        ({"type": "model-wrong-version", "version": "3"}, "3", 0.1),
    ],
)
async def test_pointer_faults_change_what_the_client_loads_and_revert_exactly(
    mlreg: Registry, data: Data, spec: dict[str, Any], version: str, max_accuracy: float
) -> None:
    before = snapshot(mlreg.uri, mlreg.home)
    base = await _serve(mlreg, data)
    async with _fault(spec).injection(_ctx(mlreg.target())) as inj:
        q = await _serve(mlreg, data)
        assert q["version"] == version and q["accuracy"] < max_accuracy
        tags = mlreg.client().get_registered_model(MODEL).tags
        assert tags == {wanted_tag(ALIAS): "2"}  # the pipeline's wanted version, in MLflow
        assert inj.describe()["showing"] == version
    assert await _serve(mlreg, data) == base
    assert snapshot(mlreg.uri, mlreg.home) == before


async def test_stale_version_holds_a_promotion_and_applies_it_on_revert(
    mlreg: Registry, data: Data
) -> None:
    client = mlreg.client()
    fault = _fault({"type": "model-stale-version", "poll_ms": 20})
    try:
        async with fault.injection(_ctx(mlreg.target())) as inj:
            client.set_registered_model_alias(MODEL, ALIAS, "4")  # the pipeline deploys
            for _ in range(100):  # bounded: until the watcher has seen it
                await asyncio.sleep(0.02)
                if inj.describe()["held"] == 1:
                    break
            assert (await _serve(mlreg, data))["version"] == "1"
            assert client.get_registered_model(MODEL).tags[wanted_tag(ALIAS)] == "4"
        assert _alias(mlreg) == "4"  # the pipeline's promotion wins after the fault
        assert (await _serve(mlreg, data))["version"] == "4"
        assert client.get_registered_model(MODEL).tags == {}
        # the registry's word, read before revert: alias on 1 while the pipeline wanted 4
        effect = inj.effect()
        assert effect is not None
        assert (effect["touched"], effect["live"], effect["wanted"]) == (1, "1", "4")
    finally:
        client.set_registered_model_alias(MODEL, ALIAS, "2")


@pytest.mark.slow
async def test_delayed_promotion_moves_the_alias_after_the_delay(
    mlreg: Registry, data: Data
) -> None:
    client = mlreg.client()
    fault = _fault({"type": "model-delayed-promotion", "delay_s": 1.0, "poll_ms": 20})
    try:
        async with fault.injection(_ctx(mlreg.target())):
            t0 = time.monotonic()
            client.set_registered_model_alias(MODEL, ALIAS, "4")
            seen = []
            while time.monotonic() - t0 < 2.2:
                seen.append((time.monotonic() - t0, await asyncio.to_thread(_alias, mlreg)))
                await asyncio.sleep(0.05)
            assert client.get_registered_model(MODEL).tags == {wanted_tag(ALIAS): "4"}
        switch = next(t for t, v in seen if v == "4" and t > 0.3)
        assert all(v == "2" for t, v in seen if 0.3 < t < switch)  # held back, then let go
        assert 1.0 <= switch <= 1.6, seen
        assert (await _serve(mlreg, data))["version"] == "4"
        assert client.get_registered_model(MODEL).tags == {}
    finally:
        client.set_registered_model_alias(MODEL, ALIAS, "2")


@pytest.mark.parametrize("mode", ["truncate", "bitflip"])
async def test_corrupt_artifact_breaks_the_reload_and_restores_exactly(
    mlreg: Registry, data: Data, mode: str
) -> None:
    before = snapshot(mlreg.uri, mlreg.home)
    base = await _serve(mlreg, data)
    fault = _fault({"type": "model-corrupt-artifact", "mode": mode, "flip_fraction": 0.05})
    async with fault.injection(_ctx(mlreg.target(), seed=3)) as inj:
        path = Path(inj.describe()["path"])
        assert path.name.startswith("model.") and "artifacts" in path.parts
        assert snapshot(mlreg.uri, mlreg.home)["files"] != before["files"]
        q = await _serve(mlreg, data)
        assert q != base  # the reload fails, or serves a damaged model
    assert snapshot(mlreg.uri, mlreg.home) == before
    assert await _serve(mlreg, data) == base


async def test_corrupt_a_given_version_leaves_the_champion_alone(
    mlreg: Registry, data: Data
) -> None:
    base = await _serve(mlreg, data)
    fault = _fault({"type": "model-corrupt-artifact", "version": 4, "file": "MLmodel"})
    async with fault.injection(_ctx(mlreg.target())) as inj:
        path = Path(inj.describe()["path"])
        assert path.name == "MLmodel"
        assert await _serve(mlreg, data) == base
        original = sha256(Path(inj.undo_actions()[0].backup))  # type: ignore[union-attr]
        assert sha256(path) != original
    assert sha256(path) == original


async def test_undo_actions_restore_what_a_dead_runner_left(mlreg: Registry) -> None:
    before = snapshot(mlreg.uri, mlreg.home)
    for spec in (
        {"type": "model-wrong-version", "version": "3"},
        {"type": "model-stale-version"},
        {"type": "model-corrupt-artifact", "mode": "bitflip"},
    ):
        inj = _fault(spec).injection(_ctx(mlreg.target()))
        await inj.apply()
        if getattr(inj, "task", None) is not None:
            inj.task.cancel()  # type: ignore[attr-defined]  # the runner is gone
        assert snapshot(mlreg.uri, mlreg.home) != before
        actions = inj.undo_actions()
        # what goes into a lease file and comes back in the watchdog
        actions = [UNDO_ADAPTER.validate_json(UNDO_ADAPTER.dump_json(a)) for a in actions]
        for _ in range(2):  # idempotent: a second run finds nothing to do
            for action in actions:
                perform(action)
            assert snapshot(mlreg.uri, mlreg.home) == before


async def test_python_call_undo_reports_a_failure_as_oserror(mlreg: Registry) -> None:
    bad = PythonCall(
        function="aichaos.model.mlflow_registry:release_alias",
        arguments={"tracking_uri": mlreg.uri, "model": "no-such-model", "alias": ALIAS},
    )
    with pytest.raises(OSError, match="no-such-model"):
        perform(bad)
    with pytest.raises(OSError, match="cannot import"):
        perform(PythonCall(function="aichaos.nope:f"))


@pytest.mark.parametrize(
    ("target_kw", "spec", "error", "needle"),
    [
        ({}, {"type": "model-wrong-version", "version": "9"}, ValidationError, "got '9'"),
        ({}, {"type": "model-stale-version", "version": "0"}, ValidationError, "got '0'"),
        ({}, {"type": "model-corrupt-artifact", "version": "9"}, ValidationError, "got '9'"),
        (
            {},
            {"type": "model-corrupt-artifact", "file": "../../x"},
            ValidationError,
            "inside",
        ),
        (
            {"model": "nope"},
            {"type": "model-wrong-version", "version": "1"},
            ValidationError,
            "model must name a registered model.*got 'nope'",
        ),
        (
            {"alias": "unset"},
            {"type": "model-stale-version"},
            ValidationError,
            "no live version pointer",
        ),
        (
            {"tracking_uri": "sqlite:///{home}/typo.db"},
            {"type": "model-wrong-version", "version": "1"},
            TargetError,
            "no existing sqlite database",
        ),
        (
            {"tracking_uri": "http://127.0.0.1:9", "timeout_s": 2},
            {"type": "model-wrong-version", "version": "1"},
            TargetError,
            "cannot reach MLflow server http://127.0.0.1:9",
        ),
        (
            {"tracking_uri": "http://127.0.0.1:9"},
            {"type": "model-corrupt-artifact"},
            TargetError,
            "cannot reach",
        ),
    ],
)
async def test_bad_input_is_a_clear_error_and_leaves_nothing_applied(
    mlreg: Registry,
    target_kw: dict[str, Any],
    spec: dict[str, Any],
    error: type[Exception],
    needle: str,
) -> None:
    before = snapshot(mlreg.uri, mlreg.home)
    kw = {"tracking_uri": mlreg.uri, "model": MODEL, **target_kw}
    kw["tracking_uri"] = kw["tracking_uri"].replace("{home}", str(mlreg.home))
    inj = _fault(spec).injection(_ctx(MlflowRegistryTarget(**kw)))
    t0 = time.monotonic()
    with pytest.raises(error, match=needle):
        await inj.apply()
    assert time.monotonic() - t0 < 5  # an unreachable registry fails fast, no retry storm
    assert inj.undo_actions() == []
    assert snapshot(mlreg.uri, mlreg.home) == before
    assert sorted(p.name for p in mlreg.home.iterdir()) == ["artifacts", "mlflow.db"]


def test_oldest_version_has_nothing_stale_to_pin(mlreg: Registry) -> None:
    client = mlreg.client()
    client.set_registered_model_alias(MODEL, ALIAS, "1")
    try:
        with pytest.raises(ValidationError, match="no older version"):
            asyncio.run(
                _fault({"type": "model-stale-version"}).injection(_ctx(mlreg.target())).apply()
            )
        assert client.get_registered_model(MODEL).tags == {}
    finally:
        client.set_registered_model_alias(MODEL, ALIAS, "2")


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"model": "clf"}, "tracking_uri"),
        ({"tracking_uri": "no-scheme", "model": "clf"}, "tracking_uri"),
        ({"tracking_uri": "sqlite:///x.db", "model": ""}, "model"),
        ({"tracking_uri": "sqlite:///x.db", "model": "clf", "alias": "bad alias"}, "alias"),
        ({"tracking_uri": "sqlite:///x.db", "model": "clf", "timeout_s": 0}, "timeout_s"),
    ],
)
def test_bad_target_fields_are_named(raw: dict[str, Any], needle: str) -> None:
    from pydantic import ValidationError as PydanticError

    with pytest.raises(PydanticError, match=needle):
        MlflowRegistryTarget.model_validate(raw)
