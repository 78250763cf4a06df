"""HTTP keep-alive throughput through the proxy: wrk, 32 connections, ratios to direct.

Paths, measured in interleaved rounds in one run (the machine may be shared, so compare
the ratios): **direct** to a minimal keep-alive HTTP/1.1 server (uvloop, one fixed
answer); through ``aichaos proxy`` with **no toxic** (connections are only tracked:
bytes take the fast path); with an **HTTP toxic on a path no request takes** (every
connection is in the HTTP layer: each request is parsed, matched and forwarded); and
with ``"http": false`` (never parsed). Goals: no toxic >= 0.5x direct, an HTTP toxic on a
non-matching path >= 0.4x direct. It also prints the proxy's CPU time per request (user
and system, from ``/proc/PID/stat`` around each wrk run), which the machine's load
changes far less than it changes the rates.

Needs ``wrk`` (Debian: ``apt-get install wrk``).

    python bench/proxy_http.py [--quick]        (also run by bench/proxy.py)
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys

CONNECTIONS = 32


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


def http_throughput(py: str, quick: bool) -> dict[str, float]:
    """Median requests/s per path over interleaved rounds; prints the ratios to direct."""
    from proxy import HTTP_SERVER, api, make_proxy, process

    if shutil.which("wrk") is None:
        print("http keep-alive throughput: wrk not installed (apt-get install wrk); skipped")
        return {}
    rounds, seconds = (2, 2.0) if quick else (3, 4.0)
    with (
        process([py, "-c", HTTP_SERVER], r"(\d+ \d+)") as (_, out),
        process(
            [py, "-m", "aichaos.cli", "proxy", "--port", "0", "--seed", "1"],
            r"(http://127\.0\.0\.1:\d+)",
        ) as (proxy_proc, base),
    ):
        port = int(out.split()[0])
        upstream = f"127.0.0.1:{port}"
        addrs = {
            "direct": ("127.0.0.1", port),
            "no toxic": make_proxy(base, "plain", upstream),
            "http toxic, other path": make_proxy(base, "other", upstream),
            "http: false": make_proxy(base, "raw", upstream, http=False),
        }
        toxic = {"type": "http_error", "attributes": {"path": "/never/*", "status": 503}}
        api(base, "POST", "/proxies/other/toxics", toxic)
        samples: dict[str, list[float]] = {k: [] for k in addrs}
        # the proxy's CPU time per request: what the machine's load does not change much
        cpu_us: dict[str, list[tuple[float, float]]] = {k: [] for k in addrs if k != "direct"}
        for _ in range(rounds):
            for name, (host, p) in addrs.items():
                user0, sys0 = cpu_s(proxy_proc.pid)
                rate, n = wrk(f"http://{host}:{p}/v1/models", seconds)
                user1, sys1 = cpu_s(proxy_proc.pid)
                samples[name].append(rate)
                if name in cpu_us:
                    cpu_us[name].append(((user1 - user0) / n * 1e6, (sys1 - sys0) / n * 1e6))
    med = {k: statistics.median(v) for k, v in samples.items()}
    d = med["direct"]
    goals = {"no toxic": 0.5, "http toxic, other path": 0.4}
    print(
        f"http keep-alive throughput (wrk, {CONNECTIONS} connections, {rounds} x {seconds:g} s "
        f"rounds, median): direct {d:,.0f} req/s; "
        + ", ".join(
            f"{k} {v:,.0f} req/s = {v / d:.2f}x" + (f" (goal >= {goals[k]}x)" if k in goals else "")
            for k, v in med.items()
            if k != "direct"
        )
    )
    print(
        "proxy CPU time per request (medians, user + system): "
        + ", ".join(
            f"{k} {statistics.median(u for u, _ in v):.1f} + "
            f"{statistics.median(s for _, s in v):.1f} us"
            for k, v in cpu_us.items()
        )
    )
    return med


if __name__ == "__main__":
    http_throughput(sys.executable, "--quick" in sys.argv)
