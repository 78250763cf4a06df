"""The corruption vocabulary: :class:`Corruption` specs and the ``CORRUPTIONS`` registry.

A corruption is frozen plain data (its intensity, its columns, its seed) registered by
name; :meth:`Corruption.apply` runs it on a batch of any backend and returns the
corrupted batch and a :class:`~aichaos.data.changes.ChangeReport` of exactly what changed.
Intensity is either a ``fraction`` of cells / rows (0..1) or a ``severity`` on the
five-level scale of image-corruption benchmarks (1 = mild .. 5 = severe), which sets the
fraction and, where a corruption has one, its magnitude.

Adding a corruption: one module under ``aichaos/data/corruptions/`` with a subclass of
:class:`CellCorruption` (cell values change) or :class:`Corruption` (rows or schema
change), decorated with ``@CORRUPTIONS.register("name")``; third-party ones come in
through the ``aichaos.corruptions`` entry-point group.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import pydantic
from pydantic import Field, model_validator

from aichaos.errors import ValidationError
from aichaos.registry import Registry
from aichaos.spec import Spec
from aichaos.validation import SpecError, problems

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from aichaos.data.changes import Corrupted
    from aichaos.data.frame import Frame, Native

__all__ = [
    "CORRUPTIONS",
    "SEVERITY_FRACTIONS",
    "CellCorruption",
    "Corruption",
    "make",
]

#: fraction of cells / rows hit at severity 1..5
SEVERITY_FRACTIONS: tuple[float, ...] = (0.01, 0.05, 0.1, 0.2, 0.4)


class Corruption(Spec):
    """A named, seeded data corruption: frozen plain data, applied with :meth:`apply`.

    >>> from aichaos.data import make
    >>> spec = make("gaussian-noise", fraction=0.1, columns=["age"], seed=7)
    """

    type: ClassVar[str] = ""
    #: True when the corruption needs earlier batches (see :class:`aichaos.data.Stream`)
    stateful: ClassVar[bool] = False

    fraction: float | None = Field(None, description="share of cells / rows hit, 0..1")
    severity: int | None = Field(None, description="1 (mild) .. 5 (severe); sets fraction")
    seed: int = Field(0, description="seed of the numpy Generator that picks cells and values")

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except pydantic.ValidationError as exc:
            # the house form, naming the corruption: ``field must ..., got value (kind)``
            kind = type(self).type or type(self).__name__
            raise SpecError(problems(exc, model=type(self)), kind) from None

    @model_validator(mode="after")
    def _check_intensity(self) -> Corruption:
        if self.fraction is not None and not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"fraction must be in [0, 1], got {self.fraction}")
        if self.severity is not None and not 1 <= self.severity <= 5:
            raise ValueError(f"severity must be 1..5, got {self.severity}")
        if self.fraction is not None and self.severity is not None:
            raise ValueError("give fraction or severity, not both")
        return self

    @property
    def level(self) -> int:
        """The severity level 1..5 (3 when only a fraction was given)."""
        return self.severity if self.severity is not None else 3

    def effective_fraction(self) -> float:
        """The fraction of cells / rows to hit."""
        if self.fraction is not None:
            return self.fraction
        return SEVERITY_FRACTIONS[self.level - 1]

    def label(self) -> str:
        """Short label for reports: ``name@severity`` or ``name@fraction``."""
        if self.fraction is not None:
            return f"{self.type}@{self.fraction:g}"
        return f"{self.type}@s{self.level}"

    def apply(self, batch: Any, *, seed: int | None = None, history: Any = None) -> Corrupted:
        """Corrupt ``batch`` (never in place) -> (corrupted batch, report).

        ``seed`` overrides the spec's seed (a stream passes one per batch); ``history`` is
        the earlier batches, for stateful corruptions only.
        """
        import numpy as np

        from aichaos.data.frame import as_frame

        frame = as_frame(batch)
        if frame.n_rows == 0:
            raise ValidationError(f"{self.type}: the batch is empty (0 rows); nothing to corrupt")
        # == default_rng(seed), minus its dispatch layer (paid on every batch)
        rng = np.random.Generator(np.random.PCG64(self.seed if seed is None else seed))
        return self._run(frame, rng, history)

    @abstractmethod
    def _run(self, frame: Frame, rng: np.random.Generator, history: Any) -> Corrupted:
        """Compute the corruption on ``frame`` with ``rng``."""

    def _report(self, frame: Frame, **kw: Any) -> Any:
        from aichaos.data.changes import ChangeReport

        n_out = kw.pop("n_rows_out", frame.n_rows)
        return ChangeReport(
            corruption=self.type,
            params=self.model_dump(mode="json"),
            n_rows_in=frame.n_rows,
            n_rows_out=n_out,
            **kw,
        )


class CellCorruption(Corruption):
    """A corruption that changes cell values in selected columns (rows stay in place).

    Subclasses set ``kinds`` (the column kinds they accept) and implement
    :meth:`corrupt_column`, which returns the new column and the exact changed-cell mask.
    """

    #: column kinds this corruption accepts (see :func:`aichaos.data.frame.column_kind`)
    kinds: ClassVar[tuple[str, ...]] = ("numeric",)

    columns: list[str | int] | None = Field(
        None, description="columns to corrupt (default: every column of an accepted kind)"
    )

    def select_columns(self, frame: Frame) -> list[str]:
        """Resolve ``columns`` against the frame; check each one's kind and values."""
        if self.columns is None:
            names = [n for n in frame.names if frame.kind(n) in self.kinds]
            if not names:
                raise ValidationError(
                    f"{self.type}: the batch has no column of kind {'/'.join(self.kinds)}"
                )
            return names
        if not self.columns:
            raise ValidationError(f"{self.type}: columns must not be empty")
        names = [frame.resolve(c) for c in self.columns]
        for name in names:
            self.check_column(frame, name)
        return names

    def check_column(self, frame: Frame, name: str) -> None:
        """Raise a ValidationError naming ``name`` if this corruption cannot use it."""
        kind = frame.kind(name)
        if kind not in self.kinds:
            typ = frame.column(name).type
            raise ValidationError(
                f"{self.type}: column {name!r} has type {typ} ({kind}); "
                f"expected a {' or '.join(self.kinds)} column"
            )
        if frame.all_null(name):
            raise ValidationError(
                f"{self.type}: column {name!r} is all null; there is nothing to corrupt"
            )

    def _run(self, frame: Frame, rng: np.random.Generator, history: Any) -> Corrupted:
        from aichaos.data.changes import Cells, Corrupted

        names = self.select_columns(frame)
        new: dict[str, pa.Array | Native] = {}
        cells: dict[str, np.ndarray] = {}
        for name in names:
            arr, changed = self.corrupt_column(frame, name, rng)
            if arr is not None:
                new[name] = arr
            cells[name] = changed
        report = self._report(frame, cells=Cells(frame.n_rows, cells))
        return Corrupted(frame.replace(new), report)

    @abstractmethod
    def corrupt_column(
        self, frame: Frame, name: str, rng: np.random.Generator
    ) -> tuple[pa.Array | Native | None, np.ndarray]:
        """New column (None: unchanged) and the cells that differ.

        The cells are sorted row indices (int) or a boolean mask over rows.
        """


CORRUPTIONS: Registry[Corruption] = Registry(
    "corruption",
    "aichaos.corruptions",
    builtin_modules=tuple(
        f"aichaos.data.corruptions.{m}"
        for m in (
            "categorical_shift",
            "drop_rows",
            "duplicate_rows",
            "encoding_errors",
            "gaussian_noise",
            "label_flip",
            "broken_characters",
            "missing_values",
            "out_of_order",
            "outliers",
            "scaling",
            "schema_drift",
            "stale_batch",
            "swapped_columns",
            "timestamp_skew",
            "typos",
            "unseen_categories",
        )
    ),
)


def make(name: str, **params: Any) -> Corruption:
    """Build the corruption registered as ``name`` with ``params`` (validated)."""
    return CORRUPTIONS.get(name)(**params)
