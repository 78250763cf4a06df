"""Model faults against a real scikit-learn model served by FastAPI under uvicorn."""

from __future__ import annotations

import asyncio
import os
import random
import time
from pathlib import Path

import joblib
import numpy as np
import pytest

from aichaos.errors import TargetError, ValidationError
from aichaos.faults import FAULTS
from aichaos.faults.base import InjectionContext
from aichaos.faults.swap import sha256
from aichaos.faults.undo import perform
from aichaos.model.directory_registry import DirectoryRegistry, ModelRegistryTarget
from aichaos.model.weights import parameters
from tests.model.conftest import Data, Service, quality


def _ctx(reg: DirectoryRegistry, seed: int = 0) -> InjectionContext:
    return InjectionContext(
        target=ModelRegistryTarget(path=str(reg.root)), rng=random.Random(seed), ttl_s=30
    )


def _snapshot(reg: DirectoryRegistry) -> dict[str, str]:
    """Every entry of the registry with its content hash (a symlink: its target)."""
    out = {}
    for p in sorted(reg.root.rglob("*")):
        if p.is_symlink():
            out[str(p.relative_to(reg.root))] = "->" + os.readlink(p)
        elif p.is_file():
            out[str(p.relative_to(reg.root))] = sha256(p)
    return out


async def _check(url: str, data: Data) -> dict[str, object]:
    return await asyncio.to_thread(quality, url, data)


async def test_baseline_serves_the_good_model(service: Service, data: Data) -> None:
    q = await _check(service.url, data)
    assert q["version"] == "v2" and q["accuracy"] >= 0.97  # type: ignore[operator]


@pytest.mark.parametrize(
    ("fault", "version", "max_accuracy"),
    [
        ({"type": "model-stale-version"}, "v1", 0.93),
        ({"type": "model-wrong-version", "version": "v3"}, "v3", 0.1),
    ],
)
async def test_pointer_faults_change_quality_and_revert_exactly(
    service: Service,
    registry: DirectoryRegistry,
    data: Data,
    fault: dict[str, str],
    version: str,
    max_accuracy: float,
) -> None:
    before = _snapshot(registry)
    base = await _check(service.url, data)
    spec = FAULTS.get(fault["type"]).model_validate({k: v for k, v in fault.items() if k != "type"})
    async with spec.injection(_ctx(registry)) as inj:
        q = await _check(service.url, data)
        assert q["version"] == version and q["accuracy"] < max_accuracy  # type: ignore[operator]
    after = await _check(service.url, data)
    assert after == base
    assert _snapshot(registry) == before
    effect = inj.effect()
    assert effect is not None
    assert (effect["touched"], effect["unit"], effect["live"]) == (1, "pointer moved", version)


async def test_pinning_the_live_version_proves_it_moved_nothing(
    service: Service, registry: DirectoryRegistry, data: Data
) -> None:
    fault = FAULTS.get("model-wrong-version").model_validate({"version": "v2"})  # already live
    async with fault.injection(_ctx(registry)) as inj:
        assert (await _check(service.url, data))["version"] == "v2"
    effect = inj.effect()
    assert effect is not None
    assert (effect["seen"], effect["touched"], effect["unit"]) == (1, 0, "pointer moved")


async def test_a_pointer_put_back_behind_the_fault_is_not_counted(
    registry: DirectoryRegistry,
) -> None:
    # The registry, not aichaos's intent, is the proof: a pointer someone set back to the
    # wanted version just before revert moved nothing at the end.
    fault = FAULTS.get("model-wrong-version").model_validate({"version": "v3", "poll_ms": 10_000})
    async with fault.injection(_ctx(registry)) as inj:
        registry.write_pointer("v2")
    effect = inj.effect()
    assert effect is not None and effect["touched"] == 0 and effect["live"] == "v2"


