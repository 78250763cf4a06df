"""``aichaos load URL --rate 500 --duration 30s``: open-loop load with live figures.

Bad input (unreachable URL, malformed body file, rate <= 0, absurd durations, non-JSON
answers when ``--json-path`` is set) prints one ``error:`` line and exits 2.
"""

from __future__ import annotations

import json
import re
import sys
import time
from typing import Any

import click

from aichaos.errors import AichaosError, ValidationError
from aichaos.load.quality import LLM_RATES
from aichaos.verdict import EXIT_BAD_INPUT

__all__ = ["load_command", "parse_duration"]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
MAX_DURATION_S = 7 * 24 * 3600.0


def parse_duration(text: str, field: str = "duration") -> float:
    """Seconds in ``"30s"``, ``"500ms"``, ``"2m"``, ``"1h"`` or a plain number of seconds.

    >>> parse_duration("1m30s")
    90.0
    """
    s = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", s):
        seconds = float(s)
    else:
        parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", s)
        if not parts or "".join(n + u for n, u in parts) != s:
            raise ValidationError(f"{field} must look like 30s, 500ms, 2m or 1h, got {text!r}")
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if not 0 < seconds <= MAX_DURATION_S:
        raise ValidationError(f"{field} must be > 0 and at most 7 days, got {text!r}")
    return seconds


def _table(title: str, m: dict[str, float]) -> Any:
    from rich.table import Table

    t = Table(title=title, show_header=False, box=None)
    rows = [
        (
            "sent / completed / missed",
            f"{m['sent']:.0f} / {m['completed']:.0f} / {m['missed']:.0f}",
        ),
        ("rate", f"{m['rate_rps']:.1f} req/s (sent {m['sent_rps']:.1f})"),
        (
            "latency p50 / p90 / p99 / max",
            "{p50_ms:.2f} / {p90_ms:.2f} / {p99_ms:.2f} / {max_ms:.2f} ms".format(**m),
        ),
        ("send lag p99", f"{m['send_lag_p99_ms']:.2f} ms"),
        ("error rate", f"{m['error_rate']:.4f}"),
    ]
    errs = [
        f"{k.removeprefix('errors_')}={v:.0f}"
        for k, v in m.items()
        if k.startswith("errors_") and v
    ]
    rows.append(("errors", ", ".join(errs) or "none"))
    if m.get("streams"):
        for name in ("ttft", "itl", "tpot"):
            if f"{name}_p50_ms" in m:
                rows.append(
                    (
                        f"{name.upper()} p50 / p99",
                        "{:.2f} / {:.2f} ms".format(m[f"{name}_p50_ms"], m[f"{name}_p99_ms"]),
                    )
                )
        rows.append(("output tokens", f"{m['output_tokens']:.0f} ({m['output_tokens_rps']:.1f}/s)"))
        rows.append(("incomplete streams", f"{m['incomplete_stream_rate']:.4f}"))
    if "goodput_rps" in m:
        rows.append(("goodput", f"{m['goodput_rps']:.1f} req/s"))
    for key in (
        "accuracy",
        "mae",
        "agreement",
        "drift_psi",
        "drift_js",
        *LLM_RATES,
        "silent_failure_rate",
    ):
        if key in m:
            rows.append((key, f"{m[key]:.4f}"))
    for k, v in rows:
        t.add_row(k, v)
    return t


async def _run(spec: Any, duration_s: float, baseline_s: float, live: Any) -> dict[str, Any]:
    import random

    from aichaos.load.preflight import preflight
    from aichaos.load.requests import parse_url
    from aichaos.load.spec import build_source

    endpoint = parse_url(spec.url)
    first = build_source(spec, endpoint, random.Random(0)).items[0]
    await preflight(
        endpoint,
        first,
        min(spec.timeout_ms / 1000.0, 10.0),
        getattr(spec.quality, "json_path", None),
        getattr(spec.quality, "api", None),
    )
    t0 = time.monotonic()

    def phase() -> str:
        return "baseline" if time.monotonic() - t0 < baseline_s else "load"

    windows: list[dict[str, float]] = []

    def on_window(w: Any, baseline: Any) -> None:
        m = w.metrics(baseline)
        windows.append(m)
        if live is not None:
            live.update(_table(f"window {w.index + 1} ({w.phase or 'load'})", m))

    if spec.processes > 1:
        from aichaos.load.multiproc import run_multiprocess

        total, _, baseline = await run_multiprocess(
            spec, duration_s=duration_s, on_window=on_window, phase=phase
        )
    else:
        from aichaos.load.spec import build_generator

        gen: Any = None
        gen = build_generator(
            spec,
            endpoint,
            seed=spec.seed or 0,
            window_s=spec.window_s,
            phase=phase,
            on_window=lambda w: on_window(w, gen.quality_baseline),
        )
        total = await gen.run(duration_s=duration_s)
        baseline = gen.quality_baseline
    total.phase = "load"
    return {
        "url": spec.url,
        "rate_rps": spec.rate_rps,
        "duration_s": duration_s,
        "processes": spec.processes,
        "total": total.metrics(baseline if not baseline.empty else None),
        "histogram": total.latency.encode(),
        "windows": windows,
    }


