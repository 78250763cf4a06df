"""The dead-man's switch: faults that expire on their own if the runner dies.

Every applied injection that leaves state outside the runner (a paused process, a
replaced file, a proxy toxic) gets a *lease*: a small JSON file holding its undo actions
and TTL. The runner renews a lease by touching it; a separate watchdog process (started
in its own session, so a Ctrl-C or SIGKILL of the runner does not reach it) performs the
undo actions of every lease whose ``mtime + ttl_s`` has passed, and exits once the runner
is gone and no lease is left. A normal revert deletes the lease first.

Touching a file is the cheapest renewal there is, and a lease directory survives the
runner, so ``aichaos`` can also report what the watchdog had to undo.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from aichaos.targets import pid_start_time

if TYPE_CHECKING:  # loaded with the first lease: a run without one never needs them
    from aichaos.faults.undo import UndoAction

__all__ = ["OWNER", "DeadMan", "Lease", "lease_directories", "recover"]

#: the file in a lease directory naming its runner and watchdog
OWNER = "owner.json"


class Lease:
    """One injection's lease: renew it while the fault should stay, release it on revert."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def renew(self) -> None:
        """Push the deadline to now + TTL."""
        # gone: already expired and undone by the watchdog; the revert is idempotent
        with contextlib.suppress(FileNotFoundError):
            os.utime(self.path)

    def release(self) -> None:
        """The fault was reverted normally: the watchdog has nothing to do."""
        self.path.unlink(missing_ok=True)


class DeadMan:
    """A lease directory plus the watchdog process that enforces it.

    >>> dm = DeadMan.start(ttl_s=10)                    # doctest: +SKIP
    >>> lease = dm.lease("pause worker", [SendSignal(pid=1234)])   # doctest: +SKIP
    """

    def __init__(
        self,
        directory: Path,
        ttl_s: float,
        proc: subprocess.Popen[bytes] | None,
        *,
        on_demand: bool = False,
    ):
        self.directory = directory
        self.ttl_s = ttl_s
        self.proc = proc
        self._on_demand = on_demand

    @classmethod
    def start(cls, ttl_s: float, directory: Path | None = None) -> DeadMan:
        """Create the lease directory and start a watchdog for this process."""
        d = directory or Path(tempfile.mkdtemp(prefix="aichaos-leases-"))
        d.mkdir(parents=True, exist_ok=True)
        os.chmod(d, 0o700)  # undo actions may carry a control-API token
        return cls(d, ttl_s, _spawn_watchdog(d))

    @classmethod
    def on_demand(cls, ttl_s: float) -> DeadMan:
        """A switch whose directory and watchdog appear with the first lease.

        A run whose faults leave nothing outside the runner (no undo actions) then
        starts no second interpreter, which competes with the run for CPU and memory.
        """
        d = Path(tempfile.gettempdir()) / f"aichaos-leases-{uuid.uuid4().hex[:12]}"
        return cls(d, ttl_s, None, on_demand=True)

    def _arm(self) -> None:
        if self._on_demand and self.proc is None:
            # mode 0700 (undo actions may carry a control-API token); an existing path,
            # a symlink planted there included, is an error rather than reused
            self.directory.mkdir(mode=0o700)
            self.proc = _spawn_watchdog(self.directory)

    def lease(self, label: str, actions: Sequence[UndoAction], ttl_s: float | None = None) -> Lease:
        """Write a lease for ``actions`` (atomically: write, then rename).

        ``ttl_s`` overrides this switch's TTL for one lease (faults held outside a run
        each carry their own).
        """
        from aichaos.faults.undo import UNDO_ADAPTER

        self._arm()
        lease_id = uuid.uuid4().hex[:12]
        body = {
            "label": label,
            "ttl_s": self.ttl_s if ttl_s is None else ttl_s,
            "created": time.time(),
            "actions": [UNDO_ADAPTER.dump_python(a, mode="json") for a in actions],
        }
        tmp = self.directory / f".{lease_id}.tmp"
        final = self.directory / f"{lease_id}.lease"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(body, f)
        os.replace(tmp, final)
        return Lease(final)

    def expired(self) -> list[dict[str, object]]:
        """Reports the watchdog left for leases it had to undo (label, actions, errors)."""
        out = []
        for p in sorted(self.directory.glob("*.expired")):
            try:
                out.append(json.loads(p.read_text()))
            except (OSError, ValueError):
                continue
        return out

    def stop(self) -> None:
        """Normal end: no lease left, so the watchdog may go; don't wait long for it.

        The lease directory goes too when nothing is left in it; a lease the watchdog
        could not undo, or its report of what it undid, keeps it.
        """
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=2)
        if self.proc is None or self.proc.poll() is not None:
            with contextlib.suppress(OSError):  # absent, or not empty: kept for whoever looks
                if all(p.name == OWNER for p in self.directory.iterdir()):
                    (self.directory / OWNER).unlink(missing_ok=True)
                self.directory.rmdir()


