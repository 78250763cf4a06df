"""Undo actions: what a watchdog does to revert a fault whose runner died.

They are plain data (JSON in a lease file) and run without the engine, so each one is
small, idempotent and safe to repeat: sending SIGCONT twice, restoring a file that is
already restored, or deleting a proxy toxic that is gone are all harmless.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, TypeAdapter

from aichaos.callables import import_callable
from aichaos.errors import TargetError
from aichaos.proxyapi import send_sync
from aichaos.spec import Spec

__all__ = [
    "HttpRequest",
    "PythonCall",
    "RemovePath",
    "RestoreFile",
    "RestoreManifest",
    "SendSignal",
    "UndoAction",
    "perform",
    "sha256",
]


def sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class _Action(Spec):
    # schemas are built on first use: a run whose faults leave nothing outside the runner
    # never builds them
    model_config = ConfigDict(defer_build=True)


class SendSignal(_Action):
    """Send a signal to a pid (e.g. SIGCONT to a paused process)."""

    kind: Literal["signal"] = "signal"
    pid: int
    signal: str = "SIGCONT"


class RemovePath(_Action):
    """Remove a file or directory tree that a fault created (disk fill, ballast)."""

    kind: Literal["remove"] = "remove"
    path: str


class RestoreFile(_Action):
    """Move a kept original back over a file a fault replaced or removed.

    With ``sha256`` the restored file is checked against the original's checksum.
    """

    kind: Literal["restore"] = "restore"
    backup: str
    path: str
    sha256: str | None = None


class RestoreManifest(_Action):
    """Restore every file listed in a manifest: one :class:`RestoreFile` per JSON line.

    For faults that swap files after their lease was written (files landing during a
    step): each swap appends its line, synced, before the faulty file goes in place.
    """

    kind: Literal["restore-manifest"] = "restore-manifest"
    manifest: str


class HttpRequest(_Action):
    """An HTTP request to a loopback control API (e.g. DELETE a proxy toxic).

    ``bearer_env`` names an environment variable holding a bearer token: the watchdog
    (which inherits the runner's environment) reads it when it acts, so the token itself
    is never written to the lease file.
    """

    kind: Literal["http"] = "http"
    method: str = "DELETE"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    bearer_env: str | None = None
    timeout_s: float = 2.0


class PythonCall(_Action):
    """Call ``package.module:function(**arguments)`` (JSON arguments) in the watchdog.

    For undo that needs a library's API (an MLflow alias reset). The function must be
    idempotent, bounded in time, and import quickly: the watchdog runs it at TTL expiry.
    """

    kind: Literal["python"] = "python"
    function: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
    arguments: dict[str, Any] = Field(default_factory=dict)
    #: called once with the same arguments, in the background, as soon as the watchdog
    #: sees the lease: for set-up that would slow the undo down (opening a database),
    #: so that an expiry pays only for the call itself
    warm: str | None = Field(None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


UndoAction = Annotated[
    SendSignal | RemovePath | RestoreFile | RestoreManifest | HttpRequest | PythonCall,
    Field(discriminator="kind"),
]
UNDO_ADAPTER: TypeAdapter[UndoAction] = TypeAdapter(UndoAction, config=ConfigDict(defer_build=True))


def perform(action: UndoAction) -> None:
    """Perform one undo action; 'already undone' is success, other failures raise OSError."""
    if isinstance(action, SendSignal):
        with contextlib.suppress(ProcessLookupError):
            os.kill(action.pid, getattr(signal, action.signal))
    elif isinstance(action, RemovePath):
        if os.path.isdir(action.path) and not os.path.islink(action.path):
            shutil.rmtree(action.path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.remove(action.path)
    elif isinstance(action, RestoreFile):
        _restore(action)
    elif isinstance(action, RestoreManifest):
        _restore_manifest(action.manifest)
    elif isinstance(action, PythonCall):
        try:
            import_callable(action.function)(**action.arguments)
        except Exception as exc:
            raise OSError(f"{action.function} raised {type(exc).__name__}: {exc}") from exc
    else:
        headers = dict(action.headers)
        if action.bearer_env is not None:
            token = os.environ.get(action.bearer_env)
            if not token:
                raise OSError(f"environment variable {action.bearer_env} (bearer_env) is not set")
            headers["Authorization"] = f"Bearer {token}"
        try:
            status, _ = send_sync(
                action.method, action.url, headers=headers, timeout_s=action.timeout_s
            )
        except TargetError as exc:
            raise OSError(str(exc)) from exc
        if status >= 400 and status != 404:  # 404: already gone
            raise OSError(f"{action.method} {action.url} -> {status}")


def _restore(action: RestoreFile) -> None:
    # no backup left: restored already (and checked then)
    if not os.path.lexists(action.backup):
        return
    os.replace(action.backup, action.path)
    if action.sha256 is not None and sha256(action.path) != action.sha256:
        raise OSError(f"{action.path} differs from its original after restore (SHA-256)")


def _restore_manifest(manifest: str) -> None:
    try:
        with open(manifest, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return
    errors = []
    # newest first: a file swapped twice ends with its first original
    for line in reversed(lines):
        try:
            action = RestoreFile.model_validate_json(line)
        except ValueError:
            continue  # a line cut short by a crash: its swap never happened
        try:
            _restore(action)
        except OSError as exc:
            errors.append(str(exc))
    if errors:
        raise OSError("; ".join(errors))