async def test_stale_version_holds_back_a_promotion_until_revert(
    service: Service, registry: DirectoryRegistry, data: Data
) -> None:
    fault = FAULTS.get("model-stale-version").model_validate({"poll_ms": 20})
    async with fault.injection(_ctx(registry)) as inj:
        registry.promote("v4")  # the pipeline deploys during the fault
        await asyncio.sleep(0.2)
        assert (await _check(service.url, data))["version"] == "v1"
    assert registry.current() == "v4"  # the pipeline's promotion wins after the fault
    effect = inj.effect()
    assert effect is not None
    assert (effect["touched"], effect["live"], effect["wanted"]) == (1, "v1", "v4")
    assert effect["promotions_held"] == 1
    assert (await _check(service.url, data))["version"] == "v4"


@pytest.mark.slow
async def test_delayed_promotion_takes_effect_after_the_delay(
    service: Service, registry: DirectoryRegistry, data: Data
) -> None:
    fault = FAULTS.get("model-delayed-promotion").model_validate({"delay_s": 1.0, "poll_ms": 20})
    async with fault.injection(_ctx(registry)) as inj:
        t0 = time.monotonic()
        registry.promote("v4")
        seen = []
        while time.monotonic() - t0 < 2.0:
            version = (await _check(service.url, data))["version"]
            seen.append((time.monotonic() - t0, version))  # when the answer arrived
            await asyncio.sleep(0.05)
    # DirectoryRegistry.promote writes into the fault's hold: no reader sees v4 before
    # the delay is over, then v4 for good.
    switch = next(t for i, (t, _) in enumerate(seen) if all(v == "v4" for _, v in seen[i:]))
    assert all(v == "v2" for t, v in seen if t < switch)
    assert 1.0 <= switch <= 1.5
    assert registry.current() == "v4"
    assert inj.effect() == {"touched": 1, "unit": "promotions held back"}


async def test_delayed_promotion_without_a_promotion_touched_nothing(
    registry: DirectoryRegistry,
) -> None:
    fault = FAULTS.get("model-delayed-promotion").model_validate({"delay_s": 1.0, "poll_ms": 20})
    async with fault.injection(_ctx(registry)) as inj:
        await asyncio.sleep(0.1)
    assert inj.effect() == {"touched": 0, "unit": "promotions held back"}


async def test_promotions_into_a_hold_are_never_glimpsed(registry: DirectoryRegistry) -> None:
    """While a pointer fault holds the registry, DirectoryRegistry.promote never moves the
    live pointer: a reader checking it every millisecond sees only the fault's version;
    the promotion is live after revert. (A pipeline that rewrites the pointer itself is
    taken back at the next poll: that one can be glimpsed for up to poll_ms.)"""
    fault = FAULTS.get("model-stale-version").model_validate({"poll_ms": 20})
    seen: set[str | None] = set()
    stop = asyncio.Event()

    async def reader() -> None:
        while not stop.is_set():
            seen.add(registry.current())
            await asyncio.sleep(0.001)

    async with fault.injection(_ctx(registry)) as inj:
        task = asyncio.create_task(reader())
        await asyncio.sleep(0.05)
        registry.promote("v3")
        await asyncio.sleep(0.1)
        registry.promote("v4")
        await asyncio.sleep(0.2)
        stop.set()
        await task
        assert inj.describe()["held"] == 2  # both promotions were noticed
    assert seen == {"v1"}
    assert registry.current() == "v4"
    assert registry.holds() == []


def test_an_orphaned_hold_does_not_swallow_promotions(registry: DirectoryRegistry) -> None:
    """A hold whose fault and watchdog both died (not refreshed for HOLD_FRESH_S) is an
    orphan: promote goes live instead of writing into it; a fresh hold takes the
    promotion."""
    from aichaos.model.directory_registry import HOLD_FRESH_S

    hold = registry.new_hold()
    registry.write_pointer("v1", where=hold)
    old = time.time() - HOLD_FRESH_S - 5
    os.utime(hold, (old, old), follow_symlinks=False)
    assert registry.holds() == []
    registry.promote("v3")
    assert registry.current() == "v3" and registry.read_pointer(hold) == "v1"
    os.utime(hold, None, follow_symlinks=False)  # refreshed: a fault is holding again
    assert registry.holds() == [hold]
    registry.promote("v4")
    assert registry.current() == "v3" and registry.read_pointer(hold) == "v4"


