"""The ``requests`` adapter behind :func:`aichaos.inprocess.clients.requests_adapter`.

Kept apart so importing the httpx transport never imports ``requests``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from aichaos.inprocess.clients import pick
from aichaos.inprocess.hooks import Hook

__all__ = ["ChaosAdapter"]


class ChaosAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` that delays, fails or answers requests when a hook fires."""

    def __init__(self, hooks: Sequence[Hook], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hooks = list(hooks)

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Inject the first firing hook's fault; otherwise send as usual."""
        path = urlsplit(request.url or "").path or "/"
        hook, shot = pick(self.hooks, request.method or "GET", path)
        if hook is None:
            return super().send(request, stream, timeout, verify, cert, proxies)
        if shot.delay_s:
            hook.sleep(shot.delay_s)
        shot.raise_error()
        http = shot.http
        if http is not None and http.abort == "timeout":
            raise requests.exceptions.ReadTimeout("read timed out (injected)", request=request)
        if http is not None and http.abort in ("connect", "reset"):
            raise requests.exceptions.ConnectionError(
                f"connection {http.abort} (injected by aichaos)", request=request
            )
        if http is not None and http.status_code is not None:
            response = requests.Response()
            response.status_code = http.status_code
            response.headers = CaseInsensitiveDict(dict(http.headers))
            response._content = http.body
            response.url = request.url or ""
            response.request = request
            response.reason = "injected by aichaos"
            response.connection = self
        else:
            response = super().send(request, stream, timeout, verify, cert, proxies)
        return shot(response)  # type: ignore[no-any-return]
