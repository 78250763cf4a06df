"""The one way aichaos builds an ``httpx.AsyncClient``: TLS set up only when used.

``httpx.AsyncClient()`` loads the CA bundle into an SSL context when it is built, tens
to hundreds of milliseconds of CPU, although most targets of a run (services, probes,
control APIs on 127.0.0.1) speak plain HTTP. The client built here sends ``http://``
requests through a transport with no SSL context and ``https://`` ones through a
verifying transport that is built on the first HTTPS request. Certificates are verified
exactly as httpx's default does.

>>> client = async_client(timeout=5.0)   # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

__all__ = ["async_client"]


def async_client(**kwargs: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient(**kwargs)`` whose HTTPS transport is built on first use."""
    import httpx

    class _LazyTLS(httpx.AsyncBaseTransport):
        """Builds the verifying transport (and its SSL context) on the first request."""

        def __init__(self) -> None:
            self._inner: httpx.AsyncHTTPTransport | None = None

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if self._inner is None:
                self._inner = httpx.AsyncHTTPTransport()
            return await self._inner.handle_async_request(request)

        async def aclose(self) -> None:
            if self._inner is not None:
                await self._inner.aclose()

    # verify=False only spares the plain transport an SSL context it never uses:
    # every https:// URL is routed to the verifying transport by the mount
    plain = httpx.AsyncHTTPTransport(verify=False)
    return httpx.AsyncClient(transport=plain, mounts={"https://": _LazyTLS()}, **kwargs)
