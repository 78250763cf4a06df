"""Training chaos: faults on training jobs and the SLOs a training run is judged by.

* :mod:`~aichaos.training.preemption` -- ``preemption`` (SIGTERM, a grace period, then
  SIGKILL, as spot machines are reclaimed; ``grace_s: 0`` is a crash) of a trainer or
  one rank;
* :mod:`~aichaos.training.checkpoint` -- ``checkpoint-corrupt``: the latest checkpoint in
  a directory truncated, corrupted or missing, restored exactly through the one file swap;
* :mod:`~aichaos.training.reporter` -- :class:`TrainingReporter`, what a trainer calls to
  report its steps, checkpoints, resumes and evaluations (any loop; a PyTorch helper;
  :mod:`~aichaos.training.lightning` for Lightning);
* :mod:`~aichaos.training.probe` -- the ``training`` probe the engine samples: steps/s,
  loss against a baseline run, NaN/Inf count, lost work, time to resume, checkpoint age,
  evaluation against the baseline, delay against the baseline's finish;
* training hooks inside the trainer, armed by the ``training`` fault
  (:mod:`~aichaos.training.fault`) through the in-process control endpoint:
  :class:`StepHook` (NaN / Inf in the loss, gradients or inputs, gradient explosion, a
  learning-rate spike in a numpy or scikit-learn loop), :class:`TorchHook` (the same on
  a PyTorch model and optimizer), :class:`LoaderHook` (a slow, stalled, duplicating or
  skipping data loader, label noise from the data corruptions) and
  :class:`CheckpointHook` (saves that write slowly or fail with ENOSPC mid-write).

Nothing here imports torch or numpy on import: the trainer brings its own, and names
load lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aichaos._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "CheckpointCorrupt": "aichaos.training.checkpoint",
    "CheckpointHook": "aichaos.training.checkpoint_write",
    "LoaderHook": "aichaos.training.loader",
    "Preemption": "aichaos.training.preemption",
    "StepHook": "aichaos.training.step",
    "TorchHook": "aichaos.training.torch_hook",
    "TrainingFault": "aichaos.training.fault",
    "TrainingProbe": "aichaos.training.probe",
    "TrainingReporter": "aichaos.training.reporter",
    "torch_step": "aichaos.training.reporter",
}

__all__ = [
    "CheckpointCorrupt",
    "CheckpointHook",
    "LoaderHook",
    "Preemption",
    "StepHook",
    "TorchHook",
    "TrainingFault",
    "TrainingProbe",
    "TrainingReporter",
    "torch_step",
]

if TYPE_CHECKING:
    from aichaos.training.checkpoint import CheckpointCorrupt
    from aichaos.training.checkpoint_write import CheckpointHook
    from aichaos.training.fault import TrainingFault
    from aichaos.training.loader import LoaderHook
    from aichaos.training.preemption import Preemption
    from aichaos.training.probe import TrainingProbe
    from aichaos.training.reporter import TrainingReporter, torch_step
    from aichaos.training.step import StepHook
    from aichaos.training.torch_hook import TorchHook


__getattr__, __dir__ = lazy_exports("aichaos.training", _EXPORTS, globals())
