"""The Markdown report: a summary table for a pull request or a CI job summary."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aichaos.faults.base import effect_text
from aichaos.report.model import SCORE_LEGEND, RunReport, resilience_score
from aichaos.verdict import Verdict

__all__ = ["ICONS", "render_markdown"]

#: the icon of each verdict (and of a journal cut short)
ICONS: dict[str, str] = {
    Verdict.PASSED: "✅",
    Verdict.DEVIATED: "⚠️",
    Verdict.INCONCLUSIVE: "❔",
    Verdict.ABORTED: "🛑",
    Verdict.FAILED_BASELINE: "⛔",
    Verdict.ERROR: "❌",
    "incomplete": "⏸️",
    "empty": "∅",
}


def _cell(text: str) -> str:
    """A table cell: pipes escaped, one line."""
    return text.replace("|", "\\|").replace("\n", " ").strip()


def render_markdown(
    runs: list[RunReport],
    *,
    title: str = "aichaos report",
    left_out: Sequence[tuple[Path, str]] = (),
) -> str:
    """Score, one row per experiment, breaking points, incomplete and left-out files."""
    score = resilience_score(runs)
    lines = [f"## {title}", ""]
    if score is not None:
        lines.append(f"**Resilience score: {score:.0f}/100** ({SCORE_LEGEND})")
        lines.append("")
    lines.append("| experiment | verdict | predicted | SLO checks held | weight | why |")
    lines.append("|---|---|---|---|---|---|")
    for r in runs:
        pred = r.prediction
        mark = "" if pred is None else (" ✓" if pred == r.verdict else " ✗")
        lines.append(
            f"| {_cell(r.title)} | {ICONS.get(r.verdict, '')} {r.verdict} | "
            f"{pred or '-'}{mark} | {r.checks_held}/{r.checks_total} | {r.weight:g} | "
            f"{_cell(r.reason)} |"
        )
    points = [(r, p) for r in runs for p in r.breaking_points]
    if points:
        lines += ["", "**Breaking points**", ""]
        for r, p in points:
            lines.append(
                f"- {_cell(r.title)}: `{p.get('step')}` {p.get('field')} held at "
                f"{p.get('held')}, broke at {p.get('broke')}"
            )
    steps = [(r, w) for r in runs for w in r.faults]
    if steps:
        lines += ["", "**What each fault touched**", ""]
        lines += [
            f"- {_cell(r.title)}: `{w.step}` ({w.fault_type}"
            f"{'' if w.level is None else f', level {w.level:g}'}): {_cell(effect_text(w.effect))}"
            for r, w in steps
        ]
    incomplete = [r for r in runs if not r.complete]
    if incomplete:
        lines += ["", "**Incomplete journals** (no verdict: the runner was stopped or killed)", ""]
        lines += [f"- `{r.path}`{' (empty)' if r.empty else ''}" for r in incomplete]
    if left_out:
        lines += ["", "**Left out** (not journals)", ""]
        lines += [f"- {_cell(why)}" for _p, why in left_out]
    return "\n".join(lines) + "\n"
