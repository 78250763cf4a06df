"""The data experiment: does the pipeline notice bad data, and what does it cost?

For every corruption and severity (1..5), :meth:`DataExperiment.run` corrupts the user's
batch ``repeats`` times (fresh seeds) and

* runs the user's **validation step** -- a callable returning ``False`` or raising when it
  rejects a batch, or a pandera schema (anything with ``.validate``) -- and reports the
  **detection rate**: the share of actually-changed batches it rejected (plus the
  false-alarm verdict on the clean batch);
* runs the user's **score** callable -- typically "train on this batch, evaluate on my
  held-out set" or "evaluate my model on this batch" -- and reports the metric and its
  **drop** from the clean baseline: a robustness curve per corruption.

Results are plain data (JSON-able) so a report renders them without live objects.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from pydantic import Field

from aichaos.data.base import CORRUPTIONS, Corruption
from aichaos.errors import ValidationError
from aichaos.spec import Spec

__all__ = ["DataExperiment", "run_experiment"]

Validator = Callable[[Any], Any]
Scorer = Callable[[Any], float]


class DataExperiment(Spec):
    """Which corruptions to sweep, at which severities, how many times, from which seed."""

    corruptions: list[str] = Field(min_length=1, description="registered corruption names")
    severities: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5])
    repeats: int = Field(3, ge=1, le=1000, description="corrupted batches per cell of the grid")
    seed: int = Field(0, description="base seed; trial seeds derive from it")
    params: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="extra parameters per corruption name"
    )

    def specs(self) -> list[tuple[str, int, Corruption]]:
        """Every (name, severity, spec) of the sweep, validated up front."""
        for s in self.severities:
            if not 1 <= s <= 5:
                raise ValidationError(f"severities must be 1..5, got {s}")
        out = []
        for name in self.corruptions:
            cls = CORRUPTIONS.get(name)
            if cls.stateful:
                raise ValidationError(
                    f"{name} needs a stream of batches; a data experiment corrupts one batch"
                )
            extra = self.params.get(name, {})
            for s in self.severities:
                out.append((name, s, cls(**{**extra, "severity": s, "seed": self.seed})))
        return out

    def run(
        self,
        batch: Any,
        *,
        validate: Validator | Any | None = None,
        score: Scorer | None = None,
    ) -> dict[str, Any]:
        """Sweep the grid over ``batch``; return detection rates and metric drops."""
        if validate is None and score is None:
            raise ValidationError("give validate=, score= or both: there is nothing to measure")
        check = _validator(validate) if validate is not None else None
        baseline: dict[str, Any] = {}
        if check is not None:
            baseline["rejected"] = check(batch)
        if score is not None:
            baseline["metric"] = _score(score, batch)
        rows = []
        for name, sev, spec in self.specs():
            rows.append(self._cell(name, sev, spec, batch, check, score, baseline))
        return {
            "experiment": self.model_dump(mode="json"),
            "baseline": baseline,
            "results": rows,
            "curves": _curves(rows),
        }

    def _cell(
        self,
        name: str,
        sev: int,
        spec: Corruption,
        batch: Any,
        check: Callable[[Any], bool] | None,
        score: Scorer | None,
        baseline: dict[str, Any],
    ) -> dict[str, Any]:
        changed = detected = 0
        metrics: list[float] = []
        cells: list[int] = []
        for trial in range(self.repeats):
            from aichaos.data.inject import batch_seed

            data, report = spec.apply(batch, seed=batch_seed(self.seed + sev, trial))
            cells.append(report.n_cells_changed + report.n_rows_changed)
            if report.changed:
                changed += 1
                if check is not None and check(data):
                    detected += 1
            if score is not None:
                metrics.append(_score(score, data))
        row: dict[str, Any] = {
            "corruption": name,
            "severity": sev,
            "trials": self.repeats,
            "changed_trials": changed,
            "changed_units_mean": sum(cells) / len(cells),
        }
        if check is not None:
            row["detected"] = detected
            row["detection_rate"] = detected / changed if changed else None
        if score is not None:
            mean = sum(metrics) / len(metrics)
            row["metric_mean"] = mean
            row["metric_min"] = min(metrics)
            row["metric_drop"] = baseline["metric"] - mean
        return row


def _validator(validate: Any) -> Callable[[Any], bool]:
    """True when the user's step rejects the batch (returns False / raises)."""
    if callable(getattr(validate, "validate", None)):  # a pandera schema and the like
        target = validate.validate
    elif callable(validate):
        target = validate
    else:
        raise ValidationError(
            f"validate must be a callable or a schema with .validate, got {type(validate).__name__}"
        )

    def rejected(batch: Any) -> bool:
        try:
            verdict = target(batch)
        except Exception:  # the user's validator said no by raising
            return True
        return verdict is False

    return rejected


def _score(score: Scorer, batch: Any) -> float:
    value = float(score(batch))
    if math.isnan(value):
        raise ValidationError("score returned NaN; it must return a number")
    return value


def _curves(rows: list[dict[str, Any]]) -> dict[str, dict[str, list[Any]]]:
    curves: dict[str, dict[str, list[Any]]] = {}
    for row in rows:
        curve = curves.setdefault(row["corruption"], {"severity": []})
        curve["severity"].append(row["severity"])
        for key in ("detection_rate", "metric_drop"):
            if key in row:
                curve.setdefault(key, []).append(row[key])
    return curves


def run_experiment(
    batch: Any,
    corruptions: list[str],
    *,
    validate: Validator | Any | None = None,
    score: Scorer | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """Shortcut: ``DataExperiment(corruptions=..., **settings).run(batch, ...)``."""
    try:
        exp = DataExperiment(corruptions=corruptions, **settings)
    except Exception as exc:
        if isinstance(exc, ValidationError):
            raise
        raise ValidationError(f"data experiment: {exc}") from exc
    return exp.run(batch, validate=validate, score=score)
