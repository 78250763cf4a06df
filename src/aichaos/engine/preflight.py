"""The preflight: what can be known to fail before anything starts, checked up front.

It runs in ``aichaos run --dry-run`` and before the baseline of every run, and touches
nothing: python callables (faults, probes, rollbacks) import; each fault says whether it
can work on this host (``cgroup-limit`` on a cgroup v1 host cannot); a python fault that
cannot see its step's blast radius or ramp is named; targets answer (an HTTP target
answers any status; a proxy target's control API answers ``/version``). Process
``match`` patterns are resolved by the dry run's pid listing.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aichaos.callables import import_callable, import_problem, keyword_parameters
from aichaos.errors import TargetError, ValidationError
from aichaos.experiment.model import Experiment, PythonRollback
from aichaos.faults.python_callable import PythonCallable

if TYPE_CHECKING:
    import httpx

    from aichaos.faults.clients import ControlClients
    from aichaos.load.client import Pool

__all__ = ["preflight"]

#: how long a target has to answer the preflight's one request
_ANSWER_S = 3.0


async def preflight(
    exp: Experiment,
    client: httpx.AsyncClient | None = None,
    *,
    control: ControlClients | None = None,
    targets: bool = True,
) -> list[str]:
    """Every problem found, each naming where it is; ``[]`` when the run can start.

    ``control`` is given by a run that holds one client per control API: a proxy
    target's API is then left to the first apply (asking it here opened a second
    connection to it), its token variable is still checked; ``targets=False`` skips
    asking the targets to answer (a run in virtual time).
    """
    problems: list[str] = []
    for i, step in enumerate(exp.method):
        where = f"method[{i}] ({step.label})"
        problems += [f"{where}: {p}" for p in step.fault.preflight()]
        fault = step.fault
        if isinstance(fault, PythonCallable) and not import_problem(fault.apply):
            ramped = step.ramp is not None and step.ramp.field == "fraction"
            takes = keyword_parameters(import_callable(fault.apply))
            if (ramped or step.blast_radius.fraction != 1.0) and "fraction" not in takes:
                problems.append(
                    f"{where}: {fault.apply} takes no 'fraction' argument, so the step's "
                    "blast radius or ramp would not change what it does"
                )
    for name, probe in exp.probes.items():
        call = getattr(probe, "call", None)
        if probe.type == "python" and isinstance(call, str):
            problems += [f"probes.{name}: {p}" for p in import_problem(call)]
    for i, rb in enumerate(exp.rollbacks):
        if isinstance(rb, PythonRollback):
            problems += [f"rollbacks[{i}]: {p}" for p in import_problem(rb.call)]
    if targets:
        problems += await _targets(exp, client, control)
    return problems


async def _targets(
    exp: Experiment, client: httpx.AsyncClient | None, control: ControlClients | None
) -> list[str]:
    urls: dict[str, tuple[str, dict[str, str]]] = {}
    problems: list[str] = []
    for name, target in exp.targets.items():
        t: Any = target
        if t.type == "http":
            urls[name] = (str(t.url), dict(getattr(t, "headers", {})))
        elif t.type == "proxy":
            try:
                headers: Any = t.headers()
            except TargetError as exc:
                problems.append(f"targets.{name}: {exc}")
                continue
            if control is None:
                urls[name] = (str(t.api_url).rstrip("/") + "/version", dict(headers))
    if not urls:
        return problems
    from aichaos.load.client import Pool

    # plain HTTP over the raw pool: a run that needs no httpx does not import it
    pool = Pool()
    needs_httpx = any(not url.startswith("http://") for url, _ in urls.values())
    own = client is None and needs_httpx
    if own:
        from aichaos.httpclient import async_client

        client = async_client()
    try:
        answers = await asyncio.gather(
            *(_answers(pool, client, url, headers) for url, headers in urls.values())
        )
    finally:
        pool.close()
        if own and client is not None:
            await client.aclose()
    return problems + [
        f"targets.{name}: {urls[name][0]} does not answer: {why}"
        for name, why in zip(urls, answers, strict=True)
        if why is not None
    ]


async def _answers(
    pool: Pool, http: httpx.AsyncClient | None, url: str, headers: dict[str, str]
) -> str | None:
    try:
        async with asyncio.timeout(_ANSWER_S):
            if url.startswith("http://"):
                await _plain(pool, url, headers)
            else:
                assert http is not None
                await _httpx(http, url, headers)
    except TimeoutError:
        return f"no answer within {_ANSWER_S:g}s"
    except _NoAnswer as exc:
        return str(exc)
    except (OSError, ValidationError) as exc:
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return None


async def _plain(pool: Pool, url: str, headers: dict[str, str]) -> None:
    from aichaos.load.requests import build_request, parse_url

    ep = parse_url(url)
    await pool.request(ep.host, ep.port, build_request(ep, "GET", ep.path, None, headers))


async def _httpx(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> None:
    import httpx

    try:
        await http.get(url, headers=headers, timeout=_ANSWER_S)
    except httpx.HTTPError as exc:
        raise _NoAnswer(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from exc


class _NoAnswer(Exception):
    """httpx's error, as the problem line shows it."""
