"""What a training hook does when armed: one spec, plain data, checked at the boundary.

The ``training`` fault (:mod:`aichaos.training.fault`) carries these fields in the
experiment file, the control endpoint receives them as the arming's ``training`` body,
and the hook the trainer registered applies them. Each ``kind`` belongs to one family of
hook and uses only its own fields; a field the kind ignores is refused (it would change
nothing):

=============  ======================  ==================================================
kind           hook                    fields
=============  ======================  ==================================================
nan, inf       step (``StepHook``,     ``values``: loss, grads (default) or inputs;
               ``TorchHook``)          ``fraction`` of them hit in a hit step (default 1)
explode        step                    ``factor`` (> 1): those ``values`` scaled up
lr-spike       step                    ``factor`` (> 1): the step's learning rate scaled
latency        loader (``LoaderHook``) ``latency_ms`` ± ``jitter_ms`` added to a fetch
duplicate      loader                  the fetched batch is delivered twice
skip           loader                  the fetched batch is dropped, the next delivered
label-noise    loader                  ``corruption``: a registered corruption of the
                                       labels (``{name: label-flip, fraction: 0.2}``)
slow-write     checkpoint              ``rate_kbps``: the save writes at most this fast
enospc         checkpoint              ``after_bytes``: the disk is full after these
=============  ======================  ==================================================

The arming's ``rate`` says which steps, batches or saves are hit.
"""

from __future__ import annotations

from typing import Any, Literal

import pydantic
from pydantic import Field, field_validator, model_validator

from aichaos.errors import Problem
from aichaos.spec import Spec
from aichaos.validation import SpecError, format_path, problems

__all__ = ["FAMILIES", "KIND_FIELDS", "TrainingFields", "TrainingSpec", "check_spec"]

Kind = Literal[
    "nan",
    "inf",
    "explode",
    "lr-spike",
    "latency",
    "duplicate",
    "skip",
    "label-noise",
    "slow-write",
    "enospc",
]

#: hook family -> the kinds its hooks apply
FAMILIES: dict[str, tuple[str, ...]] = {
    "step": ("nan", "inf", "explode", "lr-spike"),
    "loader": ("latency", "duplicate", "skip", "label-noise"),
    "checkpoint": ("slow-write", "enospc"),
}

#: kind -> (the fields it uses, the ones it needs)
KIND_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "nan": (frozenset({"values", "fraction"}), frozenset()),
    "inf": (frozenset({"values", "fraction"}), frozenset()),
    "explode": (frozenset({"values", "factor"}), frozenset({"factor"})),
    "lr-spike": (frozenset({"factor"}), frozenset({"factor"})),
    "latency": (frozenset({"latency_ms", "jitter_ms"}), frozenset({"latency_ms"})),
    "duplicate": (frozenset(), frozenset()),
    "skip": (frozenset(), frozenset()),
    "label-noise": (frozenset({"corruption"}), frozenset({"corruption"})),
    "slow-write": (frozenset({"rate_kbps"}), frozenset({"rate_kbps"})),
    "enospc": (frozenset({"after_bytes"}), frozenset()),
}

_SPEC_FIELDS = (
    "values",
    "fraction",
    "factor",
    "latency_ms",
    "jitter_ms",
    "corruption",
    "rate_kbps",
    "after_bytes",
)


class TrainingFields(Spec):
    """The fields of a training fault, shared by the spec and the experiment's fault."""

    kind: Kind = Field(description="what happens to a hit step, batch or save")
    values: Literal["loss", "grads", "inputs"] | None = Field(
        None, description="nan, inf, explode: which values (default grads)"
    )
    fraction: float | None = Field(
        None, gt=0.0, le=1.0, description="nan, inf: share of the values of a hit step"
    )
    factor: float | None = Field(
        None, gt=1.0, le=1e30, description="explode, lr-spike: the multiplier"
    )
    latency_ms: float | None = Field(
        None, ge=0.0, le=3_600_000.0, description="latency: added to a hit batch fetch"
    )
    jitter_ms: float | None = Field(None, ge=0.0, le=3_600_000.0, description="latency: ±")
    corruption: dict[str, Any] | None = Field(
        None, description="label-noise: {name: label-flip, fraction: 0.2} (a corruption)"
    )
    rate_kbps: float | None = Field(
        None, gt=0.0, le=1e9, description="slow-write: KB/s (1 KB = 1000 bytes)"
    )
    after_bytes: int | None = Field(
        None, ge=0, le=2**50, description="enospc: bytes that fit before the disk is full"
    )

    @field_validator("corruption")
    @classmethod
    def _corruption(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is not None:
            from aichaos.data.corrupt_fault import CorruptionEntry

            CorruptionEntry.model_validate(v)  # a typo is named when the file is loaded
        return v

    @model_validator(mode="after")
    def _fields_of_kind(self) -> TrainingFields:
        uses, needs = KIND_FIELDS[self.kind]
        found: list[tuple[tuple[str], str]] = []
        for name in _SPEC_FIELDS:
            given = getattr(self, name) is not None
            if given and name not in uses:
                shown = ", ".join(sorted(uses)) or "none"
                found.append(((name,), f"is not used by kind {self.kind!r} (its fields: {shown})"))
            elif not given and name in needs:
                found.append(((name,), f"is required by kind {self.kind!r}"))
        if found:
            raise SpecError([Problem(format_path(loc), msg) for loc, msg in found])
        return self

    def spec_dict(self) -> dict[str, Any]:
        """The spec as the control endpoint receives it (unset fields left out)."""
        return {
            "kind": self.kind,
            **{n: getattr(self, n) for n in _SPEC_FIELDS if getattr(self, n) is not None},
        }


class TrainingSpec(TrainingFields):
    """A training fault as armed on a hook: the fields plus the run's ``seed``."""

    seed: int = Field(0, ge=0, description="seeds which values, batches and labels are hit")


def check_spec(spec: dict[str, Any], family: str, hook: str) -> TrainingSpec:
    """``spec`` validated for a hook of ``family`` named ``hook`` (a SpecError otherwise)."""
    try:
        model = TrainingSpec.model_validate(spec)
    except pydantic.ValidationError as exc:
        raise SpecError(problems(exc, ("training",)), f"hook {hook!r}") from None
    kinds = FAMILIES[family]
    if model.kind not in kinds:
        raise SpecError.one(
            ("training", "kind"),
            f"must be one of {', '.join(kinds)} for a {family} hook, got {model.kind!r}",
            f"hook {hook!r}",
        )
    return model
