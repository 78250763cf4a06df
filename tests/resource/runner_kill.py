"""A runner that applies memory, disk, pause and in-process faults, leases them, renews.

Started by ``test_deadman.py``, which SIGKILLs it mid-fault. Usage:
``python runner_kill.py '{"ttl_s": 2, "dir": ..., "pid": ..., "url": ..., "token": ...}'``
"""

from __future__ import annotations

import asyncio
import json
import sys

from aichaos.engine.deadman import DeadMan
from aichaos.faults import FAULTS
from aichaos.faults.base import Injection, InjectionContext
from aichaos.inprocess.fault import InProcessTarget
from aichaos.targets import ProcessTarget


async def main(cfg: dict[str, object]) -> None:
    ttl = float(cfg["ttl_s"])  # type: ignore[arg-type]
    dm = DeadMan.start(ttl_s=ttl)
    specs: list[tuple[str, dict[str, object], object]] = [
        ("memory-pressure", {"size_mb": 64}, None),
        ("disk-fill", {"directory": cfg["dir"], "size_mb": 16}, None),
        ("process-pause", {}, ProcessTarget(pid=int(cfg["pid"]))),  # type: ignore[arg-type]
        ("inprocess", {"hooks": ["h"]}, InProcessTarget(url=cfg["url"], token=cfg["token"])),
    ]
    live: list[tuple[Injection, object]] = []
    report: dict[str, object] = {"leases": str(dm.directory)}
    for name, params, target in specs:
        inj = (
            FAULTS.get(name)
            .model_validate(params)
            .injection(InjectionContext(target=target, ttl_s=ttl))
        )
        await inj.apply()
        live.append((inj, dm.lease(name, inj.undo_actions())))
        report[name] = inj.describe()
    print(json.dumps(report), flush=True)
    while True:  # renew until killed
        await asyncio.sleep(ttl / 4)
        for inj, lease in live:
            lease.renew()  # type: ignore[attr-defined]
            await inj.renew(ttl)


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
