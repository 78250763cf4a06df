"""Keep secrets and payloads out of journals, summaries and logs.

The experiment loader remembers every value it substituted from ``${env:...}`` or
``${file:...}``; the journal and the report writers redact with the same object.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BODY_KEY", "REDACTED", "SECRET_KEY", "Redactor"]

#: keys whose string values are secrets wherever they appear (headers, targets, bodies)
SECRET_KEY = re.compile(
    r"^(?:.*[-_ ])?(?:authorization|cookie|set-cookie|api[-_]?key|apikey|token|access[-_]token"
    r"|refresh[-_]token|id[-_]token|secret|client[-_]secret|password|passwd|pwd|private[-_]key"
    r"|session|credentials?|signature)$",
    re.IGNORECASE,
)
#: keys whose values are request or response payloads (never journaled)
BODY_KEY = re.compile(r"^(?:body|json_body|data|payload|content)$", re.IGNORECASE)
_INLINE = (
    # "Bearer abc..." / "Basic abc..." inside any text (a header given as one string)
    (
        re.compile(
            r"(?i)\b(bearer|basic)\s+(?=[A-Za-z._~+/=-]*[0-9._~+/=-])[A-Za-z0-9._~+/=-]{6,}"
        ),
        r"\1 <redacted>",
    ),
    # credentials in a URL: scheme://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s:]+:[^/@\s]+@"), r"\1<redacted>@"),
    # secret-looking query parameters: ?api_key=...&token=...
    (
        re.compile(
            r"(?i)([?&](?:api[-_]?key|key|token|access[-_]token|secret|password|sig|signature)=)"
            r"[^&#\s\"']+"
        ),
        r"\1<redacted>",
    ),
)
REDACTED = "<redacted>"


@dataclass
class Redactor:
    """Keeps secrets and payloads out of journals, summaries and logs.

    * values that came from ``${env:NAME}`` / ``${file:...}`` become that placeholder;
    * string values under secret-looking keys (``Authorization``, ``Cookie``, ``X-API-Key``,
      ``token``, ``password``...) become ``<redacted>``, however they were written;
    * payloads (``body``, ``json_body``, ``data``...) become ``<body redacted>`` unless
      ``keep_bodies`` is set (the user's opt-in);
    * bearer tokens, URL credentials and secret query parameters inside any text.
    """

    secrets: dict[str, str] = field(default_factory=dict)
    keep_bodies: bool = False

    def add(self, value: str, placeholder: str) -> None:
        """Remember ``value`` (if long enough to be worth hiding) as a secret."""
        if len(value) >= 3:
            self.secrets[value] = placeholder

    def text(self, s: str) -> str:
        """``s`` with every secret replaced."""
        for value, placeholder in sorted(self.secrets.items(), key=lambda kv: -len(kv[0])):
            if value in s:
                s = s.replace(value, placeholder)
        for pattern, replacement in _INLINE:
            s = pattern.sub(replacement, s)
        return s

    def data(self, obj: Any) -> Any:
        """A copy of JSON-like ``obj`` with every string redacted."""
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, dict):
            out = {}
            for k, v in obj.items():
                key = self.text(str(k))
                if v is not None and not isinstance(v, bool) and SECRET_KEY.match(key):
                    if isinstance(v, str) and self.text(v) != v:
                        pass  # from ${env:...}: the placeholder says which secret it was
                    elif isinstance(v, str | int | float):
                        v = REDACTED
                elif v is not None and not self.keep_bodies and BODY_KEY.match(key):
                    v = "<body redacted>"
                out[key] = self.data(v)
            return out
        if isinstance(obj, (list, tuple)):
            return [self.data(v) for v in obj]
        return obj
