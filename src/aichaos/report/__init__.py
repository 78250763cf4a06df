"""Reports rendered from journals alone: HTML (inline SVG plots), Markdown, JUnit XML.

>>> from aichaos.report import write_reports  # doctest: +SKIP
>>> write_reports([Path("run.jsonl")], html=Path("report.html"))  # doctest: +SKIP
"""

from aichaos.report.cli import write_reports
from aichaos.report.model import ReportError, RunReport, load_run, load_runs, resilience_score

__all__ = [
    "ReportError",
    "RunReport",
    "load_run",
    "load_runs",
    "resilience_score",
    "write_reports",
]
