"""``stream_cut``: cut a streamed response after ``after_events`` events (``0``: before
the first one).

``mode: close`` drops the connection mid-stream; ``mode: end`` ends the HTTP response
cleanly there (a 200 that simply stops: the openai SDK raises nothing, so callers must
check ``finish_reason``). ``error_event`` is sent as the last event; the presets send the
providers' own: ``openai_midstream_error`` the in-band error chunk of an OpenAI-compatible
stream, ``anthropic_midstream_error`` Anthropic's ``event: error`` with an
``overloaded_error`` (the anthropic SDK raises on it). ``drop_done`` lets the whole stream
through except the final ``data: [DONE]`` (``preset: openai_no_done``). A stream ended
early also closes its connection (announced with ``connection: close``), so the
upstream's rest of it never reaches the next request.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from aichaos.proxy.presets import ANTHROPIC_STREAM_ERROR_EVENT, STREAM_ERROR_EVENT
from aichaos.proxy.toxics.base import TOXICS, StageEnv
from aichaos.proxy.toxics.http_base import Exchange, HttpHandler, HttpToxic

__all__ = ["StreamCut"]

#: the in-band error event each ``*_midstream_error`` preset ends its stream with
_ERROR_EVENTS = {
    "openai_midstream_error": STREAM_ERROR_EVENT,
    "anthropic_midstream_error": ANTHROPIC_STREAM_ERROR_EVENT,
}


class _Cut(HttpHandler):
    __slots__ = ("seen",)

    def __init__(self, env: StageEnv) -> None:
        super().__init__(env)
        self.seen = 0

    def _attrs(self) -> StreamCut:
        return self.attrs(StreamCut)

    async def on_response(self, ex: Exchange) -> None:
        attrs = self._attrs()
        if ex.is_stream and not attrs.drops_done and attrs.ends_cleanly:
            # the connection is closed after the cut: a client must not reuse it
            ex.set_response_header("connection", "close")

    async def on_event(self, ex: Exchange, event: bytes) -> list[bytes]:
        attrs = self._attrs()
        if attrs.drops_done:
            if event.strip() == b"data: [DONE]":
                self.hit()
                return []
            return [event]
        if self.seen < attrs.after_events:
            self.seen += 1
            return [event]
        self.hit()
        if attrs.ends_cleanly:
            ex.end()
        else:
            ex.close()
        last = _ERROR_EVENTS.get(attrs.preset or "", attrs.error_event)
        if last is None:
            return []
        return [last.encode() if last.endswith("\n\n") else (last + "\n\n").encode()]


@TOXICS.register("stream_cut")
class StreamCut(HttpToxic):
    """Cut a token stream after N events (close, or end cleanly), optionally with an error event."""

    handler_class: ClassVar[type[HttpHandler]] = _Cut

    after_events: int = Field(1, ge=0, le=10**9, strict=True)
    mode: Literal["close", "end"] = "close"
    error_event: str | None = None
    drop_done: bool = False
    preset: (
        Literal["openai_midstream_error", "openai_no_done", "anthropic_midstream_error"] | None
    ) = None

    @property
    def drops_done(self) -> bool:
        """Whether this toxic only drops the final ``data: [DONE]``."""
        return self.drop_done or self.preset == "openai_no_done"

    @property
    def ends_cleanly(self) -> bool:
        """Whether the cut ends the response (rather than dropping the connection)."""
        return self.mode == "end" or self.preset in _ERROR_EVENTS
