"""Training chaos: faults on training jobs and the SLOs a training run is judged by.

* :mod:`~aichaos.training.preemption` -- ``preemption`` (SIGTERM, a grace period, then
  SIGKILL, as spot machines are reclaimed) and ``rank-crash`` for a trainer or one rank;
* :mod:`~aichaos.training.checkpoint` -- ``checkpoint-corrupt``: the latest checkpoint in
  a directory truncated, corrupted or missing, restored exactly through the one file swap;
* :mod:`~aichaos.training.reporter` -- :class:`TrainingReporter`, what a trainer calls to
  report its steps, checkpoints, resumes and evaluations (any loop; a PyTorch helper;
  :mod:`~aichaos.training.lightning` for Lightning);
* :mod:`~aichaos.training.probe` -- the ``training`` probe the engine samples: steps/s,
  loss against a baseline run, NaN/Inf count, lost work, time to resume, checkpoint age,
  evaluation against the baseline, delay against the baseline's finish.

Nothing here imports torch or numpy: the trainer brings its own.
"""
