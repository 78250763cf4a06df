"""Targets: the parts of the system under test that faults act on and probes observe.

A target is plain data in the experiment's ``targets`` map, named by the steps and
probes that use it. New kinds register in :data:`TARGETS` like faults do.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import ClassVar

from pydantic import Field, model_validator

from aichaos.errors import TargetError
from aichaos.registry import Registry
from aichaos.spec import Spec

__all__ = ["TARGETS", "HttpTarget", "ProcessTarget", "Target", "pid_alive", "pid_start_time"]


class Target(Spec):
    """Base of every target kind."""

    type: ClassVar[str] = ""

    def describe(self) -> str:
        """One line for the plan and the journal (no secrets)."""
        return self.type


TARGETS: Registry[Target] = Registry(
    "target",
    "aichaos.targets",
    builtin_modules=(
        "aichaos.targets",
        "aichaos.inprocess.fault",
        "aichaos.model.directory_registry",
        "aichaos.model.mlflow_registry",
        "aichaos.proxy.target",
        "aichaos.integrations.kubernetes",
        "aichaos.integrations.ray_serve",
    ),
)


@TARGETS.register("http")
class HttpTarget(Target):
    """An HTTP service (inference API, feature store...) reached at ``url``."""

    url: str = Field(pattern=r"^https?://", description="base URL, e.g. http://127.0.0.1:8000")
    headers: dict[str, str] = Field(default_factory=dict, description="sent with every request")

    def describe(self) -> str:
        return f"http {self.url}"


@TARGETS.register("process")
class ProcessTarget(Target):
    """A local process, by ``pid``, by a ``pid_file``, or by a command-line regex ``match``."""

    pid: int | None = Field(None, gt=0)
    pid_file: str | None = None
    match: str | None = Field(None, description="regex searched in /proc/<pid>/cmdline")
    allow_pid1: bool = Field(False, description="let a fault pause, kill or limit PID 1")
    allow_other_users: bool = Field(
        False, description="let a fault pause, kill or limit processes of other users"
    )

    @model_validator(mode="after")
    def _one_way(self) -> ProcessTarget:
        given = [x for x in (self.pid, self.pid_file, self.match) if x is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of pid, pid_file, match")
        if self.match is not None:
            try:
                re.compile(self.match)
            except re.error as exc:
                raise ValueError(f"match is not a valid regex: {exc}") from None
        return self

    def describe(self) -> str:
        if self.pid is not None:
            return f"process pid={self.pid}"
        if self.pid_file is not None:
            return f"process pid_file={self.pid_file}"
        return f"process match={self.match!r}"

    def resolve(self) -> list[int]:
        """The live pids this target names now; :class:`TargetError` if there are none."""
        if self.pid is not None:
            pids = [self.pid]
        elif self.pid_file is not None:
            try:
                pids = [int(Path(self.pid_file).read_text().strip())]
            except (OSError, ValueError) as exc:
                raise TargetError(f"cannot read a pid from {self.pid_file}: {exc}") from exc
        else:
            pids = _pids_matching(re.compile(self.match or ""))
        alive = [p for p in pids if pid_alive(p)]
        if not alive:
            raise TargetError(f"no running process for target ({self.describe()})")
        return alive


def pid_start_time(pid: int) -> str | None:
    """When ``pid`` started (clock ticks since boot, from /proc), or None if it is gone.

    A pid and its start time name one process: a pid reused by another process after
    the first one died has another start time. A zombie (dead, not yet reaped) is gone.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name in parentheses may hold spaces and parentheses itself
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def pid_alive(pid: int) -> bool:
    """True if ``pid`` exists (also when it belongs to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pids_matching(pattern: re.Pattern[str]) -> list[int]:
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            raw = (entry / "cmdline").read_bytes().rstrip(b"\0")
            cmdline = raw.replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cmdline and pattern.search(cmdline):
            found.append(int(entry.name))
    return sorted(found)
