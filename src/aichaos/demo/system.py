"""The demo AI system, started for real on 127.0.0.1 and stopped cleanly.

::

    load / probes ──► [proxy "api"] ──► model server ──► [proxy "features"] ──► feature service
                                            │ reads
                         pipeline ──► registry (versions, ``current``)
                         (lands, validates, trains, promotes)

Five processes (chaos proxy, feature service, pipeline, model server; the demo itself),
each in its own process group, each exiting with its parent (see
:mod:`aichaos.demo.lifecycle`). :class:`DemoSystem` is a context manager and also stops
at interpreter exit.

>>> with DemoSystem.start(Path("/tmp/demo")) as system:  # doctest: +SKIP
...     print(system.values["api_url"])
"""

from __future__ import annotations

import atexit
import contextlib
import json
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Self

from aichaos.demo.lifecycle import Child

__all__ = ["TOKEN_ENV", "DemoSystem", "proxied"]

#: the environment variable holding the pipeline's control token (read by the engine)
TOKEN_ENV = "AICHAOS_DEMO_TOKEN"

#: starts one service: ``spawn("features", "aichaos.demo.features")``
Spawn = Callable[..., Child]


def proxied(client: Any, name: str, url: str) -> str:
    """Put an HTTP proxy ``name`` in front of ``url`` (``client``: the proxy API's); its URL."""
    r = client.post(
        "/proxies",
        json={
            "name": name,
            "listen": "127.0.0.1:0",
            "upstream": url.split("://", 1)[1].rstrip("/"),
            "http": True,
        },
    )
    r.raise_for_status()
    return f"http://{r.json()['listen']}"


class DemoSystem:
    """The running demo system; :attr:`values` fills the bundled experiment templates."""

    def __init__(self, root: Path, children: list[Child], values: dict[str, Any]) -> None:
        self.root = root
        self.children = children
        self.values = values
        self._stopped = False

    @classmethod
    def start(cls, root: Path, *, seed: int = 7, log: Path | None = None) -> DemoSystem:
        """Start every service; raise (after stopping what started) if one fails."""

        import httpx

        (root / "registry").mkdir(parents=True, exist_ok=True)
        with cls.starting(root, log) as (system, spawn):
            proxy = spawn("proxy", "aichaos.demo.proxyd", "--seed", str(seed))
            features = spawn("features", "aichaos.demo.features")
            pipeline = spawn(
                "pipeline", "aichaos.demo.pipeline", "--root", str(root), "--seed", str(seed)
            )
            api = proxy.ready()["api"]
            features_url = features.ready()["url"]
            with httpx.Client(base_url=api, timeout=5.0) as c:
                features_proxy = proxied(c, "features", features_url)
                # the server starts while the pipeline bootstraps; it serves once the
                # first version is promoted (health says ok then)
                server = spawn(
                    "model-server",
                    "aichaos.demo.server",
                    "--registry",
                    str(root / "registry"),
                    "--features-url",
                    features_proxy,
                    "--seed",
                    str(seed),
                )
                pipe_info = pipeline.ready(timeout_s=60)
                server_url = server.ready(timeout_s=60)["url"]
                api_url = proxied(c, "api", server_url)
            requests_file = Path(pipe_info["requests_file"])
            system.values.update(
                api_url=api_url,
                server_url=server_url,
                server_pid=server.pid,
                features_url=features_url,
                proxy_api=api,
                pipeline_url=pipe_info["url"],
                pipeline_control=pipe_info["control"],
                registry=str(root / "registry"),
                landing=str(root / "landing"),
                requests_file=str(requests_file),
                token_env=TOKEN_ENV,
            )
            system._wait_healthy(server_url)
            system._warm_up()
        return system

    @classmethod
    @contextlib.contextmanager
    def starting(cls, root: Path, log: Path | None) -> Iterator[tuple[Self, Spawn]]:
        """A system being started, and ``spawn(name, module, *args)`` to start its services
        (with the demo's token and one log); a failure stops what started, then raises."""
        import os

        token = os.environ.get(TOKEN_ENV) or secrets.token_urlsafe(24)
        os.environ[TOKEN_ENV] = token  # the engine reads it through the target's token_env
        logf = open(log or root / "services.log", "ab")  # noqa: SIM115 - kept by the children
        system = cls(root, [], {})
        atexit.register(system.stop)

        def spawn(name: str, *args: str) -> Child:
            child = Child(name, ["-m", *args], env={TOKEN_ENV: token}, log=logf)
            system.children.append(child)
            return child

        try:
            yield system, spawn
        except BaseException:
            system.stop()
            raise
        finally:
            logf.close()

    def _wait_healthy(self, server_url: str, timeout_s: float = 20.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                r = httpx.get(f"{self.values['api_url']}/health", timeout=2.0)
                if r.status_code == 200 and r.json().get("ok"):
                    return
            time.sleep(0.1)
        raise TimeoutError(f"model server {server_url} not healthy after {timeout_s:g}s")

    def _warm_up(self, requests: int = 30) -> None:
        """Send a few predictions through the whole path (proxies, feature service,
        model) so the first experiment's baseline measures a warm system, not imports
        and first connections."""
        import json

        import httpx

        lines = Path(self.values["requests_file"]).read_text().splitlines()[:requests]
        with httpx.Client(timeout=5.0) as client:
            for line in lines:
                with contextlib.suppress(httpx.HTTPError):
                    client.post(f"{self.values['api_url']}/predict", json=json.loads(line))

    def describe(self) -> str:
        """Where the services are, in one line for the console."""
        v = self.values
        return (
            f"model server {v['server_url']} (edge {v['api_url']}), "
            f"pipeline {v['pipeline_url']}, proxy API {v['proxy_api']}"
        )

    def pids(self) -> list[int]:
        """Process ids of the services."""
        return [c.pid for c in self.children]

    def stop(self) -> None:
        """Stop every service (model server first, proxy last); idempotent."""
        if self._stopped:
            return
        self._stopped = True
        for child in reversed(self.children):
            child.stop()

    def __enter__(self) -> DemoSystem:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":  # manual: start, print the endpoints, wait for Ctrl-C
    with DemoSystem.start(Path(sys.argv[1] if len(sys.argv) > 1 else "aichaos-demo")) as s:
        print(json.dumps(s.values, indent=2))
        with contextlib.suppress(KeyboardInterrupt):
            time.sleep(3600)