def _spawn_watchdog(directory: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aichaos.engine.watchdog",
            str(directory),
            "--parent",
            str(os.getpid()),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
    # who answers for this directory: ``aichaos recover`` undoes its leases only once
    # both are gone (a pid with its start time, so a reused pid is not mistaken for it)
    owner = {
        "runner": [os.getpid(), pid_start_time(os.getpid())],
        "watchdog": [proc.pid, pid_start_time(proc.pid)],
    }
    tmp = directory / ".owner.tmp"
    tmp.write_text(json.dumps(owner))
    os.replace(tmp, directory / OWNER)
    return proc


def _alive(entry: object) -> bool:
    if not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[0], int):
        return True  # unreadable: assume someone still answers for it
    return entry[1] is not None and pid_start_time(entry[0]) == entry[1]


def lease_directories(root: Path | None = None) -> list[Path]:
    """Every lease directory of this machine's runs under ``root`` (default: the temp dir)."""
    base = root or Path(tempfile.gettempdir())
    # one directory read: every run and halt looks, and the directories of runs whose
    # watchdog undid something stay (with its reports) until someone removes them
    with os.scandir(base) as entries:
        found = [
            base / e.name
            for e in entries
            if e.name.startswith("aichaos-leases-") and e.is_dir(follow_symlinks=False)
        ]
    return sorted(found)


def _holds_lease(directory: Path) -> bool:
    try:
        with os.scandir(directory) as entries:
            return any(e.name.endswith(".lease") for e in entries)
    except OSError:
        return False  # gone, or another user's


def recover(directories: Sequence[Path]) -> list[dict[str, object]]:
    """Undo the leases of runs whose runner *and* watchdog are both gone.

    A lease normally dies with its fault: reverted by the runner, or expired by the
    watchdog. If both were killed (``kill -9`` of the process group, an OOM kill), nobody
    is left to undo it and a paused process stays paused forever. This performs such
    orphaned leases' undo actions now (TTL or not) and returns the watchdog's reports.
    Directories still answered for, or unreadable ones, are left alone.
    """
    reports: list[dict[str, object]] = []
    for d in directories:
        if not _holds_lease(d):
            continue  # nothing left to undo there: no need to ask who answers for it
        try:
            owner = json.loads((d / OWNER).read_text())
        except (OSError, ValueError):
            continue  # being created, another user's, or written by an older aichaos
        if not isinstance(owner, dict) or _alive(owner.get("runner")):
            continue
        if _alive(owner.get("watchdog")):
            continue
        # imported only for an orphan: a run's start-up should not pay for the watchdog
        from aichaos.engine.watchdog import expire

        for lease in sorted(d.glob("*.lease")):
            expire(lease)
            report = lease.with_suffix(".expired")
            with contextlib.suppress(OSError, ValueError):
                reports.append({"directory": str(d), **json.loads(report.read_text())})
    return reports
