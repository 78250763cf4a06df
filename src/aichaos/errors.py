"""The one exception tree of aichaos.

Every error aichaos raises on purpose is an :class:`AichaosError`; third-party errors
are translated at the boundary with ``raise ... from exc``::

    AichaosError
    ├── ValidationError          bad user input: experiment file, CLI flag, API body, batch
    │   ├── ExperimentError      an experiment file that does not validate (many problems)
    │   ├── SpecError            a spec that does not validate (validation.py; Problems)
    │   ├── ApiBadRequest        a body the proxy control API refuses (proxy/errors.py)
    │   └── ReportError          a journal that is missing, empty or not one (report/model.py)
    ├── ApiError                 the proxy control API's base: one subclass per answer below
    │                            (ApiBadRequest, ApiNotFound, ApiConflict, ...: proxy/errors.py)
    ├── RegistryError            an unknown fault / probe type, a duplicate registration
    ├── NotFound                 no such object (ApiNotFound: a proxy or toxic)
    ├── Conflict                 an object of that name exists already (ApiConflict)
    ├── MethodNotAllowed         a known route called with another method (ApiMethodNotAllowed)
    ├── TargetError              a target that cannot be reached or does not exist
    │   └── NoCluster            no Kubernetes cluster is configured (chaosmesh/apply.py)
    ├── InjectionError           applying or reverting a fault failed
    │   └── RevertError          a revert failed or timed out: something may be left applied
    ├── ProbeError               a probe could not take its measurement
    ├── OperationTimeout         a probe, apply or revert ran past its enforced timeout
    └── SafetyError              a safety rule refused the action (floors, environments)

:func:`http_status` is the one place that maps an error to an HTTP status.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "AichaosError",
    "Conflict",
    "ExperimentError",
    "InjectionError",
    "MethodNotAllowed",
    "NotFound",
    "OperationTimeout",
    "ProbeError",
    "Problem",
    "RegistryError",
    "RevertError",
    "SafetyError",
    "TargetError",
    "ValidationError",
    "did_you_mean",
    "http_status",
]


class AichaosError(Exception):
    """Base of every error aichaos raises on purpose."""


class ValidationError(AichaosError, ValueError):
    """Bad user input. The message names the field, the value and what was expected."""


@dataclass(frozen=True)
class Problem:
    """One mistake in a user's file: where it is, what is wrong, what was expected."""

    path: str
    message: str
    line: int | None = None

    def under(self, parent: str) -> Problem:
        """This problem with its path below ``parent`` (``method[1]`` + ``fault``)."""
        if not parent:
            return self
        path = (
            parent if not self.path else f"{parent}{'' if self.path[0] == '[' else '.'}{self.path}"
        )
        return Problem(path, self.message, self.line)

    def __str__(self) -> str:
        where = self.path or "<file>"
        if self.line is not None:
            where = f"{where} (line {self.line})"
        return f"{where}: {self.message}"


class ExperimentError(ValidationError):
    """An experiment file that does not validate; carries every problem found at once."""

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = [f"{source}: {len(self.problems)} problem(s)"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class RegistryError(AichaosError, LookupError):
    """An unknown fault or probe type, or a name registered twice."""


class NotFound(AichaosError, LookupError):
    """An object asked for by name (a proxy, a toxic, a route) that does not exist."""


class Conflict(AichaosError):
    """An object that cannot be created: one of that name exists already."""


class MethodNotAllowed(AichaosError):
    """A known resource called with a method it does not take."""


class TargetError(AichaosError):
    """A target that does not exist or cannot be reached."""


class InjectionError(AichaosError):
    """Applying or reverting a fault failed."""


class RevertError(InjectionError):
    """A revert failed or timed out: the journal records what may be left applied."""


class ProbeError(AichaosError):
    """A probe could not take its measurement."""


class OperationTimeout(AichaosError, TimeoutError):
    """A probe, fault apply or revert ran past its enforced timeout."""


class SafetyError(AichaosError):
    """A safety rule refused the action (resource floors, allowed environments...)."""


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """``" (did you mean 'latency'?)"`` for the closest of ``choices``, or ``""``.

    >>> did_you_mean("latncy", ["latency", "jitter"])
    " (did you mean 'latency'?)"
    """
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def http_status(exc: BaseException) -> int:
    """Map an error to the HTTP status every control API answers with."""
    if isinstance(exc, (RegistryError, NotFound)):
        return 404
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, MethodNotAllowed):
        return 405
    if isinstance(exc, ValidationError):
        return 400
    if isinstance(exc, SafetyError):
        return 403
    if isinstance(exc, OperationTimeout):
        return 504
    return 500
