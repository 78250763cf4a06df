"""Which pids a process fault may hit: the one place that applies the exclusions.

A pause, kill or cgroup limit on the wrong process can disable aichaos's own safety net
(a paused watchdog never undoes anything) or take the machine down (PID 1). So every
process fault, and the dry run, select their pids through :func:`select_pids`, which
never returns:

* aichaos's own processes: the runner (this process) and its ancestors, any aichaos
  watchdog, stressor child or proxy process on the machine (found by their module in the
  command line), and every child this process registered with :func:`register_own`;
* PID 1, unless the target sets ``allow_pid1``;
* processes of another user, unless the target sets ``allow_other_users``.

>>> sel = select_pids(ProcessTarget(match="^worker"))   # doctest: +SKIP
>>> sel.hit, sel.excluded                               # doctest: +SKIP
([4242], {1187: 'aichaos watchdog'})
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from aichaos.errors import TargetError
from aichaos.targets import ProcessTarget, pid_alive

__all__ = ["PidSelection", "protected_pids", "register_own", "select_pids"]

#: command-line markers of processes aichaos starts to keep itself safe or to run faults
_OWN_MODULES = {
    "aichaos.engine.watchdog": "aichaos watchdog",
    "aichaos.resource.child": "aichaos stressor child",
    "aichaos.integrations.proxyproc": "aichaos proxy process",
}
_OWN_RE = re.compile(r"-m\s+(" + "|".join(re.escape(m) for m in _OWN_MODULES) + r")(\s|$)")

_registered: dict[int, str] = {}


def register_own(pid: int, what: str) -> None:
    """Mark ``pid`` (a child this process started) as aichaos's own: never a fault target."""
    _registered[pid] = what


@dataclass(frozen=True)
class PidSelection:
    """The pids a target hits now, and those it matched but may not touch (pid -> why)."""

    hit: list[int]
    excluded: dict[int, str] = field(default_factory=dict)

    def describe(self) -> dict[str, object]:
        """Plain data for the dry run and the journal."""
        return {"pids": self.hit, "excluded": {str(p): why for p, why in self.excluded.items()}}


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0")
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def _parent(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    # the command name in parentheses may hold spaces and parentheses itself
    return int(stat.rsplit(")", 1)[1].split()[1])


def _uid(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Uid:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def protected_pids() -> dict[int, str]:
    """aichaos's own processes on this machine now (pid -> what it is)."""
    out: dict[int, str] = {}
    pid = os.getpid()
    out[pid] = "the aichaos runner (this process)"
    for _ in range(256):  # bounded: a parent chain is short, but /proc could change under us
        pid = _parent(pid)
        if pid <= 1:
            break
        out.setdefault(pid, "an ancestor of the aichaos runner")
    for pid, what in list(_registered.items()):
        if pid_alive(pid):
            out.setdefault(pid, what)
        else:
            _registered.pop(pid, None)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            m = _OWN_RE.search(_cmdline(int(entry.name)))
            if m:
                out.setdefault(int(entry.name), _OWN_MODULES[m.group(1)])
    return out


def select_pids(target: ProcessTarget) -> PidSelection:
    """The live pids ``target`` names, minus those no fault may touch.

    Raises :class:`~aichaos.errors.TargetError` when nothing is left, naming what was
    excluded and why, so a pattern that only hits protected processes fails loudly.
    """
    matched = target.resolve()
    protected = protected_pids()
    me = os.getuid()
    hit: list[int] = []
    excluded: dict[int, str] = {}
    for pid in matched:
        if pid in protected:
            excluded[pid] = protected[pid]
        elif pid == 1 and not target.allow_pid1:
            excluded[pid] = "PID 1 (set allow_pid1: true on the target to allow it)"
        elif (uid := _uid(pid)) is not None and uid != me and not target.allow_other_users:
            excluded[pid] = (
                f"owned by uid {uid}, not {me} (set allow_other_users: true on the target "
                "to allow it)"
            )
        else:
            hit.append(pid)
    if not hit:
        why = "; ".join(f"pid {p}: {w}" for p, w in sorted(excluded.items()))
        raise TargetError(f"no process a fault may touch for target ({target.describe()}): {why}")
    return PidSelection(hit, excluded)
