"""Plots of a run as inline SVG (matplotlib, imported only when a report is rendered).

One figure per run. First one panel per metric that a steady-state or guardrail
condition names (whatever its name: a python probe's ``versions.lag`` too): its samples,
each condition's threshold, and each evaluation of the condition as a dot, red where it
did not hold. Then time to first token, time between tokens, latency, throughput and
goodput, quality, LLM answers and probe values not shown yet, every series drawn (no
cap), and one error panel per source. Every panel has the fault windows shaded and
labelled, guardrail breaches and aborts marked, steady-state breaks ticked.
Ramped steps get a second figure: each SLO's value at each level, the breaking point
marked. Figures use matplotlib's object API (no pyplot global state) and a per-figure
hash salt so ids of several inline SVGs never clash.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aichaos.errors import ValidationError
from aichaos.report.model import RunReport

if TYPE_CHECKING:
    from aichaos.experiment.slo import Condition

__all__ = ["PANELS", "Panel", "breaking_point_svg", "panels_for", "timeline_svg"]

#: panel title -> pattern of the metric keys it shows (besides condition panels)
PANELS: dict[str, re.Pattern[str]] = {
    # streamed answers (LLM serving): before "latency", whose pattern they also match
    "time to first token (ms)": re.compile(r"\.ttft_(p\d+(?:\.\d+)?|max)_ms$"),
    "between tokens (ms)": re.compile(r"\.(itl|tpot)_(p\d+(?:\.\d+)?|max)_ms$"),
    "latency (ms)": re.compile(r"(?<!lag_)(p\d+(?:\.\d+)?_ms|latency_ms|max_ms)$"),
    "throughput (req/s)": re.compile(r"\.(rate_rps|sent_rps|throughput_rps|goodput_rps)$"),
    "quality": re.compile(
        r"\.(accuracy|agreement|silent_failure_rate|score|drift_js|f1|precision|recall)$"
    ),
    "LLM answers": re.compile(
        r"\.(answer_accuracy|groundedness|refusal_rate|fallback_rate|tool_call_valid_rate"
        r"|schema_valid_rate|incomplete_stream_rate)$"
    ),
    "probe values": re.compile(r"\.value$"),
    # the training probe: the run's loss beside the fault-free run's at the same step
    "training loss (vs baseline)": re.compile(r"\.(loss|baseline_loss)$"),
}
_ERRORS = re.compile(r"\.(error_rate|error)$")
_FAULT_COLOURS = ("#e4572e", "#f3a712", "#7b2cbf", "#17bebb", "#a8c256", "#c84c09")


@dataclass
class Panel:
    """One axis of the timeline: the series it draws and the conditions it judges."""

    title: str
    keys: list[str]
    #: (label, threshold) of each condition over this panel's metric
    thresholds: list[tuple[str, float]] = field(default_factory=list)
    #: (t, evaluated value, held) of every evaluation of those conditions
    checks: list[tuple[float, float, bool]] = field(default_factory=list)
    share: bool = False


def _conditions(run: RunReport) -> list[tuple[str, Condition]]:
    """(role, condition) for every steady-state and guardrail condition of the run."""
    from aichaos.experiment.slo import slo

    out: list[tuple[str, Condition]] = []
    for role, specs in (("steady state", run.steady_state), ("guardrail", run.guardrail_specs)):
        for spec in specs:
            try:
                out += [(role, c) for c in slo(spec).conditions()]
            except ValidationError:
                continue  # a journal from another version: its checks still show in tables
    return out


def _evaluations(run: RunReport, text: str) -> list[tuple[float, float, bool]]:
    rows = []
    for event in [*run.steady, *run.guardrail_events]:
        for c in event.get("checks", []):
            if c.get("slo") == text and isinstance(c.get("value"), (int, float)):
                rows.append((float(event["t"]), float(c["value"]), bool(c.get("ok"))))
    return sorted(rows)


def panels_for(run: RunReport) -> list[Panel]:
    """The timeline's panels: conditions' metrics, the usual families, errors per source."""
    panels: dict[str, Panel] = {}
    for role, cond in _conditions(run):
        panel = panels.setdefault(
            cond.metric, Panel(cond.metric, [cond.metric] if cond.metric in run.series else [])
        )
        panel.thresholds.append((f"{role}: {cond.text or cond.to_data()}", cond.threshold))
        panel.checks += _evaluations(run, cond.text or cond.to_data())
    shown = set(panels)
    out = list(panels.values())
    for title, pattern in PANELS.items():
        keys = sorted(k for k in run.series if pattern.search(k) and k not in shown)
        if keys:
            out.append(Panel(title, keys))
            shown.update(keys)
    sources: dict[str, list[str]] = {}
    for key in sorted(run.series):
        if _ERRORS.search(key) and key not in shown:
            sources.setdefault(key.partition(".")[0], []).append(key)
    out += [Panel(f"errors: {src}", keys, share=True) for src, keys in sources.items()]
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
        for ax, panel in zip(axes, panels, strict=True):
            _draw(ax, run, panel, t0)
            _mark(ax, run, t0, label=ax is axes[0])
            ax.legend(loc="upper left", fontsize=7, frameon=False, ncol=3)
        axes[-1].set_xlabel("seconds since the run started")
        axes[0].set_title(run.title, loc="left", fontsize=10)
        fig.tight_layout()
        return _svg(fig, salt)


def _draw(ax: Any, run: RunReport, panel: Panel, t0: float) -> None:
    for i, key in enumerate(panel.keys):
        pts = run.series[key]
        # past the ten colours of the cycle, a new dash pattern keeps every line apart
        style = ("-", "--", ":", "-.")[i // 10 % 4]
        ax.plot([t - t0 for t, _ in pts], [v for _, v in pts], lw=1.2, ls=style, label=key)
    for label, threshold in panel.thresholds:
        ax.axhline(threshold, color="#d00000", ls="--", lw=0.9, label=label)
    held = [(t - t0, v) for t, v, ok in panel.checks if ok]
    broke = [(t - t0, v) for t, v, ok in panel.checks if not ok]
    if held:
        ax.plot(*zip(*held, strict=True), "o", color="#2b9348", ms=3, label="condition held")
    if broke:
        ax.plot(*zip(*broke, strict=True), "X", color="#d00000", ms=6, label="condition broke")
    if panel.thresholds and not panel.keys:
        ax.text(0.5, 0.5, f"no sample of {panel.title}", transform=ax.transAxes, ha="center")
    if panel.share:
        ax.set_ylim(-0.05, 1.05)
    ax.set_ylabel(panel.title, fontsize=8)
    ax.grid(alpha=0.3)


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
        if any(
            not c.get("ok") and not str(c.get("detail", "")).startswith("no data")
            for c in e.get("checks", [])
        )
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
