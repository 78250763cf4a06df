"""``aichaos run | validate | schema | faults | halt``."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from aichaos.engine.signals import ignore_signals
from aichaos.errors import AichaosError, ExperimentError, SafetyError, ValidationError
from aichaos.integrations.observe import Observers, observer_options
from aichaos.verdict import EXIT_BAD_INPUT, Verdict

__all__ = ["faults_command", "halt_command", "run_command", "schema_command", "validate_command"]


def _err(msg: str) -> None:
    click.echo(f"aichaos: {msg}", err=True)


@click.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=True))
def validate_command(files: tuple[str, ...]) -> None:
    """Check experiment FILES; print every problem at once. Exit 2 if any is invalid."""
    from aichaos.experiment.loader import load_experiment

    bad = 0
    for f in files:
        try:
            loaded = load_experiment(f)
        except ExperimentError as exc:
            bad += 1
            click.echo(str(exc), err=True)
        else:
            exp = loaded.experiment
            click.echo(f"{f}: ok ({len(exp.method)} step(s), {exp.planned_duration_s:g}s planned)")
    if bad:
        sys.exit(EXIT_BAD_INPUT)


@click.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of experiment files (for editor autocompletion)."""
    from aichaos.experiment.schema import experiment_schema

    click.echo(json.dumps(experiment_schema(), indent=2))


def _unit(name: str) -> str:
    for suffix, unit in (
        ("_ms", "milliseconds"),
        ("_us", "microseconds"),
        ("_s", "seconds"),
        ("_kbps", "KB/s"),
        ("_bytes", "bytes"),
        ("_mb", "MiB"),
        ("_pct", "percent"),
    ):
        if name.endswith(suffix):
            return unit
    if name == "severity":
        return "1..5"
    return "0..1" if name in ("fraction", "probability", "toxicity") else ""


def _describe_types() -> dict[str, list[dict[str, Any]]]:
    from aichaos.data.base import CORRUPTIONS
    from aichaos.faults.base import FAULTS
    from aichaos.load.base import WORKLOADS
    from aichaos.probes.base import PROBES
    from aichaos.proxy.toxics.base import TOXICS
    from aichaos.targets import TARGETS

    out: dict[str, list[dict[str, Any]]] = {}
    registries: tuple[tuple[str, Any], ...] = (
        ("faults", FAULTS),
        ("probes", PROBES),
        ("targets", TARGETS),
        ("workloads", WORKLOADS),
        # data-corrupt's `corruptions` and inprocess's `corruption` take these by name
        ("corruptions", CORRUPTIONS),
        # proxy-toxic's `toxic` and `attributes` (Toxiproxy wire names)
        ("toxics", TOXICS),
    )
    for family, registry in registries:
        rows = []
        for name, cls in registry.items():
            params = []
            for field_name, info in cls.model_fields.items():
                default = (
                    None if info.is_required() else info.get_default(call_default_factory=True)
                )
                params.append(
                    {
                        # the name a file or the wire uses (a toxic's Toxiproxy alias)
                        "name": info.alias or field_name,
                        "type": getattr(info.annotation, "__name__", str(info.annotation)),
                        "required": info.is_required(),
                        "default": default if _jsonable(default) else repr(default),
                        "unit": _unit(field_name),
                        "description": info.description or "",
                    }
                )
            summary = (cls.__doc__ or "").strip().splitlines()
            rows.append(
                {"type": name, "summary": summary[0] if summary else "", "parameters": params}
            )
        out[family] = rows
    return out


def _jsonable(v: Any) -> bool:
    try:
        json.dumps(v)
    except (TypeError, ValueError):
        return False
    return True


