"""The HTML report: one self-contained file (inline CSS, SVG and a few lines of script).

It loads nothing from the network, so it opens offline, from a CI artifact or an email.
Every string from the journal is escaped.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from aichaos.faults.base import effect_text
from aichaos.report.model import SCORE_LEGEND, RunReport, resilience_score
from aichaos.report.plots import breaking_point_svg, ramped_steps, timeline_svg

__all__ = ["render_html"]

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d1d1f}
header{background:#14213d;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px;font-size:22px}
main{padding:12px 28px 40px;max-width:1200px}
table{border-collapse:collapse;margin:10px 0}
th,td{border-bottom:1px solid #ddd;padding:5px 10px;text-align:left;vertical-align:top}
th{background:#f3f4f6}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:600;color:#fff}
.passed{background:#2b9348}.deviated{background:#e09f3e}.inconclusive{background:#577590}.aborted{background:#d00000}
.failed-baseline{background:#7b2cbf}.error{background:#9d0208}.incomplete{background:#6c757d}
.empty{background:#adb5bd}
.score{font-size:34px;font-weight:700}
section.run{border-top:2px solid #14213d;margin-top:28px;padding-top:6px}
.warn{background:#fff3cd;border:1px solid #e0c26b;padding:6px 10px}
.plot svg{max-width:100%;height:auto}
.muted{color:#666}
"""

_JS = """
document.getElementById('only-failing').addEventListener('change', function (ev) {
  var hide = ev.target.checked;
  document.querySelectorAll('[data-verdict]').forEach(function (el) {
    el.hidden = hide && el.getAttribute('data-verdict') === 'passed';
  });
});
"""


def _badge(verdict: str) -> str:
    return f'<span class="badge {escape(verdict)}">{escape(verdict)}</span>'


def _fmt(v: Any) -> str:
    return "-" if v is None else escape(f"{v:g}" if isinstance(v, float) else str(v))


def _anchor(i: int) -> str:
    return f"run-{i}"


