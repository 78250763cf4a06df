"""Other proxies to measure beside aichaos's, when this machine has them.

* **Toxiproxy** -- the tool a user would pick instead. Not packaged for Debian and not
  installable here (no Go module proxy), so it is taken only from where the user points:
  ``--toxiproxy PATH`` or ``$TOXIPROXY_SERVER`` (a ``toxiproxy-server`` binary), else
  ``toxiproxy-server`` on ``$PATH``. Driven through its own HTTP API, like ours.
* **nginx** (``stream`` module) and **HAProxy** (``mode tcp``) -- plain TCP forwarders in C
  with one event-loop worker each: what a native proxy without fault injection costs on
  this machine, a floor below the Python one. From Debian's packages (``nginx-core``,
  ``libnginx-mod-stream``, ``haproxy``) when installed; skipped otherwise.

Each runs on 127.0.0.1 only, in the foreground, pinned like aichaos's proxy, and is
stopped when its ``with`` block ends. Native servers cannot bind port 0 and report it,
so a free port is found first (bind to 0, close, reuse: a small race a bench can take).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager as ContextManager
from contextlib import ExitStack, contextmanager
from pathlib import Path

NGINX_STREAM_MODULE = Path("/usr/lib/nginx/modules/ngx_stream_module.so")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{proc.args!r} did not listen on {port} within {timeout} s")


@contextmanager
def running(
    args: list[str], port: int, preexec: Callable[[], None] | None, env: dict[str, str] | None
) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=preexec,
        env=env,
    )
    try:
        wait_listening(port, proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def toxiproxy_binary(explicit: str | None) -> str | None:
    """The Toxiproxy server to run: ``--toxiproxy``, ``$TOXIPROXY_SERVER``, or on PATH."""
    for candidate in (explicit, os.environ.get("TOXIPROXY_SERVER")):
        if candidate:
            if not os.access(candidate, os.X_OK):
                raise SystemExit(f"bench: {candidate} is not an executable toxiproxy-server")
            return candidate
    return shutil.which("toxiproxy-server")


def toxiproxy_version(base: str) -> str:
    with urllib.request.urlopen(base + "/version", timeout=5) as r:
        raw = r.read().decode()
    try:
        return str(json.loads(raw)["version"])
    except (ValueError, KeyError, TypeError):
        return raw.strip()


@contextmanager
def toxiproxy(binary: str, preexec: Callable[[], None] | None) -> Iterator[str]:
    """A Toxiproxy server (logging at warn: its debug lines would cost it time); its API."""
    port = free_port()
    env = {**os.environ, "LOG_LEVEL": "warn"}
    args = [binary, "-host", "127.0.0.1", "-port", str(port)]
    with running(args, port, preexec, env):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def configured(
    program: str,
    conf: Callable[[str, int], str],
    args: Callable[[str, Path], list[str]],
    preexec: Callable[[], None] | None,
) -> Iterator[int]:
    """``program`` run with the config ``conf(tmpdir, port)`` (written to a temporary
    file ``args`` gets); its listening port."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix=f"aichaos-bench-{program}-") as tmp:
        path = Path(tmp) / f"{program}.conf"
        path.write_text(conf(tmp, port))
        with running(args(tmp, path), port, preexec, None):
            yield port


def nginx(upstream_port: int, preexec: Callable[[], None] | None) -> ContextManager[int]:
    """nginx as a one-worker TCP forwarder (stream module) to ``upstream_port``."""
    return configured(
        "nginx",
        lambda tmp, port: (
            f"load_module {NGINX_STREAM_MODULE};\n"
            "daemon off; master_process off; worker_processes 1;\n"
            f"pid {tmp}/nginx.pid; error_log stderr error;\n"
            "events { worker_connections 4096; }\n"
            f"stream {{ server {{ listen 127.0.0.1:{port}; "
            f"proxy_pass 127.0.0.1:{upstream_port}; }} }}\n"
        ),
        lambda tmp, path: ["nginx", "-p", tmp, "-c", str(path), "-e", "stderr"],
        preexec,
    )


def haproxy(upstream_port: int, preexec: Callable[[], None] | None) -> ContextManager[int]:
    """HAProxy (one thread, ``mode tcp``) forwarding to ``upstream_port``."""
    return configured(
        "haproxy",
        lambda tmp, port: (
            "global\n  nbthread 1\n  maxconn 4096\n"
            "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n"
            "  timeout server 60s\n"
            f"listen fwd\n  bind 127.0.0.1:{port}\n  server echo 127.0.0.1:{upstream_port}\n"
        ),
        lambda tmp, path: ["haproxy", "-db", "-f", str(path)],
        preexec,
    )


def native_forwarders(
    stack: ExitStack, upstream_port: int, preexec: Callable[[], None] | None
) -> dict[str, tuple[str, int]]:
    """The native forwarders installed here, started on ``stack``: label -> address."""
    out: dict[str, tuple[str, int]] = {}
    if shutil.which("nginx") and NGINX_STREAM_MODULE.exists():
        out["nginx"] = ("127.0.0.1", stack.enter_context(nginx(upstream_port, preexec)))
    if shutil.which("haproxy"):
        out["haproxy"] = ("127.0.0.1", stack.enter_context(haproxy(upstream_port, preexec)))
    return out
