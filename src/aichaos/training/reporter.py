"""What a trainer reports, one JSON line per event, for the ``training`` probe to judge.

A trainer makes one :class:`TrainingReporter` on a metrics file and calls it from its
loop; every call appends one line (a single ``write`` on an ``O_APPEND`` file, so lines
from restarted processes never interleave)::

    rep = TrainingReporter("runs/metrics.jsonl")
    rep.start(resumed_from=ckpt_step)          # after loading a checkpoint (None: fresh)
    for step in range(ckpt_step + 1, total + 1):
        loss = train_one(step)
        rep.step(step, loss, samples=batch_size)
        if step % 50 == 0:
            save(step); rep.checkpoint(step)
    rep.eval(total, accuracy); rep.done()

Only one process of a distributed job should report (``rank`` not 0 makes every call a
no-op). :func:`torch_step` counts non-finite gradients of a PyTorch model; the
Lightning callback is :class:`aichaos.training.lightning.TrainingCallback`.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

__all__ = ["TrainingReporter", "nonfinite_grads", "torch_step"]


class TrainingReporter:
    """Appends training events to ``path`` (JSON lines); the ``training`` probe reads them.

    ``clock`` is wall time (``time.time``): the lines of several processes, restarts
    included, share one time axis with the probe that reads them.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        rank: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.enabled = rank in (None, 0)
        self.clock = clock

    def _write(self, kind: str, **fields: Any) -> None:
        if not self.enabled:
            return
        line = json.dumps({"kind": kind, "t": self.clock(), **fields}) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def start(self, resumed_from: int | None = None, checkpoint: str | None = None) -> None:
        """The trainer (re)started; ``resumed_from``: the step of the checkpoint it loaded."""
        self._write("start", pid=os.getpid(), resumed_from=resumed_from, checkpoint=checkpoint)

    def step(self, step: int, loss: float, *, samples: int = 0, nonfinite: int = 0) -> None:
        """A finished optimisation step: its loss, batch size, non-finite values seen."""
        self._write("step", step=int(step), loss=float(loss), samples=samples, nonfinite=nonfinite)

    def checkpoint(self, step: int, path: str | None = None) -> None:
        """A checkpoint of ``step`` is durable (call after the atomic rename)."""
        self._write("checkpoint", step=int(step), path=path)

    def eval(self, step: int, value: float, name: str = "accuracy") -> None:
        """An evaluation at ``step`` (higher is better)."""
        self._write("eval", step=int(step), value=float(value), name=name)

    def done(self) -> None:
        """The run finished its last step and evaluation."""
        self._write("done")


def nonfinite_grads(parameters: Iterable[Any]) -> int:
    """How many gradient values of PyTorch ``parameters`` are NaN or infinite."""
    import torch

    count = 0
    for p in parameters:
        if p.grad is not None:
            count += int((~torch.isfinite(p.grad)).sum().item())
    return count


def torch_step(
    reporter: TrainingReporter, step: int, loss: Any, batch_size: int, model: Any = None
) -> None:
    """Report a PyTorch step: ``loss`` a tensor, gradients of ``model`` checked for NaN/Inf.

    Call it after ``backward()`` (and before ``zero_grad``) so the gradients are there.
    """
    value = float(loss.detach().item())
    bad = nonfinite_grads(model.parameters()) if model is not None else 0
    bad += 0 if math.isfinite(value) else 1
    reporter.step(step, value, samples=batch_size, nonfinite=bad)
