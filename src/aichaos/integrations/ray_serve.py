"""Ray Serve as a chaos target: kill replicas, fail their health checks, time recovery.

::

    targets:
      model: {type: ray-serve, app: default, deployment: Predictor}
    method:
      - fault: {type: ray-serve-kill-replica, count: 1, keep_alive: 1}
        target: model
        duration_s: 10

* ``ray-serve-kill-replica`` kills replica actors by name (``SERVE_REPLICA::app#dep#id``);
  Serve's controller starts replacements, which is the recovery to observe.
* ``ray-serve-fail-health`` makes replicas' health checks fail until revert or TTL. The
  deployment opts in by inheriting :class:`ChaosHealthCheck` (its ``check_health`` asks a
  small detached actor, the switchboard, whether this replica is told to fail).
* Both keep at least ``keep_alive`` replicas untouched.
* :func:`measure_recovery` runs the load generator around an action and reports how long
  until every request is served again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import Field

from aichaos.errors import InjectionError, TargetError, ValidationError
from aichaos.faults.base import FAULTS, Fault, Injection, InjectionContext
from aichaos.targets import TARGETS, Target

__all__ = [
    "ChaosHealthCheck",
    "FailHealth",
    "KillReplica",
    "RayServeTarget",
    "measure_recovery",
    "replicas",
]

_BOARD = "aichaos_serve_chaos"
_BOARD_NS = "aichaos"


@TARGETS.register("ray-serve")
class RayServeTarget(Target):
    """The replicas of Ray Serve deployment ``deployment`` in application ``app``."""

    app: str = Field("default", min_length=1)
    deployment: str = Field(min_length=1)
    address: str | None = Field(None, description="Ray address; default: the running one / auto")

    def describe(self) -> str:
        """One line for the plan and the journal."""
        return f"ray-serve {self.app}/{self.deployment}"


def _connect(target: RayServeTarget) -> Any:
    import ray

    if not ray.is_initialized():
        try:
            ray.init(address=target.address or "auto", log_to_driver=False)
        except Exception as exc:
            raise TargetError(
                f"cannot connect to Ray at {target.address or 'auto'}: {exc}"
            ) from exc
    return ray


def replicas(target: RayServeTarget) -> list[str]:
    """Names of the deployment's live replica actors, sorted."""
    ray = _connect(target)
    prefix = f"SERVE_REPLICA::{target.app}#{target.deployment}#"
    return sorted(
        a["name"]
        for a in ray.util.list_named_actors(all_namespaces=True)
        if a["namespace"] == "serve" and a["name"].startswith(prefix)
    )


def _pick(names: list[str], count: int, keep_alive: int, fraction: float, rng: Any) -> list[str]:
    wanted = count if fraction >= 1.0 else max(1, round(len(names) * fraction))
    allowed = max(0, len(names) - keep_alive)
    if allowed == 0:
        raise InjectionError(
            f"{len(names)} replica(s) and keep_alive={keep_alive}: none may be touched"
        )
    return sorted(rng.sample(names, min(wanted, allowed)))


class _ServeFault(Fault):
    target_kinds: ClassVar[tuple[str, ...]] = ("ray-serve",)
    radius_fields: ClassVar[frozenset[str]] = frozenset({"fraction"})

    count: int = Field(1, ge=1, description="replicas hit (blast_radius.fraction < 1 overrides)")
    keep_alive: int = Field(1, ge=0, description="replicas never touched")


@FAULTS.register("ray-serve-kill-replica")
class KillReplica(_ServeFault):
    """Kill replica actors of a Serve deployment (Serve starts replacements)."""

    def injection(self, ctx: InjectionContext) -> Injection:
        """Build the injection."""
        if not isinstance(ctx.target, RayServeTarget):
            raise TargetError("ray-serve-kill-replica needs a ray-serve target")
        return _KillInjection(self, ctx)


class _KillInjection(Injection):
    killed: list[str]

    async def apply(self) -> None:
        target: RayServeTarget = self.ctx.target
        fault = self.fault
        assert isinstance(fault, KillReplica)

        def kill() -> list[str]:
            ray = _connect(target)
            names = replicas(target)
            chosen = _pick(
                names, fault.count, fault.keep_alive, self.ctx.blast_radius.fraction, self.ctx.rng
            )
            for name in chosen:
                ray.kill(ray.get_actor(name, namespace="serve"), no_restart=True)
            return chosen

        self.killed = await asyncio.to_thread(kill)

    async def revert(self) -> None:
        """Nothing to undo: Serve's controller replaces killed replicas."""

    def describe(self) -> dict[str, Any]:
        """The fault and the replicas it killed."""
        return {**super().describe(), "killed": getattr(self, "killed", [])}


@FAULTS.register("ray-serve-fail-health")
class FailHealth(_ServeFault):
    """Make replicas' health checks fail (deployments inheriting ChaosHealthCheck)."""

    def injection(self, ctx: InjectionContext) -> Injection:
        """Build the injection."""
        if not isinstance(ctx.target, RayServeTarget):
            raise TargetError("ray-serve-fail-health needs a ray-serve target")
        return _FailHealthInjection(self, ctx)


