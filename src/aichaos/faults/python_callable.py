"""``python-callable``: call the user's own ``module:apply`` and ``module:revert``.

For faults aichaos has no injector for yet. Both callables may be sync or async; ``apply``
receives ``arguments`` as keyword arguments and may return a token that is passed to
``revert`` as ``token``.

A callable that declares a ``fraction`` parameter (or ``**kwargs``) also receives the
step's blast radius share (0..1), and one that declares ``ramp_level`` the step's current
ramp level (``None`` when the step is not ramped), so ``ramp: {field: fraction, ...}``
really changes what it does. A step that sets or ramps ``fraction`` on a callable that
takes no ``fraction`` is refused when the fault is applied (and by the preflight).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import Field

from aichaos.callables import (
    call_maybe_async,
    import_callable,
    import_problem,
    keyword_parameters,
)
from aichaos.errors import InjectionError
from aichaos.faults.base import FAULTS, Fault, Injection, InjectionContext

__all__ = ["PythonCallable"]

_REF = r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$"


@FAULTS.register("python-callable")
class PythonCallable(Fault):
    """Call user functions ``apply`` (on inject) and ``revert`` (on revert)."""

    radius_fields: ClassVar[frozenset[str]] = frozenset({"fraction"})

    apply: str = Field(pattern=_REF, description="module:function called to apply the fault")
    revert: str | None = Field(
        None, pattern=_REF, description="module:function called to revert it (optional)"
    )
    arguments: dict[str, Any] = Field(default_factory=dict, description="keyword arguments")

    def preflight(self) -> list[str]:
        """``apply`` and ``revert`` import and are callable."""
        return [p for ref in (self.apply, self.revert) if ref for p in import_problem(ref)]

    def injection(self, ctx: InjectionContext) -> Injection:
        """Build the injection that calls the user's functions."""
        return _CallableInjection(self, ctx)


class _CallableInjection(Injection):
    fault: PythonCallable

    def __init__(self, fault: PythonCallable, ctx: InjectionContext) -> None:
        super().__init__(fault, ctx)
        self.token: Any = None

    def _kwargs(self, fn: Callable[..., Any]) -> dict[str, Any]:
        """The user's arguments plus ``fraction`` and ``ramp_level`` where ``fn`` takes them."""
        kwargs = dict(self.fault.arguments)
        takes = keyword_parameters(fn)
        if "fraction" in takes:
            kwargs["fraction"] = self.ctx.blast_radius.fraction
        if "ramp_level" in takes:
            kwargs["ramp_level"] = self.ctx.level
        return kwargs

    def check(self) -> None:
        """Refuse a blast radius or ramp the apply callable cannot see."""
        if self.ctx.blast_radius.fraction == 1.0 and self.ctx.level is None:
            return
        if "fraction" not in keyword_parameters(import_callable(self.fault.apply)):
            raise InjectionError(
                f"{self.fault.apply} takes no 'fraction' argument, so the step's blast radius "
                "or ramp would not change what it does; give it a 'fraction' parameter"
            )

    async def apply(self) -> None:
        fn = import_callable(self.fault.apply)
        self.check()
        kwargs = self._kwargs(fn)
        try:
            self.token = await call_maybe_async(fn, **kwargs)
        except Exception as exc:
            raise InjectionError(f"{self.fault.apply} raised {type(exc).__name__}: {exc}") from exc

    async def revert(self) -> None:
        if self.fault.revert is None:
            return
        fn = import_callable(self.fault.revert)
        kwargs = self._kwargs(fn)
        if self.token is not None:
            kwargs["token"] = self.token
        try:
            await call_maybe_async(fn, **kwargs)
        except Exception as exc:
            raise InjectionError(f"{self.fault.revert} raised {type(exc).__name__}: {exc}") from exc
