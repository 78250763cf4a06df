"""Call the user's own functions, named ``package.module:function`` in files.

Used by the ``python-callable`` fault, the ``python`` probe, rollbacks and the watchdog's
``PythonCall`` undo action: one importer with one error message, and one way to call a
function that may be sync or async without letting a stuck one block interpreter exit.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import importlib
import inspect
import threading
from collections.abc import Callable
from typing import Any

from aichaos.errors import ValidationError

__all__ = ["call_maybe_async", "import_callable", "import_problem", "keyword_parameters"]


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


def keyword_parameters(fn: Callable[..., Any]) -> set[str]:
    """The keyword names ``fn`` accepts (``fraction`` and ``ramp_level`` with ``**kwargs``)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature takes only what it says
        return set()
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    if any(p.kind is p.VAR_KEYWORD for p in params):
        names |= {"fraction", "ramp_level"}
    return names


def import_problem(ref: str) -> list[str]:
    """``[]`` when ``module:function`` imports, else the one reason it does not."""
    try:
        import_callable(ref)
    except Exception as exc:  # the user's module may raise anything while importing
        return [f"{ref} does not import: {exc}"]
    return []
