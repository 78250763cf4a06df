"""``upstream_tls``: the proxy speaks TLS to its upstream, so HTTP toxics reach HTTPS APIs.

Real LLM providers are HTTPS. A client points at the proxy's plain-HTTP ``listen``
address; the proxy originates TLS to the upstream, so the HTTP layer sees the cleartext
exchange and its toxics act on it. Where a proxy is described (the API's proxy body, a
``--config`` file, the experiment's ``proxy`` target)::

    "upstream_tls": true                      system CAs; SNI and name check: upstream host
    "upstream_tls": {"server_name": "api.openai.com", "ca_file": "/etc/ssl/corp-ca.pem"}
    "upstream_tls": null / false              plain TCP (the default, as Toxiproxy)

The certificate is verified against ``server_name`` (default: the upstream's host);
``verify: false`` skips that, for a self-signed development upstream only. ALPN offers
HTTP/1.1 alone: the client on the other side of the proxy speaks HTTP/1.1, so the upstream
must not pick HTTP/2.

A client pointed at the proxy sends ``Host: 127.0.0.1:PORT``; providers behind a CDN route
by ``Host``: ``host_header: true`` sends the provider's name instead (or give the client
the name: ``default_headers={"Host": ...}`` in the OpenAI and Anthropic SDKs).
"""

from __future__ import annotations

import ipaddress
import re
import ssl
from functools import cached_property
from typing import Any

from pydantic import Field, field_validator

from aichaos.proxy.errors import ApiBadRequest
from aichaos.spec import Spec
from aichaos.validation import SpecError

__all__ = ["HANDSHAKE_TIMEOUT_S", "UpstreamTls", "parse_upstream_tls", "valid_host"]

#: a TLS handshake that takes longer fails the connection (the client is closed)
HANDSHAKE_TIMEOUT_S = 10.0


_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_-]{1,63})*\.?$"
)


def valid_host(host: str) -> bool:
    """True for an IP literal or a syntactically valid DNS name."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return bool(_HOSTNAME.match(host))
    return True


class UpstreamTls(Spec):
    """How a proxy originates TLS to its upstream (plain data; the context is built once)."""

    server_name: str | None = Field(
        None,
        min_length=1,
        max_length=253,
        description="name sent as SNI and checked against the certificate "
        "(default: the upstream's host)",
    )
    ca_file: str | None = Field(
        None, min_length=1, description="PEM file of CA certificates to trust (default: system)"
    )
    ca_pem: str | None = Field(
        None, min_length=1, description="PEM text of CA certificates to trust (default: system)"
    )
    host_header: bool = Field(
        False,
        strict=True,
        description="send server_name (default: the upstream's host) as the Host header, "
        "whatever the client sent (providers behind a CDN route by Host); every HTTP "
        "connection then goes through the HTTP layer",
    )
    verify: bool = Field(
        True,
        strict=True,
        description="false: accept any certificate (a self-signed dev upstream only)",
    )

    @field_validator("server_name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not valid_host(value):
            raise ValueError("must be a DNS name or an IP address")
        return value

    @cached_property
    def context(self) -> ssl.SSLContext:
        """The client context; :class:`ApiBadRequest` if a CA cannot be loaded."""
        ctx = ssl.create_default_context()
        try:
            if self.ca_file is not None:
                ctx.load_verify_locations(cafile=self.ca_file)
            if self.ca_pem is not None:
                ctx.load_verify_locations(cadata=self.ca_pem)
        except (OSError, ValueError, TypeError) as exc:  # ssl.SSLError is an OSError
            which = "ca_file" if self.ca_file is not None else "ca_pem"
            why = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
            raise ApiBadRequest(
                f"bad request body: upstream_tls.{which} cannot be loaded as PEM CAs: {why}"
            ) from None
        if not self.verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    def server_hostname(self, upstream_host: str) -> str:
        """The SNI / certificate name for a connection to ``upstream_host``."""
        return self.server_name or upstream_host

    def host(self, upstream: tuple[str, int]) -> str | None:
        """The Host header to send (``host_header``), or None to keep the client's."""
        if not self.host_header:
            return None
        name = self.server_hostname(upstream[0])
        name = f"[{name}]" if ":" in name else name
        return name if upstream[1] == 443 else f"{name}:{upstream[1]}"

    def wire(self) -> dict[str, Any]:
        """The settings as the API returns them (unset fields left out)."""
        return self.model_dump(exclude_none=True)


def parse_upstream_tls(value: Any, field: str = "upstream_tls") -> UpstreamTls | None:
    """``null`` / ``false`` -> None; ``true`` -> defaults; an object -> validated settings.

    The CA is loaded here, so a missing or bad file is a 400 at create time, not a
    connection that fails later.
    """
    if value is None or value is False:
        return None
    if value is True:
        value = {}
    if not isinstance(value, dict):
        raise ApiBadRequest(
            f"bad request body: {field} must be true, false, null or an object, got {value!r}"
        )
    try:
        tls = UpstreamTls.parse(value, field)
    except SpecError as exc:
        raise ApiBadRequest(f"bad request body: {exc}") from None
    tls.context  # noqa: B018 -- load the CAs now: a bad one is the caller's error
    return tls
