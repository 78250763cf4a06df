"""Shared by the training-hook tests: a board, its control endpoint, and arming through it.

Arming goes through the real ``training`` fault and the control endpoint over HTTP, as
an experiment does; what the tests assert is what the trainer saw.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from aichaos.faults import FAULTS, Injection, InjectionContext
from aichaos.inprocess import ControlServer, Switchboard
from aichaos.inprocess.fault import InProcessTarget

TOKEN = "test-token-123"


@pytest.fixture
def board() -> Switchboard:
    """A board of its own per test (the process-wide one stays untouched)."""
    return Switchboard()


@pytest.fixture
def control(board: Switchboard) -> Iterator[ControlServer]:
    """The board's control endpoint on 127.0.0.1, port 0."""
    server = ControlServer(board, token=TOKEN).start()
    yield server
    server.close()


def training(control: ControlServer, hooks: list[str], seed: int = 1, **fields: Any) -> Injection:
    """The ``training`` fault's injection on ``control`` (not yet applied)."""
    import random

    fault = FAULTS.get("training").model_validate({"hooks": hooks, **fields})
    target = InProcessTarget(url=control.url, token=TOKEN)
    return fault.injection(InjectionContext(target=target, ttl_s=10, rng=random.Random(seed)))
