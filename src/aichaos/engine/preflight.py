"""The preflight: what can be known to fail before anything starts, checked up front.

It runs in ``aichaos run --dry-run`` and before the baseline of every run, and touches
nothing: python callables (faults, probes, rollbacks) import; each fault says whether it
can work on this host (``cgroup-limit`` on a cgroup v1 host cannot); a python fault that
cannot see its step's blast radius or ramp is named; targets answer (an HTTP target
answers any status; a proxy target's control API answers ``/version`` with 2xx, so a
refused token is found here, not at the first apply). A run asks a proxy API through the
run's one client for it, the connection its faults then use. Process
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
    from aichaos.proxyapi import ProxyApi

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
    target's API is asked through that client, so the run still opens one connection
    to it; ``targets=False`` skips asking the targets to answer (a run in virtual time).
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
    if exp.workload is not None:
        problems += [f"workload {exp.workload.name!r}: {p}" for p in exp.workload.preflight()]
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
    #: proxy targets: their control API must answer 2xx (a 401 is a refused token)
    proxies: list[str] = []
    problems: list[str] = []
    for name, target in exp.targets.items():
        t: Any = target
        if t.type == "http":
            urls[name] = (str(t.url), dict(getattr(t, "headers", {})))
        elif t.type == "proxy":
            try:
                api: ProxyApi = t.api()
            except TargetError as exc:
                problems.append(f"targets.{name}: {exc}")
                continue
            urls[name] = (api.url("version"), api.headers())
            proxies.append(name)
    if not urls:
        return problems
    from aichaos.load.client import Pool

    # plain HTTP over the raw pool: a run that needs no httpx does not import it
    pool = Pool()
    via_pool = [n for n in urls if control is None or n not in proxies]
    needs_httpx = any(not urls[n][0].startswith("http://") for n in via_pool)
    own = client is None and needs_httpx
    if own:
        from aichaos.httpclient import async_client

        client = async_client()

    async def proxies_in_turn() -> list[str | None]:
        # A run asks each proxy API through the run's one client for it, one request at a
        # time (two in flight on one client open two connections): the connection the
        # preflight opens is the one the faults then apply, renew and revert through.
        assert control is not None
        out = []
        for n in proxies:
            url, headers = urls[n]
            api = control.client(url)  # the client is per origin: /version shares it
            out.append(await _answers(pool, api, url, headers, need_2xx=True, plain=False))
        return out

    try:
        answers, in_turn = await asyncio.gather(
            asyncio.gather(
                *(
                    _answers(pool, client, *urls[n], need_2xx=n in proxies, plain=True)
                    for n in via_pool
                )
            ),
            proxies_in_turn() if control is not None else asyncio.sleep(0, []),
        )
    finally:
        pool.close()
        if own and client is not None:
            await client.aclose()
    why = dict(zip(via_pool, answers, strict=True))
    if control is not None:
        why.update(zip(proxies, in_turn, strict=True))
    return problems + [
        f"targets.{name}: {urls[name][0]} {why[name]}" for name in urls if why[name] is not None
    ]


async def _answers(
    pool: Pool,
    http: httpx.AsyncClient | None,
    url: str,
    headers: dict[str, str],
    *,
    need_2xx: bool,
    plain: bool,
) -> str | None:
    """Why ``url`` does not answer as it must, or None (``plain``: http:// over ``pool``)."""
    try:
        async with asyncio.timeout(_ANSWER_S):
            if plain and url.startswith("http://"):
                status = await _plain(pool, url, headers)
            else:
                assert http is not None
                status = await _httpx(http, url, headers)
    except TimeoutError:
        return f"does not answer: no answer within {_ANSWER_S:g}s"
    except _NoAnswer as exc:
        return f"does not answer: {exc}"
    except (OSError, ValidationError) as exc:
        return f"does not answer: {type(exc).__name__}" + (f": {exc}" if str(exc) else "")
    if need_2xx and status in (401, 403):
        return f"refused the run's token (HTTP {status})"
    if need_2xx and not 200 <= status < 300:
        return f"answered HTTP {status}, expected 2xx"
    return None


async def _plain(pool: Pool, url: str, headers: dict[str, str]) -> int:
    from aichaos.load.requests import build_request, parse_url

    ep = parse_url(url)
    raw = build_request(ep, "GET", ep.path, None, headers)
    status, _body = await pool.request(ep.host, ep.port, raw)
    return status


async def _httpx(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> int:
    import httpx

    try:
        return (await http.get(url, headers=headers, timeout=_ANSWER_S)).status_code
    except httpx.HTTPError as exc:
        raise _NoAnswer(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from exc


class _NoAnswer(Exception):
    """httpx's error, as the problem line shows it."""
