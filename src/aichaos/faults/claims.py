"""Per-resource claims: two faults never act on one file or process at once.

Faults that move a file aside or stop a process remember the state they found and put it
back on revert. Two of them on one resource undo each other: the second backs up the
first's damage and "restores" it last, or lifts the first's pause early. So such a fault
*claims* its resource before touching it, in a lock directory shared by every process on
the machine (``AICHAOS_LOCK_DIR``, default ``/tmp/aichaos-locks``), and a second claim is
refused with the holder's name: refusing is the only answer that leaves the resource as
the user had it (stacking two truncations or two pauses has no defined undo order).

A claim outlives its runner until the damage is undone: it is held while the runner
lives *or* while a watchdog of that runner lives (the watchdog exits only once every
lease is undone), so a SIGKILLed runner's file is not backed up again, damaged, by the
next experiment before the watchdog restores it.

:func:`exclusive` is the short form, for check-then-act sequences that must be atomic
across processes (a disk fill's free-space check and allocation).

>>> c = claim("file:/data/a.csv", "truncate a.csv")   # doctest: +SKIP
>>> c.release()                                       # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from aichaos.errors import SafetyError
from aichaos.targets import pid_start_time

__all__ = [
    "Claim",
    "claim",
    "claiming",
    "exclusive",
    "file_resource",
    "lock_dir",
    "pid_resource",
    "prune",
]


def lock_dir() -> Path:
    """The machine-wide lock directory (created sticky and world-writable, like /tmp)."""
    d = Path(os.environ.get("AICHAOS_LOCK_DIR") or "/tmp/aichaos-locks")
    if not d.is_dir():
        with contextlib.suppress(FileExistsError):
            d.mkdir(parents=True)
            os.chmod(d, 0o1777)
    return d


def file_resource(path: str | Path) -> str:
    """The claim name of a file: its real path, so two spellings are one resource."""
    return f"file:{os.path.realpath(path)}"


def pid_resource(pid: int) -> str:
    """The claim name of a process: pid and start time, so a reused pid is another one."""
    return f"pid:{pid}:{_start_time(pid)}"


def _start_time(pid: int) -> str:
    return pid_start_time(pid) or "gone"


def _file_for(resource: str) -> Path:
    return lock_dir() / f"{hashlib.sha256(resource.encode()).hexdigest()[:32]}.claim"


@contextlib.contextmanager
def exclusive(resource: str, timeout_s: float = 30.0) -> Iterator[None]:
    """Hold the machine-wide mutex of ``resource`` (``flock``: freed if the holder dies)."""
    path = lock_dir() / f"{hashlib.sha256(resource.encode()).hexdigest()[:32]}.mutex"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise SafetyError(
                        f"{resource} stayed locked by another aichaos process for {timeout_s:g}s"
                    ) from None
                time.sleep(0.01)
        yield
    finally:
        os.close(fd)  # closing drops the flock


def _watchdog_parents() -> set[int]:
    """The runner pids that some live aichaos watchdog answers for (one /proc scan)."""
    parents = set()
    pattern = re.compile(r"aichaos\.engine\.watchdog .* --parent (\d+)(?: |$)")
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            m = pattern.search(raw.replace(b"\0", b" ").decode(errors="replace").strip())
            if m:
                parents.add(int(m.group(1)))
    return parents


def _held(info: dict[str, object], watched: set[int] | None = None) -> bool:
    """Whether the claimed fault may still be on.

    With ``evidence`` (a file that exists exactly while the fault is on: a swap's kept
    original), that file decides. Otherwise: while the claim's runner lives, or a watchdog
    of that runner does (it exits only once every lease is undone). ``watched`` is
    :func:`_watchdog_parents`, when the caller already has it.
    """
    evidence = info.get("evidence")
    if isinstance(evidence, str):
        return os.path.lexists(evidence)
    pid = info.get("pid")
    if not isinstance(pid, int):
        return False
    if _start_time(pid) == info.get("start"):
        return True
    return pid in (_watchdog_parents() if watched is None else watched)


def prune() -> int:
    """Remove every claim whose fault can no longer be on; returns how many.

    A claim is removed by its own revert; one whose runner was killed stays until the
    next claim of that resource finds it stale. ``aichaos recover`` (and so each run and
    halt) calls this, so the lock directory does not grow with every killed run.
    """
    removed = 0
    with exclusive("claims"):
        claims = list(lock_dir().glob("*.claim"))
        # the /proc scan reads every process's command line: only when a claim asks
        watched = _watchdog_parents() if claims else set()
        for path in claims:
            try:
                info = json.loads(path.read_text())
            except (OSError, ValueError):
                info = {}
            if not isinstance(info, dict) or not _held(info, watched):
                path.unlink(missing_ok=True)
                removed += 1
    return removed


class Claim:
    """A held claim; :meth:`release` gives the resource back (only this claim's own file)."""

    def __init__(self, resource: str, path: Path, token: str) -> None:
        self.resource = resource
        self.path = path
        self.token = token

    def release(self) -> None:
        """Remove the claim if it is still ours."""
        with exclusive("claims"):
            try:
                info = json.loads(self.path.read_text())
            except (OSError, ValueError):
                return
            if info.get("token") == self.token:
                self.path.unlink(missing_ok=True)


@contextlib.contextmanager
def claiming(resource: str, label: str, evidence: Path | None = None) -> Iterator[Claim]:
    """Claim ``resource`` for a fault; :class:`SafetyError` naming the holder if taken.

    The body runs under the claims mutex and should create ``evidence`` (when given); the
    claim is written only if the body succeeds, so no other process sees a claim whose
    evidence does not exist yet.
    """
    path = _file_for(resource)
    token = uuid.uuid4().hex
    pid = os.getpid()
    with exclusive("claims"):
        try:
            info = json.loads(path.read_text())
        except FileNotFoundError:
            info = None
        except (OSError, ValueError):
            info = {}  # unreadable or half-written by a crashed process: stale
        if info is not None and _held(info):
            kind, name = resource.split(":", 2)[:2]
            raise SafetyError(
                f"{kind} {name} is already under a fault ({info.get('label')!r}, aichaos "
                f"pid {info.get('pid')}); a second fault on it would undo the first or be "
                "undone by it, so it is refused"
            )
        yield Claim(resource, path, token)
        body = {"resource": resource, "label": label, "pid": pid, "start": _start_time(pid)}
        body |= {"token": token, "evidence": None if evidence is None else str(evidence)}
        tmp = path.with_name(f".{token}.tmp")
        tmp.write_text(json.dumps(body))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)


def claim(resource: str, label: str) -> Claim:
    """Claim ``resource`` (held while this runner or its watchdog lives)."""
    with claiming(resource, label) as held:
        return held
