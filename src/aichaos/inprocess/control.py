"""The control endpoint: lets an experiment arm and disarm a service's hooks remotely.

A tiny HTTP server on a background thread (standard library only, so it runs beside any
sync or async service). It binds loopback by default and refuses other addresses unless
``allow_remote`` is set; every request needs ``Authorization: Bearer <token>``, compared
in constant time. Arming always carries a TTL, so hooks disarm themselves if the
experiment stops renewing them.

==========  ==========================  =================================================
method      path                        effect
==========  ==========================  =================================================
GET         /faults                     names, and the armed ones with seconds left
POST        /faults/{name}              arm: ``{"ttl_s": 30, "rate": 0.5, "latency_ms": 800}``
                                        (data hooks: ``"corruption": {"name": ...}``,
                                        training hooks: ``"training": {"kind": ...}``)
POST        /faults/{name}/renew        push the deadline: ``{"ttl_s": 30}``
DELETE      /faults/{name}              disarm (``*``: all), with what the hook did
                                        (``effect``); 404 for an unknown name
==========  ==========================  =================================================

>>> server = ControlServer(BOARD, token="s3cret").start()   # doctest: +SKIP
>>> server.url                                               # doctest: +SKIP
'http://127.0.0.1:40123'
"""

from __future__ import annotations

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from pydantic import BaseModel, Field

from aichaos.access import (
    UNAUTHORIZED,
    BodyRefused,
    bearer_ok,
    check_token,
    content_length,
    require_loopback,
)
from aichaos.errors import AichaosError, http_status
from aichaos.inprocess.board import Switchboard
from aichaos.spec import Spec
from aichaos.validation import SpecError, problems, validate

__all__ = ["MAX_BODY_BYTES", "ArmBody", "ControlServer", "RenewBody"]

#: bodies above this are refused (access.BODY_REFUSED_STATUS) before they are read
MAX_BODY_BYTES = 64 * 1024


class ArmBody(Spec):
    """Body of ``POST /faults/{name}``."""

    ttl_s: float = Field(gt=0, le=86_400, description="the hook disarms itself after this")
    rate: float | None = Field(None, ge=0.0, le=1.0, description="overrides the hook's rate")
    latency_ms: float | None = Field(None, ge=0, description="overrides the hook's latency")
    corruption: dict[str, Any] | None = Field(
        None, description="for data hooks: {name: <corruption>, ...its parameters}"
    )
    training: dict[str, Any] | None = Field(
        None, description="for training hooks: {kind: nan, values: grads, ...} (aichaos.training)"
    )


class RenewBody(Spec):
    """Body of ``POST /faults/{name}/renew``."""

    ttl_s: float = Field(gt=0, le=86_400)


def _parse(model: type[BaseModel], raw: bytes) -> Any:
    return validate(model, raw, "body")


def _check_corruption(spec: dict[str, Any]) -> None:
    """Refuse a corruption the data hook could not build (400, naming the problem)."""
    import pydantic

    from aichaos.data.corrupt_fault import CorruptionEntry

    try:
        CorruptionEntry.model_validate(spec)
    except pydantic.ValidationError as exc:
        raise SpecError(problems(exc, ("corruption",))) from None


class ControlServer:
    """Serve a :class:`Switchboard` over authenticated HTTP on a background thread."""

    def __init__(
        self,
        board: Switchboard,
        token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        allow_remote: bool = False,
        timeout_s: float = 10.0,
    ) -> None:
        check_token(token)
        if not allow_remote:
            require_loopback(host, "pass allow_remote=True to serve beyond loopback")
        self.board = board
        self.token = token if token is not None else secrets.token_urlsafe(24)
        #: a client must send each part of its request within this (slowloris is cut off)
        self.timeout_s = timeout_s
        self._httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL with the real bound port."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ControlServer:
        """Start serving on a daemon thread; returns self."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},  # shutdown() waits up to one poll
            name="aichaos-control",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and release the socket."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def authorized(self, header: str | None) -> bool:
        """Constant-time check of an ``Authorization`` header."""
        return bearer_ok(header, self.token)

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """Route one authorized request; returns (status, JSON body)."""
        parts = [unquote(p) for p in path.split("?", 1)[0].strip("/").split("/")]
        if parts[:1] != ["faults"]:
            return 404, {"error": f"no route for {path}"}
        if method == "GET" and len(parts) == 1:
            return 200, self.board.status()
        if len(parts) == 2 and method == "POST":
            arm: ArmBody = _parse(ArmBody, body)
            if arm.corruption is not None:
                _check_corruption(arm.corruption)
            self.board.arm(
                parts[1], arm.ttl_s, arm.rate, arm.latency_ms, arm.corruption, arm.training
            )
            return 200, {"armed": parts[1], "ttl_s": arm.ttl_s}
        if len(parts) == 3 and parts[2] == "renew" and method == "POST":
            renew: RenewBody = _parse(RenewBody, body)
            if not self.board.renew(parts[1], renew.ttl_s):
                return 409, {"error": f"hook {parts[1]!r} is not armed (expired or disarmed)"}
            return 200, {"renewed": parts[1], "ttl_s": renew.ttl_s}
        if len(parts) == 2 and method == "DELETE":
            was = self.board.disarm(parts[1])
            return 200, {
                "disarmed": parts[1],
                "was_armed": was,
                "effect": self.board.take_tally(parts[1]),
            }
        return 405, {"error": f"{method} not allowed on {path}"}


def _handler_for(server: ControlServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # the socket timeout: a read that waits longer ends the connection
        timeout = server.timeout_s

        def _serve(self) -> None:
            if not server.authorized(self.headers.get("Authorization")):
                self._reply(401, {"error": UNAUTHORIZED})
                return
            try:
                length = content_length(self.headers.get("Content-Length"), MAX_BODY_BYTES)
            except BodyRefused as exc:
                self._reply(exc.status, {"error": exc.message})
                return
            body = self.rfile.read(length) if length else b""
            try:
                status, payload = server.handle(self.command, self.path, body)
            except AichaosError as exc:
                status, payload = http_status(exc), {"error": str(exc)}
            self._reply(status, payload)

        do_GET = do_POST = do_DELETE = _serve

        def __getattr__(self, name: str) -> Any:
            # every other method (PUT, PATCH, OPTIONS, made-up ones) is authenticated too
            # and then refused by the router with 405, instead of a 501 to anyone
            if name.startswith("do_"):
                return self._serve
            raise AttributeError(name)

        def _reply(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: a service's logs are its own."""

    return Handler