async def test_a_holding_fault_keeps_its_hold_fresh(registry: DirectoryRegistry) -> None:
    from aichaos.model.directory_registry import HOLD_FRESH_S

    fault = FAULTS.get("model-stale-version").model_validate({"poll_ms": 20})
    async with fault.injection(_ctx(registry)):
        (hold,) = registry.holds()
        old = time.time() - HOLD_FRESH_S - 5
        os.utime(hold, (old, old), follow_symlinks=False)
        await asyncio.sleep(0.2)  # the fault's polls refresh it
        assert registry.holds() == [hold]
    assert registry.holds() == []


async def test_a_pointer_rewritten_directly_is_taken_back(registry: DirectoryRegistry) -> None:
    """A deploy script that writes the pointer itself (not through promote) is noticed at
    the next poll, held, and goes live after revert."""
    fault = FAULTS.get("model-stale-version").model_validate({"poll_ms": 20})
    async with fault.injection(_ctx(registry)) as inj:
        registry.write_pointer("v4")  # what `ln -sfn v4 current` would do
        await asyncio.sleep(0.2)
        assert registry.current() == "v1"
        assert inj.describe()["held"] == 1
    assert registry.current() == "v4"


@pytest.mark.parametrize("mode", ["truncate", "bitflip"])
async def test_corrupt_artifact_and_exact_restore(
    service: Service, registry: DirectoryRegistry, data: Data, mode: str
) -> None:
    path = registry.root / "v2" / "model.joblib"
    original = sha256(path)
    base = await _check(service.url, data)
    params = {"mode": mode, "flip_fraction": 0.01}
    fault = FAULTS.get("model-corrupt-artifact").model_validate(params)
    async with fault.injection(_ctx(registry, seed=3)) as inj:
        served = path.read_bytes()
        assert sha256(path) != original
        if mode == "truncate":
            backup = inj.undo_actions()[0].backup  # type: ignore[union-attr]
            assert os.stat(path).st_size < os.stat(backup).st_size
        q = await _check(service.url, data)
        assert q != base  # the service fails to load it, or serves a damaged model
    assert sha256(path) == original
    assert await _check(service.url, data) == base
    # the bytes changed, counted here from the two files as a reader sees them
    good = path.read_bytes()
    n = min(len(good), len(served))
    changed = sum(a != b for a, b in zip(good[:n], served[:n], strict=True))
    changed += len(good) - len(served)
    assert inj.effect() == {"seen": len(good), "touched": changed, "unit": "bytes changed"}
    assert changed > 0


async def test_weight_noise_degrades_accuracy_and_restores_exactly(
    service: Service, registry: DirectoryRegistry, data: Data
) -> None:
    path = registry.root / "v2" / "model.joblib"
    original = sha256(path)
    base = await _check(service.url, data)
    fault = FAULTS.get("model-weights").model_validate({"fraction": 0.5, "sigma": 3.0})
    async with fault.injection(_ctx(registry, seed=1)) as inj:
        served = joblib.load(path)
        q = await _check(service.url, data)
        assert q["ok"] and q["accuracy"] < base["accuracy"] - 0.05  # type: ignore[operator]
    assert sha256(path) == original
    assert await _check(service.url, data) == base
    # the parameters changed, counted here from the served model against the original
    good = dict(parameters(joblib.load(path)))
    changed = sum(int(np.count_nonzero(a != good[k])) for k, a in parameters(served))
    total = sum(int(a.size) for a in good.values())
    effect = {"seen": total, "touched": changed, "unit": "parameters changed"}
    assert inj.effect() == effect
    assert 0.4 * total <= changed <= 0.6 * total  # fraction 0.5 of each array


