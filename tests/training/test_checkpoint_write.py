"""Checkpoint saves that run out of space or write slowly, as the trainer meets them."""

from __future__ import annotations

import errno
import os
import pickle
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aichaos.errors import ValidationError
from aichaos.inprocess import ControlServer, Switchboard
from aichaos.training import CheckpointHook
from tests.training.armed import board, control, training

__all__ = ["board", "control"]

STATE = {"w": np.arange(50_000, dtype=np.float64), "step": 100}


def _save_atomically(hook: CheckpointHook, state: Any, path: Path) -> None:
    """The usual trainer: write a temporary file, fsync, rename over the checkpoint."""
    tmp = path.with_suffix(".tmp")
    with hook.open(tmp) as f:
        pickle.dump(state, f)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


async def test_enospc_mid_write_leaves_what_a_full_disk_leaves(
    control: ControlServer, board: Switchboard, tmp_path: Path
) -> None:
    hook = CheckpointHook("ckpt", board=board)
    ckpt = tmp_path / "model.ckpt"
    _save_atomically(hook, {**STATE, "step": 50}, ckpt)  # the last good one
    full = len(pickle.dumps(STATE))
    inj = training(control, ["ckpt"], kind="enospc", after_bytes=100_000)
    caught: list[OSError] = []
    async with inj:
        try:
            _save_atomically(hook, STATE, ckpt)
        except OSError as exc:
            caught.append(exc)
    (exc,) = caught
    assert exc.errno == errno.ENOSPC and exc.strerror == os.strerror(errno.ENOSPC)
    partial = ckpt.with_suffix(".tmp").read_bytes()
    assert len(partial) == 100_000 < full and pickle.dumps(STATE).startswith(partial)
    assert pickle.loads(ckpt.read_bytes())["step"] == 50  # the rename never happened
    effect = inj.effect()
    assert effect is not None and (effect["seen"], effect["touched"]) == (1, 1)
    assert effect["hooks"]["ckpt"]["bytes_written"] == 100_000 and effect["unit"] == "saves hit"
    _save_atomically(hook, STATE, ckpt)  # disarmed: saves work again
    assert pickle.loads(ckpt.read_bytes())["step"] == 100


@pytest.mark.parametrize("writer", ["pickle", "numpy", "torch"])
def test_a_full_disk_fails_a_save_as_dev_full_does(
    board: Switchboard, tmp_path: Path, writer: str
) -> None:
    """The same save code against /dev/full (the kernel's ENOSPC) and the armed hook."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    if writer == "torch":
        torch = pytest.importorskip("torch", reason="torch.save needs PyTorch")
        save = lambda f: torch.save({"w": torch.zeros(1000)}, f)  # noqa: E731
    elif writer == "numpy":
        save = lambda f: np.save(f, STATE["w"])  # noqa: E731
    else:
        save = lambda f: pickle.dump(STATE, f)  # noqa: E731

    def chain(open_file: Any) -> list[tuple[str, int | None]]:
        try:
            with open_file() as f:
                save(f)
        except BaseException as exc:
            out: list[tuple[str, int | None]] = []
            seen: BaseException | None = exc
            while seen is not None:
                out.append((type(seen).__name__, getattr(seen, "errno", None)))
                seen = seen.__context__
            return out
        return []

    hook = CheckpointHook("ckpt", board=board)
    board.arm("ckpt", ttl_s=5, training={"kind": "enospc", "after_bytes": 0})
    hooked = chain(lambda: hook.open(tmp_path / "c"))
    real = chain(lambda: open("/dev/full", "wb"))  # noqa: SIM115
    assert hooked == real and hooked[0] == ("OSError", errno.ENOSPC)
    assert (tmp_path / "c").stat().st_size == 0


async def test_a_slow_save_takes_its_bytes_over_the_rate(
    control: ControlServer, board: Switchboard, tmp_path: Path
) -> None:
    hook = CheckpointHook("ckpt", board=board)
    data = pickle.dumps(STATE)  # 400 kB
    inj = training(control, ["ckpt"], kind="slow-write", rate_kbps=2000)
    async with inj:
        t0 = time.monotonic()
        with hook.open(tmp_path / "c") as f:
            f.write(data)
        took = time.monotonic() - t0
    assert took >= len(data) / 2_000_000 and took < len(data) / 2_000_000 + 0.5
    assert (tmp_path / "c").read_bytes() == data
    effect = inj.effect()
    assert effect is not None and effect["touched"] == 1
    assert effect["hooks"]["ckpt"]["delay_s"] == pytest.approx(len(data) / 2e6, abs=0.05)


def test_checkpoints_are_bytes(board: Switchboard, tmp_path: Path) -> None:
    hook = CheckpointHook("ckpt", board=board)
    with pytest.raises(ValidationError, match=r"mode must be one of wb, .* got 'w'"):
        hook.open(tmp_path / "c", "w")
