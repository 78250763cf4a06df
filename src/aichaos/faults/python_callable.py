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

import asyncio
import concurrent.futures
import functools
import importlib
import inspect
import threading
from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import Field

from aichaos.errors import InjectionError, ValidationError
from aichaos.faults.base import FAULTS, Fault, Injection, InjectionContext

__all__ = ["PythonCallable", "import_callable"]

_REF = r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$"


def import_callable(ref: str) -> Callable[..., Any]:
    """Import ``package.module:function`` and return the callable, with a clear error."""
    module_name, _, attr = ref.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValidationError(
            f"cannot import module {module_name!r} (from {ref!r}): {exc}"
        ) from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValidationError(
                f"{module_name!r} has no attribute {attr!r} (from {ref!r})"
            ) from None
    if not callable(obj):
        raise ValidationError(f"{ref!r} is not callable")
    return obj  # type: ignore[no-any-return]


async def call_maybe_async(fn: Callable[..., Any], **kwargs: Any) -> Any:
    """Call ``fn``; await it if it is async; run it in a daemon thread if it is sync.

    A daemon thread, not the loop's executor: a user callable stuck on a dependency that
    never answers is abandoned at its timeout, and the runner can still exit (the
    executor's threads are joined at interpreter exit, so one stuck call would hang it).
    """
    if inspect.iscoroutinefunction(fn):
        return await fn(**kwargs)
    result = await _in_daemon_thread(fn, kwargs)
    if inspect.isawaitable(result):
        return await result
    return result


class _DaemonExecutor(concurrent.futures.Executor):
    """One daemon thread per call: a call that never returns does not block interpreter exit."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def work() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # handed to the awaiting task
                future.set_exception(exc)

        name = f"aichaos-call-{getattr(fn, '__name__', 'callable')}"
        threading.Thread(target=work, name=name, daemon=True).start()
        return future


_DAEMON = _DaemonExecutor()


async def _in_daemon_thread(fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_DAEMON, functools.partial(fn, **kwargs))


@FAULTS.register("python-callable")
class PythonCallable(Fault):
    """Call user functions ``apply`` (on inject) and ``revert`` (on revert)."""

    radius_fields: ClassVar[frozenset[str]] = frozenset({"fraction"})

    apply: str = Field(pattern=_REF, description="module:function called to apply the fault")
    revert: str | None = Field(
        None, pattern=_REF, description="module:function called to revert it (optional)"
    )
    arguments: dict[str, Any] = Field(default_factory=dict, description="keyword arguments")

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
        takes = _parameters(fn)
        if "fraction" in takes:
            kwargs["fraction"] = self.ctx.blast_radius.fraction
        if "ramp_level" in takes:
            kwargs["ramp_level"] = self.ctx.level
        return kwargs

    def check(self) -> None:
        """Refuse a blast radius or ramp the apply callable cannot see."""
        if self.ctx.blast_radius.fraction == 1.0 and self.ctx.level is None:
            return
        if "fraction" not in _parameters(import_callable(self.fault.apply)):
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


def _parameters(fn: Callable[..., Any]) -> set[str]:
    """The keyword names ``fn`` accepts (``fraction`` and ``ramp_level`` with ``**kwargs``)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature takes only what it says
        return set()
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    if any(p.kind is p.VAR_KEYWORD for p in params):
        names |= {"fraction", "ramp_level"}
    return names