@click.command("faults")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def faults_command(as_json: bool) -> None:
    """List every registered fault, probe, target, workload, data corruption and proxy toxic
    type with its parameters (unit, default)."""
    types = _describe_types()
    if as_json:
        click.echo(json.dumps(types, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for family, rows in types.items():
        table = Table(title=family, show_lines=False, expand=False)
        table.add_column("type", style="bold")
        table.add_column("parameters (unit, default)")
        table.add_column("what it does")
        for row in rows:
            params = []
            for p in row["parameters"]:
                unit = f" {p['unit']}" if p["unit"] else ""
                default = "required" if p["required"] else f"={p['default']}"
                params.append(f"{p['name']}{unit} {default}")
            table.add_row(row["type"], "\n".join(params) or "-", row["summary"])
        console.print(table)


@click.command("halt")
@click.option("--clear", is_flag=True, help="remove the kill switch so runs may start again")
@click.option(
    "--path", type=click.Path(), default=None, help="kill-switch file (default: per user)"
)
def halt_command(clear: bool, path: str | None) -> None:
    """Abort every running experiment of this user within one guardrail interval.

    The kill switch is ``$AICHAOS_KILL_SWITCH``, else ``$XDG_RUNTIME_DIR/aichaos.halt``,
    else ``aichaos-<uid>.halt`` in the temporary directory.
    """
    from aichaos.engine.recover_cli import recover_orphans
    from aichaos.experiment.safety import default_kill_switch

    recover_orphans()
    p = Path(path or default_kill_switch())
    if clear:
        if p.is_dir() and not p.is_symlink():
            _err(f"cannot clear kill switch {p}: it is a directory, not a kill-switch file")
            sys.exit(EXIT_BAD_INPUT)
        try:
            p.unlink(missing_ok=True)  # a symlink is removed itself, never its target
        except OSError as exc:
            _err(f"cannot clear kill switch {p}: {exc.strerror}")
            sys.exit(EXIT_BAD_INPUT)
        click.echo(f"kill switch cleared: {p}")
        return
    try:
        _set_kill_switch(p, f"halted by pid {os.getpid()} at {time.ctime()}\n")
    except OSError as exc:
        _err(f"cannot create kill switch {p}: {exc.strerror}")
        sys.exit(EXIT_BAD_INPUT)
    click.echo(f"kill switch set: {p} (running experiments abort; 'aichaos halt --clear' re-arms)")


def _set_kill_switch(p: Path, text: str) -> None:
    """Write the kill switch without following a link planted at its path.

    The default path is in a shared temporary directory: anyone may put a symlink there,
    and writing through it would overwrite its target (as root, any file). A new file is
    written beside it (``O_EXCL | O_NOFOLLOW``) and renamed over the path, which replaces
    a symlink itself, not what it points to.
    """
    if p.is_dir() and not p.is_symlink():
        raise IsADirectoryError(21, "it is a directory")
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, p)
    finally:
        tmp.unlink(missing_ok=True)


def _default_journal(title: str) -> Path:
    slug = "".join(ch if ch.isalnum() else "-" for ch in title.lower()).strip("-")[:40] or "run"
    return Path("aichaos-runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}.jsonl"


@click.command("run")
@click.argument("file", type=click.Path())
@click.option(
    "--journal",
    "journal_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="JSON-lines journal (default: aichaos-runs/<time>-<title>.jsonl)",
)
@click.option("--overwrite", is_flag=True, help="replace a journal file that already holds a run")
@click.option("--dry-run", is_flag=True, help="print the plan and touch nothing")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="override the seed")
@click.option("--env", "environment", default=None, help="environment name (or AICHAOS_ENV)")
@click.option("--quiet", "-q", is_flag=True, help="no live progress")
@observer_options
def run_command(
    file: str,
    journal_path: str | None,
    overwrite: bool,
    dry_run: bool,
    seed: int | None,
    environment: str | None,
    quiet: bool,
    **observe: Any,
) -> None:
    """Run the experiment in FILE. Exit: 0 passed, 1 deviated, 2 bad input, 3 aborted,
    4 failed baseline, 5 error."""
    # Start-up builds hundreds of thousands of long-lived objects (modules, schemas);
    # the collector would walk them again and again while they are built. It runs
    # again, over the objects of the run only, once they are frozen in _run_loop.
    if gc.isenabled():
        gc.disable()
        click.get_current_context().call_on_close(gc.enable)
    # httpx imports its own command-line client (rich, pygments: megabytes, a tenth of a
    # second) whenever those are installed; a run never uses it, and httpx falls back
    # to a stub when the import fails
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    from aichaos.experiment.loader import load_experiment

    try:
        loaded = load_experiment(file)
    except ExperimentError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_BAD_INPUT)
    exp = loaded.experiment
    if dry_run or exp.safety.dry_run:
        from aichaos.engine.plan import plan

        the_seed = seed if seed is not None else (exp.seed if exp.seed is not None else 0)
        the_plan = plan(exp, the_seed)
        _add_pids(exp, the_plan)
        from aichaos.engine.preflight import preflight

        the_plan["preflight"] = problems = asyncio.run(preflight(exp))
        click.echo(json.dumps(loaded.redactor.data(the_plan), indent=2))
        if problems:
            _err(
                loaded.redactor.text(
                    "dry run: the preflight found problems; nothing was touched:\n"
                    + "\n".join(f"  - {p}" for p in problems)
                )
            )
            sys.exit(EXIT_BAD_INPUT)
        click.echo("dry run: nothing was touched", err=True)
        return
    from aichaos.engine.journal import Journal
    from aichaos.engine.recover_cli import recover_orphans
    from aichaos.engine.runner import Engine

    recover_orphans()  # a dead run's faults would distort this one's baseline

    path = Path(journal_path) if journal_path else _default_journal(exp.title)
    try:
        journal = Journal(path, redactor=loaded.redactor, overwrite=overwrite)
    except ValidationError as exc:
        _err(loaded.redactor.text(str(exc)))
        sys.exit(EXIT_BAD_INPUT)
    engine = Engine(exp, journal=journal, seed=seed, environment=environment, handle_signals=True)
    try:
        engine.check_environment()
    except SafetyError as exc:
        _err(loaded.redactor.text(str(exc)))
        sys.exit(EXIT_BAD_INPUT)
    halted = engine.kill_switch_set()
    if halted:  # refused before it starts: no journal
        _err(loaded.redactor.text(f"aborted: {halted}"))
        sys.exit(Verdict.ABORTED.exit_code)
    if not quiet:
        from rich.console import Console  # only for the live display

        from aichaos.engine.progress import Progress

        journal.listeners.append(Progress(Console(stderr=True)))
    try:
        observers = Observers.attach(journal, **observe)
    except ValidationError as exc:
        _err(str(exc))
        sys.exit(EXIT_BAD_INPUT)
    if observers.url:
        click.echo(f"metrics: {observers.url}", err=True)
    try:
        journal.open()
    except ValidationError as exc:
        _err(loaded.redactor.text(str(exc)))
        sys.exit(EXIT_BAD_INPUT)
    except OSError as exc:
        _err(f"cannot write journal {path}: {exc.strerror}")
        sys.exit(EXIT_BAD_INPUT)
    try:
        # uvloop pays off for a load generator; probes and faults alone do not need it
        result = _run_loop(engine.run(), httpx=_needs_httpx(exp), fast=exp.workload is not None)
    except AichaosError as exc:
        _err(loaded.redactor.text(str(exc)))
        sys.exit(Verdict.ERROR.exit_code)
    finally:
        observers.flush()
    click.echo(loaded.redactor.text(f"{result.status}: {result.reason}"))
    click.echo(f"journal: {result.journal}")
    sys.stdout.flush()
    observers.finish(lambda line: click.echo(line, err=True))
    ignore_signals()
    sys.exit(result.exit_code)


