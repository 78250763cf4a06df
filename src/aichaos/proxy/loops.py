"""Refuse a proxy whose upstream is itself or the control API.

A proxy forwarding to its own listen address accepts its own connection, which dials
itself again: one client connection became ~10,000 (15,848 descriptors) in 1.5 s. A proxy
forwarding to the control API hands ``/reset`` and every other route to whoever reaches
the proxy's listener, token or not (a ``0.0.0.0`` listener reaches the whole network).

Two addresses are "the same" when their ports match and either the hosts resolve to a
common IP, or the listener is on the unspecified address (``0.0.0.0`` / ``::``) and the
upstream is any address of this machine (one the kernel lets us bind).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket

from aichaos.proxy.errors import ApiBadRequest

__all__ = ["check_no_loop"]

#: how long resolving a name may take before it counts as "not this machine"
RESOLVE_TIMEOUT_S = 2.0


async def _ips(host: str) -> set[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_S
        )
    except (OSError, UnicodeError, TimeoutError):
        return set()  # unresolvable: not reachable as us either
    return {str(info[4][0]) for info in infos}


def _local(ip: str) -> bool:
    """Whether ``ip`` is an address of this machine (binding to it succeeds)."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with contextlib.suppress(OSError), socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((ip, 0))
        return True
    return False


async def _same(upstream: tuple[str, int], listener: tuple[str, int]) -> bool:
    if upstream[1] != listener[1]:
        return False
    up = await _ips(upstream[0])
    if not up:
        return False
    here = await _ips(listener[0])
    if up & here:
        return True
    unspecified = any(ipaddress.ip_address(ip).is_unspecified for ip in here)
    return unspecified and any(_local(ip) for ip in up)


async def check_no_loop(
    upstream: tuple[str, int],
    upstream_text: str,
    listen: tuple[str, int] | None,
    api: list[tuple[str, int]],
) -> None:
    """:class:`ApiBadRequest` if ``upstream`` is ``listen`` or one of the ``api`` addresses."""
    if listen is not None and listen[1] != 0 and await _same(upstream, listen):
        raise ApiBadRequest(
            f"bad request body: upstream {upstream_text} is this proxy's own listen address "
            "(every connection would dial itself without end)",
        )
    for addr in api:
        if await _same(upstream, addr):
            raise ApiBadRequest(
                f"bad request body: upstream {upstream_text} is the control API (anyone "
                "reaching the proxy would reach /reset and every route, without a token)",
            )
