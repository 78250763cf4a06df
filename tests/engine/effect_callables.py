"""User callables that report what they touched, the way the python-callable docs say."""

from __future__ import annotations

from typing import Any

from tests.engine import system

#: what the next revert returns (set by each test)
ANSWER: dict[str, Any] = {}


async def hit_requests() -> None:
    """A fault whose success is counted by the system it acts on."""
    system.STATE["applied"] += 1


async def report(token: Any = None) -> Any:
    """Revert, then say what the fault touched: whatever the test put in ANSWER."""
    system.STATE["reverted"] += 1
    return ANSWER.get("value")


def one_shot() -> dict[str, Any]:
    """A fault with no revert: its apply's dict is its report."""
    return {"touched": 3, "unit": "records"}