def _add_pids(exp: Any, the_plan: dict[str, Any]) -> None:
    """Show, per step on a process target, the pids a fault would hit and those excluded."""
    from aichaos.errors import TargetError
    from aichaos.faults.pids import select_pids
    from aichaos.targets import ProcessTarget

    for step, entry in zip(exp.method, the_plan["steps"], strict=True):
        target = exp.targets.get(step.target) if step.target else None
        if isinstance(target, ProcessTarget):
            try:
                entry["pids"] = select_pids(target).describe()
            except TargetError as exc:
                entry["pids"] = {"error": str(exc)}


def _needs_httpx(exp: Any) -> bool:
    """Whether the run may use httpx: anything beyond plain-HTTP targets and probes.

    Plain ``http://`` targets are asked and probed over the load generator's raw
    connection; proxy control APIs, HTTPS, HEAD and Prometheus scrapes go through httpx.
    """
    for target in exp.targets.values():
        if target.type == "process":
            continue
        if target.type != "http" or not str(target.url).startswith("http://"):
            return True
    for probe in exp.probes.values():
        if probe.type == "http" and probe.method == "HEAD":
            return True
        if probe.type not in ("http", "python", "process"):
            return True
    return any(rb.type == "http" for rb in exp.rollbacks)


def _run_loop(coro: Any, httpx: bool = True, fast: bool = True) -> Any:
    if httpx:
        # the engine's HTTP client: loaded before the freeze, not inside the baseline
        importlib.import_module("httpx")
        with contextlib.suppress(ImportError):
            # httpx's connection pool loads anyio's asyncio backend at its first
            # request; loaded here, that does not delay the baseline's first sample
            importlib.import_module("anyio._backends._asyncio")

    # What start-up built lives until exit: frozen, no collection walks it again, the
    # one at interpreter exit included (a few hundred milliseconds on a loaded box).
    gc.freeze()
    gc.enable()
    from aichaos.eventloop import run

    return run(coro, fast=fast)
