"""Run an ASGI app under a real uvicorn server on a background thread.

For tests and demos: the server binds port 0 and reports the real address, and
:meth:`UvicornThread.stop` shuts it down gracefully. Needs the ``inprocess`` extra.

>>> with UvicornThread(app) as server:          # doctest: +SKIP
...     httpx.get(server.url + "/health")
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any, Literal

from aichaos.errors import OperationTimeout

__all__ = ["UvicornThread"]


class UvicornThread:
    """A uvicorn server for ``app`` on ``host`` (loopback) and a free port."""

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        start_timeout_s: float = 10.0,
        lifespan: Literal["on", "off"] = "off",
    ) -> None:
        import uvicorn

        # lifespan "on" for apps that close what they opened (an HTTP client's pool)
        config = uvicorn.Config(
            app, host=host, port=0, log_level="warning", lifespan=lifespan, ws="none"
        )
        self.server = uvicorn.Server(config)
        self.host = host
        self.start_timeout_s = start_timeout_s
        self.port = 0
        self._thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    @property
    def url(self) -> str:
        """Base URL with the bound port."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> UvicornThread:
        """Start serving and wait until the socket is bound."""
        self._thread.start()
        deadline = time.monotonic() + self.start_timeout_s
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                self.stop()
                raise OperationTimeout(f"uvicorn did not start within {self.start_timeout_s} s")
            time.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        """Ask the server to exit and wait for its thread."""
        self.server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def __enter__(self) -> UvicornThread:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
