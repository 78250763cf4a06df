"""Chaos Toolkit ``configuration`` and ``secrets`` -> values and ``${env:...}`` placeholders.

Chaos Toolkit substitutes ``${name}`` anywhere in a provider (URL, arguments) from the
experiment's configuration and secrets. :class:`References` resolves each name once:
``{"type": "env", "key": K}`` becomes the aichaos placeholder ``${env:K}`` (the loader
fills it in at run time and keeps the value out of journals), a literal is inlined.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["References"]

_REF = re.compile(r"\$\{(\w+)\}")


class References:
    """The configuration and secrets of one Chaos Toolkit experiment, by name."""

    def __init__(self, ctk: dict[str, Any], skipped: list[str], notes: list[str]) -> None:
        self.skipped = skipped
        self.notes = notes
        self.values = self._values("configuration", ctk.get("configuration") or {})
        for scope, secrets in (ctk.get("secrets") or {}).items():
            if isinstance(secrets, dict):
                self.values.update(self._values(f"secrets.{scope}", secrets))
            else:
                self.skipped.append(f"secrets.{scope}: expected a mapping of secrets")

    def _values(self, where: str, conf: dict[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for key, value in conf.items():
            if isinstance(value, dict) and value.get("type") == "env":
                values[key] = "${env:" + str(value["key"]) + "}"
            elif isinstance(value, (str, int, float, bool)):
                values[key] = value
                if where.startswith("secrets"):
                    self.notes.append(
                        f"{where}.{key}: a literal secret is written into the experiment; "
                        "prefer {type: env}"
                    )
            else:
                self.skipped.append(f"{where}.{key}: only env and literal values convert")
        return values

    def sub(self, value: Any) -> Any:
        """Substitute ``${name}`` configuration references."""
        if isinstance(value, str):
            whole = re.fullmatch(r"\$\{(\w+)\}", value)
            if whole and whole.group(1) in self.values:
                return self.values[whole.group(1)]
            return re.sub(
                r"\$\{(\w+)\}", lambda m: str(self.values.get(m.group(1), m.group(0))), value
            )
        if isinstance(value, dict):
            return {k: self.sub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.sub(v) for v in value]
        return value

    def why_not_url(self, url: Any) -> str:
        """Why ``url`` (after substitution) is not an http(s) URL, for the skipped list."""
        unknown = sorted(set(_REF.findall(url))) if isinstance(url, str) else []
        if unknown:
            return (
                f"url {url!r} references {', '.join(unknown)}, which no configuration "
                "or secret defines"
            )
        return f"http provider needs an http(s) url, got {url!r}"
