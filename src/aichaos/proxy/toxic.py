"""A live toxic on a proxy: its name, stream, toxicity, attributes and counters.

:func:`parse_toxic` turns an API body into one, with Toxiproxy's defaults (stream
``downstream``, toxicity 1.0, name ``<type>_<stream>``) and Toxiproxy's error messages.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from aichaos.errors import RegistryError
from aichaos.limits import YEAR_S
from aichaos.proxy.errors import ApiBadRequest
from aichaos.proxy.toxics.base import TOXICS, ToxicAttributes
from aichaos.validation import SpecError

__all__ = ["STREAMS", "Toxic", "parse_toxic"]

STREAMS = ("upstream", "downstream")


class Toxic:
    """A toxic on one proxy; connections read ``attributes`` live, so updates apply at once."""

    __slots__ = (
        "affected",
        "attributes",
        "expiry",
        "name",
        "seen",
        "stream",
        "toxicity",
        "ttl_s",
        "type",
    )

    def __init__(
        self,
        name: str,
        type_: str,
        stream: str,
        toxicity: float,
        attributes: ToxicAttributes,
        ttl_s: float | None = None,
    ) -> None:
        self.name = name
        self.type = type_
        self.stream = stream
        self.toxicity = toxicity
        self.attributes = attributes
        self.ttl_s = ttl_s
        #: connections (TCP toxics) or requests (HTTP toxics) the toxic was rolled for
        self.seen = 0
        #: ... and those it acted on
        self.affected = 0
        self.expiry: asyncio.TimerHandle | None = None

    @property
    def is_http(self) -> bool:
        """True for toxics the HTTP layer applies per request."""
        return self.attributes.kind == "http"

    def to_json(self) -> dict[str, Any]:
        """The toxic as the API returns it (Toxiproxy's shape plus ``stats``)."""
        body: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": self.attributes.wire(),
            "stats": {"seen": self.seen, "affected": self.affected},
        }
        if self.ttl_s is not None:
            body["ttl_s"] = self.ttl_s
        return body


def _attributes(type_: str, raw: Any, where: str) -> ToxicAttributes:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ApiBadRequest(f"bad request body: attributes must be an object, got {raw!r}")
    try:
        return TOXICS.get(type_).parse(raw, where)
    except SpecError as exc:
        raise ApiBadRequest(f"bad request body: {exc}") from None


def _number(body: dict[str, Any], key: str, default: float | None) -> float | None:
    value = body.get(key)
    if value is None:  # absent, or null: keep the default (as Toxiproxy does for zero values)
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApiBadRequest(f"bad request body: {key} must be a number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ApiBadRequest(f"bad request body: {key} must be a finite number, got {value!r}")
    return number


def parse_toxic(body: Any, existing: Toxic | None = None) -> Toxic:
    """Validate a create (``existing`` None) or update body into a :class:`Toxic`.

    On update, attributes are merged over the existing ones and the other fields keep
    their values unless given, as Toxiproxy does.
    """
    if not isinstance(body, dict):
        raise ApiBadRequest(f"bad request body: expected a JSON object, got {type(body).__name__}")
    if existing is None:
        type_ = body.get("type")
        if not isinstance(type_, str) or not type_:
            raise ApiBadRequest("missing required field: type")
        try:
            TOXICS.get(type_)
        except RegistryError:
            raise ApiBadRequest(
                f"invalid toxic type: {type_!r}; known: {', '.join(TOXICS.names())}"
            ) from None
        stream = body.get("stream") or "downstream"
        name = body.get("name") or f"{type_}_{stream}"
        raw_attrs = body.get("attributes")
        toxicity = _number(body, "toxicity", 1.0)
    else:
        type_ = existing.type
        stream = body.get("stream") or existing.stream
        name = existing.name
        given = body.get("attributes")
        if given is not None and not isinstance(given, dict):
            raise ApiBadRequest(f"bad request body: attributes must be an object, got {given!r}")
        raw_attrs = type(existing.attributes).merge(existing.attributes.wire(), given or {})
        toxicity = _number(body, "toxicity", existing.toxicity)
    if stream not in STREAMS:
        raise ApiBadRequest("stream was invalid, can be either upstream or downstream")
    if not isinstance(name, str):
        raise ApiBadRequest(f"bad request body: name must be a string, got {name!r}")
    assert toxicity is not None
    if not 0.0 <= toxicity <= 1.0:
        raise ApiBadRequest(f"bad request body: toxicity must be within 0..1, got {toxicity:g}")
    ttl_s = _number(body, "ttl_s", existing.ttl_s if existing else None)
    if ttl_s is not None and not 0 < ttl_s <= YEAR_S:
        raise ApiBadRequest(f"bad request body: ttl_s must be > 0 and <= {YEAR_S}, got {ttl_s:g}")
    attrs = _attributes(type_, raw_attrs, f"toxic {name}")
    return Toxic(name, type_, stream, toxicity, attrs, ttl_s)
