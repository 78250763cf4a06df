"""uvloop where it pays off; asyncio's own loop when asked (a run without a workload)."""

from __future__ import annotations

import asyncio

import pytest

from aichaos.eventloop import run


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_fast_false_runs_on_asyncios_own_loop() -> None:
    assert run(_loop_module(), fast=False).startswith("asyncio")


def test_fast_runs_on_uvloop_where_installed() -> None:
    pytest.importorskip("uvloop", reason="uvloop is the optional extra aichaos[fast]")
    assert run(_loop_module()).startswith("uvloop")
