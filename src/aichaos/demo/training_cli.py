"""``aichaos demo --training``: preempt, crash and corrupt a real PyTorch training job.

A fault-free job runs first; its metrics file is the baseline every experiment's
``training`` probe compares against (loss at the same step, evaluation, finish time).
Then each bundled training experiment (``experiments/training/*.yaml``) gets a fresh
job (:class:`~aichaos.demo.training.TrainingJob`, settings from its ``job:`` tags),
runs against it, and the job is stopped. Needs PyTorch (the ``training`` extra).
"""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import click

__all__ = ["run_training_demo", "timings", "training_experiments"]

#: a fault-free job's longest plausible run, imports included, on a loaded machine
BASELINE_TIMEOUT_S = 240.0


def training_experiments() -> list[tuple[str, str]]:
    """``(file name, template text)`` of the bundled training experiments, in run order."""
    folder = resources.files("aichaos.demo") / "experiments" / "training"
    return sorted((p.name, p.read_text()) for p in folder.iterdir() if p.name.endswith(".yaml"))


def timings(startup_s: float) -> dict[str, float]:
    """The experiments' time limits, scaled to how fast this machine starts a job.

    A restart re-imports PyTorch in every worker: a few seconds on an idle machine, many
    more on a loaded one. Fixed limits would be either too tight there or idle waiting
    here, so the templates name these, derived from the baseline job's start-up (launch
    to first step): ``restart_s``, the time a restart is given (2.5 start-ups, 5 s at
    least); ``recover_s``, a restart and the rest of the run; ``budget_s``, the delay a
    run may finish after the fault-free one.
    """
    restart = round(max(5.0, 2.5 * startup_s), 1)
    return {
        "startup_s": round(startup_s, 1),
        "restart_s": restart,
        "recover_s": round(restart + 8, 1),
        "budget_s": round(restart + 10, 1),
    }


def _tags(name: str, text: str) -> list[str]:
    import yaml

    data = yaml.safe_load(text)
    tags = data.get("tags", []) if isinstance(data, dict) else []
    if not isinstance(tags, list):
        raise click.ClickException(f"{name}: tags must be a list")
    return [str(t) for t in tags]


def run_training_demo(
    folder: Path, only: tuple[str, ...], console: Any
) -> tuple[list[dict[str, Any]], list[Path], bool]:
    """Run the chosen training experiments: ``(summary rows, journals, interrupted)``."""
    from aichaos.demo.cli import run_bundled
    from aichaos.demo.training import TrainingJob, job_options, torch_missing
    from aichaos.errors import ExperimentError
    from aichaos.experiment.loader import parse_experiment

    missing = torch_missing()
    if missing:
        raise click.ClickException(missing)
    chosen = [(n, t) for n, t in training_experiments() if not only or any(o in n for o in only)]
    if not chosen:
        raise click.UsageError(f"no bundled training experiment matches --only {' '.join(only)}")
    rows: list[dict[str, Any]] = []
    journals: list[Path] = []
    t0 = time.monotonic()
    console.print("[bold]fault-free baseline job[/bold] (torchrun, 2 workers) ...")
    baseline = TrainingJob(folder / "baseline").start()
    try:
        startup_s = baseline.wait_training(BASELINE_TIMEOUT_S)
        code = baseline.wait(BASELINE_TIMEOUT_S)
    finally:
        baseline.stop()
    if code != 0:
        raise click.ClickException(
            f"the fault-free training job ended with {code}: see {baseline.log}"
        )
    timing = timings(startup_s)
    console.print(
        f"baseline job done in {time.monotonic() - t0:.1f}s (start-up {startup_s:.1f}s: "
        f"restarts get {timing['restart_s']}s)"
    )
    for name, text in chosen:
        stem = name.removesuffix(".yaml")
        try:
            args, restarts = job_options(_tags(name, text))
        except ValueError as exc:
            raise click.ClickException(f"{name}: {exc}") from None
        job = TrainingJob(folder / stem, trainer_args=args, max_restarts=restarts).start()
        try:
            job.wait_training()
            values = {**job.values(), **timing, "baseline_metrics": str(baseline.metrics)}
            try:
                loaded = parse_experiment(Template(text).substitute(values), name)
            except ExperimentError as exc:
                console.print(f"[red]{exc}[/red]")
                rows.append(
                    {"title": name, "status": "error", "reason": "invalid", "predicted": "-"}
                )
                continue
            exp = loaded.experiment
            console.rule(exp.title)
            path = folder / f"{stem}.jsonl"
            row, interrupted = run_bundled(console, loaded, path)
        finally:
            job.stop()
        journals.append(path)
        rows.append(row)
        if interrupted:
            return rows, journals, True
    return rows, journals, False
