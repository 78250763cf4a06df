"""``aichaos export chaos-mesh EXPERIMENT [-o DIR] [--namespace NS] [--apply]``."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click

from aichaos.verdict import EXIT_BAD_INPUT, Verdict

__all__ = ["export_command"]


@click.group("export")
def export_command() -> None:
    """Export an experiment to another chaos engine."""


@export_command.command("chaos-mesh")
@click.argument("experiment", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(file_okay=False),
    default=None,
    help="directory for workflow.yaml and resources/ (default: chaos-mesh-<title>)",
)
@click.option(
    "--namespace",
    default=None,
    help="namespace of the Workflow (default: the first kubernetes target's)",
)
@click.option(
    "--apply",
    "do_apply",
    is_flag=True,
    help="create the Workflow on the configured cluster, delete it when done",
)
def chaos_mesh_command(
    experiment: str, output: str | None, namespace: str | None, do_apply: bool
) -> None:
    """Turn the network, HTTP, pod and stress steps of EXPERIMENT into Chaos Mesh resources
    and a Workflow with a StatusCheck guardrail; every manifest is validated first."""
    from aichaos.errors import AichaosError, ValidationError
    from aichaos.integrations.chaosmesh.export import export, load_for_export, slug

    try:
        exp = load_for_export(experiment)
        result = export(exp, namespace)
    except ValidationError as exc:
        click.echo(f"aichaos: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    out = Path(output) if output else Path(f"chaos-mesh-{slug(exp.title, 30)}")
    for path in result.write(out):
        click.echo(f"wrote {path}")
    for line in result.unsupported:
        click.echo(f"not exported: {line}")
    for line in result.notes:
        click.echo(f"note: {line}")
    if not do_apply:
        click.echo(f"apply with: kubectl apply -f {out / 'workflow.yaml'}")
        return
    from aichaos.integrations.chaosmesh.apply import NoCluster, apply

    assert result.workflow is not None

    def terminated(signum: int, frame: object) -> None:
        raise _Terminated

    # SIGTERM unwinds through apply's finally like Ctrl-C does: the Workflow is deleted
    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        applied = apply([result.workflow], wait_s=exp.method_duration_s + 30, echo=click.echo)
    except AichaosError as exc:
        click.echo(f"aichaos: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT if isinstance(exc, NoCluster) else Verdict.ERROR.exit_code)
    except (_Terminated, KeyboardInterrupt):
        click.echo("aborted: stopped by a signal (what was created is deleted)", err=True)
        sys.exit(Verdict.ABORTED.exit_code)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if applied.aborted:
        # a guardrail breach must fail a CI job, as an aborted `aichaos run` does
        click.echo("aborted: a guardrail's StatusCheck failed", err=True)
        sys.exit(Verdict.ABORTED.exit_code)


class _Terminated(BaseException):
    """SIGTERM arrived while the Workflow ran (no ``except Exception`` may swallow it)."""