def _board(create: bool) -> Any:
    import ray

    @ray.remote(num_cpus=0)
    class Switchboard:
        """Replica ids told to fail their health check, each until a deadline."""

        def __init__(self) -> None:
            self.until: dict[str, float] = {}

        def set(self, ids: list[str], ttl_s: float) -> None:
            for i in ids:
                self.until[i] = time.time() + ttl_s

        def clear(self, ids: list[str]) -> None:
            for i in ids:
                self.until.pop(i, None)

        def failing(self, replica_id: str) -> bool:
            return self.until.get(replica_id, 0.0) > time.time()

    if create:
        return Switchboard.options(  # type: ignore[attr-defined]
            name=_BOARD, namespace=_BOARD_NS, lifetime="detached", get_if_exists=True
        ).remote()
    return ray.get_actor(_BOARD, namespace=_BOARD_NS)


class _FailHealthInjection(Injection):
    ids: list[str]

    async def apply(self) -> None:
        target: RayServeTarget = self.ctx.target
        fault = self.fault
        assert isinstance(fault, FailHealth)

        def arm() -> list[str]:
            ray = _connect(target)
            names = _pick(
                replicas(target),
                fault.count,
                fault.keep_alive,
                self.ctx.blast_radius.fraction,
                self.ctx.rng,
            )
            ids = [n.rsplit("#", 1)[1] for n in names]
            ray.get(_board(create=True).set.remote(ids, self.ctx.ttl_s))
            return ids

        self.ids = await asyncio.to_thread(arm)

    async def renew(self, ttl_s: float) -> None:
        """Push the deadline: unrenewed, the replicas pass their checks again at TTL."""
        await asyncio.to_thread(
            lambda: _connect(self.ctx.target).get(_board(create=False).set.remote(self.ids, ttl_s))
        )

    async def revert(self) -> None:
        """The replicas pass their health checks again."""
        await asyncio.to_thread(
            lambda: _connect(self.ctx.target).get(_board(create=False).clear.remote(self.ids))
        )

    def describe(self) -> dict[str, Any]:
        """The fault and the replica ids told to fail."""
        return {**super().describe(), "replicas": getattr(self, "ids", [])}


class ChaosHealthCheck:
    """Mixin for a Serve deployment: its health check fails while aichaos says so.

    ``@serve.deployment class Predictor(ChaosHealthCheck): ...`` -- if the class has its
    own ``check_health``, call ``super().check_health()`` from it.
    """

    def check_health(self) -> None:
        """Raise while this replica is in the switchboard (no switchboard: healthy)."""
        import ray
        from ray import serve

        replica_id = serve.get_replica_context().replica_id.unique_id
        try:
            board = ray.get_actor(_BOARD, namespace=_BOARD_NS)
        except ValueError:
            return
        if ray.get(board.failing.remote(replica_id), timeout=5):
            raise RuntimeError(f"aichaos: health check of replica {replica_id} made to fail")


def measure_recovery(
    url: str,
    action: Callable[[], Any],
    *,
    rate_rps: float = 50.0,
    window_s: float = 0.1,
    before_s: float = 1.0,
    settle_s: float = 2.0,
    timeout_s: float = 60.0,
    request_timeout_ms: float = 2000.0,
) -> dict[str, float]:
    """Load ``url``, call ``action`` after ``before_s``; return how long until every request
    is served again (``recovery_s``: from the action to the end of the last window with
    an error or a missed request), once ``settle_s`` of clean windows followed it."""
    from aichaos.load.spec import LoadSpec, run_load, validated

    if not 0 < timeout_s <= 3600:
        raise ValidationError(f"timeout_s must be in (0, 3600], got {timeout_s}")
    spec = validated(
        LoadSpec, url=url, rate_rps=rate_rps, window_s=window_s, timeout_ms=request_timeout_ms
    )
    windows: list[tuple[float, float, float]] = []  # (end time, bad, sent)
    out: dict[str, float] = {}

    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        t_start = loop.time()

        def on_window(w: Any) -> None:
            m = w.metrics(None)
            windows.append(
                (t_start + (w.index + 1) * window_s, m["errors"] + m["missed"], m["sent"])
            )

        task = asyncio.create_task(run_load(spec, stop=stop, on_window=on_window))
        await asyncio.sleep(before_s)
        t_action = loop.time()
        await asyncio.to_thread(action)
        out["action_s"] = loop.time() - t_action
        deadline = t_action + timeout_s
        settled = False
        while not settled and loop.time() < deadline:
            await asyncio.sleep(window_s)
            bad = [end for end, b, _ in windows if b > 0 and end > t_action]
            last_bad = max(bad, default=t_action)
            # settled: the windows already closed show settle_s without a failure
            settled = bool(windows) and windows[-1][0] - last_bad >= settle_s
        stop.set()
        await task
        bad_after = [(end, b) for end, b, _ in windows if b > 0 and end > t_action]
        out["recovery_s"] = max((end for end, _ in bad_after), default=t_action) - t_action
        out["failed_requests"] = sum(b for _, b in bad_after)
        out["failed_windows"] = float(len(bad_after))
        out["sent"] = sum(s for _, _, s in windows)
        out["recovered"] = 1.0 if settled else 0.0

    asyncio.run(go())
    return out
