"""``aichaos import-ctk FILE [-o OUT]``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from aichaos.verdict import EXIT_BAD_INPUT

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
@click.option(
    "--allow-weaker-hypothesis",
    is_flag=True,
    help="write the experiment even when some steady-state probes did not convert (its "
    "description then says which): without them it can pass where Chaos Toolkit fails",
)
def import_ctk_command(file: str, output: str | None, allow_weaker_hypothesis: bool) -> None:
    """Convert a Chaos Toolkit experiment (JSON or YAML) into an aichaos experiment.

    Exit 0 when everything converted, 1 when some parts did not (each is named), 2 on
    bad input, when the result would not be a valid experiment, or when a steady-state
    probe did not convert (unless --allow-weaker-hypothesis)."""
    import json

    import yaml

    from aichaos.errors import ExperimentError, ValidationError
    from aichaos.experiment.loader import parse_experiment
    from aichaos.integrations.chaostoolkit.convert import convert

    try:
        text = Path(file).read_text()
        data = json.loads(text) if file.endswith(".json") else yaml.safe_load(text)
        result = convert(data)
        if result.weaker:
            lost = "; ".join(result.weaker)
            if not allow_weaker_hypothesis:
                raise ValidationError(
                    "the converted steady state would be weaker than the Chaos Toolkit "
                    f"hypothesis: {len(result.weaker)} probe(s) did not convert:\n  - "
                    + "\n  - ".join(s for s in result.skipped if s.startswith("steady-state"))
                    + "\nconvert them by hand, or pass --allow-weaker-hypothesis"
                )
            warning = f"WEAKER HYPOTHESIS than the Chaos Toolkit original: {lost} not converted"
            desc = result.experiment.get("description")
            result.experiment["description"] = f"{desc}\n{warning}" if desc else warning
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
        sys.exit(EXIT_BAD_INPUT)
    except (ValueError, ValidationError, ExperimentError) as exc:
        click.echo(f"aichaos: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    header = f"# converted from Chaos Toolkit experiment {Path(file).name} by aichaos import-ctk\n"
    for line in result.weaker:
        header += f"# WEAKER HYPOTHESIS: {line} did not convert\n"
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
