"""pytest plugin (entry point ``pytest11: aichaos``): chaos in the tests a team already has.

Fixtures:

* ``chaos_proxy_factory(upstream, name="upstream", http=True)`` -- a chaos proxy in front
  of ``host:port``, returning a :class:`~aichaos.integrations.proxyproc.ProxyHandle`
  (``.listen``, ``.url``, ``.add_toxic(...)``, ``.remove_toxic(...)``, ``.toxic(...)``);
* ``chaos_proxy`` -- the same for the upstream given by the ``chaos_upstream`` fixture,
  which the test suite overrides (``@pytest.fixture def chaos_upstream(): return "..."``);
* ``chaos_inprocess`` -- arm :mod:`aichaos.inprocess` hooks; all disarmed after the test;
* ``chaos_corrupt(name, data, **params)`` -- a seeded corruption of a batch;
* ``chaos_experiment(path, expect=("passed",))`` -- run an experiment file; the test fails
  with the verdict and the SLO table when the verdict is not expected.

Marker ``@pytest.mark.chaos(fault_type, target=..., blast_radius=..., ttl_s=..., **params)``
runs the test's body under a registered fault (``proxy-latency``, ``process-pause``,
``file-truncate``...), applied after the fixtures are ready and reverted when the body
ends, pass or fail. ``target`` names a fixture (whose value is a proxy handle or a target)
or is a target mapping (``{"type": "process", "pid": 42}``); a proxy fault defaults to the
``chaos_proxy`` fixture. ``@pytest.mark.chaos("hook", hook="predict", rate=0.5)`` arms an
in-process hook instead. ``--chaos-seed`` fixes every random choice (default 0).
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable, Coroutine, Generator, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from aichaos.errors import AichaosError, ValidationError
from aichaos.integrations.proxyproc import ProxyHandle, ProxyProcess

__all__ = ["InprocessChaos", "run_in_thread", "slo_table"]

T = TypeVar("T")


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--chaos-seed``."""
    group = parser.getgroup("aichaos", "chaos engineering (aichaos)")
    group.addoption(
        "--chaos-seed",
        type=int,
        default=0,
        help="seed of every random choice made by aichaos fixtures and markers (default 0)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``chaos`` marker."""
    config.addinivalue_line(
        "markers",
        "chaos(fault_type, target=None, blast_radius=None, ttl_s=300, **params): run the "
        "test body under an aichaos fault (reverted afterwards)",
    )


def run_in_thread(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a fresh event loop in a worker thread.

    A fixture or hook may run while the test's own loop (pytest-asyncio) exists; a
    separate thread keeps the two loops apart.
    """
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:
            box["error"] = exc

    t = threading.Thread(target=work, name="aichaos-fault")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def chaos_seed(request: pytest.FixtureRequest) -> int:
    """The seed given with ``--chaos-seed`` (default 0)."""
    return int(request.config.getoption("--chaos-seed"))


@pytest.fixture
def chaos_proxy_factory() -> Iterator[Callable[..., ProxyHandle]]:
    """Start chaos proxies in front of upstreams: ``factory("127.0.0.1:8000") -> handle``."""
    started: list[ProxyProcess] = []

    def factory(
        upstream: str, name: str = "upstream", *, http: bool = True, seed: int | None = None
    ) -> ProxyHandle:
        if not isinstance(upstream, str) or ":" not in upstream:
            raise ValidationError(f"upstream must be 'host:port', got {upstream!r}")
        upstream = upstream.removeprefix("http://").rstrip("/")
        proc = ProxyProcess.start(
            [{"name": name, "upstream": upstream, "http": http}], seed=seed, lifetime_s=3600
        )
        started.append(proc)
        return proc.handle(name)

    yield factory
    for proc in started:
        proc.stop()


@pytest.fixture
def chaos_upstream() -> str:
    """The ``host:port`` that ``chaos_proxy`` stands in front of: override this fixture."""
    raise pytest.UsageError(
        "chaos_proxy needs an upstream: define a fixture `chaos_upstream` returning "
        "'host:port' of the service to put the proxy in front of"
    )


@pytest.fixture
def chaos_proxy(
    chaos_proxy_factory: Callable[..., ProxyHandle], chaos_upstream: str, chaos_seed: int
) -> ProxyHandle:
    """A chaos proxy in front of ``chaos_upstream``; point the client at ``.listen``."""
    return chaos_proxy_factory(chaos_upstream, seed=chaos_seed)


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


@pytest.fixture
def chaos_inprocess() -> Iterator[InprocessChaos]:
    """Arm in-process hooks (``chaos_inprocess.arm("predict", rate=0.5)``) for one test."""
    chaos = InprocessChaos()
    try:
        yield chaos
    finally:
        chaos.disarm_all()


class _Corruptor:
    """``chaos_corrupt(name, data, **params)``: seeded, reports kept in ``.reports``."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.reports: list[Any] = []

    def __call__(self, name: str, data: Any, **params: Any) -> Any:
        from aichaos.data import make

        params.setdefault("seed", self.seed)
        corrupted, report = make(name, **params).apply(data)
        self.reports.append(report)
        return corrupted


@pytest.fixture
def chaos_corrupt(chaos_seed: int) -> _Corruptor:
    """Corrupt a batch (pandas, Arrow, numpy) with a seeded corruption.

    ``chaos_corrupt("missing-values", df, fraction=0.1)`` returns the corrupted copy.
    """
    return _Corruptor(chaos_seed)


def slo_table(events: Iterable[dict[str, Any]]) -> str:
    """The last steady-state / guardrail check of each phase, as an aligned text table."""
    last: dict[str, list[dict[str, Any]]] = {}
    for ev in events:
        if ev.get("event") == "steady-state":
            last[str(ev.get("phase"))] = list(ev.get("checks", []))
        elif ev.get("event") == "guardrail":
            last["guardrail"] = list(ev.get("checks", []))
    rows = [("phase", "slo", "value", "ok")]
    for phase, checks in last.items():
        for c in checks:
            value = c.get("value")
            shown = f"{value:.4g}" if isinstance(value, float) else str(value)
            ok = "yes" if c.get("ok") else f"NO ({c.get('detail', '')})"
            rows.append((phase, str(c.get("slo")), shown, ok))
    if len(rows) == 1:
        return "(no SLO was checked)"
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join("  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3] for r in rows)


@pytest.fixture
def chaos_experiment(
    tmp_path: Path,
) -> Callable[..., Any]:
    """Run an experiment file; fail the test with the verdict and SLO table if unexpected.

    ``result = chaos_experiment("exp.yaml", expect=("passed",), seed=None)``
    """

    def run(
        path: str | Path,
        *,
        expect: Iterable[str] = ("passed",),
        seed: int | None = None,
        journal: str | Path | None = None,
    ) -> Any:
        from aichaos.engine.journal import Journal, read_journal
        from aichaos.engine.runner import Engine
        from aichaos.experiment.loader import load_experiment

        try:
            loaded = load_experiment(path)
        except AichaosError as exc:
            pytest.fail(f"experiment {path} is invalid:\n{exc}", pytrace=False)
        exp = loaded.experiment
        journal_path = Path(journal) if journal else tmp_path / f"{Path(path).stem}.jsonl"
        # a re-run of the test replaces its journal (one run per file)
        journal_obj = Journal(journal_path, redactor=loaded.redactor, overwrite=True)
        engine = Engine(exp, journal=journal_obj, seed=seed)
        result = run_in_thread(engine.run())
        expected = tuple(expect)
        if result.status not in expected:
            table = slo_table(read_journal(journal_path))
            pytest.fail(
                f"experiment {exp.title!r}: {result.status} (expected "
                f"{' or '.join(expected)}): {result.reason}\n{table}\njournal: {journal_path}",
                pytrace=False,
            )
        return result

    return run


# -- the marker --------------------------------------------------------------------------


def _resolve_target(item: pytest.Item, fault_cls: Any, spec: Any) -> Any:
    from aichaos.targets import TARGETS, Target

    funcargs: dict[str, Any] = getattr(item, "funcargs", {})
    if spec is None:
        kinds = fault_cls.target_kinds
        if not kinds:
            return None
        if "proxy" in kinds and "chaos_proxy" in funcargs:
            spec = "chaos_proxy"
        else:
            raise ValidationError(
                f"chaos marker: fault {fault_cls.type!r} needs target= (a fixture name or a "
                f"{' or '.join(kinds)} target mapping)"
            )
    if isinstance(spec, str):
        if spec not in funcargs:
            raise ValidationError(
                f"chaos marker: target={spec!r} names no fixture this test requests; "
                f"requested: {', '.join(sorted(funcargs)) or 'none'}"
            )
        spec = funcargs[spec]
    if isinstance(spec, ProxyHandle):
        return spec.target()
    if isinstance(spec, Target):
        return spec
    if isinstance(spec, dict) and "type" in spec:
        cls = TARGETS.get(spec["type"])
        return cls.model_validate({k: v for k, v in spec.items() if k != "type"})
    raise ValidationError(
        f"chaos marker: target must be a fixture name, a proxy handle, a Target or a "
        f"mapping with 'type', got {spec!r}"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    """Apply each ``chaos`` marker's fault around the test body; revert afterwards."""
    markers = list(item.iter_markers("chaos"))
    if not markers:
        return (yield)
    seed = int(item.config.getoption("--chaos-seed"))
    undo: list[Callable[[], None]] = []
    try:
        for i, marker in enumerate(reversed(markers)):  # closest to the function last
            undo.append(_apply_marker(item, marker, random.Random(f"{seed}:{item.nodeid}:{i}")))
        return (yield)
    finally:
        for revert in reversed(undo):
            revert()


def _apply_marker(item: pytest.Item, marker: pytest.Mark, rng: random.Random) -> Callable[[], None]:
    if len(marker.args) != 1 or not isinstance(marker.args[0], str):
        raise ValidationError(f"chaos marker takes one fault type name, got args {marker.args!r}")
    kind = marker.args[0]
    params = dict(marker.kwargs)
    if kind == "hook":
        hook = params.pop("hook", None)
        if not isinstance(hook, str):
            raise ValidationError("chaos marker 'hook' needs hook='<hook name>'")
        chaos = InprocessChaos()
        chaos.arm(hook, **params)
        item.user_properties.append(("chaos", f"hook {hook} {params}"))
        return chaos.disarm_all
    from aichaos.faults.base import FAULTS, BlastRadius, InjectionContext

    target_spec = params.pop("target", None)
    radius = BlastRadius.model_validate(params.pop("blast_radius", None) or {})
    ttl_s = float(params.pop("ttl_s", 300.0))
    fault_cls = FAULTS.get(kind)
    try:
        fault = fault_cls.model_validate(params)
    except ValueError as exc:
        raise ValidationError(f"chaos marker {kind!r}: {exc}") from None
    ctx = InjectionContext(
        target=_resolve_target(item, fault_cls, target_spec),
        blast_radius=radius,
        rng=rng,
        ttl_s=ttl_s,
        label=item.nodeid,
    )
    injection = fault.injection(ctx)
    run_in_thread(injection.apply())
    item.user_properties.append(("chaos", injection.describe()))

    def revert() -> None:
        run_in_thread(injection.revert())

    return revert
