"""Chaos Toolkit actions: proxies and toxics, dataset corruption, any registered fault.

Each function takes JSON-able arguments (Chaos Toolkit's ``arguments``) and returns a
JSON-able result, which Chaos Toolkit records in its journal.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

from aichaos.errors import ValidationError
from aichaos.integrations.chaostoolkit._state import state
from aichaos.integrations.proxyproc import ProxyHandle, ProxyProcess

__all__ = [
    "add_toxic",
    "apply_fault",
    "corrupt_dataset",
    "remove_toxic",
    "reset_proxy",
    "restore_dataset",
    "revert_all_faults",
    "revert_fault",
    "start_proxy",
    "stop_proxy",
]


def start_proxy(
    name: str,
    upstream: str,
    http: bool = True,
    seed: int | None = None,
    lifetime_s: float = 3600.0,
) -> dict[str, Any]:
    """Start a chaos proxy ``name`` in front of ``upstream`` in a background process.

    Returns ``{"name", "api_url", "listen", "url", "pid"}``; point the client at ``url``.
    The process stops with ``stop_proxy``, when ``chaos`` exits, or after ``lifetime_s``.
    """
    if name in state.proxies and state.proxies[name].alive():
        raise ValidationError(f"proxy {name!r} is already running; stop_proxy it first")
    proc = ProxyProcess.start(
        [{"name": name, "upstream": upstream.removeprefix("http://"), "http": http}],
        seed=seed,
        lifetime_s=lifetime_s,
    )
    state.proxies[name] = proc
    h = proc.handle(name)
    return {"name": name, "api_url": h.api_url, "listen": h.listen, "url": h.url, "pid": proc.pid}


def stop_proxy(name: str | None = None) -> list[str]:
    """Stop proxy ``name`` (or every proxy this ``chaos`` process started); returns names."""
    names = [name] if name is not None else list(state.proxies)
    stopped = []
    for n in names:
        proc = state.proxies.pop(n, None)
        if proc is None:
            raise ValidationError(
                f"no proxy {n!r} was started here; known: {', '.join(state.proxies) or 'none'}"
            )
        proc.stop()
        stopped.append(n)
    return stopped


def proxy_handle(proxy: str, api_url: str | None) -> ProxyHandle:
    """The API handle of ``proxy``: at ``api_url``, or one this process started."""
    if api_url is not None:  # a proxy started elsewhere (aichaos proxy, Toxiproxy)
        return ProxyHandle(api_url, proxy, "")
    proc = state.proxies.get(proxy)
    if proc is None:
        raise ValidationError(
            f"no proxy {proxy!r} was started here (give api_url for another server); "
            f"known: {', '.join(state.proxies) or 'none'}"
        )
    return proc.handle(proxy)


def add_toxic(
    proxy: str,
    type: str,
    attributes: dict[str, Any] | None = None,
    stream: str = "downstream",
    toxicity: float = 1.0,
    toxic_name: str | None = None,
    ttl_s: float | None = None,
    api_url: str | None = None,
) -> dict[str, Any]:
    """Add a toxic to ``proxy``: TCP (``latency``, ``bandwidth``, ``reset_peer``...), HTTP
    (``http_error``, ``http_delay``) or AI (``stream_stall``, ``stream_cut``,
    ``json_corrupt``, ``truncate``). Returns the toxic as the proxy stored it."""
    h = proxy_handle(proxy, api_url)
    name = h.add_toxic(
        type, stream=stream, toxicity=toxicity, name=toxic_name, ttl_s=ttl_s, **(attributes or {})
    )
    for toxic in h.toxics():
        if toxic["name"] == name:
            return toxic
    return {"name": name}


def remove_toxic(proxy: str, toxic_name: str, api_url: str | None = None) -> str:
    """Remove one toxic (already gone is fine); returns its name."""
    proxy_handle(proxy, api_url).remove_toxic(toxic_name)
    return toxic_name


def reset_proxy(proxy: str, api_url: str | None = None) -> int:
    """Remove every toxic of ``proxy``; returns how many there were."""
    h = proxy_handle(proxy, api_url)
    n = len(h.toxics())
    h.clear()
    return n


# -- data -------------------------------------------------------------------------------

_BACKUP = ".aichaos-orig"


def _read(path: Path) -> Any:
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path)
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix in (".jsonl", ".ndjson"):
        return pd.read_json(path, lines=True)
    raise ValidationError(f"path must end in .csv, .parquet or .jsonl, got {str(path)!r}")


def _write(df: Any, path: Path) -> None:
    suffix = path.suffix.lower()
    tmp = path.with_name(path.name + ".aichaos-tmp")
    if suffix == ".csv":
        df.to_csv(tmp, index=False)
    elif suffix == ".parquet":
        df.to_parquet(tmp, index=False)
    else:
        df.to_json(tmp, orient="records", lines=True)
    tmp.replace(path)  # readers never see a half-written file


def corrupt_dataset(
    path: str,
    corruption: str,
    output: str | None = None,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Apply a corruption (``missing-values``, ``label-flip``...) to a CSV/Parquet/JSONL file.

    Written to ``output``, or in place with the original kept beside it for
    ``restore_dataset``. Returns the corruption report's summary.
    """
    from aichaos.data import make

    src = Path(path)
    if not src.is_file():
        raise ValidationError(f"path must be an existing file, got {path!r}")
    spec = make(corruption, **(params or {}))
    df = _read(src)
    corrupted, report = spec.apply(df)
    dst = Path(output) if output else src
    if output is None:
        backup = src.with_name(src.name + _BACKUP)
        if not backup.exists():  # a second corruption keeps the first original
            shutil.copy2(src, backup)
    _write(corrupted, dst)
    summary: dict[str, Any] = report.summary()
    return {"path": str(dst), "corruption": corruption, "report": summary}


