"""The fault vocabulary: :class:`Fault` (plain data), :class:`Injection` (a live fault).

A fault never applies itself: :meth:`Fault.injection` builds an :class:`Injection`, an
async context manager whose entry applies and whose exit reverts. The engine pushes each
injection onto an ``AsyncExitStack`` so exactly what was applied is undone.

Every injection has a TTL. Faults that live outside the runner process (a paused
process, a file, a proxy toxic) describe their undo as :class:`~aichaos.faults.undo.UndoAction`
data; the engine hands those to a watchdog process that performs them if the runner stops
renewing the lease (the dead-man's switch). Faults that live inside the runner die with it.

Optional capabilities beside the tiny core (checked with ``isinstance``):

* :class:`Updatable` -- the live fault can change intensity in place (ramps).
"""

from __future__ import annotations

import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from pydantic import Field

from aichaos.errors import TargetError
from aichaos.faults.clients import ControlClients
from aichaos.registry import Registry
from aichaos.spec import Spec

if TYPE_CHECKING:  # the undo actions' models load with the first fault that has some
    from aichaos.faults.undo import UndoAction

__all__ = [
    "FAULTS",
    "BlastRadius",
    "Fault",
    "Injection",
    "InjectionContext",
    "Updatable",
    "effect_text",
]


class BlastRadius(Spec):
    """Who is hit: a fraction of requests / connections / rows, optionally narrowed."""

    fraction: float = Field(1.0, ge=0.0, le=1.0, description="share of units hit, 0..1")
    match: dict[str, str] = Field(
        default_factory=dict,
        description="fault-specific narrowing, e.g. {'path': '/v1/predict', 'method': 'POST'}",
    )


@dataclass
class InjectionContext:
    """What an injection gets from the engine: its target, blast radius, RNG and TTL.

    ``target`` is the resolved target object (see :mod:`aichaos.targets`), or ``None`` for
    faults that need none. ``rng`` is seeded from the run's seed, never the global one.
    ``clients`` holds the run's one HTTP client per control API.
    """

    target: Any = None
    blast_radius: BlastRadius = field(default_factory=BlastRadius)
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    ttl_s: float = 30.0
    clock: Callable[[], float] = time.monotonic
    label: str = ""
    #: the run's HTTP clients, one per control API (None outside the engine)
    clients: ControlClients | None = None
    #: the step's current ramp level (None when the step is not ramped)
    level: float | None = None


#: a class (``type`` names a field inside Fault)
AnyClass = type


class Fault(Spec):
    """A named, parameterised disturbance: frozen plain data with units in field names.

    Subclasses register themselves by type name::

        @FAULTS.register("process-pause")
        class ProcessPause(Fault):
            '''Pause a process with SIGSTOP; SIGCONT on revert.'''
            def injection(self, ctx): return _PauseInjection(self, ctx)
    """

    type: ClassVar[str] = ""
    #: the target kinds this fault can act on (empty: needs no target)
    target_kinds: ClassVar[tuple[str, ...]] = ()
    #: the blast radius fields this fault acts on (``fraction``, ``match``); setting or
    #: ramping any other is a validation error: it would change nothing
    radius_fields: ClassVar[frozenset[str]] = frozenset()
    #: False for a fault that cannot be undone (a kill): its step needs no ``duration_s``
    lasts: ClassVar[bool] = True

    @abstractmethod
    def injection(self, ctx: InjectionContext) -> Injection:
        """Build the live injection for this fault on ``ctx.target`` (not yet applied)."""

    @classmethod
    def target_problem(cls, name: str | None, target: Any) -> str | None:
        """Why this fault cannot act on ``target`` (named ``name``), or ``None`` if it can.

        A fault with :attr:`target_kinds` acts only on those kinds; one without acts on
        this machine and takes no target: accepting one would print "cpu-burn on
        kubernetes ..." and then burn the local CPU.
        """
        kinds = cls.target_kinds
        if target is None:
            if kinds:
                return f"fault {cls.type!r} needs a target of type {' or '.join(kinds)}"
            return None
        kind = getattr(target, "type", type(target).__name__)
        shown = f"{name!r} is {kind!r}" if name else f"the target is {kind!r}"
        if not kinds:
            return f"fault {cls.type!r} acts on this machine and takes no target, but {shown}"
        if kind not in kinds:
            return f"fault {cls.type!r} acts on {' or '.join(kinds)}, but {shown}"
        return None

    def require_target(self, ctx: InjectionContext, *classes: AnyClass) -> None:
        """Refuse (:class:`TargetError`) an injection whose target is none of ``classes``:
        the engine checked the kind at load; a direct caller (Chaos Toolkit) may not have."""
        if not isinstance(ctx.target, classes):
            kinds = " or ".join(repr(k) for k in self.target_kinds)
            raise TargetError(f"{self.type} needs a target of type {kinds}")

    def preflight(self) -> list[str]:
        """Why this fault cannot work on this host, checked before anything starts.

        Touches nothing: imports, capability and permission checks only. Default: none.
        """
        return []

    @classmethod
    def used_fields(cls) -> list[str]:
        """What a ramp can raise: numeric fields and the blast radius fields it acts on."""
        numeric = [
            name
            for name, info in cls.model_fields.items()
            if info.annotation in (int, float, int | None, float | None)
        ]
        return sorted(cls.radius_fields) + numeric

    @classmethod
    def ramp_problem(cls, field_name: str) -> str | None:
        """Why a ramp over ``field_name`` would not change what this fault does, or None."""
        if field_name in cls.used_fields():
            return None
        used = ", ".join(cls.used_fields()) or "none"
        what = "blast radius field" if field_name in BlastRadius.model_fields else "field"
        return (
            f"ramp over {what} {field_name!r}, which fault {cls.type!r} does not use: every "
            f"level would do the same; the fields it uses: {used}"
        )

    @classmethod
    def radius_problem(cls, radius: BlastRadius) -> str | None:
        """Why ``radius`` sets a field this fault ignores, or None."""
        for name in sorted(radius.model_fields_set):
            default = BlastRadius.model_fields[name].get_default(call_default_factory=True)
            if name not in cls.radius_fields and getattr(radius, name) != default:
                uses = ", ".join(sorted(cls.radius_fields)) or "none of them"
                return (
                    f"blast_radius.{name} is not used by fault {cls.type!r}, which would hit "
                    f"everything regardless; blast radius fields it uses: {uses}"
                )
        return None


