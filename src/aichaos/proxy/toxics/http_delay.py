"""``http_delay``: delay matching requests before they reach the upstream, and/or the first
byte of their response (time to first byte), each with uniform jitter."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from aichaos.jitter import jittered_ms
from aichaos.proxy.toxics.base import TOXICS
from aichaos.proxy.toxics.http_base import Exchange, HttpHandler, HttpToxic

__all__ = ["HttpDelay"]


class _Delay(HttpHandler):
    __slots__ = ()

    def _jittered(self, ms: int) -> float:
        attrs = self.attrs(HttpDelay)
        if ms <= 0:
            return 0.0
        return jittered_ms(ms, attrs.jitter_ms, self.env.rng) / 1000.0

    async def on_request(self, ex: Exchange) -> None:
        attrs = self.attrs(HttpDelay)
        if attrs.request_ms > 0:
            self.hit()
            await self.sleep(self._jittered(attrs.request_ms))

    async def on_response(self, ex: Exchange) -> None:
        attrs = self.attrs(HttpDelay)
        if attrs.first_byte_ms > 0:
            self.hit()
            await self.sleep(self._jittered(attrs.first_byte_ms))


@TOXICS.register("http_delay")
class HttpDelay(HttpToxic):
    """Hold the request ``request_ms`` and the response's first byte ``first_byte_ms``."""

    handler_class: ClassVar[type[HttpHandler]] = _Delay

    request_ms: int = Field(0, ge=0, le=86_400_000, strict=True)
    first_byte_ms: int = Field(0, ge=0, le=86_400_000, strict=True)
    jitter_ms: int = Field(0, ge=0, le=86_400_000, strict=True)
