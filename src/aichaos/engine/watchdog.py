"""The watchdog process behind :mod:`aichaos.engine.deadman`.

Run as ``python -m aichaos.engine.watchdog LEASE_DIR --parent PID``. Every
``--poll-s`` it performs the undo actions of each lease past ``mtime + ttl_s``, writes
``<id>.expired`` with what it did, and removes the lease. It exits when the parent is
gone and no lease is left, when the lease directory disappears, or on SIGTERM once no
lease is left -- SIGTERM while leases remain only makes it undo them at once.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import signal
import threading
import time
from pathlib import Path
from types import FrameType

from aichaos.faults.undo import UNDO_ADAPTER, perform
from aichaos.targets import pid_alive

_terminate = False


def _on_term(signum: int, frame: FrameType | None) -> None:
    global _terminate
    _terminate = True


def _without_secrets(action: object) -> object:
    if isinstance(action, dict) and isinstance(action.get("headers"), dict):
        return {**action, "headers": {k: "<redacted>" for k in action["headers"]}}
    return action


def expire(lease: Path) -> None:
    """Perform one lease's undo actions and leave a report beside it."""
    try:
        body = json.loads(lease.read_text())
    except (OSError, ValueError):
        return
    errors = []
    for raw in body.get("actions", []):
        try:
            perform(UNDO_ADAPTER.validate_python(raw))
        except Exception as exc:  # keep going: undo as much as possible
            errors.append(f"{raw.get('kind')}: {exc}")
    report = {"label": body.get("label", ""), "expired_at": time.time(), "errors": errors}
    # the report outlives the lease and may be read into reports: no header values in it
    report["actions"] = [_without_secrets(a) for a in body.get("actions", [])]
    (lease.with_suffix(".expired")).write_text(json.dumps(report))
    lease.unlink(missing_ok=True)


_warming: set[str] = set()


def _warm(body: dict[str, object]) -> None:
    """Prepare a lease's python undo actions now, in the background, so an expiry pays
    only for the call: import their modules (importing a library such as MLflow takes
    seconds) and run their ``warm`` functions (opening a database can take as long)."""
    actions = body.get("actions")
    for raw in actions if isinstance(actions, list) else []:
        if not isinstance(raw, dict) or raw.get("kind") != "python":
            continue
        jobs: list[tuple[str, object]] = [(str(raw.get("function", "")), None)]
        if raw.get("warm"):
            jobs.append((str(raw["warm"]), raw.get("arguments") or {}))
        for target, args in jobs:
            key = json.dumps([target, args], sort_keys=True, default=str)
            if target and key not in _warming:
                _warming.add(key)
                threading.Thread(target=_warm_quietly, args=(target, args), daemon=True).start()


def _warm_quietly(target: str, arguments: object) -> None:
    """Import ``module`` of ``module:function``; call it when ``arguments`` is a dict."""
    module, _, name = target.partition(":")
    with contextlib.suppress(Exception):  # perform() reports a failing undo at expiry
        mod = importlib.import_module(module)
        if isinstance(arguments, dict):
            getattr(mod, name)(**arguments)


def sweep(directory: Path, now: float, force: bool = False) -> int:
    """Expire what is due (everything when ``force``); return how many leases remain."""
    remaining = 0
    for lease in directory.glob("*.lease"):
        try:
            st = lease.stat()
            body = json.loads(lease.read_text())
            ttl = float(body.get("ttl_s", 0))
        except (OSError, ValueError, AttributeError):
            continue
        _warm(body)
        if force or now >= st.st_mtime + ttl:
            expire(lease)
        else:
            remaining += 1
    return remaining


def main(argv: list[str] | None = None) -> int:
    """Watch ``LEASE_DIR`` until the parent is gone and nothing is left to undo."""
    ap = argparse.ArgumentParser(prog="aichaos-watchdog")
    ap.add_argument("directory", type=Path)
    ap.add_argument("--parent", type=int, required=True)
    ap.add_argument("--poll-s", type=float, default=0.1)
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while args.directory.is_dir():
        remaining = sweep(args.directory, time.time())
        parent_alive = pid_alive(args.parent)
        if remaining == 0 and (not parent_alive or _terminate):
            return 0
        time.sleep(args.poll_s)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
