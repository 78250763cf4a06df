"""Plots of a run as inline SVG (matplotlib, imported only when a report is rendered).

One figure per run: latency percentiles, error rate, throughput and quality over time,
each panel with the fault windows shaded and labelled, guardrail breaches and aborts
marked, steady-state breaks ticked. Ramped steps get a second figure: each SLO's value
at each level, the breaking point marked. Figures use matplotlib's object API (no
pyplot global state) and a per-figure hash salt so ids of several inline SVGs never clash.
"""

from __future__ import annotations

import io
import re
from typing import Any

from aichaos.report.model import RunReport

__all__ = ["PANELS", "breaking_point_svg", "panels_for", "timeline_svg"]

#: panel title -> pattern of the metric keys it shows
PANELS: dict[str, re.Pattern[str]] = {
    "latency (ms)": re.compile(r"(?<!lag_)(p\d+(?:\.\d+)?_ms|latency_ms|max_ms)$"),
    "error rate": re.compile(r"(\.error_rate|\.error)$"),
    "throughput (req/s)": re.compile(r"\.(rate_rps|sent_rps|throughput_rps)$"),
    "quality": re.compile(
        r"\.(accuracy|agreement|silent_failure_rate|score|drift_js|f1|precision|recall)$"
    ),
    "probe values": re.compile(r"\.value$"),
}
_MAX_LINES = 6
_FAULT_COLOURS = ("#e4572e", "#f3a712", "#7b2cbf", "#17bebb", "#a8c256", "#c84c09")


def panels_for(run: RunReport) -> dict[str, list[str]]:
    """Which series go in which panel (panels without data are left out)."""
    out: dict[str, list[str]] = {}
    for title, pattern in PANELS.items():
        keys = sorted(k for k in run.series if pattern.search(k))
        if keys:
            out[title] = keys[:_MAX_LINES]
    return out


_ID = re.compile(r'(\bid="|url\(#|xlink:href="#)([^")]+)')


def _svg(fig: Any, salt: str) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    # inline: drop the XML prolog and doctype, keep the <svg> element; several SVGs share
    # one document, so every id (and every reference to one) gets the figure's prefix
    text = text[text.index("<svg") :]
    return _ID.sub(lambda m: f"{m.group(1)}{salt}-{m.group(2)}", text)


def _rc(salt: str) -> Any:
    return {"svg.fonttype": "none", "svg.hashsalt": salt, "font.size": 9}


def timeline_svg(run: RunReport, salt: str) -> str | None:
    """The run's metrics over time as an SVG element, or ``None`` with nothing to plot."""
    panels = panels_for(run)
    if not panels:
        return None
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_rc(salt)):
        fig = Figure(figsize=(9.5, 1.9 * len(panels) + 0.6))
        axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
        t0 = run.start
        for ax, (title, keys) in zip(axes, panels.items(), strict=True):
            for key in keys:
                pts = run.series[key]
                ax.plot([t - t0 for t, _ in pts], [v for _, v in pts], lw=1.2, label=key)
            ax.set_ylabel(title)
            ax.grid(alpha=0.3)
            ax.legend(loc="upper left", fontsize=7, frameon=False, ncol=2)
            _mark(ax, run, t0, label=ax is axes[0])
        axes[-1].set_xlabel("seconds since the run started")
        axes[0].set_title(run.title, loc="left", fontsize=10)
        fig.tight_layout()
        return _svg(fig, salt)


