"""Stressor child processes that cannot outlive their lease.

CPU burners and memory ballast run in child processes so the runner stays responsive
and a revert is immediate: the parent SIGKILLs the child and reaps it. Each child is
leashed to its parent by a pipe on its stdin: the parent writes ``renew <ttl_s>`` to
push the deadline. The child exits by itself when

* the deadline passes without a renewal (the runner is alive but stuck),
* its stdin reaches EOF (the runner died: the kernel closed the write end), or
* its parent pid changes (belt and braces for the EOF case),

so a SIGKILLed runner cannot leave a burner or ballast behind. Run as
``python -m aichaos.resource.child {cpu,memory} --ttl-s T --parent PID [...]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Sequence

from aichaos.errors import InjectionError

__all__ = ["StressChild"]

_PAGE = 4096
_CHUNK = 32 * 1024 * 1024


class _Leash:
    """The child's side of the heartbeat: tells whether the child should keep going."""

    def __init__(self, ttl_s: float, parent: int) -> None:
        self.deadline = time.monotonic() + ttl_s
        self.parent = parent
        self.fd = sys.stdin.fileno()
        self.buf = b""
        self.done = False

    def wait(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for parent messages; False once the child must stop."""
        end = time.monotonic() + max(0.0, timeout_s)
        while not self.done:
            now = time.monotonic()
            if now >= self.deadline or os.getppid() != self.parent:
                self.done = True
                break
            left = min(end, self.deadline) - now
            ready, _, _ = select.select([self.fd], [], [], max(0.0, min(left, 0.2)))
            if ready:
                data = os.read(self.fd, 4096)
                if not data:  # EOF: the parent is gone
                    self.done = True
                    break
                self._handle(data)
            if time.monotonic() >= end:
                break
        return not self.done

    def _handle(self, data: bytes) -> None:
        self.buf += data
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            words = line.decode(errors="replace").split()
            if words[:1] == ["renew"] and len(words) == 2:
                self.deadline = time.monotonic() + float(words[1])


def _ready(info: dict[str, object]) -> None:
    sys.stdout.write("ready " + json.dumps(info) + "\n")
    sys.stdout.flush()


def _burn(leash: _Leash, load: float, period_s: float = 0.1) -> None:
    """Busy-loop ``load`` of every period, sleep (while listening) for the rest."""
    _ready({"pid": os.getpid()})
    while not leash.done:
        start = time.monotonic()
        busy_until = start + load * period_s
        x = 0
        while time.monotonic() < busy_until:
            x += 1
        if not leash.wait(start + period_s - time.monotonic()):
            return


def _available_bytes() -> int:
    import psutil

    return int(psutil.virtual_memory().available)


def _ballast(leash: _Leash, size_bytes: int, floor_bytes: int) -> None:
    """Allocate and touch ``size_bytes`` in chunks, never taking available below the floor."""
    chunks: list[bytearray] = []
    held = 0
    stopped_by_floor = False
    while held < size_bytes and not leash.done:
        n = min(_CHUNK, size_bytes - held)
        if _available_bytes() - n < floor_bytes:
            stopped_by_floor = True
            break
        chunk = bytearray(n)
        # bytearray(n) may map zero pages lazily; writing one byte per page makes it resident.
        chunk[::_PAGE] = b"\x01" * len(range(0, n, _PAGE))
        chunks.append(chunk)
        held += n
        leash.wait(0)
    _ready({"pid": os.getpid(), "held_bytes": held, "stopped_by_floor": stopped_by_floor})
    while leash.wait(1.0):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of a stressor child."""
    ap = argparse.ArgumentParser(prog="aichaos-stress-child")
    ap.add_argument("mode", choices=["cpu", "memory"])
    ap.add_argument("--ttl-s", type=float, required=True)
    ap.add_argument("--parent", type=int, required=True)
    ap.add_argument("--load", type=float, default=1.0)
    ap.add_argument("--bytes", type=int, default=0)
    ap.add_argument("--floor-bytes", type=int, default=0)
    args = ap.parse_args(argv)
    leash = _Leash(args.ttl_s, args.parent)
    if args.mode == "cpu":
        _burn(leash, args.load)
    else:
        _ballast(leash, args.bytes, args.floor_bytes)
    return 0


class StressChild:
    """The parent's handle on one stressor child: start, renew, stop.

    >>> child = StressChild.start("cpu", ["--load", "0.5"], ttl_s=5)   # doctest: +SKIP
    >>> child.renew(5); child.stop()                                  # doctest: +SKIP
    """

    def __init__(self, proc: subprocess.Popen[bytes], info: dict[str, object]) -> None:
        self.proc = proc
        self.info = info
        # The OS's account from the moment the child was ready: its start-up (interpreter
        # import) is not load the fault asked for.
        self.ready_at = time.monotonic()
        self.cpu_at_ready = self.cpu_seconds() if info else 0.0

    @property
    def pid(self) -> int:
        """The child's pid."""
        return self.proc.pid

    @classmethod
    def start(
        cls, mode: str, args: Sequence[str], ttl_s: float, ready_timeout_s: float = 60.0
    ) -> StressChild:
        """Start a child and wait until it reports ready (allocation done, burner running)."""
        cmd = [sys.executable, "-m", "aichaos.resource.child", mode]
        cmd += ["--ttl-s", str(ttl_s), "--parent", str(os.getpid()), *args]
        proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], ready_timeout_s)
        line = proc.stdout.readline() if ready else b""
        if not line.startswith(b"ready "):
            cls(proc, {}).stop()
            raise InjectionError(f"{mode} stressor child did not start (exit {proc.poll()})")
        return cls(proc, json.loads(line[6:]))

    def cpu_seconds(self) -> float:
        """User + system CPU time the OS has charged to the child so far (0 once reaped)."""
        try:
            with open(f"/proc/{self.proc.pid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            return 0.0
        # The command name may hold spaces or parentheses: fields start after the last ')'.
        fields = stat[stat.rindex(b")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def cpu_share(self) -> float:
        """Share of one CPU the child used since it was ready, as the OS counted it."""
        wall = time.monotonic() - self.ready_at
        # A child already reaped reads 0: it burned nothing we can vouch for.
        return max(0.0, self.cpu_seconds() - self.cpu_at_ready) / wall if wall > 0 else 0.0

    def renew(self, ttl_s: float) -> None:
        """Push the child's deadline to now + ``ttl_s``."""
        self._send(f"renew {ttl_s}\n")

    def alive(self) -> bool:
        """Whether the child still runs."""
        return self.proc.poll() is None

    def stop(self, timeout_s: float = 5.0) -> None:
        """End the child now and wait until it is gone (its memory freed, its CPU idle).

        A stressor holds nothing that needs a clean exit, so it gets SIGKILL: asking it
        to stop would wait for its next look at the leash and for interpreter teardown,
        time during which the fault is still there although the guardrail called it off.
        """
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait(timeout=timeout_s)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    def _send(self, msg: str) -> None:
        if self.proc.stdin is None or self.proc.stdin.closed:
            return
        with contextlib.suppress(OSError):  # BrokenPipe: the child already left
            self.proc.stdin.write(msg.encode())
            self.proc.stdin.flush()


if __name__ == "__main__":
    raise SystemExit(main())
