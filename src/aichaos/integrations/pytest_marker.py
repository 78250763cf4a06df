"""The ``chaos`` marker of the pytest plugin: a fault around a test body, held like a run's.

``@pytest.mark.chaos(fault_type, target=..., blast_radius=..., ttl_s=..., **params)``
applies a registered fault once the fixtures are ready and reverts it when the body ends.
The fault is held by :class:`~aichaos.engine.live.LiveFaults`: leased with a watchdog and
renewed while the body runs, so if pytest dies (``kill -9``, SIGTERM, ``pytest-timeout``)
the watchdog undoes it ``ttl_s`` later, and a long test does not outlive its proxy toxic.
A mistake in a marker fails the test with one line naming the marker, field and value.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import pytest

from aichaos.errors import AichaosError
from aichaos.integrations.proxyproc import ProxyHandle

if TYPE_CHECKING:
    # imported when first used: the plugin loads before pytester snapshots sys.modules, and
    # a registry imported then would see its built-ins registered twice by inner runs
    from aichaos.engine.live import LiveFaults

__all__ = [
    "InprocessChaos",
    "pytest_runtest_call",
    "pytest_runtest_makereport",
    "pytest_unconfigure",
]


class InprocessChaos:
    """Arms :mod:`aichaos.inprocess` hooks for one test and disarms them afterwards."""

    def __init__(self, board: Any = None) -> None:
        from aichaos.inprocess.board import BOARD

        self.board = BOARD if board is None else board
        self.armed: set[str] = set()

    def arm(
        self,
        name: str,
        *,
        ttl_s: float | None = 300.0,
        rate: float | None = None,
        latency_ms: float | None = None,
    ) -> None:
        """Arm hook ``name`` (``"*"``: every hook), with optional rate / latency overrides."""
        self.board.arm(name, ttl_s=ttl_s, rate=rate, latency_ms=latency_ms)
        self.armed.add(name)

    def disarm(self, name: str) -> None:
        """Disarm hook ``name``."""
        self.board.disarm(name)
        self.armed.discard(name)

    def disarm_all(self) -> None:
        """Disarm every hook this object armed."""
        for name in sorted(self.armed):
            self.board.disarm(name)
        self.armed.clear()


_MARKER_OPTIONS = ("target", "blast_radius", "ttl_s")
_HOOK_OPTIONS = ("ttl_s", "rate", "latency_ms")
_DEFAULT_TTL_S = 15.0
_ACTIVE = pytest.StashKey[list[str]]()
_LIVE = pytest.StashKey["LiveFaults"]()


def _faults(config: pytest.Config) -> LiveFaults:
    """The live faults of this session (leased, renewed, watched) -- made on first use."""
    live = config.stash.get(_LIVE, None)
    if live is None:
        from aichaos.engine.live import LiveFaults

        live = config.stash[_LIVE] = LiveFaults()
    return live


def pytest_unconfigure(config: pytest.Config) -> None:
    """Revert whatever a marker still holds and let the watchdog go."""
    live = config.stash.get(_LIVE, None)
    if live is not None:
        live.close()
        del config.stash[_LIVE]


class _MarkerError(Exception):
    """A mistake in a ``chaos`` marker: reported as one line, without a traceback."""


def _resolve_target(item: pytest.Item, fault_cls: Any, spec: Any, where: str) -> Any:
    from aichaos.targets import TARGETS, Target

    funcargs: dict[str, Any] = getattr(item, "funcargs", {})
    if spec is None:
        kinds = fault_cls.target_kinds
        if not kinds:
            return None
        if "proxy" in kinds and "chaos_proxy" in funcargs:
            spec = "chaos_proxy"
        else:
            raise _MarkerError(
                f"{where}: target is required: a fixture name or a "
                f"{' or '.join(kinds)} target mapping, got none"
            )
    if isinstance(spec, str):
        if spec not in funcargs:
            raise _MarkerError(
                f"{where}: target={spec!r} names no fixture this test requests; "
                f"requested: {', '.join(sorted(funcargs)) or 'none'}"
            )
        spec = funcargs[spec]
    if isinstance(spec, ProxyHandle):
        return spec.target()
    if isinstance(spec, Target):
        return spec
    if isinstance(spec, dict) and "type" in spec:
        try:
            cls = TARGETS.get(spec["type"])
        except AichaosError as exc:
            raise _MarkerError(f"{where}: target.type: {exc}") from None
        return _validated(cls, {k: v for k, v in spec.items() if k != "type"}, where, "target")
    raise _MarkerError(
        f"{where}: target must be a fixture name, a proxy handle, a Target or a "
        f"mapping with 'type', got {spec!r}"
    )


def _validated(cls: Any, data: Any, where: str, field: str = "") -> Any:
    import pydantic

    from aichaos.experiment.loader import explain

    try:
        return cls.model_validate(data)
    except pydantic.ValidationError as exc:
        raise _MarkerError(f"{where}: " + "; ".join(explain(exc, field))) from None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    """Apply each ``chaos`` marker's fault around the test body; revert afterwards.

    A fault is leased with a watchdog and renewed while the body runs, like a step of
    ``aichaos run``: if pytest dies (``kill -9``, SIGTERM, ``pytest-timeout``) the fault is
    undone ``ttl_s`` later. A mistake in a marker fails the test with one line.
    """
    markers = list(item.iter_markers("chaos"))
    if not markers:
        return (yield)
    seed = int(item.config.getoption("--chaos-seed"))
    undo: list[Callable[[], None]] = []
    active = item.stash.setdefault(_ACTIVE, [])
    try:
        for i, marker in enumerate(reversed(markers)):  # closest to the function last
            rng = random.Random(f"{seed}:{item.nodeid}:{i}")
            problem = None
            try:
                undo.append(_apply_marker(item, marker, rng, i, active))
            except (_MarkerError, AichaosError) as exc:
                problem = str(exc)
            if problem is not None:  # failed outside the except: pytest shows no chain
                pytest.fail(problem, pytrace=False)
        return (yield)
    finally:
        errors = []
        for revert in reversed(undo):
            try:
                revert()
            except Exception as exc:  # every fault gets its revert; report them all
                errors.append(f"{type(exc).__name__}: {exc}")
        if errors:
            pytest.fail("chaos marker: revert failed: " + "; ".join(errors), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test's report names the chaos faults that were active during the body."""
    report = yield
    active = item.stash.get(_ACTIVE, [])
    if report.when == "call" and report.failed and active:
        text = "\n".join(f"  - {line}" for line in active)
        report.sections.append(("aichaos: faults active during the test", text))
    return report


