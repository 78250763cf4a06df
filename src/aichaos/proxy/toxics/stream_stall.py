"""``stream_stall``: pause a streamed response (server-sent events, NDJSON) for
``stall_ms`` after ``after_events`` events -- ``0`` is before the first one -- once, or
after every ``after_events`` with ``repeat``.

The head goes out at once; the client has its 200 and waits for tokens.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator

from aichaos.proxy.toxics.base import TOXICS, StageEnv
from aichaos.proxy.toxics.http_base import Exchange, HttpHandler, HttpToxic

__all__ = ["StreamStall"]


class _Stall(HttpHandler):
    __slots__ = ("seen",)

    def __init__(self, env: StageEnv) -> None:
        super().__init__(env)
        #: events that reached this toxic so far
        self.seen = 0

    async def on_event(self, ex: Exchange, event: bytes) -> list[bytes]:
        attrs = self.attrs(StreamStall)
        n, at = self.seen, attrs.after_events
        self.seen += 1
        if n == at or (attrs.repeat and n > 0 and n % at == 0):
            self.hit()
            await self.sleep(attrs.stall_ms / 1000.0)
        return [event]


@TOXICS.register("stream_stall")
class StreamStall(HttpToxic):
    """Stall a token stream: N events, then ``stall_ms`` of silence."""

    handler_class: ClassVar[type[HttpHandler]] = _Stall

    after_events: int = Field(1, ge=0, le=10**9, strict=True)
    stall_ms: int = Field(1000, ge=0, le=86_400_000, strict=True)
    repeat: bool = False

    @model_validator(mode="after")
    def _repeat_needs_a_period(self) -> StreamStall:
        if self.repeat and self.after_events == 0:
            raise ValueError("after_events must be >= 1 with repeat (a stall every N events)")
        return self
