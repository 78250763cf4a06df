"""The run's settings: safety limits, timeouts and phase lengths.

Plain frozen data like the rest of the experiment; the kill switch's default path is
per user, so one user's ``aichaos halt`` never stops another user's runs.
"""

from __future__ import annotations

import os
import tempfile

from pydantic import Field

from aichaos.spec import Spec

__all__ = ["Phases", "Safety", "Timeouts", "default_kill_switch"]


class Timeouts(Spec):
    """Enforced timeouts: a hung call can never hang the run."""

    probe_s: float = Field(5.0, gt=0)
    apply_s: float = Field(10.0, gt=0)
    revert_s: float = Field(10.0, gt=0)
    rollback_s: float = Field(30.0, gt=0)


def default_kill_switch() -> str:
    """Where ``aichaos halt`` writes and every run looks, per user.

    ``$AICHAOS_KILL_SWITCH`` if set, else ``$XDG_RUNTIME_DIR/aichaos.halt`` (a directory
    only its user can write), else ``aichaos-<uid>.halt`` in the temporary directory:
    one user's ``halt`` never stops another user's runs.
    """
    explicit = os.environ.get("AICHAOS_KILL_SWITCH")
    if explicit:
        return explicit
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime):
        return os.path.join(runtime, "aichaos.halt")
    return os.path.join(tempfile.gettempdir(), f"aichaos-{os.getuid()}.halt")


class Safety(Spec):
    """Limits that keep a run safe."""

    max_duration_s: float = Field(3600.0, gt=0, description="the run aborts past this")
    allowed_environments: list[str] = Field(
        default_factory=list,
        description="if set, AICHAOS_ENV (or --env) must be one of these",
    )
    dry_run: bool = False
    guardrail_interval_s: float = Field(1.0, gt=0, le=60)
    probe_interval_s: float = Field(1.0, gt=0, le=300)
    kill_switch: str = Field(default_factory=default_kill_switch)
    ttl_s: float = Field(
        15.0, gt=0, le=3600, description="faults expire this long after the runner stops renewing"
    )
    timeouts: Timeouts = Field(default_factory=Timeouts)


class Phases(Spec):
    """Lengths of the observation phases around the method."""

    baseline_s: float = Field(5.0, gt=0)
    recovery_s: float = Field(5.0, ge=0)
