"""A chaos proxy in a background process, and a small synchronous client for it.

Test runners and Chaos Toolkit call plain synchronous functions, and a proxy must keep
forwarding between those calls, so it runs in a child process::

    proc = ProxyProcess.start([{"name": "api", "upstream": "127.0.0.1:8000"}])
    api = proc.handle("api")
    api.listen                                   # "127.0.0.1:40123": point the client here
    name = api.add_toxic("latency", latency=200)
    api.remove_toxic(name)
    proc.stop()

The child is leashed to its parent: it exits when its stdin reaches EOF (the parent died
or closed it), on SIGTERM, or after ``lifetime_s``, so a crashed test run cannot leave a
proxy behind. Run directly: ``python -m aichaos.integrations.proxyproc`` reads the proxy
list (JSON) from its first argument and prints one JSON line with the addresses.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aichaos.errors import NotFound, TargetError, ValidationError
from aichaos.proxyapi import ProxyApi, api_error, send_sync

__all__ = ["ProxyHandle", "ProxyProcess"]

_START_TIMEOUT_S = 20.0


@dataclass
class ProxyHandle:
    """One proxy on a control API: its listen address and calls to add / remove toxics."""

    api_url: str
    name: str
    listen: str
    upstream: str = ""
    token: str | None = None
    _counter: int = field(default=0, repr=False)

    @property
    def host(self) -> str:
        """Host part of :attr:`listen`."""
        return self.listen.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        """Port part of :attr:`listen`."""
        return int(self.listen.rsplit(":", 1)[1])

    @property
    def url(self) -> str:
        """``http://<listen>``: the base URL a client uses to go through the proxy."""
        return f"http://{self.listen}"

    @property
    def api(self) -> ProxyApi:
        """The control API this proxy lives on (URLs, token)."""
        return ProxyApi(self.api_url, self.token)

    def _request(self, method: str, url: str, body: Any = None) -> Any:
        status, text = send_sync(method, url, headers=self.api.headers(), body=body)
        if status >= 400:
            raise api_error(status, text, f"proxy {self.name}: {method}")
        return json.loads(text) if text else None

    def add_toxic(
        self,
        type: str,
        *,
        stream: str = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
        ttl_s: float | None = None,
        **attributes: Any,
    ) -> str:
        """Add a toxic (``latency``, ``http_error``, ``json_corrupt``...); returns its name."""
        if name is None:
            self._counter += 1
            name = f"{type}_{stream}_{self._counter}"
        body: dict[str, Any] = {
            "name": name,
            "type": type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": attributes,
        }
        if ttl_s is not None:
            body["ttl_s"] = ttl_s
        self._request("POST", self.api.toxics_url(self.name), body)
        return name

    def update_toxic(self, name: str, **fields: Any) -> dict[str, Any]:
        """Change a live toxic (``toxicity``, ``attributes``, ``ttl_s``)."""
        out: dict[str, Any] = self._request("POST", self.api.toxic_url(self.name, name), fields)
        return out

    def remove_toxic(self, name: str) -> None:
        """Remove a toxic; one already gone is not an error (it may have expired)."""
        with contextlib.suppress(NotFound):
            self._request("DELETE", self.api.toxic_url(self.name, name))

    def toxics(self) -> list[dict[str, Any]]:
        """The toxics on this proxy now (with their ``stats``)."""
        out: list[dict[str, Any]] = self._request("GET", self.api.toxics_url(self.name))
        return out

    def clear(self) -> None:
        """Remove every toxic of this proxy."""
        for toxic in self.toxics():
            self.remove_toxic(toxic["name"])

    @contextlib.contextmanager
    def toxic(self, type: str, **kwargs: Any) -> Iterator[str]:
        """``with api.toxic("latency", latency=100): ...`` -- removed on exit, always."""
        name = self.add_toxic(type, **kwargs)
        try:
            yield name
        finally:
            self.remove_toxic(name)

    def target(self) -> Any:
        """This proxy as an experiment ``proxy`` target (for faults)."""
        from aichaos.proxy.target import ProxyTarget

        if not self.token:
            return ProxyTarget(api_url=self.api_url, proxy=self.name)
        # a target names the variable holding its token, never the token itself (the
        # journal and the watchdog's lease record the target): this process's is set here
        port = urlsplit(self.api_url).port
        env = f"AICHAOS_PROXY_TOKEN_{port}"
        os.environ[env] = self.token
        return ProxyTarget(api_url=self.api_url, proxy=self.name, token_env=env)