@click.command("load")
@click.argument("url")
@click.option("--rate", "rate", type=float, required=True, help="requests per second")
@click.option("--duration", default="30s", show_default=True, help="e.g. 30s, 2m")
@click.option("--method", default=None, help="HTTP method [default: GET, POST with a body]")
@click.option("--body", "body_file", default=None, help="JSONL file of requests")
@click.option("--data", "body", default=None, help="body template ({seq} = request number)")
@click.option("--header", "-H", "headers", multiple=True, help="'Name: value', repeatable")
@click.option("--arrival", type=click.Choice(["constant", "poisson"]), default="constant")
@click.option("--order", type=click.Choice(["cycle", "sample"]), default="cycle")
@click.option("--timeout", "timeout", default="10s", show_default=True, help="per request")
@click.option("--concurrency", type=int, default=256, show_default=True, help="max in flight")
@click.option("--processes", type=int, default=1, show_default=True, help="generator processes")
@click.option("--window", default="1s", show_default=True, help="metrics window")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json-path", default=None, help="where the prediction is, e.g. $.prediction")
@click.option(
    "--task", type=click.Choice(["classification", "regression"]), default="classification"
)
@click.option(
    "--quality",
    "quality",
    default=None,
    help='quality settings as a JSON object, e.g. \'{"task": "llm"}\' (see docs/load.md)',
)
@click.option("--llm", is_flag=True, help='judge LLM answers: --quality \'{"task": "llm"}\'')
@click.option("--baseline", "baseline", default=None, help="first part of the run used as baseline")
@click.option(
    "--goodput", default=None, help="per-request bounds, e.g. ttft_ms=800,tpot_ms=60,e2e_ms=5000"
)
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
def load_command(**kw: Any) -> None:
    """Send open-loop HTTP load to URL and report latency, errors and model quality."""
    try:
        summary = _main(**kw)
    except AichaosError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    if kw["as_json"]:
        click.echo(json.dumps(summary))


def _quality(kw: dict[str, Any]) -> dict[str, Any] | None:
    """The quality settings of ``--json-path``/``--task``, ``--llm`` or ``--quality``."""
    given = [f for f in ("json_path", "quality", "llm") if kw.get(f)]
    if len(given) > 1:
        flags = " and ".join("--" + f.replace("_", "-") for f in given)
        raise ValidationError(f"{flags}: give one way of judging answers, not several")
    if kw.get("json_path") is not None:
        return {"json_path": kw["json_path"], "task": kw["task"]}
    if kw.get("llm"):
        return {"task": "llm"}
    if kw.get("quality") is None:
        return None
    try:
        value = json.loads(kw["quality"])
    except ValueError as exc:
        raise ValidationError(
            f"--quality must be a JSON object ({exc}), got {kw['quality']!r:.60}"
        ) from None
    if not isinstance(value, dict):
        raise ValidationError(f"--quality must be a JSON object, got {kw['quality']!r:.60}")
    return value


def _bounds(text: str) -> dict[str, float]:
    """``ttft_ms=800,e2e_ms=5000`` as a dict (names and values are checked by the spec)."""
    out: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise ValidationError(
                f"--goodput must look like 'ttft_ms=800,tpot_ms=60,e2e_ms=5000', got {text!r}"
            ) from None
    return out


def _main(**kw: Any) -> dict[str, Any]:
    from aichaos.eventloop import new_event_loop
    from aichaos.load.spec import LoadSpec, freeze_gc, validated

    duration_s = parse_duration(kw["duration"])
    headers = {}
    for h in kw["headers"]:
        name, sep, value = h.partition(":")
        if not sep or not name.strip():
            raise ValidationError(f"header must look like 'Name: value', got {h!r}")
        headers[name.strip()] = value.strip()
    has_body = kw["body"] is not None or kw["body_file"] is not None
    quality = _quality(kw)
    spec = validated(
        LoadSpec,
        url=kw["url"],
        rate_rps=kw["rate"],
        method=(kw["method"] or ("POST" if has_body else "GET")).upper(),
        body=kw["body"],
        body_file=kw["body_file"],
        headers=headers,
        arrival=kw["arrival"],
        order=kw["order"],
        timeout_ms=parse_duration(kw["timeout"], "timeout") * 1000.0,
        max_concurrency=kw["concurrency"],
        processes=kw["processes"],
        window_s=parse_duration(kw["window"], "window"),
        seed=kw["seed"],
        quality=quality,
        goodput=None if kw["goodput"] is None else _bounds(kw["goodput"]),
    )
    baseline_s = parse_duration(kw["baseline"], "baseline") if kw["baseline"] else 0.0
    freeze_gc()
    loop = new_event_loop()
    try:
        if kw["as_json"]:
            return loop.run_until_complete(_run(spec, duration_s, baseline_s, None))
        from rich.console import Console
        from rich.live import Live

        console = Console(stderr=True)
        with Live(console=console, refresh_per_second=4, transient=True) as live:
            summary = loop.run_until_complete(_run(spec, duration_s, baseline_s, live))
        Console().print(_table(f"aichaos load {spec.url}: {duration_s:g} s", summary["total"]))
        return summary
    finally:
        loop.close()
