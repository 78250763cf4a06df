"""The ``training`` fault: arm a trainer's training hooks over its control endpoint.

The trainer registers hooks (:class:`~aichaos.training.StepHook`,
:class:`~aichaos.training.TorchHook`, :class:`~aichaos.training.LoaderHook`,
:class:`~aichaos.training.CheckpointHook`) and serves the in-process control endpoint
(:class:`~aichaos.inprocess.ControlServer`); the experiment names the hooks and the fault::

    fault: {type: training, hooks: [trainer], kind: nan, values: grads, rate: 0.01}

It is the in-process machinery, not a second one: the arming carries a ``training``
spec and the step's TTL, is renewed while the step lasts, disarmed at revert, and
disarms itself when the TTL lapses if the runner dies (the watchdog also sends the
``DELETE``). Its effect is what the hooks counted: steps, batches, items or saves seen and hit.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, field_validator

from aichaos.faults.base import FAULTS, Fault, Injection, InjectionContext
from aichaos.inprocess.fault import InProcessTarget, RemoteHookInjection
from aichaos.training.spec import FAMILIES, TrainingFields

__all__ = ["TrainingFault", "TrainingInjection"]

_UNITS = {"step": "steps", "loader": "batches", "checkpoint": "saves"}


@FAULTS.register("training")
class TrainingFault(Fault, TrainingFields):
    """A numerical, data-loader or checkpoint-write fault in a running trainer's hooks."""

    target_kinds: ClassVar[tuple[str, ...]] = ("inprocess",)

    hooks: list[str] = Field(min_length=1, description="the training hooks to arm, by name")
    rate: float | None = Field(
        None, ge=0.0, le=1.0, description="share of steps / batches / saves hit (default 1)"
    )

    @field_validator("hooks")
    @classmethod
    def _named(cls, v: list[str]) -> list[str]:
        if "*" in v:
            raise ValueError("must name training hooks: '*' cannot carry a training spec")
        return v

    def injection(self, ctx: InjectionContext) -> Injection:
        """Arm the hooks on ``ctx.target``'s control endpoint with this spec."""
        self.require_target(ctx, InProcessTarget)
        spec = {**self.spec_dict(), "seed": ctx.rng.getrandbits(32)}  # the run's seed
        return TrainingInjection(self, ctx, self.hooks, self.rate, training=spec)


class TrainingInjection(RemoteHookInjection):
    """Arms training hooks; its effect counts the units hit, as the trainer's hooks saw them."""

    def effect(self) -> dict[str, Any] | None:
        """Units seen and hit (``fired``: changed by the fault), with each hook's counts."""
        if not self.effects:
            return None
        kind = self.training["kind"] if self.training else ""
        family = next((f for f, kinds in FAMILIES.items() if kind in kinds), "step")
        # a wrapped dataset counts items, not batches; a tally says so with its "unit"
        units = {str(e.get("unit", _UNITS[family])) for e in self.effects.values()}
        return {
            "hooks": self.effects,
            "seen": sum(_num(e, "calls") for e in self.effects.values()),
            "touched": sum(_num(e, "fired") for e in self.effects.values()),
            "unit": f"{' and '.join(sorted(units))} hit",
        }


def _num(tally: dict[str, Any], key: str) -> int:
    value = tally.get(key, 0)
    return int(value) if isinstance(value, (int, float)) else 0
