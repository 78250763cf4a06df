"""``python-callable``: call the user's own ``module:apply`` and ``module:revert``.

For faults aichaos has no injector for yet. Both callables may be sync or async; ``apply``
receives ``arguments`` as keyword arguments and may return a token that is passed to
``revert`` as ``token``.

A callable that declares a ``fraction`` parameter (or ``**kwargs``) also receives the
step's blast radius share (0..1), and one that declares ``ramp_level`` the step's current
ramp level (``None`` when the step is not ramped), so ``ramp: {field: fraction, ...}``
really changes what it does. A step that sets or ramps ``fraction`` on a callable that
takes no ``fraction`` is refused when the fault is applied (and by the preflight).

**Proof of injection.** Only the callable knows what it touched, so it may say: ``revert``
may return ``{"touched": N, "seen": M, "unit": "requests"}`` (``touched`` required, a
number >= 0; ``seen`` and ``unit`` optional; no other keys), read once after it ran.
Without a ``revert``, ``apply`` may return that dict instead (its return is no token
then). ``touched: 0`` proves the fault did nothing and makes a run that would have passed
``inconclusive``. A callable that returns nothing leaves its effect "not reported"
(never inconclusive, never assumed touched); a report of the wrong shape is an error
naming the key, after the revert has run.
"""

from __future__ import annotations

from collections.abc import Callable
from math import inf
from typing import Any, ClassVar

from pydantic import Field

from aichaos.callables import (
    call_maybe_async,
    import_callable,
    import_problem,
    keyword_parameters,
)
from aichaos.errors import InjectionError, did_you_mean
from aichaos.faults.base import FAULTS, Fault, Injection, InjectionContext
from aichaos.validation import show_value

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


#: the keys of a callable's effect report
EFFECT_KEYS = ("touched", "seen", "unit")


def _count(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < inf


def callable_effect(ref: str, value: Any) -> dict[str, Any] | None:
    """The effect report ``ref`` returned (None: it reported nothing); InjectionError if
    the report is not a dict of ``touched`` / ``seen`` / ``unit``."""
    if value is None:
        return None
    where = f"the effect {ref} returned"
    if not isinstance(value, dict):
        raise InjectionError(
            f"{where} must be a dict with 'touched' (and optionally 'seen', 'unit') or "
            f"nothing, got {type(value).__name__} {value!r:.60}"
        )
    for key in value:
        if key not in EFFECT_KEYS:
            hint = did_you_mean(str(key), EFFECT_KEYS)
            raise InjectionError(
                f"{key!r} is not an effect key; expected touched, seen, unit{hint} ({where})"
            )
    if "touched" not in value:
        raise InjectionError(f"touched is required, a number >= 0 ({where})")
    for key in ("touched", "seen"):
        if key in value and not _count(value[key]):
            got = show_value(value[key])
            raise InjectionError(f"{key} must be a number >= 0, got {got} ({where})")
    unit = value.get("unit", "units")
    if not isinstance(unit, str) or not unit:
        raise InjectionError(f"unit must be a non-empty string, got {show_value(unit)} ({where})")
    return {**value, "unit": unit}


class _CallableInjection(Injection):
    fault: PythonCallable

    def __init__(self, fault: PythonCallable, ctx: InjectionContext) -> None:
        super().__init__(fault, ctx)
        self.token: Any = None
        self._effect: dict[str, Any] | None = None

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
            # apply's return is no token here: a dict of effect keys is its report
            if isinstance(self.token, dict) and self.token.keys() & set(EFFECT_KEYS):
                self._effect = callable_effect(self.fault.apply, self.token)
            return
        fn = import_callable(self.fault.revert)
        kwargs = self._kwargs(fn)
        if self.token is not None:
            kwargs["token"] = self.token
        try:
            answer = await call_maybe_async(fn, **kwargs)
        except Exception as exc:
            raise InjectionError(f"{self.fault.revert} raised {type(exc).__name__}: {exc}") from exc
        self._effect = callable_effect(self.fault.revert, answer)

    def effect(self) -> dict[str, Any] | None:
        """What the user's callable reported it touched (None: it reported nothing)."""
        return self._effect
