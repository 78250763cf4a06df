"""``aichaos demo``: run the bundled experiments against a real local system.

The system is started by aichaos itself on 127.0.0.1 and stopped when the demo ends or
is interrupted. Journals land in ``aichaos-runs/demo-<time>/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import click

__all__ = ["demo_command"]


@contextlib.contextmanager
def _service() -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "aichaos.demo.tinyservice"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _experiments() -> list[tuple[str, str]]:
    folder = resources.files("aichaos.demo") / "experiments"
    return sorted((p.name, p.read_text()) for p in folder.iterdir() if p.name.endswith(".yaml"))


@click.command("demo")
@click.option("--quick", is_flag=True, help="only the quick experiments (under 30 s)")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="journal folder")
def demo_command(quick: bool, out: str | None) -> None:
    """Start a real local service and run the bundled experiments against it."""
    from rich.console import Console

    from aichaos.engine.journal import Journal
    from aichaos.engine.progress import Progress, summary_table
    from aichaos.engine.runner import Engine
    from aichaos.experiment.loader import parse_experiment

    console = Console(stderr=True)
    folder = Path(out or Path("aichaos-runs") / f"demo-{time.strftime('%Y%m%d-%H%M%S')}")
    rows: list[dict[str, Any]] = []
    with _service() as (api, api_url), _service() as (worker, _):
        values = {"api_url": api_url, "api_pid": api.pid, "worker_pid": worker.pid}
        for name, text in _experiments():
            loaded = parse_experiment(Template(text).substitute(values), name)
            exp = loaded.experiment
            if quick and "quick" not in exp.tags:
                continue
            console.rule(exp.title)
            journal = Journal(folder / name.replace(".yaml", ".jsonl"), redactor=loaded.redactor)
            journal.listeners.append(Progress(console))
            engine = Engine(exp, journal=journal, handle_signals=True)
            result = asyncio.run(engine.run())
            rows.append({"title": exp.title, "status": result.status, "reason": result.reason})
            if engine.abort_reason and engine.abort_reason.startswith("received SIG"):
                break
    console.print(summary_table(rows))
    click.echo(f"journals: {folder}")
