"""A Lightning ``Callback`` that reports training SLO events through the reporter.

Needs ``lightning`` (or the older ``pytorch_lightning``), imported when this module is::

    from aichaos.training.lightning import TrainingCallback
    trainer = lightning.Trainer(callbacks=[TrainingCallback("runs/metrics.jsonl")])

Reports the start (with the step a checkpoint resumed from), each training batch's loss
and batch size with the model's non-finite gradient count, each checkpoint saved, each
validation metric named ``monitor``, and the end of the fit. Only global rank 0 writes.
"""

from __future__ import annotations

import math
from typing import Any

try:
    import lightning.pytorch as pl
except ImportError:  # the older package name
    import pytorch_lightning as pl  # type: ignore[no-redef,unused-ignore]

from aichaos.training.reporter import TrainingReporter, nonfinite_grads

__all__ = ["TrainingCallback"]


class TrainingCallback(pl.Callback):  # type: ignore[misc,unused-ignore]
    """Report a Lightning fit to ``path`` for the ``training`` probe."""

    def __init__(self, path: str, monitor: str = "val_acc") -> None:
        super().__init__()
        self.path = path
        self.monitor = monitor
        self.reporter: TrainingReporter | None = None
        self._bad = 0

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        """Open the reporter on rank 0; report the start and any resumed step."""
        self.reporter = TrainingReporter(self.path, rank=trainer.global_rank)
        resumed = trainer.global_step or None
        self.reporter.start(resumed_from=resumed, checkpoint=trainer.ckpt_path)

    def on_after_backward(self, trainer: Any, pl_module: Any) -> None:
        """Count the gradients' NaN / Inf values before the optimizer sees them."""
        self._bad = nonfinite_grads(pl_module.parameters())

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """One step: the loss Lightning returned and the batch's size."""
        if self.reporter is None:
            return
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        value = float(loss.detach().item()) if loss is not None else math.nan
        size = len(batch[0]) if isinstance(batch, (list, tuple)) else len(batch)
        self.reporter.step(trainer.global_step, value, samples=size, nonfinite=self._bad)
        self._bad = 0

    def on_save_checkpoint(self, trainer: Any, pl_module: Any, checkpoint: Any) -> None:
        """A checkpoint of the current step is being written."""
        if self.reporter is not None:
            self.reporter.checkpoint(trainer.global_step)

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        """The ``monitor`` metric, when the validation logged it."""
        value = trainer.callback_metrics.get(self.monitor)
        if self.reporter is not None and value is not None and not trainer.sanity_checking:
            self.reporter.eval(trainer.global_step, float(value), name=self.monitor)

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        """The fit finished."""
        if self.reporter is not None:
            self.reporter.done()
