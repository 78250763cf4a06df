"""Cheap pixel corruptions for numpy image arrays (H x W or H x W x C, any dtype).

Each function returns ``(corrupted copy, mask)`` where ``mask`` is an H x W boolean array
of the pixels that changed; the input is never modified. ``severity`` 1..5 follows the
image-corruption benchmark scale (ImageNet-C); a ``seed`` makes the result repeatable.
"""

from __future__ import annotations

import numpy as np

from aichaos.errors import ValidationError

__all__ = ["dead_pixels", "gaussian_noise", "salt_and_pepper"]

NOISE_STD = (0.04, 0.06, 0.08, 0.09, 0.10)  # of the dtype's range, as in ImageNet-C
PIXEL_FRACTIONS = (0.01, 0.02, 0.03, 0.05, 0.07)


def _check(image: np.ndarray, severity: int) -> tuple[float, float]:
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or image.size == 0:
        raise ValidationError("image must be a non-empty H x W or H x W x C numpy array")
    if not 1 <= severity <= 5:
        raise ValidationError(f"severity must be 1..5, got {severity}")
    if image.dtype.kind in "iu":
        info = np.iinfo(image.dtype)
        return float(info.min), float(info.max)
    if image.dtype.kind == "f":
        return 0.0, 1.0
    raise ValidationError(f"image dtype {image.dtype} is not numeric")


def _pixel_mask(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    diff: np.ndarray = np.asarray(old != new)
    return diff if diff.ndim == 2 else np.asarray(diff.any(axis=2))


def gaussian_noise(
    image: np.ndarray, severity: int = 3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Add Gaussian noise (std a share of the value range), clipped to the range."""
    lo, hi = _check(image, severity)
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, NOISE_STD[severity - 1] * (hi - lo), size=image.shape)
    out = np.clip(image.astype(np.float64) + noise, lo, hi)
    if image.dtype.kind in "iu":
        out = np.rint(out)
    new = out.astype(image.dtype)
    return new, _pixel_mask(image, new)


def dead_pixels(
    image: np.ndarray, severity: int = 3, seed: int = 0, value: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Set a share of pixels (all channels) to ``value`` (default: the range's minimum)."""
    lo, _ = _check(image, severity)
    rng = np.random.default_rng(seed)
    hit = rng.random(image.shape[:2]) < PIXEL_FRACTIONS[severity - 1]
    new = image.copy()
    new[hit] = lo if value is None else value
    return new, _pixel_mask(image, new)


def salt_and_pepper(
    image: np.ndarray, severity: int = 3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Set a share of pixels to the range's minimum or maximum (impulse noise)."""
    lo, hi = _check(image, severity)
    rng = np.random.default_rng(seed)
    hit = rng.random(image.shape[:2]) < PIXEL_FRACTIONS[severity - 1]
    salt = rng.random(int(hit.sum())) < 0.5
    new = image.copy()
    new[hit] = np.where(salt, hi, lo).astype(image.dtype).reshape((-1,) + (1,) * (image.ndim - 2))
    return new, _pixel_mask(image, new)
