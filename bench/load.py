"""Load generator benchmark: throughput per core vs Locust and wrk, rate accuracy, CO.

Run: ``.venv/bin/python bench/load.py`` (Locust comes from the ``bench-load`` extra, wrk
from Debian's ``wrk`` package; a tool that is absent is skipped, saying so).

1. Saturation against one fast local server (``bench/load_server.py``): requests per
   CPU-second of the *generator* process (its own user+system time), so the figure is
   "requests per core" even though the server shares this 2-core machine.
2. Rate accuracy: 2,000 req/s for 20 s, achieved rate and send-lag p99.
3. Coordinated omission: the server stalls every request for 1 s once, mid-run; the
   expected corrected p99 is computed and compared; wrk (closed loop) is shown too.

Every figure is measured in this run, side by side; the machine is shared, so expect
noise of several percent between runs.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aichaos.eventloop import new_event_loop
from aichaos.load.spec import LoadSpec, freeze_gc, run_load

HERE = Path(__file__).parent
SATURATION_S = 5.0
CONNECTIONS = 64


@contextlib.contextmanager
def server(*args: str) -> Iterator[str]:
    """A load_server.py subprocess; yields its base URL."""
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "load_server.py"), *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.kill()
        proc.wait(timeout=10)


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_aichaos(url: str, rate: float, duration: float, **kw: Any) -> tuple[Any, float, float]:
    """(generator, wall seconds, CPU seconds of this process) for one in-process run."""
    spec = LoadSpec(url=url, rate_rps=rate, **kw)
    loop = new_event_loop()
    try:
        cpu0, t0 = time.process_time(), time.monotonic()
        gen = loop.run_until_complete(run_load(spec, duration_s=duration))
        return gen, time.monotonic() - t0, time.process_time() - cpu0
    finally:
        loop.close()


def saturate_aichaos(url: str) -> tuple[float, float]:
    gen, _, cpu = run_aichaos(
        url, 200_000, SATURATION_S, max_concurrency=CONNECTIONS, timeout_ms=2_000
    )
    done = gen.total.completed
    return done / SATURATION_S, done / cpu


LOCUSTFILE = """
from locust import constant, task
from locust.contrib.fasthttp import FastHttpUser

class U(FastHttpUser):
    wait_time = constant(0)

    @task
    def get(self):
        self.client.get("/")