async def test_weight_noise_of_zero_proves_it_changed_nothing(registry: DirectoryRegistry) -> None:
    fault = FAULTS.get("model-weights").model_validate({"fraction": 0.5, "sigma": 0.0})
    async with fault.injection(_ctx(registry, seed=1)) as inj:
        pass
    effect = inj.effect()
    assert effect is not None and effect["touched"] == 0 and effect["seen"] > 0


async def test_watchdog_undo_restores_what_a_dead_runner_left(registry: DirectoryRegistry) -> None:
    before = _snapshot(registry)
    for spec in (
        {"type": "model-corrupt-artifact", "mode": "bitflip"},
        {"type": "model-wrong-version", "version": "v3"},
        {"type": "model-weights"},
    ):
        fault = FAULTS.get(spec.pop("type")).model_validate(spec)
        inj = fault.injection(_ctx(registry))
        await inj.apply()
        assert _snapshot(registry) != before
        for action in inj.undo_actions():
            perform(action)  # exactly what the watchdog runs
        if getattr(inj, "task", None) is not None:
            inj.task.cancel()  # type: ignore[attr-defined]
        assert _snapshot(registry) == before


async def test_slow_model_load_through_the_control_endpoint(
    service: Service, registry: DirectoryRegistry, data: Data
) -> None:
    from aichaos.inprocess.fault import InProcessTarget

    target = InProcessTarget(url=service.control.url, token="model-test-token")
    fault = FAULTS.get("model-slow-load").model_validate({"latency_ms": 800})
    async with fault.injection(InjectionContext(target=target, ttl_s=30)) as idle:
        pass  # armed, but no model was loaded meanwhile
    idle_effect = idle.effect()
    assert idle_effect is not None
    assert (idle_effect["touched"], idle_effect["unit"]) == (0, "loads slowed")
    async with fault.injection(InjectionContext(target=target, ttl_s=30)) as inj:
        registry.promote("v4")  # a cold start: the new model must load
        t0 = time.perf_counter()
        assert (await _check(service.url, data))["version"] == "v4"
        assert time.perf_counter() - t0 >= 0.8
    effect = inj.effect()
    assert effect is not None
    assert (effect["seen"], effect["touched"], effect["unit"]) == (1, 1, "loads slowed")
    registry.promote("v2")
    t0 = time.perf_counter()
    await _check(service.url, data)
    assert time.perf_counter() - t0 < 0.8


@pytest.mark.parametrize(
    ("spec", "error", "needle"),
    [
        ({"type": "model-wrong-version", "version": "v9"}, ValidationError, "got 'v9'"),
        ({"type": "model-stale-version", "version": "v0"}, ValidationError, "got 'v0'"),
        ({"type": "model-corrupt-artifact", "version": "v9"}, ValidationError, "got 'v9'"),
        (
            {"type": "model-corrupt-artifact", "file": "../v3/model.joblib"},
            ValidationError,
            "inside",
        ),
        ({"type": "model-weights", "file": "missing.bin"}, ValidationError, "missing.bin"),
    ],
)
async def test_bad_input_leaves_the_registry_untouched(
    registry: DirectoryRegistry, spec: dict[str, str], error: type[Exception], needle: str
) -> None:
    before = _snapshot(registry)
    fault = FAULTS.get(spec.pop("type")).model_validate(spec)
    with pytest.raises(error, match=needle):
        await fault.injection(_ctx(registry)).apply()
    assert _snapshot(registry) == before


async def test_missing_registry_directory_is_a_target_error(tmp_path: Path) -> None:
    target = ModelRegistryTarget(path=str(tmp_path / "nope"))
    fault = FAULTS.get("model-wrong-version").model_validate({"version": "v1"})
    with pytest.raises(TargetError, match="existing directory"):
        await fault.injection(InjectionContext(target=target)).apply()


def test_oldest_version_has_nothing_stale_to_pin(registry: DirectoryRegistry) -> None:
    registry.promote("v1")
    with pytest.raises(ValidationError, match="no older version"):
        asyncio.run(FAULTS.get("model-stale-version")().injection(_ctx(registry)).apply())
    assert registry.current() == "v1"
    assert not [p for p in registry.root.iterdir() if "aichaos" in p.name]
