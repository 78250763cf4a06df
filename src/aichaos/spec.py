"""The one spec base: every setting a user writes is a :class:`Spec`.

Faults, probes, targets, workloads, data corruptions, toxic attributes, the in-process
control bodies and the experiment file's own sections all derive from it, so they share
one set of rules instead of each writing its own ``model_config``:

* **frozen** -- a spec is plain data; the API, the experiment file and the journal
  round-trip the same object;
* **no unknown keys** -- a typo (``latency: 100`` for ``latency_ms``) is an error, never a
  field silently left at its default;
* **finite numbers** -- ``inf`` and ``nan`` are refused: they pass ``ge=0`` and then
  break every computation that trusts the bound;
* **one error formatter** -- :meth:`Spec.parse` turns pydantic's errors into a
  :class:`~aichaos.validation.SpecError` worded as everywhere else.

A subclass that needs another rule sets only that key; pydantic merges it with these::

    class PointerFault(Fault):
        model_config = ConfigDict(coerce_numbers_to_str=True)  # MLflow version: 3
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict

from aichaos.validation import validate

__all__ = ["Spec"]


class Spec(BaseModel):
    """The base of every spec: frozen, no unknown keys, finite numbers, house errors.

    >>> from pydantic import Field
    >>> class Delay(Spec):
    ...     latency_ms: float = Field(ge=0)
    >>> Delay.parse({"latency_ms": -5}, "method[1].fault")
    Traceback (most recent call last):
    aichaos.validation.SpecError: latency_ms must be >= 0, got -5 (method[1].fault)
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    @classmethod
    def parse(cls, data: Any, where: str = "") -> Self:
        """Validate ``data`` (a mapping, or JSON bytes or text) into this spec.

        Any mistake raises :class:`~aichaos.validation.SpecError`, every problem in the
        house form (``field must ..., got value (where)``).
        """
        return validate(cls, data, where)
