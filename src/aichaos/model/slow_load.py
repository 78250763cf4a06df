"""``model-slow-load``: a cold start that takes ``latency_ms`` longer.

The serving layer wraps its model loader in a hook (default name ``model-load``)::

    @Hook("model-load")
    def load_model(path): return joblib.load(path)

and this fault arms that hook remotely with the delay, through the service's control
endpoint, for the step's TTL (see :mod:`aichaos.inprocess.fault`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from aichaos.faults.base import FAULTS, Fault, Injection, InjectionContext
from aichaos.inprocess.fault import InProcessTarget, RemoteHookInjection

__all__ = ["SlowModelLoad"]


@FAULTS.register("model-slow-load")
class SlowModelLoad(Fault):
    """Delay every model load of a service by ``latency_ms`` (through its loader hook)."""

    target_kinds: ClassVar[tuple[str, ...]] = ("inprocess",)

    latency_ms: float = Field(gt=0, description="added to each model load")
    hook: str = Field("model-load", min_length=1, description="name of the loader's hook")

    def injection(self, ctx: InjectionContext) -> Injection:
        """Build the injection that arms the loader hook."""
        self.require_target(ctx, InProcessTarget)
        return _SlowLoadInjection(self, ctx, [self.hook], rate=1.0, latency_ms=self.latency_ms)


class _SlowLoadInjection(RemoteHookInjection):
    def effect(self) -> dict[str, Any] | None:
        """The loads the hook delayed, of the loads it saw, as the service tallied them."""
        effect = super().effect()
        if effect is None or "touched" not in effect:
            return effect
        return {**effect, "unit": "loads slowed"}
