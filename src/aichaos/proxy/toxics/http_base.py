"""Base of the HTTP-aware toxics: request matching, and the per-request :class:`Plan`.

An HTTP toxic does not sit in a byte chain. For each request on an HTTP-aware connection
the HTTP layer asks every HTTP toxic, in order: does the request match (method, path as
a glob or regex, headers)? If so the toxic's toxicity is rolled *for this request*, and a
winning toxic writes what it wants into the request's :class:`Plan` (answer it here,
delay it, stall or cut its stream, corrupt its JSON, truncate its body).
"""

from __future__ import annotations

import fnmatch
import random
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from aichaos.proxy.toxics.base import ToxicAttributes

__all__ = ["CorruptOp", "HttpToxic", "Plan", "RequestInfo"]


@dataclass(frozen=True)
class RequestInfo:
    """What matching sees of a request: method, path (no query) and lower-cased headers."""

    method: str
    path: str
    headers: dict[str, str]


@dataclass(frozen=True)
class CorruptOp:
    """One JSON rewrite: at ``path`` (dot-separated, ``*`` for every item), do ``action``."""

    path: str
    action: str
    factor: float = 1.0
    value: Any = None


@dataclass
class Plan:
    """What happens to one request and its response; filled in by the toxics that won."""

    #: a full response to send instead of contacting the upstream
    synthetic: bytes | None = None
    request_delay_s: float = 0.0
    first_byte_delay_s: float = 0.0
    stall_after_events: int | None = None
    stall_s: float = 0.0
    stall_every: bool = False
    cut_after_events: int | None = None
    cut_mode: str = "close"
    cut_error_event: bytes | None = None
    drop_done: bool = False
    corrupt: list[CorruptOp] = field(default_factory=list)
    corrupt_rng: random.Random | None = None
    truncate_bytes: int | None = None
    #: the toxics that won this request (their removal ends the plan's sleeps early)
    toxics: list[Any] = field(default_factory=list)

    @property
    def needs_events(self) -> bool:
        """Whether the response body must be split into server-sent events."""
        return (
            self.stall_after_events is not None
            or self.cut_after_events is not None
            or self.drop_done
        )


class HttpToxic(ToxicAttributes):
    """Matching fields shared by every HTTP toxic (all optional: no filter hits every request)."""

    kind: ClassVar[str] = "http"

    method: str | None = Field(None, description="HTTP method, e.g. POST (case-insensitive)")
    path: str | None = Field(None, description="glob on the path, e.g. /v1/*")
    path_regex: str | None = Field(None, description="regex searched in the path")
    headers: dict[str, str] = Field(
        default_factory=dict, description="header name -> glob on its value ('*': present)"
    )

    @field_validator("path_regex")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"path_regex is not a valid regex: {exc}") from None
        return value

    def matches(self, req: RequestInfo) -> bool:
        """Whether this toxic's filter selects the request."""
        if self.method is not None and req.method.upper() != self.method.upper():
            return False
        if self.path is not None and not fnmatch.fnmatchcase(req.path, self.path):
            return False
        if self.path_regex is not None and re.search(self.path_regex, req.path) is None:
            return False
        for name, pattern in self.headers.items():
            value = req.headers.get(name.lower())
            if value is None or not fnmatch.fnmatchcase(value, pattern):
                return False
        return True

    def plan(self, plan: Plan, rng: random.Random) -> None:
        """Write this toxic's effect into the request's plan (subclasses override)."""


StreamMode = Literal["close", "end"]
