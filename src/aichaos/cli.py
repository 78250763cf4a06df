"""The ``aichaos`` command.

Subcommands live in the modules of their layer and load lazily: ``aichaos --help`` and
``aichaos validate`` do not import the proxy, pandas or plotting. To add one, map its
name to ``module:attribute`` (a ``click.Command``) in ``_COMMANDS``.

Exit codes: 0 ok / passed, 1 deviated, 2 bad input (usage, invalid experiment),
3 aborted (guardrail, kill switch, signal), 4 failed baseline, 5 error.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

__all__ = ["main"]

_COMMANDS: dict[str, str] = {
    "demo": "aichaos.demo.cli:demo_command",
    "export": "aichaos.integrations.chaosmesh.cli:export_command",
    "faults": "aichaos.engine.cli:faults_command",
    "halt": "aichaos.engine.cli:halt_command",
    "import-ctk": "aichaos.integrations.chaostoolkit.cli:import_ctk_command",
    "load": "aichaos.load.cli:load_command",
    "proxy": "aichaos.proxy.cli:proxy_command",
    "recover": "aichaos.engine.recover_cli:recover_command",
    "report": "aichaos.report.cli:report_command",
    "run": "aichaos.engine.cli:run_command",
    "schema": "aichaos.engine.cli:schema_command",
    "validate": "aichaos.engine.cli:validate_command",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        ref = _COMMANDS.get(cmd_name)
        if ref is None:
            return super().get_command(ctx, cmd_name)
        module, _, attr = ref.partition(":")
        cmd: Any = getattr(importlib.import_module(module), attr)
        return cmd  # type: ignore[no-any-return]


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="aichaos")
def cli() -> None:
    """Chaos engineering for AI pipelines and model-serving layers."""


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script."""
    cli.main(args=argv, prog_name="aichaos")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
