"""Starting and stopping the demo's processes so none outlives the demo.

Each service is a child process in its own process group (a terminal's Ctrl-C reaches
the demo only, which reverts faults *before* it stops the services). A child exits
when:

* its parent stops it (SIGTERM to its group, then SIGKILL after a grace period);
* its standard input reaches EOF, which happens when the parent dies in any way,
  even by SIGKILL (the pipe's write end closes with it);
* on Linux, the kernel sends it SIGTERM when its parent thread dies (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Child", "exit_with_parent", "quiet_server"]


def exit_with_parent(stop: Callable[[], None]) -> None:
    """Call ``stop`` on stdin EOF or SIGTERM/SIGINT; a second call exits at once."""

    def on_signal(signum: int, frame: Any) -> None:
        stop()
        signal.signal(signum, signal.SIG_DFL)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def watch() -> None:
        with contextlib.suppress(OSError, ValueError):
            # raw reads on fd 0: a buffered reader's lock would trouble interpreter exit
            while os.read(0, 4096):
                pass
        stop()
        time.sleep(5)  # stop() had its chance to end cleanly
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def quiet_server(server: Any) -> Any:
    """A stdlib HTTP server that does not print tracebacks for clients that gave up."""

    def handle_error(request: object, client_address: object) -> None:
        exc = sys.exc_info()[1]
        if not isinstance(exc, (ConnectionError, TimeoutError)):
            sys.stderr.write(f"demo service error: {exc!r}\n")

    server.handle_error = handle_error
    return server


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Child:
    """One service process: started, read until its JSON ready line, stopped."""

    def __init__(
        self, name: str, args: list[str], env: dict[str, str] | None = None, log: Any = None
    ) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log if log is not None else subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self.info: dict[str, Any] = {}

    @property
    def pid(self) -> int:
        """The process id."""
        return self.proc.pid

    def ready(self, timeout_s: float = 30.0) -> dict[str, Any]:
        """Wait for the child's first stdout line (JSON) and return it."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout_s
        buf = b""
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"demo service {self.name} not ready after {timeout_s:g}s")
            readable, _, _ = select.select([fd], [], [], left)
            if readable:
                chunk = os.read(fd, 4096)
                if not chunk:
                    code = self.proc.wait()
                    raise RuntimeError(f"demo service {self.name} exited with {code} at start")
                buf += chunk
        self.info = json.loads(buf.split(b"\n", 1)[0])
        return self.info

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM the child's group, SIGKILL it after ``grace_s``; close the pipes."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # anything the child left in its group (it has none by design) goes too
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


def run_uvicorn(app: Any, info: dict[str, Any] | None = None) -> None:
    """Serve ``app`` on 127.0.0.1, port 0; print ``{"url": ..., **info}``; stop with parent."""
    import socket

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", lifespan="on", access_log=False, timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)

    def stop() -> None:
        server.should_exit = True

    exit_with_parent(stop)
    print(json.dumps({"url": f"http://127.0.0.1:{port}", **(info or {})}), flush=True)
    server.run(sockets=[sock])