class Injection(ABC):
    """A live fault on a target. ``async with`` applies it; leaving reverts it.

    Subclasses implement :meth:`apply` and :meth:`revert`; :meth:`undo_actions` says what a
    watchdog must do if the runner dies (empty when the fault dies with the runner or
    expires by itself); :meth:`renew` pushes a self-expiring remote fault's deadline.
    """

    def __init__(self, fault: Fault, ctx: InjectionContext) -> None:
        self.fault = fault
        self.ctx = ctx
        self.applied = False

    @abstractmethod
    async def apply(self) -> None:
        """Apply the fault. Must be idempotent on failure: raise, leaving nothing applied."""

    @abstractmethod
    async def revert(self) -> None:
        """Undo exactly what :meth:`apply` did."""

    def undo_actions(self) -> list[UndoAction]:
        """What a watchdog performs if the runner stops renewing (default: nothing)."""
        return []

    async def renew(self, ttl_s: float) -> None:  # noqa: B027 - optional hook
        """Push the deadline of a fault that expires on its own (default: nothing to do)."""

    def effect(self) -> dict[str, Any] | None:
        """What the fault touched so far, as journal-safe counts (None: not reported).

        The proof that a fault happened: cells changed, files rewritten, requests hit.
        A report carries ``touched`` (how many units the fault changed or hit) and
        ``unit`` (``requests``, ``cells``, ``bytes``...), and ``seen`` when it can tell
        how many passed it by; ``touched == 0`` proves the fault did nothing, which
        makes a run that would have passed ``inconclusive``. The engine reads it once,
        after :meth:`revert` (which must keep what it needs to answer).
        """
        return None

    def describe(self) -> dict[str, Any]:
        """Journal-safe description: the fault's type and parameters."""
        return {"type": self.fault.type, **self.fault.model_dump(mode="json")}

    async def __aenter__(self) -> Injection:
        await self.apply()
        self.applied = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.applied:
            self.applied = False
            await self.revert()


def effect_text(effect: dict[str, Any] | None) -> str:
    """One line for a report: ``"0 of 37 requests"``, ``"1200 cells"``, or ``"not reported"``."""
    if not effect or "touched" not in effect:
        return str(effect["error"]) if effect and "error" in effect else "not reported"
    unit = effect.get("unit", "units")
    seen = f" of {effect['seen']:g}" if isinstance(effect.get("seen"), (int, float)) else ""
    return f"{effect['touched']:g}{seen} {unit}"


@runtime_checkable
class Updatable(Protocol):
    """Optional capability: change a live fault's parameters without revert + apply."""

    async def update(self, fault: Fault) -> None:
        """Switch the live injection to ``fault``'s parameters."""


FAULTS: Registry[Fault] = Registry(
    "fault",
    "aichaos.faults",
    builtin_modules=(
        "aichaos.faults.process_pause",
        "aichaos.faults.python_callable",
        "aichaos.data.files",
        "aichaos.data.landing",
        "aichaos.data.corrupt_fault",
        "aichaos.resource.cpu",
        "aichaos.resource.memory",
        "aichaos.resource.disk",
        "aichaos.resource.exhaust",
        "aichaos.resource.kill",
        "aichaos.resource.cgroup",
        "aichaos.inprocess.fault",
        "aichaos.training.fault",
        "aichaos.model.pointer",
        "aichaos.model.corrupt",
        "aichaos.model.weight_fault",
        "aichaos.model.slow_load",
        "aichaos.proxy.fault",
        "aichaos.integrations.ray_serve",
        "aichaos.training.preemption",
        "aichaos.training.checkpoint",
    ),
)
