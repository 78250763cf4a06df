"""Ray Data corruptions and Ray Serve faults on a real local Ray instance (2 CPUs)."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from aichaos.errors import InjectionError
from aichaos.faults.base import InjectionContext
from aichaos.integrations.pytest_plugin import run_in_thread

ray = pytest.importorskip("ray", reason="Ray is the optional extra aichaos[ray]")
pytestmark = [
    pytest.mark.slow,
    # Ray warns about its own deprecated settings and pydantic usage inside its modules
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray"),
]


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_corruptions_as_map_batches(local_ray: Any) -> None:
    import pyarrow as pa
    import ray.data

    from aichaos.data import make
    from aichaos.integrations.ray_data import RayBatchFn, corrupt_dataset

    tables = [
        pa.table(
            {
                "age": [float(i) for i in range(k * 250, (k + 1) * 250)],
                "name": [f"n{i}" for i in range(k * 250, (k + 1) * 250)],
            }
        )
        for k in range(4)
    ]
    spec = make("missing-values", fraction=0.2, columns=["age"], seed=5)
    ds = ray.data.from_arrow(tables)
    out = corrupt_dataset(ds, spec, batch_size=None).to_arrow_refs()
    got = pa.concat_tables(ray.get(out)).sort_by("name")
    again = pa.concat_tables(
        ray.get(corrupt_dataset(ds, spec, batch_size=None).to_arrow_refs())
    ).sort_by("name")
    # the same batches corrupted locally give the same cells: seeds do not depend on workers
    local = pa.concat_tables([RayBatchFn(spec)(t) for t in tables]).sort_by("name")
    assert got.equals(again) and got.equals(local)
    nulls = got["age"].null_count
    assert 100 <= nulls <= 300
    assert got["name"].null_count == 0 and got.num_rows == 1000


@pytest.fixture(scope="module")
def serve_app(local_ray: Any) -> Iterator[str]:
    from ray import serve

    from aichaos.integrations.ray_serve import ChaosHealthCheck

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    serve.start(http_options={"host": "127.0.0.1", "port": port})

    @serve.deployment(
        num_replicas=2,
        health_check_period_s=1,
        health_check_timeout_s=2,
        ray_actor_options={"num_cpus": 0},
    )
    class Model(ChaosHealthCheck):
        def __call__(self, request: Any) -> dict[str, Any]:
            return {"prediction": 1, "replica": serve.get_replica_context().replica_id.unique_id}

    serve.run(Model.bind(), name="app", route_prefix="/")
    yield f"http://127.0.0.1:{port}/"
    serve.shutdown()


def _ctx(target: Any, ttl_s: float = 30.0) -> InjectionContext:
    return InjectionContext(target=target, rng=random.Random(7), ttl_s=ttl_s)


def _wait_for(pred: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.25)
    return False


def test_kill_replica_keeps_one_alive_and_recovers(serve_app: str) -> None:
    from aichaos.integrations.ray_serve import (
        KillReplica,
        RayServeTarget,
        measure_recovery,
        replicas,
    )

    target = RayServeTarget(app="app", deployment="Model")
    before = replicas(target)
    assert len(before) == 2
    injection = KillReplica(count=2, keep_alive=1).injection(_ctx(target))
    result = measure_recovery(
        serve_app, lambda: run_in_thread(injection.apply()), rate_rps=40, settle_s=2.0, timeout_s=40
    )
    print(f"ray serve kill 1 of 2 replicas: {result}")
    killed = injection.describe()["killed"]
    assert len(killed) == 1 and killed[0] in before  # keep_alive=1 spared the other one
    assert result["recovered"] == 1.0 and result["sent"] > 50
    assert _wait_for(lambda: len(replicas(target)) == 2 and killed[0] not in replicas(target), 40)
    assert (set(before) - set(killed)) <= set(replicas(target))


def test_failing_health_check_gets_replica_replaced(serve_app: str) -> None:
    from aichaos.integrations.ray_serve import FailHealth, RayServeTarget, replicas

    target = RayServeTarget(app="app", deployment="Model")
    assert _wait_for(lambda: len(replicas(target)) == 2, 40)
    before = replicas(target)
    injection = FailHealth(count=1, keep_alive=1).injection(_ctx(target))
    run_in_thread(injection.apply())
    try:
        (failing,) = injection.describe()["replicas"]
        victim = next(n for n in before if n.endswith("#" + failing))
        assert _wait_for(lambda: victim not in replicas(target) and len(replicas(target)) == 2, 60)
        assert set(before) - {victim} <= set(replicas(target))
    finally:
        run_in_thread(injection.revert())


def test_keep_alive_refuses_to_touch_the_last_replicas(serve_app: str) -> None:
    from aichaos.integrations.ray_serve import KillReplica, RayServeTarget

    target = RayServeTarget(app="app", deployment="Model")
    with pytest.raises(InjectionError, match="keep_alive=2: none may be touched"):
        run_in_thread(KillReplica(keep_alive=2).injection(_ctx(target)).apply())
