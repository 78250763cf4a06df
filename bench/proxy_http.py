"""HTTP keep-alive throughput through the proxy: wrk, 32 connections, ratios to direct.

Paths, measured in interleaved rounds in one run (the machine may be shared, so compare
the ratios): **direct** to a minimal keep-alive HTTP/1.1 server (uvloop, one fixed
answer); through ``aichaos proxy`` with **no toxic** (connections are only tracked:
bytes take the fast path); with an **HTTP toxic on a path no request takes** (every
connection is in the HTTP layer: each request is parsed, matched and forwarded); and
with ``"http": false`` (never parsed). Goals: no toxic >= 0.5x direct, an HTTP toxic on a
non-matching path >= 0.4x direct.

Needs ``wrk`` (Debian: ``apt-get install wrk``).

    python bench/proxy_http.py [--quick]        (also run by bench/proxy.py)
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import sys

CONNECTIONS = 32


def wrk(url: str, seconds: float) -> float:
    """Requests per second wrk reaches against ``url`` (2 threads, 32 connections)."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds:g}s", url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m is None or "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk did not measure cleanly:\n{out}")
    return float(m.group(1))


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
        ) as (_, base),
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
        for _ in range(rounds):
            for name, (host, p) in addrs.items():
                samples[name].append(wrk(f"http://{host}:{p}/v1/models", seconds))
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
    return med


if __name__ == "__main__":
    http_throughput(sys.executable, "--quick" in sys.argv)
