"""The proxy API's errors, rendered as Toxiproxy renders errors.

Each kind of refusal is its own class in the tree of :mod:`aichaos.errors`, so a bad body
is a :class:`~aichaos.errors.ValidationError` and a missing proxy is not;
:func:`aichaos.errors.http_status` gives the status every answer carries.
"""

from __future__ import annotations

from aichaos.errors import (
    AichaosError,
    Conflict,
    MethodNotAllowed,
    NotFound,
    ValidationError,
    http_status,
)

__all__ = [
    "ApiBadRequest",
    "ApiConflict",
    "ApiError",
    "ApiMethodNotAllowed",
    "ApiNotFound",
    "ApiServerError",
]


class ApiError(AichaosError):
    """An error the control API answers with ``{"error": message, "status": status}``."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)

    @property
    def status(self) -> int:
        """The HTTP status of this error (from :func:`aichaos.errors.http_status`)."""
        return http_status(self)

    def body(self) -> dict[str, object]:
        """The JSON body Toxiproxy sends for an error."""
        return {"error": self.message, "status": self.status}


class ApiBadRequest(ApiError, ValidationError):
    """A request body or field the API refuses (400)."""


class ApiNotFound(ApiError, NotFound):
    """No such proxy, toxic or route (404)."""


class ApiConflict(ApiError, Conflict):
    """A proxy or toxic of that name exists already (409)."""


class ApiMethodNotAllowed(ApiError, MethodNotAllowed):
    """A known route called with a method it does not take (405)."""


class ApiServerError(ApiError):
    """The proxy could not do what was asked (a listen address it cannot bind: 500)."""
