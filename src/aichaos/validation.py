"""The one error formatter: every bad value reads the same, wherever it was given.

A fault in an experiment file, a probe, a target, a workload, a data corruption, a toxic's
attributes in a proxy API body, a hook's control body: each is a pydantic model, and each
mistake in one becomes a :class:`~aichaos.errors.Problem` -- the field's path, what was
expected and the value given -- with the same words::

    latency_ms must be >= 0, got -5 (method[1].fault)

Errors stay structured from the validator to the user: a model-level check raises a
:class:`SpecError` holding its problems (pydantic keeps the exception object), and
:func:`problems` lifts them out with their paths instead of parsing message text.

An unknown key reads the same wherever it is given -- ``latncy is not a known field (did
you mean 'latency'?); known: jitter, latency`` (:func:`unknown_field`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar, get_args

import pydantic

from aichaos.errors import Problem, ValidationError, did_you_mean

__all__ = [
    "Loc",
    "SpecError",
    "expectation",
    "format_path",
    "house_form",
    "known_fields",
    "problems",
    "show_value",
    "unknown_field",
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


def known_fields(model: type[pydantic.BaseModel]) -> list[str]:
    """The keys ``model`` accepts: field names and their aliases, sorted."""
    return sorted({n for name, f in model.model_fields.items() for n in (name, f.alias) if n})


def unknown_field(key: str, known: Sequence[str]) -> str:
    """The house words for a key no field has: ``is not a known field (did you mean
    'latency'?); known: jitter, latency``."""
    return f"is not a known field{did_you_mean(key, known)}; known: {', '.join(known)}"


def _model_at(model: type[pydantic.BaseModel] | None, loc: Sequence[str | int]) -> Any:
    """The model whose field ``loc`` names (through nested models, lists and dicts), or
    ``None`` where the path leaves models."""
    for part in loc:
        if model is None:
            return None
        if isinstance(part, int):
            continue  # a list index: the item type was unwrapped with the list
        f = model.model_fields.get(part) or next(
            (f for f in model.model_fields.values() if f.alias == part), None
        )
        model = None if f is None else _model_in(f.annotation)
    return model


def _model_in(annotation: Any) -> type[pydantic.BaseModel] | None:
    """The one model type inside ``annotation`` (``M``, ``M | None``, ``list[M]``...)."""
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return annotation
    found = {m for arg in get_args(annotation) if (m := _model_in(arg)) is not None}
    return found.pop() if len(found) == 1 else None


def problems(
    exc: pydantic.ValidationError,
    prefix: Loc = (),
    show: Callable[[Any], str] = show_value,
    model: type[pydantic.BaseModel] | None = None,
) -> list[Problem]:
    """Every mistake in ``exc`` as a :class:`Problem`, with paths under ``prefix``.

    A validator that raised a :class:`SpecError` contributes its own problems (their
    paths below the validator's location), not one joined message. Given the ``model``
    that was validated, an unknown key is told the known ones (and the likely one).
    """
    out: list[Problem] = []
    for err in exc.errors(include_url=False):
        loc: Loc = (*prefix, *err["loc"])
        inner = (err.get("ctx") or {}).get("error")
        if isinstance(inner, SpecError):
            out += [p.under(format_path(loc)) for p in inner.problems]
            continue
        message = expectation(err, show)
        owner = _model_at(model, err["loc"][:-1]) if err["type"] == "extra_forbidden" else None
        if owner is not None:
            message = unknown_field(str(err["loc"][-1]), known_fields(owner))
        out.append(Problem(format_path(loc), message))
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
        raise SpecError(problems(exc, model=model), where) from None
