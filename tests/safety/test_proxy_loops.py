"""A proxy may not forward to its own listen address nor to the control API.

Against a real ``aichaos proxy``: each is refused at creation (and on update and
``/populate``) with a 400, nothing is created, and the server holds no extra descriptor.
"""

from __future__ import annotations

import os
import socket

import httpx

from tests.safety.conftest import ProxyProc


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


CASES = [
    ("127.0.0.1:{p}", "127.0.0.1:{p}", "own listen address"),
    ("0.0.0.0:{p}", "127.0.0.1:{p}", "own listen address"),
    ("127.0.0.1:{p}", "localhost:{p}", "own listen address"),
    ("127.0.0.1:0", "127.0.0.1:{api}", "the control API"),
    ("127.0.0.1:0", "localhost:{api}", "the control API"),
]


def test_a_proxy_onto_itself_or_the_api_is_refused(proxy_proc: ProxyProc) -> None:
    for listen, upstream, what in CASES:
        _refused(proxy_proc, listen, upstream, what)


def _refused(proxy_proc: ProxyProc, listen: str, upstream: str, what: str) -> None:
    api_port = int(proxy_proc.url.rsplit(":", 1)[1])
    port = _free_port()
    fill = {"p": port, "api": api_port}
    body = {"name": "loop", "listen": listen.format(**fill), "upstream": upstream.format(**fill)}
    with httpx.Client(base_url=proxy_proc.url, timeout=10) as api:
        before = _fds(proxy_proc.proc.pid)
        r = api.post("/proxies", json=body)
        assert r.status_code == 400, r.text
        assert what in r.json()["error"]
        assert api.get("/proxies").json() == {}
        r = api.post("/populate", json=[{"name": "ok", "listen": "127.0.0.1:0",
                                         "upstream": "127.0.0.1:9"}, body])  # fmt: skip
        assert r.status_code == 400 and what in r.json()["error"], r.text
        assert api.get("/proxies").json() == {}, "populate changed nothing"
        # an existing proxy may not be turned into one either
        made = api.post("/proxies", json={**body, "upstream": "127.0.0.1:9"})
        assert made.status_code == 201, made.text
        r = api.post("/proxies/loop", json={"upstream": body["upstream"]})
        assert r.status_code == 400 and what in r.json()["error"], r.text
        assert api.get("/proxies/loop").json()["upstream"] == "127.0.0.1:9"
        assert api.delete("/proxies/loop").status_code == 204
        assert _fds(proxy_proc.proc.pid) <= before + 1
