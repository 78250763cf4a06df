"""``aichaos import-ctk FILE [-o OUT]``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

__all__ = ["import_ctk_command"]


@click.command("import-ctk")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="write the aichaos experiment here (default: stdout)",
)
def import_ctk_command(file: str, output: str | None) -> None:
    """Convert a Chaos Toolkit experiment (JSON or YAML) into an aichaos experiment.

    Exit 0 when everything converted, 1 when some parts did not (each is named), 2 on
    bad input or when the result would not be a valid experiment."""
    import json

    import yaml

    from aichaos.errors import ExperimentError, ValidationError
    from aichaos.experiment.loader import parse_experiment
    from aichaos.integrations.chaostoolkit.convert import convert

    try:
        text = Path(file).read_text()
        data = json.loads(text) if file.endswith(".json") else yaml.safe_load(text)
        result = convert(data)
        rendered = yaml.safe_dump(result.experiment, sort_keys=False)
        try:
            parse_experiment(rendered, source=f"{file} (converted)")
        except ExperimentError as exc:
            # unset ${env:...} variables cannot be checked here: say so, do not refuse
            if not any("environment variable" in p.message for p in exc.problems):
                raise
            result.notes.append(
                "not fully validated: it reads environment variables that are not set here; "
                "run `aichaos validate` where they are"
            )
    except OSError as exc:
        click.echo(f"aichaos: cannot read {file}: {exc.strerror}", err=True)
        sys.exit(2)
    except (ValueError, ValidationError, ExperimentError) as exc:
        click.echo(f"aichaos: {exc}", err=True)
        sys.exit(2)
    header = f"# converted from Chaos Toolkit experiment {Path(file).name} by aichaos import-ctk\n"
    for line in result.skipped:
        header += f"# not converted: {line}\n"
    if output:
        Path(output).write_text(header + rendered)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(header + rendered, nl=False)
    for line in result.notes:
        click.echo(f"note: {line}", err=True)
    for line in result.skipped:
        click.echo(f"not converted: {line}", err=True)
    sys.exit(1 if result.skipped else 0)
