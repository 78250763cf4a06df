"""``aichaos report JOURNAL... [--html PATH] [--markdown PATH] [--junit PATH]``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from aichaos.verdict import EXIT_BAD_INPUT

if TYPE_CHECKING:
    from aichaos.report.model import RunReport

__all__ = ["render_reports", "report_command", "write_reports"]


def write_reports(
    journals: list[Path],
    *,
    html: Path | None = None,
    markdown: Path | None = None,
    junit: Path | None = None,
    title: str = "aichaos report",
) -> dict[str, Path]:
    """Render the journals to each given path; returns ``{format: path}`` written.

    Every journal that holds a run is rendered; empty ones are marked, files that are
    not journals are listed as left out. Raises :class:`~aichaos.report.model.ReportError`
    when no file holds a run (before anything is written).
    """
    from aichaos.report.model import load_runs

    runs, left_out = load_runs(journals)
    _require_a_run(runs, left_out)
    return render_reports(runs, left_out, html=html, markdown=markdown, junit=junit, title=title)


def _require_a_run(runs: list[RunReport], left_out: list[tuple[Path, str]]) -> None:
    from aichaos.report.model import ReportError

    if not any(not r.empty for r in runs):
        why = [why for _p, why in left_out] + [r.reason for r in runs]
        raise ReportError("no journal holds a run: " + "; ".join(why))


def render_reports(
    runs: list[RunReport],
    left_out: list[tuple[Path, str]],
    *,
    html: Path | None = None,
    markdown: Path | None = None,
    junit: Path | None = None,
    title: str = "aichaos report",
) -> dict[str, Path]:
    """Write the loaded runs in each format given; returns ``{format: path}`` written."""
    written: dict[str, Path] = {}
    if html is not None:
        from aichaos.report.html import render_html

        _write(html, render_html(runs, title=title, left_out=left_out))
        written["html"] = html
    if markdown is not None:
        from aichaos.report.markdown import render_markdown

        _write(markdown, render_markdown(runs, title=title, left_out=left_out))
        written["markdown"] = markdown
    if junit is not None:
        from aichaos.report.junit import render_junit

        _write(junit, render_junit(runs))
        written["junit"] = junit
    return written


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


@click.command("report")
@click.argument("journals", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--html", type=click.Path(dir_okay=False, path_type=Path), help="HTML file")
@click.option("--markdown", type=click.Path(dir_okay=False, path_type=Path), help="Markdown")
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), help="JUnit XML")
@click.option("--title", default="aichaos report", show_default=True)
def report_command(
    journals: tuple[Path, ...],
    html: Path | None,
    markdown: Path | None,
    junit: Path | None,
    title: str,
) -> None:
    """Render JOURNALS (from 'aichaos run') as HTML, Markdown and/or JUnit XML.

    Every journal that holds a run is rendered; empty and incomplete ones are marked;
    a file that is not a journal is named on standard error and left out. With no
    format option, the Markdown goes to standard output. Exit 0 if any journal was
    rendered, 2 if none holds a run or a report cannot be written.
    """
    from aichaos.report.model import ReportError, load_runs

    runs, left_out = load_runs(list(journals))
    for _path, why in left_out:
        click.echo(f"aichaos: left out: {why}", err=True)
    try:
        _require_a_run(runs, left_out)
        if html is None and markdown is None and junit is None:
            from aichaos.report.markdown import render_markdown

            click.echo(render_markdown(runs, title=title, left_out=left_out), nl=False)
            return
        written = render_reports(
            runs, left_out, html=html, markdown=markdown, junit=junit, title=title
        )
    except ReportError as exc:
        click.echo(f"aichaos: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except OSError as exc:
        click.echo(f"aichaos: cannot write report: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    for kind, path in written.items():
        click.echo(f"{kind}: {path}")