def _summary(runs: list[RunReport]) -> str:
    rows = []
    for i, r in enumerate(runs):
        pred = r.prediction
        match = "" if pred is None else ("✓" if pred == r.verdict else "✗")
        rows.append(
            f'<tr data-verdict="{escape(r.verdict)}"><td><a href="#{_anchor(i)}">'
            f"{escape(r.title)}</a></td><td>{_badge(r.verdict)}</td>"
            f"<td>{escape(pred or '-')} {match}</td>"
            f"<td>{r.checks_held}/{r.checks_total}</td><td>{r.weight:g}</td>"
            f"<td>{r.duration_s:.1f}s</td><td>{escape(r.reason)}</td></tr>"
        )
    return (
        "<table id='summary'><thead><tr><th>experiment</th><th>verdict</th><th>predicted</th>"
        "<th>SLO checks held</th><th>weight</th><th>duration</th><th>why</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _run_section(i: int, r: RunReport) -> str:
    parts = [
        f'<section class="run" id="{_anchor(i)}" data-verdict="{escape(r.verdict)}">',
        f"<h2>{escape(r.title)} {_badge(r.verdict)}</h2>",
        f"<p>{escape(r.description)}</p>" if r.description else "",
        f"<p><b>why:</b> {escape(r.reason)}</p>",
        f'<p class="muted">journal {escape(str(r.path))} · seed {_fmt(r.seed)} · '
        f"weight {r.weight:g} · {r.checks_held}/{r.checks_total} SLO checks held</p>",
    ]
    if r.empty:
        parts.append('<p class="warn"><b>empty journal:</b> the run wrote no event.</p>')
        parts.append("</section>")
        return "\n".join(parts)
    if not r.complete:
        parts.append(
            '<p class="warn"><b>incomplete journal:</b> it ends without a verdict (the runner '
            "was stopped or killed). Figures below stop at its last event.</p>"
        )
    svg = timeline_svg(r, salt=f"t{i}")
    parts.append(
        f'<div class="plot timeline">{svg}</div>'
        if svg
        else '<p class="muted">no metric samples to plot</p>'
    )
    for j, step in enumerate(ramped_steps(r)):
        bp = breaking_point_svg(r, step, salt=f"b{i}-{j}")
        if bp:
            parts.append(f"<h3>breaking point: {escape(step)}</h3>")
            parts.append(f'<div class="plot breaking-point">{bp}</div>')
    if r.faults:
        rows = "".join(
            f"<tr><td>{escape(w.step)}</td><td>{escape(w.fault_type)}</td>"
            f"<td>{_fmt(w.level)}</td><td>{w.start - r.start:.2f}s</td>"
            f"<td>{w.end - r.start:.2f}s{'' if w.closed else ' (not reverted)'}</td>"
            f"<td>{escape(effect_text(w.effect))}</td></tr>"
            for w in r.faults
        )
        parts.append(
            "<table class='faults'><tr><th>step</th><th>fault</th><th>level</th>"
            f"<th>applied</th><th>reverted</th><th>touched</th></tr>{rows}</table>"
        )
    for bp_event in r.breaking_points:
        parts.append(
            f"<p><b>breaking point</b> {escape(str(bp_event.get('step')))} "
            f"{escape(str(bp_event.get('field')))}: held at {_fmt(bp_event.get('held'))}, "
            f"broke at {_fmt(bp_event.get('broke'))}</p>"
        )
    for t, what in r.guardrails:
        parts.append(f"<p><b>guardrail breached</b> at {t - r.start:.2f}s: {escape(what)}</p>")
    for rb in r.rollbacks:
        ok = "ok" if rb.get("ok") else f"failed: {rb.get('error')}"
        parts.append(f"<p>rollback {escape(str(rb.get('action')))}: {escape(ok)}</p>")
    if r.problems:
        items = "".join(
            f"<li>{t - r.start:.2f}s {escape(text)}</li>" for t, text in r.problems[:10]
        )
        more = f"<li>... {len(r.problems) - 10} more</li>" if len(r.problems) > 10 else ""
        parts.append(
            f"<details><summary>{len(r.problems)} problem(s)</summary><ul>{items}"
            f"{more}</ul></details>"
        )
    parts.append("</section>")
    return "\n".join(p for p in parts if p)


def _left_out(left_out: Sequence[tuple[Path, str]]) -> str:
    if not left_out:
        return ""
    items = "".join(f"<li>{escape(why)}</li>" for _p, why in left_out)
    return f'<div class="warn" id="left-out"><b>left out (not journals):</b><ul>{items}</ul></div>'


def render_html(
    runs: list[RunReport],
    *,
    title: str = "aichaos report",
    left_out: Sequence[tuple[Path, str]] = (),
) -> str:
    """The whole report as one HTML document (files that are not journals listed)."""
    score = resilience_score(runs)
    counts: dict[str, int] = {}
    for r in runs:
        counts[r.verdict] = counts.get(r.verdict, 0) + 1
    tally = " · ".join(f"{n} {v}" for v, n in sorted(counts.items()))
    score_html = "-" if score is None else f"{score:.0f}/100"
    body = "\n".join(_run_section(i, r) for i, r in enumerate(runs))
    generated = time.strftime("%Y-%m-%d %H:%M:%S")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title><style>{_CSS}</style></head>
<body><header><h1>{escape(title)}</h1>
<div>{len(runs)} experiment(s) · {escape(tally)} · generated {escape(generated)}</div>
</header><main>
<p>Resilience score <span class="score" id="score">{score_html}</span>
<span class="muted">({escape(SCORE_LEGEND)})</span></p>
<label><input type="checkbox" id="only-failing"> show only experiments that did not pass</label>
{_summary(runs)}
{_left_out(left_out)}
{body}
</main><script>{_JS}</script></body></html>
"""