def _mark(ax: Any, run: RunReport, t0: float, *, label: bool) -> None:
    """Fault windows shaded, phases dotted, guardrail breaches and aborts as red lines."""
    colours: dict[str, str] = {}
    for w in run.faults:
        colour = colours.setdefault(w.step, _FAULT_COLOURS[len(colours) % len(_FAULT_COLOURS)])
        ax.axvspan(w.start - t0, max(w.end, w.start + 0.05) - t0, color=colour, alpha=0.15, lw=0)
        if label:
            text = w.step if w.level is None else f"{w.step} @{w.level:g}"
            ax.annotate(
                text,
                xy=(w.start - t0, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(2, -2),
                textcoords="offset points",
                va="top",
                fontsize=7,
                color=colour,
                rotation=0,
            )
    for phase, t in run.phases:
        ax.axvline(t - t0, color="#888888", ls=":", lw=0.8)
        if label:
            ax.annotate(
                phase,
                xy=(t - t0, 0.0),
                xycoords=("data", "axes fraction"),
                xytext=(2, 2),
                textcoords="offset points",
                fontsize=6,
                color="#666666",
            )
    for t, _what in run.guardrails:
        ax.axvline(t - t0, color="#d00000", ls="--", lw=1.2)
        if label:
            ax.annotate(
                "guardrail breached",
                xy=(t - t0, 0.85),
                xycoords=("data", "axes fraction"),
                xytext=(3, 0),
                textcoords="offset points",
                fontsize=7,
                color="#d00000",
            )
    for t, _reason in run.aborts:
        ax.axvline(t - t0, color="#d00000", lw=1.6)
    broke = [
        e["t"] - t0
        for e in run.steady
        if any(not c.get("ok") and c.get("detail") != "no data" for c in e.get("checks", []))
    ]
    if broke and label:
        ax.plot(
            broke,
            [0.02] * len(broke),
            "v",
            color="#d00000",
            ms=4,
            transform=ax.get_xaxis_transform(),
            label="steady state broke",
        )


_OP = re.compile(r"(<=|>=|==|!=|<|>)\s*(-?[0-9.]+(?:e-?\d+)?)")


def _level_values(run: RunReport, step: str) -> dict[str, list[tuple[float, float, bool]]]:
    """For each SLO: (level, worst value while the level was held, held?)."""
    levels = [e for e in run.ramp_levels if e.get("step") == step]
    ends = [e["t"] for e in levels[1:]]
    stop = next((e["t"] for e in run.breaking_points if e.get("step") == step), run.end)
    ends.append(stop)
    out: dict[str, list[tuple[float, float, bool]]] = {}
    for e, end in zip(levels, ends, strict=True):
        window = [s for s in run.steady if e["t"] <= s["t"] <= end + 1e-6]
        by_slo: dict[str, list[tuple[float, bool]]] = {}
        for s in window:
            for c in s["checks"]:
                if isinstance(c.get("value"), (int, float)):
                    by_slo.setdefault(c["slo"], []).append((float(c["value"]), bool(c["ok"])))
        for slo, vals in by_slo.items():
            worse_high = "<" in slo
            value = max(v for v, _ in vals) if worse_high else min(v for v, _ in vals)
            out.setdefault(slo, []).append((float(e["level"]), value, all(ok for _, ok in vals)))
    return out


def ramped_steps(run: RunReport) -> list[str]:
    """Steps that ramped, in the order they started."""
    seen: list[str] = []
    for e in run.ramp_levels:
        if e.get("step") not in seen:
            seen.append(str(e.get("step")))
    return seen


def breaking_point_svg(run: RunReport, step: str, salt: str) -> str | None:
    """Each SLO's worst value per ramp level, the threshold and the breaking point."""
    data = _level_values(run, step)
    if not data:
        return None
    import matplotlib
    from matplotlib.figure import Figure

    field = next((e.get("field") for e in run.ramp_levels if e.get("step") == step), "level")
    point = next((e for e in run.breaking_points if e.get("step") == step), None)
    slos = sorted(data)[:4]
    with matplotlib.rc_context(_rc(salt)):
        fig = Figure(figsize=(4.2 * len(slos), 2.8))
        axes = fig.subplots(1, len(slos), squeeze=False)[0]
        for ax, slo in zip(axes, slos, strict=True):
            pts = data[slo]
            xs = [x for x, _, _ in pts]
            ax.plot(xs, [v for _, v, _ in pts], color="#333333", lw=1)
            for x, v, ok in pts:
                ax.plot([x], [v], "o", color="#2b9348" if ok else "#d00000", ms=6)
            m = _OP.search(slo)
            if m is not None:
                ax.axhline(float(m.group(2)), color="#d00000", ls="--", lw=0.8, label="threshold")
            if point is not None and point.get("broke") is not None:
                ax.axvline(float(point["broke"]), color="#d00000", alpha=0.4, lw=6)
            ax.set_title(slo, fontsize=8)
            ax.set_xlabel(str(field))
            ax.grid(alpha=0.3)
        held = point.get("held") if point else None
        broke = point.get("broke") if point else None
        fig.suptitle(
            f"breaking point of {step}: held at {held}, broke at {broke}",
            fontsize=9,
            x=0.01,
            ha="left",
        )
        fig.tight_layout()
        return _svg(fig, salt)