def _apply_marker(
    item: pytest.Item, marker: pytest.Mark, rng: random.Random, index: int, active: list[str]
) -> Callable[[], None]:
    if len(marker.args) != 1 or not isinstance(marker.args[0], str):
        raise _MarkerError(
            "chaos marker takes one fault type name, e.g. "
            f"@pytest.mark.chaos('proxy-latency', latency_ms=200); got args {marker.args!r}"
        )
    kind = marker.args[0]
    where = f"chaos marker {kind!r}"
    params = dict(marker.kwargs)
    ttl_s = params.pop("ttl_s", _DEFAULT_TTL_S)
    if isinstance(ttl_s, bool) or not isinstance(ttl_s, int | float) or not ttl_s > 0:
        raise _MarkerError(f"{where}: ttl_s must be a number of seconds > 0, got {ttl_s!r}")
    if kind == "hook":
        return _arm_hook(item, params, float(ttl_s), where, active)
    from aichaos.faults.base import FAULTS, BlastRadius, InjectionContext

    try:
        fault_cls = FAULTS.get(kind)
    except AichaosError as exc:
        raise _MarkerError(f"chaos marker: {exc}") from None
    target_spec = params.pop("target", None)
    radius = _validated(BlastRadius, params.pop("blast_radius", None) or {}, where, "blast_radius")
    fault = _validated(fault_cls, params, where)
    target = _resolve_target(item, fault_cls, target_spec, where)
    problem = fault_cls.target_problem(
        target_spec if isinstance(target_spec, str) else None, target
    )
    if problem:
        raise _MarkerError(f"{where}: target: {problem}")
    ctx = InjectionContext(
        target=target, blast_radius=radius, rng=rng, ttl_s=float(ttl_s), label=item.nodeid
    )
    injection = fault.injection(ctx)
    name = f"{item.nodeid}#{index}"
    live = _faults(item.config)
    live.hold(name, injection, float(ttl_s))
    item.user_properties.append(("chaos", injection.describe()))
    shown = ", ".join(f"{k}={v!r}" for k, v in fault.model_dump(exclude_unset=True).items())
    on = f" on {target.describe()}" if target is not None else ""
    active.append(f"{kind}({shown}){on}, ttl_s={ttl_s:g}")

    def revert() -> None:
        live.release(name)

    return revert


def _arm_hook(
    item: pytest.Item, params: dict[str, Any], ttl_s: float, where: str, active: list[str]
) -> Callable[[], None]:
    hook = params.pop("hook", None)
    if not isinstance(hook, str):
        raise _MarkerError(f"{where}: hook is required: hook='<hook name>', got {hook!r}")
    unknown = sorted(set(params) - set(_HOOK_OPTIONS))
    if unknown:
        raise _MarkerError(
            f"{where}: {unknown[0]} is not a known field; known: hook, " + ", ".join(_HOOK_OPTIONS)
        )
    chaos = InprocessChaos()
    try:
        chaos.arm(hook, ttl_s=ttl_s, **params)
    except (ValueError, AichaosError) as exc:
        raise _MarkerError(f"{where}: {exc}") from None
    item.user_properties.append(("chaos", f"hook {hook} {params}"))
    active.append(f"hook {hook} {params}".rstrip(" {}"))
    return chaos.disarm_all