class ProxyProcess:
    """A chaos proxy server running in a leashed child process."""

    def __init__(self, popen: subprocess.Popen[bytes], info: Mapping[str, Any], token: str | None):
        self.popen = popen
        self.api_url: str = info["api_url"]
        self.proxies: dict[str, dict[str, Any]] = dict(info["proxies"])
        self.token = token

    @property
    def pid(self) -> int:
        """The child's pid."""
        return self.popen.pid

    @classmethod
    def start(
        cls,
        proxies: list[Mapping[str, Any]],
        *,
        seed: int | None = None,
        lifetime_s: float = 3600.0,
        token: str | None = None,
    ) -> ProxyProcess:
        """Start the child, wait for its addresses (bounded), return the running process."""
        if not lifetime_s > 0:
            raise ValidationError(f"lifetime_s must be > 0, got {lifetime_s}")
        for i, p in enumerate(proxies):
            if not isinstance(p, Mapping) or "name" not in p or "upstream" not in p:
                raise ValidationError(
                    f"proxies[{i}] must be a mapping with 'name' and 'upstream', got {p!r}"
                )
        cmd = [sys.executable, "-m", "aichaos.integrations.proxyproc", json.dumps(list(proxies))]
        cmd += ["--lifetime-s", str(lifetime_s)]
        if seed is not None:
            cmd += ["--seed", str(seed)]
        popen = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert popen.stdout is not None
        ready, _, _ = select.select([popen.stdout], [], [], _START_TIMEOUT_S)
        line = popen.stdout.readline() if ready else b""
        if not line:
            popen.kill()
            _, err = popen.communicate(timeout=5)
            raise TargetError(f"chaos proxy did not start: {err.decode(errors='replace')[-500:]}")
        return cls(popen, json.loads(line), token)

    def handle(self, name: str) -> ProxyHandle:
        """The handle of proxy ``name``."""
        try:
            p = self.proxies[name]
        except KeyError:
            raise ValidationError(
                f"no proxy {name!r} in this process; known: {', '.join(self.proxies)}"
            ) from None
        return ProxyHandle(self.api_url, name, p["listen"], p["upstream"], self.token)

    def alive(self) -> bool:
        """True while the child runs."""
        return self.popen.poll() is None

    def stop(self, timeout_s: float = 5.0) -> None:
        """Terminate the child (its proxies close their connections) and reap it."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout_s)
        for stream in (self.popen.stdin, self.popen.stdout, self.popen.stderr):
            if stream is not None:
                stream.close()


def _main(argv: list[str]) -> None:
    import argparse
    import asyncio
    import signal

    from aichaos.eventloop import new_event_loop
    from aichaos.proxy.server import ApiSite, ProxyApp

    ap = argparse.ArgumentParser(prog="python -m aichaos.integrations.proxyproc")
    ap.add_argument("config", help="JSON array of proxies (Toxiproxy's format)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--lifetime-s", type=float, default=3600.0)
    args = ap.parse_args(argv)

    async def serve() -> None:
        app = ProxyApp(args.seed)
        site = ApiSite(app, "127.0.0.1", 0)
        try:
            await app.populate(json.loads(args.config))
            await site.start()
            proxies = {
                p.name: {"listen": p.listen, "upstream": p.upstream}
                for p in app.store.proxies.values()
            }
            sys.stdout.write(json.dumps({"api_url": site.url, "proxies": proxies}) + "\n")
            sys.stdout.flush()
            loop = asyncio.get_running_loop()
            leash = asyncio.Event()
            # stdin EOF means the parent is gone (or asked us to stop): exit with it
            loop.add_reader(sys.stdin.fileno(), leash.set)
            loop.add_signal_handler(signal.SIGTERM, leash.set)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(leash.wait(), args.lifetime_s)
        finally:
            await site.stop()
            await app.close()

    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(serve())
    os._exit(0)  # no lingering non-daemon threads keep a finished proxy alive


if __name__ == "__main__":
    _main(sys.argv[1:])
