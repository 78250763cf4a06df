"""A runner that applies one MLflow registry fault, leases its undo, and renews it.

Started by ``test_mlflow_server.py``, which SIGKILLs it mid-fault. Usage:
``python mlflow_runner.py '{"ttl_s": 2, "target": {...}, "fault": {...}}'``
"""

from __future__ import annotations

import asyncio
import json
import sys
import warnings

from aichaos.engine.deadman import DeadMan
from aichaos.faults import FAULTS
from aichaos.faults.base import InjectionContext
from aichaos.model.mlflow_registry import MlflowRegistryTarget


async def main(cfg: dict[str, object]) -> None:
    ttl = float(cfg["ttl_s"])  # type: ignore[arg-type]
    dm = DeadMan.start(ttl_s=ttl)
    spec = dict(cfg["fault"])  # type: ignore[call-overload]
    fault = FAULTS.get(spec.pop("type")).model_validate(spec)
    target = MlflowRegistryTarget.model_validate(cfg["target"])
    inj = fault.injection(InjectionContext(target=target, ttl_s=ttl))
    await inj.apply()
    lease = dm.lease(fault.type, inj.undo_actions())
    print(json.dumps({"leases": str(dm.directory), "fault": inj.describe()}), flush=True)
    while True:  # renew until killed
        await asyncio.sleep(ttl / 4)
        lease.renew()


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    asyncio.run(main(json.loads(sys.argv[1])))
