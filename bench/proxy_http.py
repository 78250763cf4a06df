"""HTTP keep-alive throughput through the proxy: wrk, 32 connections, ratios to direct.

Paths, measured in interleaved rounds in one run (the machine may be shared, so compare
the ratios): **direct** to a minimal keep-alive HTTP/1.1 server (uvloop, one fixed
answer); through ``aichaos proxy`` with **no toxic** (connections are only tracked:
bytes take the fast path); with an **HTTP toxic on a path no request takes** (every
connection is in the HTTP layer: each request head is parsed and matched); with an
**HTTP toxic every request matches** (``http_delay`` of 0 ms: each request and response
through the layer's stages and a handler); and with ``"http": false`` (never parsed).
Goals: no toxic >= 0.5x direct, an HTTP toxic on a non-matching path >= 0.4x direct. It
also prints the proxy's CPU time per request (user and system, from ``/proc/PID/stat``
around each wrk run), which the machine's load changes far less than it changes the rates.

``--before SRC`` runs a second proxy process from another source tree (its ``src``
directory, e.g. ``git archive main src | tar -x -C /tmp/before``) and measures its paths
in the same interleaved rounds: a before/after comparison side by side in one run.

Needs ``wrk`` (Debian: ``apt-get install wrk``).

    python bench/proxy_http.py [--quick] [--before SRC]     (also run by bench/proxy.py)
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
from contextlib import ExitStack

CONNECTIONS = 32
GOALS = {"no toxic": 0.5, "http toxic, other path": 0.4}


def cpu_s(pid: int) -> tuple[float, float]:
    """User and system CPU time a process has used so far, from ``/proc/PID/stat``."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def wrk(url: str, seconds: float) -> tuple[float, int]:
    """Requests per second wrk reaches against ``url`` (2 threads, 32 connections), and
    how many requests it completed."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds:g}s", url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    n = re.search(r"(\d+) requests in", out)
    if m is None or n is None or "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk did not measure cleanly:\n{out}")
    return float(m.group(1)), int(n.group(1))


def _proxies(base: str, upstream: str, label: str) -> dict[str, tuple[str, int]]:
    """The proxied paths on one proxy process, named with ``label``."""
    from proxy import api, make_proxy

    addrs = {
        "no toxic": make_proxy(base, "plain", upstream),
        "http toxic, other path": make_proxy(base, "other", upstream),
        "http toxic, every request": make_proxy(base, "every", upstream),
        "http: false": make_proxy(base, "raw", upstream, http=False),
    }
    other = {"type": "http_error", "attributes": {"path": "/never/*", "status": 503}}
    api(base, "POST", "/proxies/other/toxics", other)
    every = {"type": "http_delay", "attributes": {"first_byte_ms": 0}}
    api(base, "POST", "/proxies/every/toxics", every)
    return {f"{label}{k}": v for k, v in addrs.items()}


def http_throughput(py: str, quick: bool, before: str | None = None) -> dict[str, float]:
    """Median requests/s per path over interleaved rounds; prints the ratios to direct."""
    from proxy import HTTP_SERVER, process

    if shutil.which("wrk") is None:
        print("http keep-alive throughput: wrk not installed (apt-get install wrk); skipped")
        return {}
    rounds, seconds = (2, 2.0) if quick else (3, 4.0)
    cmd = [py, "-m", "aichaos.cli", "proxy", "--port", "0", "--seed", "1"]
    with ExitStack() as stack:
        _, out = stack.enter_context(process([py, "-c", HTTP_SERVER], r"(\d+ \d+)"))
        port = int(out.split()[0])
        upstream = f"127.0.0.1:{port}"
        addrs: dict[str, tuple[str, int]] = {"direct": ("127.0.0.1", port)}
        pids: dict[str, int] = {}
        runs = [("", None)] if before is None else [("before: ", before), ("after: ", None)]
        for label, src in runs:
            env = None if src is None else {**os.environ, "PYTHONPATH": os.path.abspath(src)}
            proc, base = stack.enter_context(process(cmd, r"(http://127\.0\.0\.1:\d+)", env=env))
            paths = _proxies(base, upstream, label)
            addrs.update(paths)
            pids.update(dict.fromkeys(paths, proc.pid))
        samples: dict[str, list[float]] = {k: [] for k in addrs}
        # the proxy's CPU time per request: what the machine's load does not change much
        cpu_us: dict[str, list[tuple[float, float]]] = {k: [] for k in pids}
        for _ in range(rounds):
            for name, (host, p) in addrs.items():
                pid = pids.get(name)
                user0, sys0 = cpu_s(pid) if pid else (0.0, 0.0)
                rate, n = wrk(f"http://{host}:{p}/v1/models", seconds)
                samples[name].append(rate)
                if pid:
                    user1, sys1 = cpu_s(pid)
                    cpu_us[name].append(((user1 - user0) / n * 1e6, (sys1 - sys0) / n * 1e6))
    med = {k: statistics.median(v) for k, v in samples.items()}
    d = med["direct"]
    print(
        f"http keep-alive throughput (wrk, {CONNECTIONS} connections, {rounds} x {seconds:g} s "
        f"rounds, median; load average at the end {os.getloadavg()[0]:.2f}): "
        f"direct {d:,.0f} req/s"
    )
    for k, v in med.items():
        if k == "direct":
            continue
        goal = GOALS.get(k.split(": ", 1)[-1])
        user = statistics.median(u for u, _ in cpu_us[k])
        system = statistics.median(s for _, s in cpu_us[k])
        print(
            f"  {k:40} {v:8,.0f} req/s = {v / d:.2f}x"
            + (f" (goal >= {goal}x)" if goal else "")
            + f"; proxy CPU per request {user:.1f} + {system:.1f} us (user + system)"
        )
    return med


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds of 2 s")
    parser.add_argument("--before", metavar="SRC", help="a src directory to compare against")
    args = parser.parse_args()
    print(f"load average at start {os.getloadavg()[0]:.2f}")
    http_throughput(sys.executable, args.quick, args.before)
