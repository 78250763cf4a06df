"""Numerical faults in a PyTorch training loop, through the hooks PyTorch offers.

:meth:`TorchHook.attach` registers, on the trainer's own objects (nothing is wrapped, so
schedulers, ``isinstance`` checks and ``state_dict`` keep working):

* a forward pre-hook on the model: a forward pass in training mode with gradients on
  starts a step, and the step is drawn there (``values: inputs`` faults change its inputs);
* a post-accumulate-grad hook on each trainable parameter: ``values: grads`` faults change
  ``p.grad`` during ``backward()``, so the trainer's guard (a finiteness check, gradient
  clipping) sees them exactly as it would see a real NaN or explosion;
* step pre- and post-hooks on the optimizer: an ``lr-spike`` multiplies each group's
  learning rate for the one ``optimizer.step()`` and puts it back afterwards.

``values: loss`` faults need the loop to pass its loss through :meth:`TorchHook.loss`; the
NaN is multiplied into the graph, so backward sees it too.

::

    hook = TorchHook("trainer")
    hook.attach(model, optimizer)
    for x, y in loader:
        loss = hook.loss(loss_fn(model(x), y))
        loss.backward()
        ...

torch is imported only when a hook is attached.
"""

from __future__ import annotations

from typing import Any

from aichaos.training.hook import Shot
from aichaos.training.step import StepHook

__all__ = ["TorchHook"]


class TorchHook(StepHook):
    """A step hook on a torch model and optimizer: ``nan``, ``inf``, ``explode``, ``lr-spike``."""

    def __init__(self, name: str, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self._shot: Shot | None = None
        self._gen: tuple[int, Any] | None = None  # (arming generation, torch.Generator)
        self._saved_lr: list[tuple[dict[str, Any], Any]] = []
        self.handles: list[Any] = []
        self._optimizers = 0

    def attach(self, model: Any, optimizer: Any = None) -> TorchHook:
        """Hook ``model`` (steps, inputs, gradients) and ``optimizer`` (learning rate)."""
        import torch

        self.handles.append(model.register_forward_pre_hook(self._on_forward))
        for p in model.parameters():
            if p.requires_grad:
                self.handles.append(p.register_post_accumulate_grad_hook(self._on_grad))
        if optimizer is not None:
            if not isinstance(optimizer, torch.optim.Optimizer):
                raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {optimizer!r}")
            self.handles.append(optimizer.register_step_pre_hook(self._on_step))
            self.handles.append(optimizer.register_step_post_hook(self._after_step))
            self._optimizers += 1
        return self

    def detach(self) -> None:
        """Remove every hook :meth:`attach` registered."""
        for handle in self.handles:
            handle.remove()
        self.handles.clear()
        self._optimizers = 0

    def _aimed(self, on: str) -> Shot | None:
        shot = self._shot
        if shot is None or shot.spec.kind == "lr-spike" or not shot.live():
            return None
        return shot if (shot.spec.values or "grads") == on else None

    def _mask(self, shot: Shot, like: Any) -> Any:
        import torch

        fraction = 1.0 if shot.spec.fraction is None else shot.spec.fraction
        if fraction >= 1.0:
            return torch.ones_like(like, dtype=torch.bool)
        if self._gen is None or self._gen[0] != shot.armed.generation:
            self._gen = (shot.armed.generation, torch.Generator().manual_seed(shot.spec.seed))
        return torch.rand(like.shape, generator=self._gen[1]).to(like.device) < fraction

    def _fill(self, shot: Shot, t: Any, on: str) -> Any:
        """``t`` with the fault applied (a new tensor, so autograd sees the change)."""
        import torch

        spec = shot.spec
        if spec.kind == "explode" and spec.factor is not None:
            shot.count({"values_scaled": t.numel(), f"values_scaled.{on}": t.numel()})
            return t * spec.factor
        mask = self._mask(shot, t)
        n = int(mask.sum())
        if n == 0:
            return t
        shot.count({f"{spec.kind}_injected": n, f"{spec.kind}_injected.{on}": n})
        bad = torch.tensor(float("nan") if spec.kind == "nan" else float("inf"), dtype=t.dtype)
        return torch.where(mask, bad.to(t.device), t)

    def _on_forward(self, module: Any, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        import torch

        if not (module.training and torch.is_grad_enabled()):
            return None  # evaluation: not a training step
        self._after_step(None, None, None)  # a step that raised left its spike behind
        self._shot = self.draw()
        if self._shot is not None and self._shot.spec.kind == "lr-spike" and not self._optimizers:
            self._shot.error("lr-spike needs the optimizer: attach(model, optimizer)")
        shot = self._aimed("inputs")
        if shot is None:
            return None
        return tuple(
            self._fill(shot, a, "inputs") if torch.is_tensor(a) and a.is_floating_point() else a
            for a in args
        )

    def _on_grad(self, p: Any) -> None:
        shot = self._aimed("grads")
        if shot is None or p.grad is None:
            return
        import torch

        with torch.no_grad():
            p.grad.copy_(self._fill(shot, p.grad, "grads"))

    def loss(self, value: Any) -> Any:
        """The step's loss as the trainer will see it (and backward will differentiate)."""
        shot = self._aimed("loss")
        return value if shot is None else self._fill(shot, value, "loss")

    def _on_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        shot = self._shot
        if shot is None or shot.spec.kind != "lr-spike" or shot.spec.factor is None:
            return
        if not shot.live():
            return
        self._saved_lr = [(g, g["lr"]) for g in optimizer.param_groups]
        for group, lr in self._saved_lr:
            group["lr"] = lr * shot.spec.factor
        shot.count({"lr_spiked": 1})
        self._shot = None  # one spiked optimizer step per drawn step

    def _after_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        for group, lr in self._saved_lr:
            group["lr"] = lr
        self._saved_lr = []
