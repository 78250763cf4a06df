"""``path_regex`` matching in linear time (RE2), so no pattern can freeze the proxy's loop.

Python's ``re`` backtracks: ``(a+)+$`` against a path of 30 ``a`` and a ``b`` takes
minutes, and the proxy's event loop -- every connection, the control API -- with it.
RE2 (``google-re2``) matches in time linear in the path for every pattern, at the price
of backreferences and lookarounds, which are refused at toxic creation.
"""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["compile_path_regex"]


@functools.lru_cache(maxsize=256)
def compile_path_regex(pattern: str) -> Any:
    """The compiled pattern; ``ValueError`` naming the problem if RE2 refuses it."""
    try:
        import re2
    except ImportError:  # an install without the proxy extra's dependencies
        raise ValueError("path_regex needs google-re2 (pip install 'aichaos[proxy]')") from None

    options = re2.Options()
    options.log_errors = False  # the error goes to the API caller, not to stderr
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ValueError(
            f"path_regex is not a valid regex (RE2 syntax, no backreferences or "
            f"lookarounds): {reason}"
        ) from None
