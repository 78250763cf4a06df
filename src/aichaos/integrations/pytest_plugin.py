"""pytest plugin (entry point ``pytest11: aichaos``): chaos in the tests a team already has.

Fixtures:

* ``chaos_proxy_factory(upstream, name="upstream", http=True, upstream_tls=None)`` -- a
  chaos proxy in front of ``host:port`` (or ``https://host[:port]``: TLS to the upstream,
  clients still speak plain HTTP to the proxy), returning a
  :class:`~aichaos.integrations.proxyproc.ProxyHandle` (``.listen``, ``.url``,
  ``.add_toxic(...)``, ``.remove_toxic(...)``, ``.toxic(...)``);
* ``chaos_proxy`` -- the same for the upstream given by the ``chaos_upstream`` fixture,
  which the test suite overrides (``@pytest.fixture def chaos_upstream(): return "..."``);
* ``chaos_inprocess`` -- arm :mod:`aichaos.inprocess` hooks; all disarmed after the test;
* ``chaos_corrupt(name, data, **params)`` -- a seeded corruption of a batch;
* ``chaos_experiment(path, expect=("passed",))`` -- run an experiment file; the test fails
  with the verdict and the SLO table when the verdict is not expected.

Marker ``@pytest.mark.chaos(fault_type, target=..., blast_radius=..., ttl_s=..., **params)``
runs the test's body under a registered fault (``proxy-latency``, ``process-pause``,
``file-truncate``...), applied after the fixtures are ready and reverted when the body
ends, pass or fail. Like a step of ``aichaos run`` the fault is leased with a watchdog
and renewed while the body runs: if pytest dies (``kill -9``, SIGTERM, ``pytest-timeout``)
the watchdog undoes it ``ttl_s`` (default 15) later. A failed test's report names the
faults that were active. ``target`` names a fixture (whose value is a proxy handle or a target)
or is a target mapping (``{"type": "process", "pid": 42}``); a proxy fault defaults to the
``chaos_proxy`` fixture. ``@pytest.mark.chaos("hook", hook="predict", rate=0.5)`` arms an
in-process hook instead. ``--chaos-seed`` fixes every random choice (default 0).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from aichaos.errors import AichaosError, ValidationError
from aichaos.integrations.proxyproc import ProxyHandle, ProxyProcess
from aichaos.integrations.pytest_marker import (
    InprocessChaos,
    pytest_runtest_call,
    pytest_runtest_makereport,
    pytest_unconfigure,
)

__all__ = [
    "InprocessChaos",
    "pytest_addoption",
    "pytest_configure",
    "pytest_runtest_call",
    "pytest_runtest_makereport",
    "pytest_unconfigure",
    "run_in_thread",
    "slo_table",
]

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
        "chaos(fault_type, target=None, blast_radius=None, ttl_s=15, **params): run the "
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


def _upstream(value: object) -> tuple[str, bool]:
    """``host:port``, ``http://host[:port]`` or ``https://host[:port]`` -> (host:port, TLS)."""
    if not isinstance(value, str):
        raise ValidationError(f"upstream must be 'host:port' or a URL, got {value!r}")
    scheme, sep, rest = value.partition("://")
    if not sep:
        scheme, rest = "", value
    elif scheme not in ("http", "https"):
        raise ValidationError(f"upstream URL must be http:// or https://, got {value!r}")
    rest = rest.rstrip("/")
    if not rest.rsplit("]", 1)[-1].partition(":")[2]:
        if not scheme:
            raise ValidationError(f"upstream must be 'host:port' or a URL, got {value!r}")
        rest += ":443" if scheme == "https" else ":80"
    return rest, scheme == "https"


@pytest.fixture
def chaos_proxy_factory() -> Iterator[Callable[..., ProxyHandle]]:
    """Start chaos proxies in front of upstreams: ``factory("127.0.0.1:8000") -> handle``."""
    started: list[ProxyProcess] = []

    def factory(
        upstream: str,
        name: str = "upstream",
        *,
        http: bool = True,
        seed: int | None = None,
        upstream_tls: bool | dict[str, Any] | None = None,
    ) -> ProxyHandle:
        address, https = _upstream(upstream)
        spec: dict[str, Any] = {"name": name, "upstream": address, "http": http}
        tls = https if upstream_tls is None else upstream_tls
        if tls:
            spec["upstream_tls"] = tls
        proc = ProxyProcess.start([spec], seed=seed, lifetime_s=3600)
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
        from aichaos.verdict import Verdict

        expected = tuple(expect)
        unknown = [e for e in expected if e not in set(Verdict)]
        if unknown:
            known = ", ".join(Verdict)
            pytest.fail(f"expect must hold verdicts ({known}), got {unknown}", pytrace=False)
        try:
            loaded = load_experiment(path)
        except AichaosError as exc:
            problems = str(exc)
        else:
            problems = ""
        if problems:  # failed outside the except: pytest would print the problems twice
            pytest.fail(f"experiment {path} is invalid:\n{problems}", pytrace=False)
        exp = loaded.experiment
        journal_path = Path(journal) if journal else tmp_path / f"{Path(path).stem}.jsonl"
        # a re-run of the test replaces its journal (one run per file)
        journal_obj = Journal(journal_path, redactor=loaded.redactor, overwrite=True)
        engine = Engine(exp, journal=journal_obj, seed=seed)
        result = run_in_thread(engine.run())
        if result.status not in expected:
            table = slo_table(read_journal(journal_path))
            pytest.fail(
                f"experiment {exp.title!r}: {result.status} (expected "
                f"{' or '.join(expected)}): {result.reason}\n{table}\njournal: {journal_path}",
                pytrace=False,
            )
        return result

    return run
