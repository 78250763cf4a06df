"""Weight perturbation: Gaussian noise or bit flips on a share of a model's parameters.

Works on the numpy arrays of scikit-learn estimators (fitted attributes such as
``coef_``, ``intercept_``, ``coefs_`` of an MLP, the steps of a pipeline, the members of
an ensemble) and on PyTorch modules (their state-dict tensors, through zero-copy numpy
views) when torch is installed. Every touched array is copied first; :meth:`Perturbation.restore`
copies the originals back and compares a SHA-256 over all parameters with the one taken
before, so the model is restored exactly or a :class:`~aichaos.errors.RevertError` says not.

>>> with perturb(model, mode="gaussian", fraction=0.1, sigma=0.5, seed=7):   # doctest: +SKIP
...     accuracy_under_fault = model.score(X, y)
"""

from __future__ import annotations

import hashlib
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from aichaos.errors import RevertError, ValidationError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Perturbation", "checksum", "parameters", "perturb"]


def _torch_arrays(model: Any) -> list[tuple[str, np.ndarray]] | None:
    state_dict = getattr(model, "state_dict", None)
    if state_dict is None or not callable(state_dict) or not hasattr(model, "parameters"):
        return None
    out = []
    for name, tensor in state_dict(keep_vars=False).items():
        if tensor.is_floating_point() and tensor.device.type == "cpu":
            out.append((name, tensor.detach().numpy()))  # a view: writes reach the module
    return out


def _walk(obj: Any, prefix: str, seen: set[int], out: list[tuple[str, Any]]) -> None:
    import numpy as np

    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind == "f" and obj.size and obj.flags.writeable:
            out.append((prefix, obj))
        return
    if isinstance(obj, list | tuple):
        for i, item in enumerate(obj):
            _walk(item, f"{prefix}[{i}]", seen, out)
        return
    if isinstance(obj, dict):
        for k, item in obj.items():
            _walk(item, f"{prefix}[{k!r}]", seen, out)
        return
    if hasattr(obj, "get_params") and hasattr(obj, "__dict__"):
        for key, value in vars(obj).items():
            fitted = key.endswith("_") and not key.startswith("_")
            if fitted or key in ("steps", "estimators", "transformer_list"):
                _walk(value, f"{prefix}.{key}" if prefix else key, seen, out)


def parameters(model: Any) -> list[tuple[str, np.ndarray]]:
    """(name, writable float array) pairs of ``model``'s parameters, in a stable order."""
    arrays = _torch_arrays(model)
    if arrays is None:
        arrays = []
        _walk(model, "", set(), arrays)
    if not arrays:
        raise ValidationError(
            f"model must have float parameter arrays (a fitted scikit-learn estimator or a "
            f"torch module), got {type(model).__name__} with none"
        )
    return arrays


def checksum(model: Any) -> str:
    """SHA-256 over every parameter's name, shape, dtype and bytes."""
    h = hashlib.sha256()
    for name, a in parameters(model):
        h.update(f"{name}{a.shape}{a.dtype}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


class Perturbation:
    """A live perturbation: the originals of the touched arrays, and the checksum before."""

    def __init__(self, model: Any, saved: list[tuple[np.ndarray, np.ndarray]], before: str):
        self.model = model
        self.saved = saved
        self.before = before
        self.touched = sum(int(a.size) for a, _ in saved)

    def restore(self) -> None:
        """Copy the originals back; :class:`RevertError` if the checksum differs."""
        import numpy as np

        saved, self.saved = self.saved, []
        for array, original in saved:
            np.copyto(array, original)
        if checksum(self.model) != self.before:
            raise RevertError("model parameters differ from the originals after restore")

    def __enter__(self) -> Perturbation:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.restore()


def _indices(rng: Any, size: int, fraction: float) -> Any:
    k = max(1, round(size * fraction))
    return rng.choice(size, size=min(k, size), replace=False)


def perturb(
    model: Any,
    *,
    mode: Literal["gaussian", "bitflip"] = "gaussian",
    fraction: float = 0.1,
    sigma: float = 0.1,
    seed: int | None = None,
    rng: Any = None,
) -> Perturbation:
    """Perturb ``fraction`` of each parameter array in place; returns the undo handle.

    ``gaussian`` adds noise with standard deviation ``sigma`` times the array's own
    standard deviation (1 for constant arrays); ``bitflip`` flips one random bit of each
    chosen value. Randomness comes from ``rng`` (a numpy ``Generator``) or ``seed``.
    """
    import numpy as np

    if not 0.0 < fraction <= 1.0:
        raise ValidationError(f"fraction must be in (0, 1], got {fraction}")
    if not sigma >= 0:
        raise ValidationError(f"sigma must be >= 0, got {sigma}")
    if mode not in ("gaussian", "bitflip"):
        raise ValidationError(f"mode must be gaussian or bitflip, got {mode!r}")
    gen = rng if rng is not None else np.random.default_rng(seed)
    before = checksum(model)
    saved: list[tuple[np.ndarray, np.ndarray]] = []
    for _, array in parameters(model):
        saved.append((array, array.copy()))
        flat = array.reshape(-1)  # a view for contiguous arrays; checked below
        if not np.shares_memory(flat, array):
            continue
        idx = _indices(gen, flat.size, fraction)
        if mode == "gaussian":
            scale = float(np.std(flat)) or 1.0
            flat[idx] += gen.normal(0.0, sigma * scale, size=idx.size).astype(flat.dtype)
        else:
            bits = flat.dtype.itemsize * 8
            ints = flat.view(f"u{flat.dtype.itemsize}")
            masks = np.left_shift(1, gen.integers(0, bits, size=idx.size)).astype(ints.dtype)
            ints[idx] ^= masks
    return Perturbation(model, saved, before)
