"""The ``proxy`` target: one proxy on an aichaos (or Toxiproxy) control API."""

from __future__ import annotations

import os
from urllib.parse import quote

from pydantic import Field

from aichaos.errors import TargetError
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

    def headers(self) -> dict[str, str]:
        """``Authorization`` when ``token_env`` is set; :class:`TargetError` if it is unset."""
        if self.token_env is None:
            return {}
        token = os.environ.get(self.token_env)
        if not token:
            raise TargetError(f"environment variable {self.token_env} (token_env) is not set")
        return {"Authorization": f"Bearer {token}"}

    def describe(self) -> str:
        """One line for the plan and the journal."""
        return f"proxy {self.proxy} at {self.api_url}"

    def toxics_url(self, toxic: str | None = None) -> str:
        """URL of the proxy's toxic list, or of one toxic."""
        base = f"{self.api_url.rstrip('/')}/proxies/{quote(self.proxy, safe='')}/toxics"
        return base if toxic is None else f"{base}/{quote(toxic, safe='')}"
