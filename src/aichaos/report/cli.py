"""``aichaos report JOURNAL... [--html PATH] [--markdown PATH] [--junit PATH]``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

__all__ = ["report_command", "write_reports"]


def write_reports(
    journals: list[Path],
    *,
    html: Path | None = None,
    markdown: Path | None = None,
    junit: Path | None = None,
    title: str = "aichaos report",
) -> dict[str, Path]:
    """Render the journals to each given path; returns ``{format: path}`` written.

    Raises :class:`~aichaos.report.model.ReportError` for a missing, empty or non-journal
    file (before anything is written).
    """
    from aichaos.report.model import load_run

    runs = [load_run(p) for p in journals]
    written: dict[str, Path] = {}
    if html is not None:
        from aichaos.report.html import render_html

        _write(html, render_html(runs, title=title))
        written["html"] = html
    if markdown is not None:
        from aichaos.report.markdown import render_markdown

        _write(markdown, render_markdown(runs, title=title))
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

    With no format option, the Markdown goes to standard output. Exit 2 on bad input.
    """
    from aichaos.report.model import ReportError

    try:
        if html is None and markdown is None and junit is None:
            from aichaos.report.markdown import render_markdown
            from aichaos.report.model import load_run

            runs = [load_run(p) for p in journals]
            click.echo(render_markdown(runs, title=title), nl=False)
            return
        written = write_reports(
            list(journals), html=html, markdown=markdown, junit=junit, title=title
        )
    except ReportError as exc:
        click.echo(f"aichaos: {exc}", err=True)
        sys.exit(2)
    except OSError as exc:
        click.echo(f"aichaos: cannot write report: {exc}", err=True)
        sys.exit(2)
    for kind, path in written.items():
        click.echo(f"{kind}: {path}")
