"""``python`` probe: call the user's ``module:function`` for measurements."""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field

from aichaos.callables import call_maybe_async, import_callable
from aichaos.errors import ProbeError
from aichaos.probes.base import PROBES, Probe, ProbeContext

__all__ = ["CallableProbe"]


@PROBES.register("python")
class CallableProbe(Probe):
    """Call ``module:function(**arguments)``; it returns a number, a bool or a dict of them."""

    call: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
    arguments: dict[str, Any] = Field(default_factory=dict)
    metrics: list[str] | None = Field(
        None,
        description="the keys the function returns ('value' for a bare number); when given, "
        "validate checks SLO metric names against them",
    )

    def metric_names(self) -> frozenset[str] | None:
        """The declared ``metrics``, or ``None`` (only a run can tell)."""
        return frozenset(self.metrics) if self.metrics is not None else None

    async def measure(self, ctx: ProbeContext) -> dict[str, float]:
        """Call the function (in a thread when sync) and coerce its answer."""
        fn = import_callable(self.call)
        result = await call_maybe_async(fn, **self.arguments)
        return _coerce(self.call, result)


def _coerce(ref: str, result: Any) -> dict[str, float]:
    if isinstance(result, (bool, int, float)):
        return {"value": float(result)}
    if isinstance(result, dict):
        out = {}
        for k, v in result.items():
            if not isinstance(k, str) or not isinstance(v, (bool, int, float)):
                raise ProbeError(f"{ref} must return numbers; {k!r} is {type(v).__name__}")
            out[k] = float(v)
        return out
    if result is None:
        return {"value": math.nan}
    raise ProbeError(
        f"{ref} must return a number or a dict of numbers, got {type(result).__name__}"
    )
