"""Start :mod:`tests.load.stream_server` as a child process for a test or a benchmark."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).with_name("stream_server.py")


class StreamServer:
    """``with StreamServer() as srv: srv.url("shape=openai&ttft_ms=50")``."""

    def __init__(self, defaults: str = "", log: Path | None = None) -> None:
        self.defaults = defaults
        self.log = log
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0

    def __enter__(self) -> StreamServer:
        self.proc = subprocess.Popen(
            [sys.executable, "-S", str(SCRIPT), self.defaults],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "STREAM_LOG": str(self.log or "")},
        )
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self.proc is not None
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        finally:
            assert self.proc.stdout is not None
            self.proc.stdout.close()

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self.proc is not None
        return self.proc.pid

    def sent(self) -> list[dict[str, Any]]:
        """Per streamed answer, when each token (``tokens``) and the last byte (``end``)
        left, in seconds from the request's arrival: the server's own record of what it
        did, beside what it was told."""
        assert self.log is not None
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def url(self, query: str = "") -> str:
        """The stream URL with ``query`` (see the server's docstring)."""
        return f"http://127.0.0.1:{self.port}/v1/chat/completions?{query}"
