"""Numerical faults in a plain numpy or scikit-learn training loop.

A :class:`StepHook` decides once per training step (:meth:`StepHook.step`) whether the
armed fault hits it; the loop passes the values the fault may touch through the step it
got back. Values the fault does not target come back as they went in.

::

    from aichaos.training import StepHook

    hook = StepHook("sgd")                      # once, at start-up
    for X, y in batches:
        s = hook.step()
        X = s.inputs(X)
        loss, grad = loss_and_grad(w, X, y)
        loss, grad = s.loss(loss), s.grads(grad)
        w -= s.lr(lr) * grad

    hook.partial_fit(clf, X, y, classes=[0, 1])  # scikit-learn: one step per batch

``nan`` / ``inf`` put the value into a ``fraction`` of the targeted values (``values``: loss,
grads or inputs); ``explode`` multiplies them by ``factor``; ``lr-spike`` multiplies the
learning rate by ``factor`` for the hit step. Each injected value is counted on the board
(``nan_injected``, ``inf_injected``, ``values_scaled``, ``lr_spiked``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from aichaos.training.hook import Shot, TrainingHook

__all__ = ["Step", "StepHook"]


class Step:
    """One training step: applies the hit fault to the values the loop passes through."""

    def __init__(self, shot: Shot | None) -> None:
        self.shot = shot

    @property
    def hit(self) -> bool:
        """Whether the armed fault hits this step."""
        return self.shot is not None

    def _aims(self, on: str) -> Shot | None:
        shot = self.shot
        if shot is None or shot.spec.kind == "lr-spike":
            return None
        return shot if (shot.spec.values or "grads") == on else None

    def loss(self, value: Any) -> Any:
        """The loss as the trainer will see it (a float or a numpy array)."""
        return self._values(value, "loss")

    def grads(self, value: Any) -> Any:
        """The gradient(s): an array, or a list, tuple or dict of arrays."""
        return self._values(value, "grads")

    def inputs(self, value: Any) -> Any:
        """The batch's features (a numpy array) as the model will see them."""
        return self._values(value, "inputs")

    def lr(self, value: float) -> float:
        """The learning rate for this step (``factor`` times it on an ``lr-spike``)."""
        shot = self.shot
        if shot is None or shot.spec.kind != "lr-spike" or shot.spec.factor is None:
            return value
        shot.count({"lr_spiked": 1})
        return value * shot.spec.factor

    def _values(self, value: Any, on: str) -> Any:
        shot = self._aims(on)
        if shot is None:
            return value
        if isinstance(value, Mapping):
            return {k: self._one(shot, v, on) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self._one(shot, v, on) for v in value)
        return self._one(shot, value, on)

    def _one(self, shot: Shot, value: Any, on: str) -> Any:
        import numpy as np

        spec = shot.spec
        scalar = np.ndim(value) == 0
        arr = np.array(value, dtype=np.result_type(np.asarray(value).dtype, np.float32))
        if spec.kind == "explode" and spec.factor is not None:
            arr *= spec.factor
            shot.count({"values_scaled": int(arr.size), f"values_scaled.{on}": int(arr.size)})
        else:
            fraction = 1.0 if spec.fraction is None else spec.fraction
            mask = shot.armed.values().random(arr.shape) < fraction
            n = int(np.count_nonzero(mask))
            if n == 0:
                return value  # this value escaped: nothing to count
            arr[mask] = np.nan if spec.kind == "nan" else np.inf
            shot.count({f"{spec.kind}_injected": n, f"{spec.kind}_injected.{on}": n})
        return arr.item() if scalar else arr


class StepHook(TrainingHook):
    """A step hook for numpy and scikit-learn loops: ``nan``, ``inf``, ``explode``, ``lr-spike``."""

    family = "step"

    def step(self) -> Step:
        """Decide for one training step; pass its values through the returned :class:`Step`."""
        return Step(self.draw())

    def partial_fit(self, estimator: Any, X: Any, y: Any, **kwargs: Any) -> Any:
        """``estimator.partial_fit(X, y, **kwargs)`` as one step of the armed fault.

        scikit-learn's gradients stay inside the estimator, so ``nan`` / ``inf`` /
        ``explode`` reach it through the batch's features (``values: inputs``), and
        ``lr-spike`` through ``eta0`` for the call (estimators with ``learning_rate``
        ``constant``, ``invscaling`` or ``adaptive``). A fault the estimator cannot take is
        tallied as an error and touches nothing.
        """
        s = self.step()
        shot = s.shot
        if (
            shot is not None
            and shot.spec.kind != "lr-spike"
            and (shot.spec.values or "grads") != "inputs"
        ):
            shot.error(
                f"partial_fit reaches the features only: values: {shot.spec.values or 'grads'} "
                "touches nothing (use values: inputs)"
            )
        with _spiked_eta(estimator, s):
            return estimator.partial_fit(s.inputs(X), y, **kwargs)


@contextlib.contextmanager
def _spiked_eta(estimator: Any, step: Step) -> Iterator[None]:
    shot = step.shot
    if shot is None or shot.spec.kind != "lr-spike":
        yield
        return
    eta0 = getattr(estimator, "eta0", None)
    schedule = getattr(estimator, "learning_rate", None)
    if not isinstance(eta0, (int, float)) or schedule not in ("constant", "invscaling", "adaptive"):
        shot.error(
            f"lr-spike: {type(estimator).__name__} (learning_rate={schedule!r}) takes no eta0 "
            "step size; use learning_rate constant, invscaling or adaptive"
        )
        yield
        return
    estimator.eta0 = step.lr(float(eta0))
    try:
        yield
    finally:
        estimator.eta0 = eta0