def restore_dataset(path: str) -> bool:
    """Put back the original of a file corrupted in place; False if there was none."""
    src = Path(path)
    backup = src.with_name(src.name + _BACKUP)
    if not backup.exists():
        return False
    backup.replace(src)
    return True


# -- any registered fault ---------------------------------------------------------------


def apply_fault(
    fault: dict[str, Any],
    target: dict[str, Any] | None = None,
    blast_radius: dict[str, Any] | None = None,
    name: str | None = None,
    ttl_s: float = 15.0,
    seed: int = 0,
) -> dict[str, Any]:
    """Apply any registered fault (``{"type": "cpu-burn", "workers": 1}``, model faults,
    ``process-pause``, file faults, proxy faults) on ``target`` (``{"type": ..., ...}``).

    It stays until ``revert_fault(name)`` / ``revert_all_faults()`` or the end of
    ``chaos``; it is renewed every second and undone by a watchdog ``ttl_s`` after this
    process dies. Returns ``{"name", "fault", "target"}``.
    """
    from aichaos.faults.base import FAULTS, BlastRadius, InjectionContext
    from aichaos.targets import TARGETS

    if not isinstance(fault, dict) or "type" not in fault:
        raise ValidationError(f"fault must be a mapping with 'type', got {fault!r}")
    fault_obj = _validated(FAULTS, fault, "fault")
    target_obj = _validated(TARGETS, target, "target") if target is not None else None
    problem = type(fault_obj).target_problem(None, target_obj)
    if problem:
        raise ValidationError(problem)
    label = name or f"{fault['type']}-{len(state.faults) + 1}"
    if label in state.faults:
        raise ValidationError(f"a fault named {label!r} is already applied")
    ctx = InjectionContext(
        target=target_obj,
        blast_radius=BlastRadius.model_validate(blast_radius or {}),
        rng=random.Random(f"{seed}:{label}"),
        ttl_s=ttl_s,
        label=label,
    )
    injection = fault_obj.injection(ctx)
    state.hold(label, injection, ttl_s)
    return {
        "name": label,
        "fault": injection.describe(),
        "target": target_obj.describe() if target_obj is not None else None,
    }


def _validated(registry: Any, data: dict[str, Any], what: str) -> Any:
    cls = registry.get(data["type"])
    try:
        return cls.model_validate({k: v for k, v in data.items() if k != "type"})
    except ValueError as exc:
        raise ValidationError(f"{what} {data['type']!r}: {exc}") from None


def revert_fault(name: str) -> str:
    """Revert the fault ``apply_fault`` applied as ``name``."""
    if name not in state.faults:
        raise ValidationError(
            f"no applied fault named {name!r}; applied: {', '.join(state.faults) or 'none'}"
        )
    state.release(name)
    return name


def revert_all_faults() -> list[str]:
    """Revert every fault applied in this ``chaos`` process (a rollback)."""
    return [revert_fault(name) for name in list(state.faults)]
