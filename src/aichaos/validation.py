"""The one error formatter: every bad value reads the same, wherever it was given.

A fault in an experiment file, a probe, a target, a workload, a data corruption, a toxic's
attributes in a proxy API body, a hook's control body: each is a pydantic model, and each
mistake in one becomes a :class:`~aichaos.errors.Problem` -- the field's path, what was
expected and the value given -- with the same words::

    latency_ms must be >= 0, got -5 (method[1].fault)

Errors stay structured from the validator to the user: a model-level check raises a
:class:`SpecError` holding its problems (pydantic keeps the exception object), and
:func:`problems` lifts them out with their paths instead of parsing message text.

Unknown names get :func:`aichaos.errors.did_you_mean` appended by the check that finds them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import pydantic

from aichaos.errors import Problem, ValidationError

__all__ = [
    "Loc",
    "SpecError",
    "expectation",
    "format_path",
    "house_form",
    "problems",
    "show_value",
    "validate",
]

#: a field's location: names and list indices, outermost first
Loc = tuple[str | int, ...]

_BOUNDS = {
    "greater_than_equal": ">=",
    "greater_than": ">",
    "less_than_equal": "<=",
    "less_than": "<",
}
_MAX_SHOWN = 60
M = TypeVar("M", bound=pydantic.BaseModel)


def format_path(loc: Iterable[str | int]) -> str:
    """``('method', 1, 'fault')`` -> ``method[1].fault``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def show_value(value: Any) -> str:
    """The value as a user typed it (``repr``), cut to a readable length."""
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def expectation(err: Any, show: Callable[[Any], str] = show_value) -> str:
    """What one pydantic error says, in the house words: ``must be >= 0, got -5``."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    got = show(err.get("input"))
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known field"
    if kind in _BOUNDS:
        bound = next(iter(ctx.values()))
        if isinstance(bound, float) and bound.is_integer() and abs(bound) < 1e15:
            bound = int(bound)  # a float field's bound 0 reads as 0, as an int field's does
        return f"must be {_BOUNDS[kind]} {bound}, got {got}"
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", err["msg"]))  # a validator's own words, no prefix
    if kind == "finite_number":  # worded as limits.number_problems words it
        return f"must be a finite number, got {got}"
    if kind == "string_pattern_mismatch":
        return f"must match {ctx.get('pattern')}, got {got}"
    msg: str = err["msg"]
    msg = msg[:1].lower() + msg[1:]
    if kind in ("too_short", "too_long"):
        return msg
    return f"{msg}, got {got}"


def problems(
    exc: pydantic.ValidationError, prefix: Loc = (), show: Callable[[Any], str] = show_value
) -> list[Problem]:
    """Every mistake in ``exc`` as a :class:`Problem`, with paths under ``prefix``.

    A validator that raised a :class:`SpecError` contributes its own problems (their
    paths below the validator's location), not one joined message.
    """
    out: list[Problem] = []
    for err in exc.errors(include_url=False):
        loc: Loc = (*prefix, *err["loc"])
        inner = (err.get("ctx") or {}).get("error")
        if isinstance(inner, SpecError):
            out += [p.under(format_path(loc)) for p in inner.problems]
            continue
        out.append(Problem(format_path(loc), expectation(err, show)))
    return out


def house_form(problem: Problem, where: str = "") -> str:
    """``latency_ms must be >= 0, got -5 (method[1].fault)``: field, expectation, where."""
    text = f"{problem.path} {problem.message}" if problem.path else problem.message
    return f"{text} ({where})" if where else text


class SpecError(ValidationError):
    """A spec (fault, probe, target, workload, corruption, toxic) that does not validate.

    Carries every :class:`Problem`; its text is each in the house form, joined by ``;``.
    Raised inside a pydantic validator it keeps its problems structured (see
    :func:`problems`).
    """

    def __init__(self, problems: Sequence[Problem], where: str = "") -> None:
        self.problems = list(problems)
        self.where = where
        super().__init__("; ".join(house_form(p, where) for p in self.problems))

    @classmethod
    def one(cls, loc: Loc, message: str, where: str = "") -> SpecError:
        """A single problem at ``loc``."""
        return cls([Problem(format_path(loc), message)], where)


def validate(model: type[M], data: Any, where: str = "") -> M:
    """``model`` validated from ``data`` (a mapping, or JSON bytes); a :class:`SpecError`
    in the house form otherwise."""
    try:
        if isinstance(data, (bytes, str)):
            return model.model_validate_json(data or b"{}")
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise SpecError(problems(exc), where) from None
