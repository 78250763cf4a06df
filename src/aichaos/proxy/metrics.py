"""``GET /metrics``: Prometheus text exposition, written by hand (no client library needed).

Per-toxic counters let an experiment compute retry amplification: requests that reached
the upstream (``aichaos_proxy_http_requests_upstream_total``) per client request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aichaos.proxy.store import ProxyStore

__all__ = ["render_metrics"]


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


_FAMILIES = (
    ("aichaos_proxy_connections_total", "counter", "Connections accepted."),
    ("aichaos_proxy_connections_open", "gauge", "Connections open now."),
    ("aichaos_proxy_bytes_total", "counter", "Bytes read from the source side, by stream."),
    (
        "aichaos_proxy_http_requests_upstream_total",
        "counter",
        "HTTP requests forwarded to the upstream (tracked or in the HTTP layer).",
    ),
    (
        "aichaos_proxy_http_switches_total",
        "counter",
        "Live connections moved into or out of the HTTP layer.",
    ),
    (
        "aichaos_proxy_upstream_errors_total",
        "counter",
        "Upstream connections that failed (refused, unreachable, TLS handshake).",
    ),
    ("aichaos_proxy_toxic_seen_total", "counter", "Connections or requests a toxic rolled for."),
    ("aichaos_proxy_toxic_affected_total", "counter", "Connections or requests a toxic acted on."),
)


def render_metrics(store: ProxyStore) -> str:
    """Every counter of every proxy and toxic, in Prometheus text format 0.0.4."""
    rows: dict[str, list[str]] = {name: [] for name, _, _ in _FAMILIES}
    for proxy in store.proxies.values():
        p = f'proxy="{_label(proxy.name)}"'
        rows["aichaos_proxy_connections_total"].append(f"{{{p}}} {proxy.connections_total}")
        rows["aichaos_proxy_connections_open"].append(f"{{{p}}} {len(proxy.conns)}")
        totals = dict(proxy.bytes_closed)
        for conn in proxy.conns:
            for link in (conn.up, conn.down):
                if link is not None:
                    totals[link.stream] += link.bytes
        for stream, total in totals.items():
            rows["aichaos_proxy_bytes_total"].append(f'{{{p},stream="{stream}"}} {total}')
        rows["aichaos_proxy_http_requests_upstream_total"].append(
            f"{{{p}}} {proxy.requests_upstream}"
        )
        rows["aichaos_proxy_http_switches_total"].append(f"{{{p}}} {proxy.http_switches}")
        rows["aichaos_proxy_upstream_errors_total"].append(f"{{{p}}} {proxy.upstream_errors}")
        for toxic in proxy.toxics.values():
            t = f'{p},toxic="{_label(toxic.name)}",type="{_label(toxic.type)}"'
            rows["aichaos_proxy_toxic_seen_total"].append(f"{{{t}}} {toxic.seen}")
            rows["aichaos_proxy_toxic_affected_total"].append(f"{{{t}}} {toxic.affected}")
    lines = []
    for name, kind, help_text in _FAMILIES:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        lines.extend(f"{name}{row}" for row in rows[name])
    return "\n".join(lines) + "\n"