"""


def saturate_locust(url: str) -> tuple[float, float] | str:
    exe = shutil.which("locust", path=str(Path(sys.executable).parent)) or shutil.which("locust")
    if exe is None:
        return "skipped: locust not installed (pip install -e '.[bench-load]')"
    with tempfile.TemporaryDirectory() as d:
        lf = Path(d) / "locustfile.py"
        lf.write_text(LOCUSTFILE)
        csv = Path(d) / "out"
        cmd = [
            exe, "-f", str(lf), "--headless", "-u", str(CONNECTIONS), "-r", "1000",
            "-t", f"{SATURATION_S:g}s", "--host", url.rstrip("/"), "--csv", str(csv),
            "--only-summary", "--loglevel", "ERROR",
        ]  # fmt: skip
        cpu0 = children_cpu()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        cpu = children_cpu() - cpu0
        stats = Path(f"{csv}_stats.csv")
        if not stats.exists():
            return f"skipped: locust failed ({proc.returncode}): {proc.stderr[-300:]}"
        header, *rows = [line.split(",") for line in stats.read_text().splitlines()]
        agg = dict(zip(header, rows[-1], strict=False))
        count = int(agg["Request Count"])
        # cpu includes Locust's start-up (imports, gevent): reported as measured
        return count / SATURATION_S, count / cpu


def run_wrk(url: str, seconds: float, latency: bool = False) -> tuple[str, float]:
    exe = shutil.which("wrk")
    assert exe is not None
    cmd = [exe, "-t1", f"-c{CONNECTIONS}", f"-d{seconds:g}s", url]
    if latency:
        cmd.insert(1, "--latency")
    cpu0 = children_cpu()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    return out, children_cpu() - cpu0


def saturate_wrk(url: str) -> tuple[float, float] | str:
    if shutil.which("wrk") is None:
        return "skipped: wrk not installed (apt-get install -y wrk)"
    out, cpu = run_wrk(url, SATURATION_S)
    m = re.search(r"(\d+) requests in", out)
    assert m, out
    count = int(m.group(1))
    return count / SATURATION_S, count / cpu


def main() -> None:
    freeze_gc()
    print(
        f"machine: {os.cpu_count()} cores (shared with other work), python {sys.version.split()[0]}"
    )
    print(f"\n== 1. saturation, {CONNECTIONS} connections, {SATURATION_S:g} s each, one server")
    results: dict[str, tuple[float, float] | str] = {}
    for name, fn in (
        ("aichaos", saturate_aichaos),
        ("locust", saturate_locust),
        ("wrk", saturate_wrk),
    ):
        with server() as url:
            results[name] = fn(url)
        r = results[name]
        if isinstance(r, str):
            print(f"  {name:8s} {r}")
        else:
            print(f"  {name:8s} {r[0]:10,.0f} req/s   {r[1]:10,.0f} req per generator CPU-second")
    ours = results["aichaos"]
    assert not isinstance(ours, str)
    for name in ("locust", "wrk"):
        other = results[name]
        if not isinstance(other, str):
            print(f"  ratio aichaos/{name} per core: {ours[1] / other[1]:.2f}x"
                  f"   (wall throughput {ours[0] / other[0]:.2f}x)")  # fmt: skip

    print("\n== 2. rate accuracy: 2,000 req/s constant for 20 s")
    with server() as url:
        gen, _, _ = run_aichaos(url, 2000, 20.0, max_concurrency=256)
    t = gen.total
    achieved = t.sent / t.duration_s
    err = abs(achieved - 2000) / 2000
    lag99 = t.send_lag.percentile_ms(99)
    print(f"  sent {t.sent} in {t.duration_s:.3f} s: {achieved:,.1f} req/s"
          f" (error {err * 100:.3f} %,"
          f" goal < 1 %: {'ok' if err < 0.01 else 'MISSED'})")  # fmt: skip
    print(f"  completed {t.completed}, missed {t.missed}, errors {t.error_count}")
    print(f"  send lag p50 {t.send_lag.percentile_ms(50):.3f} ms, p99 {lag99:.3f} ms,"
          f" max {t.send_lag.max_ms:.3f} ms"
          f" (goal p99 < 2 ms: {'ok' if lag99 < 2 else 'MISSED'})")  # fmt: skip

    print("\n== 3. coordinated omission: 1,000 req/s for 10 s, server stalls 1 s once at ~4 s")
    rate, dur, stall = 1000.0, 10.0, 1.0
    # requests intended during the stall wait (stall - offset): R*S of N = R*D requests
    # spread uniformly over (0, S]; p(q) = S - (1 - q) * D while (1 - q) * D < S
    exp99, exp999 = stall - 0.01 * dur, stall - 0.001 * dur
    with server("--stall-after", "4", "--stall-for", f"{stall:g}") as url:
        gen, _, _ = run_aichaos(url, rate, dur, max_concurrency=2000)
    h = gen.total.latency
    print(f"  expected corrected p99 {exp99 * 1000:.0f} ms, p99.9 {exp999 * 1000:.0f} ms (+ base)")
    print(f"  aichaos  p50 {h.percentile_ms(50):.2f} ms, p99 {h.percentile_ms(99):.1f} ms,"
          f" p99.9 {h.percentile_ms(99.9):.1f} ms, max {h.max_ms:.1f} ms,"
          f" requests >= 500 ms: {h.count_at_or_above_ms(500)}"
          f" (expected ~{rate * stall / 2:.0f})")  # fmt: skip
    print(f"  p99 ratio measured/expected: {h.percentile_ms(99) / (exp99 * 1000):.3f}")
    if shutil.which("wrk"):
        with server("--stall-after", "4", "--stall-for", f"{stall:g}") as url:
            out, _ = run_wrk(url, dur, latency=True)
        p99 = re.search(r"99%\s+(\S+)", out)
        count = re.search(r"(\d+) requests in", out)
        print(f"  wrk (closed loop, for reference) p99 {p99.group(1) if p99 else '?'}"
              f" over {count.group(1) if count else '?'} requests, same stall")  # fmt: skip
    else:
        print("  wrk skipped: not installed")


if __name__ == "__main__":
    main()
