"""The proxy's API error: a status and a message, rendered as Toxiproxy renders errors."""

from __future__ import annotations

from aichaos.errors import ValidationError

__all__ = ["ApiError"]


class ApiError(ValidationError):
    """An error the control API answers with ``{"error": message, "status": status}``."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)

    def body(self) -> dict[str, object]:
        """The JSON body Toxiproxy sends for an error."""
        return {"error": self.message, "status": self.status}
