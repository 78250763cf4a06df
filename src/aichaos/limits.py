"""Physical limits on every number a user gives: experiment files and toxic attributes.

A number that validates but cannot be acted on fails at run time instead (an asyncio
timer of 1e300 s overflows, a NaN ramp level compares false with every bound), after the
baseline has run and faults may be applied. So at load, wherever it is in the file (a
ramp level, a toxic attribute in a free-form mapping):

* every number is finite (``.nan``, ``.inf`` are refused);
* every number is at most 2**53 in magnitude (the largest integer a float holds
  exactly; ``10^400`` would overflow the first conversion to a float);
* a duration (a key ending in ``_s``, ``_ms`` or ``_us``, the project's unit names) is at
  most a year: no timer, lease or timeout of aichaos is meant to run longer.

Field constraints (``>= 0``, ``<= 1``) are the models' job; this is the floor under them.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["MAX_MAGNITUDE", "YEAR_S", "number_problems"]

#: the largest magnitude of any number in an experiment file
MAX_MAGNITUDE = 2**53
#: the longest duration any ``*_s`` / ``*_ms`` field may hold
YEAR_S = 365 * 24 * 3600

Path_ = tuple[str | int, ...]


def _unit_limit(key: str | int | None) -> tuple[float, str] | None:
    if isinstance(key, str) and key.endswith("_us"):
        return YEAR_S * 1e6, f"{YEAR_S * 10**6} us (a year)"
    if isinstance(key, str) and key.endswith("_ms"):
        return YEAR_S * 1000.0, f"{YEAR_S * 1000} ms (a year)"
    if isinstance(key, str) and key.endswith("_s"):
        return float(YEAR_S), f"{YEAR_S} s (a year)"
    return None


def _short(value: int | float) -> str:
    text = repr(value)
    return text if len(text) <= 24 else f"a {len(str(abs(int(value))))}-digit integer"


def number_problems(data: Any) -> list[tuple[Path_, str]]:
    """(path, message) for every number in ``data`` outside its physical range."""
    out: list[tuple[Path_, str]] = []
    # iterative: the tree may be deep (the loader bounds it, but this must not recurse)
    stack: list[tuple[Any, Path_, str | int | None]] = [(data, (), None)]
    while stack:
        node, path, key = stack.pop()
        if isinstance(node, dict):
            stack.extend((v, (*path, k), k) for k, v in node.items())
        elif isinstance(node, list):
            # a list's items share the key of the list (ramp values, a series of latencies)
            stack.extend((v, (*path, i), key) for i, v in enumerate(node))
        elif isinstance(node, bool):
            continue
        elif isinstance(node, float) and not math.isfinite(node):
            out.append((path, f"must be a finite number, got {node}"))
        elif isinstance(node, int | float):
            if abs(node) > MAX_MAGNITUDE:
                out.append((path, f"must be at most 2**53 in magnitude, got {_short(node)}"))
                continue
            limit = _unit_limit(key)
            if limit is not None and abs(node) > limit[0]:
                out.append((path, f"must be at most {limit[1]}, got {_short(node)}"))
    return sorted(out, key=lambda p: [str(x) for x in p[0]])
