"""One request before the run, so that bad input fails fast with a clear message.

An unreachable URL, a server that does not speak HTTP/1.1, non-JSON answers when a
JSON path is set, or an answer that is no LLM answer when LLM answers are judged are
user mistakes, reported as :class:`~aichaos.errors.ValidationError`
before any load is generated (``aichaos load`` exits 2 on them).
"""

from __future__ import annotations

import asyncio
import json

from aichaos.errors import ValidationError
from aichaos.load.client import ClientConnection
from aichaos.load.llm_answer import Api, read_answer
from aichaos.load.requests import Endpoint, RequestItem

__all__ = ["preflight"]


class _One:
    """Owner of a single connection: resolves a future with the outcome."""

    def __init__(self, fut: asyncio.Future[tuple[int, bytes] | str]) -> None:
        self.fut = fut

    def on_response(
        self, conn: ClientConnection, status: int, body: bytes, keep_alive: bool
    ) -> None:
        if not self.fut.done():
            self.fut.set_result((status, body))

    def on_failure(self, conn: ClientConnection, kind: str) -> None:
        if not self.fut.done():
            self.fut.set_result(kind)


async def preflight(
    endpoint: Endpoint,
    item: RequestItem,
    timeout_s: float,
    json_path: str | None = None,
    llm_api: Api | None = None,
) -> int:
    """Send ``item`` once; return the status, or raise a ValidationError saying why not.

    ``llm_api`` (``auto``, ``openai``, ``anthropic``): a 2xx answer must be a complete
    LLM answer in that format.
    """
    url = f"http://{endpoint.host_header}{endpoint.path}"
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[tuple[int, bytes] | str] = loop.create_future()
    owner = _One(fut)
    try:
        _, conn = await asyncio.wait_for(
            loop.create_connection(
                lambda: ClientConnection(owner, True), endpoint.host, endpoint.port
            ),
            timeout_s,
        )
    except TimeoutError:
        raise ValidationError(f"url {url}: no connection within {timeout_s:g} s") from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ValidationError(f"url {url} is unreachable: {reason}") from None
    try:
        conn.send(item.raw)
        try:
            outcome = await asyncio.wait_for(fut, timeout_s)
        except TimeoutError:
            raise ValidationError(f"url {url}: no response within {timeout_s:g} s") from None
    finally:
        conn.busy = False
        conn.close()
    if isinstance(outcome, str):
        what = "is not an HTTP/1.1 server" if outcome == "invalid" else "closed the connection"
        raise ValidationError(f"url {url} {what} (first request failed: {outcome})")
    status, body = outcome
    if json_path is not None and 200 <= status < 300:
        try:
            json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise ValidationError(
                f"json_path {json_path} is set but {url} answered status {status} with a "
                f"non-JSON body: {body[:60]!r}"
            ) from None
    if llm_api is not None and 200 <= status < 300 and read_answer(body, llm_api) is None:
        raise ValidationError(
            f"quality task llm is set but {url} answered status {status} with no "
            f"complete {'OpenAI or Anthropic' if llm_api == 'auto' else llm_api} "
            f"answer: {body[:60]!r}"
        )
    return status
