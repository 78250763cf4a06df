"""``truncate``: cut the response body after ``bytes`` bytes and close the connection
(the client sees a body shorter than announced)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from aichaos.proxy.toxics.base import TOXICS, StageEnv
from aichaos.proxy.toxics.http_base import Exchange, HttpHandler, HttpToxic

__all__ = ["Truncate"]


class _Truncate(HttpHandler):
    __slots__ = ("sent",)

    def __init__(self, env: StageEnv) -> None:
        super().__init__(env)
        self.sent = 0

    async def on_data(self, ex: Exchange, data: bytes) -> bytes:
        attrs = self.attrs(Truncate)
        left = attrs.limit_bytes - self.sent
        if len(data) < left:
            self.sent += len(data)
            return data
        self.hit()
        ex.close()
        return data[: max(left, 0)]


@TOXICS.register("truncate")
class Truncate(HttpToxic):
    """Send only the first ``bytes`` bytes of the body, then close."""

    handler_class: ClassVar[type[HttpHandler]] = _Truncate

    limit_bytes: int = Field(0, alias="bytes", ge=0, le=2**62, strict=True)
