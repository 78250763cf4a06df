"""``aichaos demo``: break a real local AI system and judge it, in about two minutes.

Starts the demo system (:mod:`aichaos.demo.system`) on 127.0.0.1, runs the bundled
experiments against it (one fault per layer, each stating its predicted verdict), prints
live progress and a one-screen summary, and writes journals plus HTML, Markdown and
JUnit reports to ``aichaos-runs/demo-<time>/``. The system is stopped when the demo
ends or is interrupted (Ctrl-C reverts the running experiment's faults first).

Exit status: 0 when every verdict matched its prediction, 1 when one did not, 3 when
interrupted, 2 on bad input.
"""

from __future__ import annotations

import sys
import time
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any, NoReturn

import click

__all__ = ["bundled_experiments", "demo_command", "run_bundled"]


def bundled_experiments(package: str = "aichaos.demo") -> list[tuple[str, str]]:
    """``(file name, template text)`` of a demo's bundled experiments, in run order
    (``aichaos.demo``: the first demo's; ``aichaos.demo.rag``: the RAG demo's)."""
    folder = resources.files(package) / "experiments"
    return sorted((p.name, p.read_text()) for p in folder.iterdir() if p.name.endswith(".yaml"))


def _run(coro: Any) -> Any:
    from aichaos.eventloop import run

    return run(coro)


def run_bundled(console: Any, loaded: Any, path: Path) -> tuple[dict[str, Any], bool]:
    """Run one bundled experiment (``loaded``) into the journal ``path``, its progress on
    ``console``: its summary row, and whether a signal ended it (the demo stops there)."""
    from aichaos.engine.journal import Journal
    from aichaos.engine.progress import Progress
    from aichaos.engine.runner import Engine
    from aichaos.report.model import predicted_verdict

    exp = loaded.experiment
    # a demo run into the same --out folder replaces its journals
    journal = Journal(path, redactor=loaded.redactor, overwrite=True)
    journal.listeners.append(Progress(console))
    engine = Engine(exp, journal=journal, handle_signals=True)
    result = _run(engine.run())
    row = {
        "title": exp.title,
        "status": result.status,
        "reason": result.reason,
        "predicted": predicted_verdict(exp.description) or "-",
    }
    return row, bool(engine.abort_reason and engine.abort_reason.startswith("received SIG"))


def _table(rows: list[dict[str, Any]], title: str) -> Any:
    from rich.table import Table

    from aichaos.engine.progress import verdict_markup

    table = Table(title=title)
    for col in ("experiment", "verdict", "predicted", "why"):
        table.add_column(col, overflow="fold")
    for r in rows:
        mark = "[green]✓[/green]" if r["status"] == r["predicted"] else "[red]✗[/red]"
        table.add_row(
            r["title"], verdict_markup(r["status"]), f"{r['predicted']} {mark}", r["reason"]
        )
    return table


def _finish(
    console: Any,
    folder: Path,
    rows: list[dict[str, Any]],
    journals: list[Path],
    interrupted: bool,
    t0: float,
    title: str,
) -> NoReturn:
    """Print the summary, write the reports, exit with the demo's status."""
    from aichaos.report.cli import write_reports

    console.print(_table(rows, title))
    written: dict[str, Path] = {}
    if journals:
        written = write_reports(
            journals,
            html=folder / "report.html",
            markdown=folder / "report.md",
            junit=folder / "junit.xml",
            title=title,
        )
    click.echo(f"journals: {folder}")
    for kind, p in written.items():
        click.echo(f"{kind} report: {p}")
    click.echo(f"demo took {time.monotonic() - t0:.1f}s")
    if interrupted:
        sys.exit(3)
    sys.exit(0 if rows and all(r["status"] == r["predicted"] for r in rows) else 1)


def _training(console: Any, folder: Path, only: tuple[str, ...]) -> NoReturn:
    from aichaos.demo.training_cli import run_training_demo

    t0 = time.monotonic()
    try:
        rows, journals, interrupted = run_training_demo(folder, only, console)
    except KeyboardInterrupt:
        rows, journals, interrupted = [], [], True
    _finish(console, folder, rows, journals, interrupted, t0, "aichaos demo --training")


@click.command("demo")
@click.option("--quick", is_flag=True, help="a subset that runs in under 30 s")
@click.option("--only", "only", multiple=True, help="run experiments whose file name contains this")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--seed", type=int, default=7, show_default=True, help="seed of the system")
@click.option(
    "--rag",
    is_flag=True,
    help="the RAG system instead: vector store, streaming LLM stand-ins, gateway",
)
@click.option(
    "--training",
    is_flag=True,
    help="the training demo instead: preempt, crash and corrupt a PyTorch torchrun job",
)
def demo_command(
    quick: bool, only: tuple[str, ...], out: Path | None, seed: int, rag: bool, training: bool
) -> None:
    """Start a real local AI system and run the bundled experiments against it."""
    from rich.console import Console

    from aichaos.demo.system import DemoSystem
    from aichaos.errors import ExperimentError
    from aichaos.experiment.loader import parse_experiment

    console = Console(stderr=True)
    if training:
        if quick or rag:
            raise click.UsageError("--training runs the training demo alone: no --quick, --rag")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        _training(console, out or Path("aichaos-runs") / f"demo-training-{stamp}", only)
    kind = "demo-rag" if rag else "demo"
    title = "aichaos demo --rag" if rag else "aichaos demo"
    folder = out or Path("aichaos-runs") / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}"
    system_class: type[DemoSystem] = DemoSystem
    if rag:
        from aichaos.demo.rag.system import RagSystem

        system_class = RagSystem
    chosen = [
        (name, text)
        for name, text in bundled_experiments("aichaos.demo.rag" if rag else "aichaos.demo")
        if (not only or any(o in name for o in only)) and (not quick or "quick" in text)
    ]
    if not chosen:
        raise click.UsageError(f"no bundled experiment matches --only {' '.join(only)}")
    t0 = time.monotonic()
    console.print(f"[bold]starting the demo system[/bold] in {folder / 'system'} ...")
    rows: list[dict[str, Any]] = []
    journals: list[Path] = []
    interrupted = False
    try:
        with system_class.start(folder / "system", seed=seed) as system:
            console.print(f"demo system up in {time.monotonic() - t0:.1f}s: {system.describe()}")
            for name, text in chosen:
                try:
                    loaded = parse_experiment(Template(text).substitute(system.values), name)
                except ExperimentError as exc:  # a bundled file broken: say which, go on
                    console.print(f"[red]{exc}[/red]")
                    rows.append(
                        {"title": name, "status": "error", "reason": "invalid", "predicted": "-"}
                    )
                    continue
                exp = loaded.experiment
                if quick and "quick" not in exp.tags:
                    continue
                console.rule(exp.title)
                path = folder / name.replace(".yaml", ".jsonl")
                row, interrupted = run_bundled(console, loaded, path)
                journals.append(path)
                rows.append(row)
                if interrupted:
                    break
    except KeyboardInterrupt:
        interrupted = True
    _finish(console, folder, rows, journals, interrupted, t0, title)
