"""The ``proxy`` target: one proxy on an aichaos (or Toxiproxy) control API.

A target may also say what the proxy is: ``upstream`` (and ``upstream_tls`` for an HTTPS
provider, ``listen`` for where clients reach it). Then a fault on it first makes sure the
API has that proxy: it is created if missing, and a proxy of that name that forwards
elsewhere (or without the TLS asked for) is a :class:`~aichaos.errors.TargetError`, never
silently reconfigured: faults on the wrong upstream would prove nothing.

    targets:
      llm: {type: proxy, proxy: openai, listen: "127.0.0.1:18080",
            upstream: "api.openai.com:443", upstream_tls: true}
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import Field, model_validator

from aichaos.errors import TargetError
from aichaos.proxy.upstream_tls import UpstreamTls
from aichaos.proxyapi import ProxyApi
from aichaos.targets import TARGETS, Target

__all__ = ["ProxyTarget"]


@TARGETS.register("proxy")
class ProxyTarget(Target):
    """A proxy named ``proxy`` on the control API at ``api_url``."""

    api_url: str = Field(
        "http://127.0.0.1:8474", pattern=r"^https?://", description="the proxy's control API"
    )
    proxy: str = Field(min_length=1, description="the proxy's name on that API")
    token_env: str | None = Field(
        None,
        min_length=1,
        description="environment variable holding the API's bearer token (aichaos proxy "
        "--token); the token itself never enters the experiment file or the journal",
    )

    upstream: str | None = Field(
        None,
        pattern=r"^\S+:\d{1,5}$",
        description="host:port the proxy forwards to; when set, the proxy is created if "
        "missing and checked before every fault",
    )
    upstream_tls: bool | UpstreamTls | None = Field(
        None,
        description="TLS to the upstream: true (system CAs) or {server_name, ca_file, "
        "ca_pem, host_header, verify}; needs upstream",
    )
    listen: str | None = Field(
        None, pattern=r"^\S+:\d{1,5}$", description="where a created proxy listens (host:port)"
    )

    @model_validator(mode="after")
    def _needs_upstream(self) -> ProxyTarget:
        if self.upstream is None and (self.upstream_tls or self.listen is not None):
            raise ValueError("upstream_tls and listen describe a proxy: give its upstream too")
        return self

    def tls(self) -> UpstreamTls | None:
        """The TLS settings asked for (``true`` means the defaults)."""
        if self.upstream_tls is True:
            return UpstreamTls()
        return self.upstream_tls or None

    def proxy_body(self) -> dict[str, Any]:
        """The create body for the proxy this target describes."""
        tls = self.tls()
        body: dict[str, Any] = {"name": self.proxy, "upstream": self.upstream}
        if tls is not None:
            body["upstream_tls"] = tls.wire()
        if self.listen is not None:
            body["listen"] = self.listen
        return body

    def mismatch(self, found: dict[str, Any]) -> str | None:
        """Why the API's proxy ``found`` is not the one described, or None if it is."""
        tls = self.tls()
        want_tls = None if tls is None else tls.wire()
        if found.get("upstream") != self.upstream:
            return f"forwards to {found.get('upstream')!r}, the target says {self.upstream!r}"
        if want_tls is not None and "upstream_tls" not in found:
            return "the API does not report upstream_tls (not an aichaos proxy?)"
        if found.get("upstream_tls") != want_tls:
            return f"has upstream_tls {found.get('upstream_tls')!r}, the target says {want_tls!r}"
        return None

    def api(self) -> ProxyApi:
        """The control API with its token; :class:`TargetError` if ``token_env`` is unset."""
        if self.token_env is None:
            return ProxyApi(self.api_url)
        token = os.environ.get(self.token_env)
        if not token:
            raise TargetError(f"environment variable {self.token_env} (token_env) is not set")
        return ProxyApi(self.api_url, token)

    def headers(self) -> dict[str, str]:
        """``Authorization`` when ``token_env`` is set; :class:`TargetError` if it is unset."""
        return self.api().headers()

    def describe(self) -> str:
        """One line for the plan and the journal."""
        where = f"proxy {self.proxy} at {self.api_url}"
        if self.upstream is None:
            return where
        return f"{where} -> {self.upstream}" + (" (TLS)" if self.tls() is not None else "")

    def proxy_url(self) -> str:
        """URL of the proxy itself."""
        return ProxyApi(self.api_url).proxy_url(self.proxy)

    def toxics_url(self, toxic: str | None = None) -> str:
        """URL of the proxy's toxic list, or of one toxic."""
        api = ProxyApi(self.api_url)
        return api.toxics_url(self.proxy) if toxic is None else api.toxic_url(self.proxy, toxic)
