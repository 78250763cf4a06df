"""``token_rate``: an overloaded decoder -- a streamed answer slowed to ``tokens_per_s``.

The first token event passes at once, so time to first token holds; each later one
leaves no sooner than ``1 / tokens_per_s`` (± ``jitter_ms``, seeded) after the one
before, so time per output token rises. Events without output (OpenAI's role chunk and
finish chunk, Anthropic's ``message_start`` / ``ping`` / ``message_stop``, ``[DONE]``)
pass at once behind the tokens before them; see :mod:`aichaos.proxy.llm_events` for what
counts as a token event. An upstream faster than the rate is held back by flow control,
as a slow reader would hold it. A response that is not a stream passes unchanged.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from aichaos.jitter import jittered_ms
from aichaos.proxy.llm_events import parse_event
from aichaos.proxy.timer import now
from aichaos.proxy.toxics.base import TOXICS, StageEnv
from aichaos.proxy.toxics.http_base import Exchange, HttpHandler, HttpToxic

__all__ = ["TokenRate"]


class _Pace(HttpHandler):
    __slots__ = ("due",)

    def __init__(self, env: StageEnv) -> None:
        super().__init__(env)
        #: when the next token event may leave (None before the first one)
        self.due: float | None = None

    async def on_event(self, ex: Exchange, event: bytes) -> list[bytes]:
        if not parse_event(event).carries_tokens():
            return [event]
        attrs = self.attrs(TokenRate)
        if self.due is not None:
            if self.due > now():
                self.hit()
            await self.sleep_until(self.due)
        gap_ms = jittered_ms(1000.0 / attrs.tokens_per_s, attrs.jitter_ms, self.env.rng)
        self.due = now() + gap_ms / 1000.0
        return [event]


@TOXICS.register("token_rate")
class TokenRate(HttpToxic):
    """Slow a token stream to ``tokens_per_s`` (± ``jitter_ms``); the first token is not held."""

    handler_class: ClassVar[type[HttpHandler]] = _Pace

    tokens_per_s: float = Field(gt=0, le=100_000, description="token events per second")
    jitter_ms: float = Field(0, ge=0, le=60_000, description="± this much on each gap")
