"""``aichaos recover``: undo the faults of runs whose runner and watchdog both died.

The watchdog undoes a dead runner's faults at TTL. If the watchdog died too (``kill -9``
of both, an OOM kill, a reboot of the container's init), nothing is left to do it: a
paused process stays paused. ``aichaos recover`` finds such orphaned lease directories
and performs their undo actions at once; ``aichaos run`` and ``aichaos halt`` do the same
before anything else, so the next command a user types repairs the machine.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click

__all__ = ["recover_command", "recover_orphans"]


def recover_orphans(directories: tuple[str, ...] = ()) -> tuple[int, int]:
    """Undo orphaned leases, telling the user on stderr; returns (undone, failed)."""
    from aichaos.engine.deadman import lease_directories, recover
    from aichaos.errors import SafetyError
    from aichaos.faults.claims import prune

    dirs = [Path(d) for d in directories] if directories else lease_directories()
    reports = recover(dirs)
    # after the undo: a claim is stale once its fault cannot be on any more
    with contextlib.suppress(OSError, SafetyError):
        prune()
    failed = 0
    for report in reports:
        raw = report.get("errors")
        errors = [str(e) for e in raw] if isinstance(raw, list) else []
        failed += bool(errors)
        state = f"FAILED: {'; '.join(errors)}" if errors else "undone"
        click.echo(
            f"aichaos: recovered a fault of a dead run ({report.get('label')!r} in "
            f"{report.get('directory')}): {state}",
            err=True,
        )
    return len(reports) - failed, failed


@click.command("recover")
@click.option(
    "--dir",
    "directories",
    multiple=True,
    type=click.Path(file_okay=False),
    help="a lease directory to check (default: every aichaos-leases-* in the temp dir)",
)
def recover_command(directories: tuple[str, ...]) -> None:
    """Undo the faults of runs whose runner and watchdog are both gone.

    Exit 0 when everything found was undone (or nothing was found), 1 if an undo failed.
    """
    undone, failed = recover_orphans(directories)
    click.echo(f"recovered {undone} orphaned fault(s)" + (f", {failed} failed" if failed else ""))
    sys.exit(1 if failed else 0)
