"""Proxy faults for the engine: a toxic on a chaos proxy, added on apply, deleted on revert.

``proxy-toxic`` takes any toxic type by name; ``proxy-latency`` and ``proxy-http-error``
are shorthands. The blast radius maps onto the toxic: ``fraction`` scales its toxicity;
``match`` (``method``, ``path``, ``path_regex``, ``header:<name>``) narrows an HTTP toxic
to matching requests.

Three layers make sure a toxic never outlives the experiment: ``revert`` deletes it; the
toxic carries a ``ttl_s`` so the proxy removes it by itself unless :meth:`renew` is called;
and :meth:`undo_actions` hands a watchdog the DELETE to send if the runner dies.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from aichaos.errors import (
    Problem,
    RegistryError,
    TargetError,
    ValidationError,
)
from aichaos.faults.base import FAULTS, Fault, Injection, InjectionContext
from aichaos.faults.clients import control_client
from aichaos.faults.undo import HttpRequest, UndoAction
from aichaos.proxy.target import ProxyTarget
from aichaos.proxyapi import expect, send
from aichaos.validation import SpecError, known_fields, unknown_field

__all__ = ["ProxyHttpError", "ProxyLatency", "ProxyToxic"]


@FAULTS.register("proxy-toxic")
class ProxyToxic(Fault):
    """Add a toxic of any type (``latency``, ``http_error``, ``stream_cut``...) to a proxy."""

    target_kinds: ClassVar[tuple[str, ...]] = ("proxy",)
    radius_fields: ClassVar[frozenset[str]] = frozenset({"fraction", "match"})

    toxic: str = Field(description="toxic type, e.g. latency, http_error, json_corrupt")
    stream: Literal["upstream", "downstream"] = "downstream"
    toxicity: float = Field(1.0, ge=0.0, le=1.0)
    attributes: dict[str, Any] = Field(default_factory=dict)
    name: str | None = Field(None, description="toxic name (default: unique per injection)")

    #: shorthand fields and the toxic attribute each one sets (``latency_ms`` -> ``latency``)
    shorthand: ClassVar[dict[str, str]] = {}

    @model_validator(mode="after")
    def _known_toxic(self) -> ProxyToxic:
        from aichaos.proxy.toxics.base import TOXICS

        default = type(self).model_fields["toxic"].default
        if self.shorthand and self.toxic != default:
            raise ValueError(
                f"fault {self.type!r} always adds a {default!r} toxic, got toxic "
                f"{self.toxic!r}; for another toxic use {{type: proxy-toxic, toxic: "
                f"{self.toxic}, attributes: {{...}}}}"
            )
        try:
            cls = TOXICS.get(self.toxic)
        except RegistryError as exc:
            raise ValueError(str(exc)) from None
        # a typo would run as the attribute's default (a latency of 0) and prove nothing;
        # named here with the known ones and a suggestion, before the model's own refusal
        known = known_fields(cls)
        unknown = [k for k in self.attributes if k not in known]
        if unknown:
            raise SpecError([Problem(f"attributes.{k}", unknown_field(k, known)) for k in unknown])
        twins = {a: f for f, a in self.shorthand.items()}
        for key in self.attributes:
            field_name = twins.get(key) or twins.get(_wire_name(cls, key))
            if field_name is not None:
                raise ValueError(
                    f"attribute {key!r} is set by {field_name} in fault {self.type!r}; "
                    f"give {field_name} only"
                )
        cls.model_validate(self.toxic_body()["attributes"])  # a bad value fails at load
        return self

    def toxic_body(self) -> dict[str, Any]:
        """The toxic's type, stream, toxicity and attributes as the API takes them."""
        return {
            "type": self.toxic,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": dict(self.attributes),
        }

    def injection(self, ctx: InjectionContext) -> Injection:
        """Build the injection for ``ctx.target`` (a ``proxy`` target)."""
        self.require_target(ctx, ProxyTarget)
        return ProxyToxicInjection(self, ctx)


@FAULTS.register("proxy-latency")
class ProxyLatency(ProxyToxic):
    """Add latency (± jitter) to a proxy's stream."""

    shorthand: ClassVar[dict[str, str]] = {"latency_ms": "latency", "jitter_ms": "jitter"}

    toxic: str = "latency"
    latency_ms: int = Field(ge=0)
    jitter_ms: int = Field(0, ge=0)

    def toxic_body(self) -> dict[str, Any]:
        """A ``latency`` toxic."""
        body = super().toxic_body()
        attrs = {"latency": self.latency_ms, "jitter": self.jitter_ms}
        body["attributes"] = {**body["attributes"], **attrs}
        return body


@FAULTS.register("proxy-http-error")
class ProxyHttpError(ProxyToxic):
    """Answer requests with an HTTP error (or an OpenAI-compatible preset) at the proxy."""

    shorthand: ClassVar[dict[str, str]] = {
        "status": "status",
        "preset": "preset",
        "retry_after_s": "retry_after_s",
    }

    toxic: str = "http_error"
    status: int = Field(503, ge=100, le=599)
    preset: str | None = Field(None, description="e.g. openai_rate_limit, openai_overloaded")
    retry_after_s: float = Field(1.0, ge=0)

    def toxic_body(self) -> dict[str, Any]:
        """An ``http_error`` toxic."""
        body = super().toxic_body()
        attrs: dict[str, Any] = {"retry_after_s": self.retry_after_s}
        if self.preset is not None:
            attrs["preset"] = self.preset
        # a preset decides its status: sent only if given (the proxy refuses a conflict)
        if self.preset is None or "status" in self.model_fields_set:
            attrs["status"] = self.status
        body["attributes"] = {**body["attributes"], **attrs}
        return body


def _stats(answer: Any, toxic: str) -> dict[str, Any]:
    """The effect report from a toxic's GET answer (its ``stats``)."""
    from aichaos.proxy.toxics.base import TOXICS

    if answer.status_code != 200:
        return {"error": f"toxic gone before its revert ({answer.status_code}): expired?"}
    stats = answer.json().get("stats") or {}
    if not isinstance(stats.get("seen"), int) or not isinstance(stats.get("affected"), int):
        return {"error": "the proxy reports no counters (not an aichaos proxy?)"}
    unit = "requests" if TOXICS.get(toxic).kind == "http" else "connections"
    return {"seen": stats["seen"], "touched": stats["affected"], "unit": unit}


def _wire_name(cls: type[Any], key: str) -> str:
    """The wire (alias) name of attribute ``key`` of toxic class ``cls``."""
    f = cls.model_fields.get(key)
    return (f.alias or key) if f is not None else key


class ProxyToxicInjection(Injection):
    """A toxic on a live proxy; DELETE on revert; expires on the proxy unless renewed."""

    def __init__(self, fault: Fault, ctx: InjectionContext) -> None:
        super().__init__(fault, ctx)
        assert isinstance(fault, ProxyToxic)
        self.spec = fault
        self.target: ProxyTarget = ctx.target
        self.name = fault.name or f"aichaos-{fault.toxic}-{ctx.rng.getrandbits(32):08x}"
        self._effect: dict[str, Any] | None = None

    def body(self) -> dict[str, Any]:
        """The create body: blast radius folded in, TTL attached."""
        from aichaos.proxy.toxics.base import TOXICS

        body = self.spec.toxic_body()
        radius = self.ctx.blast_radius
        body["toxicity"] = body["toxicity"] * radius.fraction
        body["name"] = self.name
        body["ttl_s"] = self.ctx.ttl_s
        if radius.match:
            if TOXICS.get(self.spec.toxic).kind != "http":
                raise ValidationError(
                    f"blast_radius.match needs an HTTP toxic, got toxic {self.spec.toxic!r}"
                )
            attrs = body["attributes"]
            for key, value in radius.match.items():
                if key.startswith("header:"):
                    attrs.setdefault("headers", {})[key.removeprefix("header:")] = value
                elif key in ("method", "path", "path_regex"):
                    attrs[key] = value
                else:
                    raise ValidationError(
                        f"blast_radius.match key must be method, path, path_regex or "
                        f"header:<name>, got {key!r}"
                    )
        return body

    async def _call(self, method: str, url: str, json: Any = None) -> Any:
        api = self.target.api()
        async with control_client(self.ctx.clients, self.target.api_url) as client:
            return await send(client, api, method, url, json)

    async def _ensure_proxy(self) -> None:
        """Create the proxy the target describes if missing; refuse one that differs."""
        target = self.target
        r = await self._call("GET", target.proxy_url())
        if r.status_code == 404:
            r = await self._call(
                "POST", f"{target.api_url.rstrip('/')}/proxies", target.proxy_body()
            )
            if r.status_code == 409:  # another step created it meanwhile: check that one
                r = await self._call("GET", target.proxy_url())
            else:
                expect(r.status_code, r.text, (201,), f"cannot create {target.describe()}")
        expect(r.status_code, r.text, (200, 201), f"cannot read {target.describe()}")
        why = target.mismatch(r.json())
        if why is not None:
            raise TargetError(f"{target.describe()} {why}")

    async def apply(self) -> None:
        """POST the toxic; the API's error message is kept if it refuses."""
        if self.target.upstream is not None:
            await self._ensure_proxy()
        r = await self._call("POST", self.target.toxics_url(), self.body())
        expect(r.status_code, r.text, (200,), f"proxy refused toxic {self.name}")

    async def revert(self) -> None:
        """Read the toxic's counters, then DELETE it; already gone counts as reverted."""
        url = self.target.toxics_url(self.name)
        try:
            got = await self._call("GET", url)
        except TargetError as exc:
            self._effect = {"error": f"counters not read: {exc}"}
        else:
            self._effect = _stats(got, self.spec.toxic)
        r = await self._call("DELETE", url)
        expect(r.status_code, r.text, (204, 404), f"proxy kept toxic {self.name}")

    async def renew(self, ttl_s: float) -> None:
        """Push the toxic's expiry ``ttl_s`` seconds from now."""
        r = await self._call("POST", self.target.toxics_url(self.name), {"ttl_s": ttl_s})
        expect(r.status_code, r.text, (200,), f"cannot renew toxic {self.name}")

    def undo_actions(self) -> list[UndoAction]:
        """The DELETE a watchdog sends if the runner dies."""
        return [
            HttpRequest(
                method="DELETE",
                url=self.target.toxics_url(self.name),
                bearer_env=self.target.token_env,
            )
        ]

    def effect(self) -> dict[str, Any] | None:
        """Requests (HTTP toxics) or connections (TCP toxics) seen and affected."""
        return self._effect

    def describe(self) -> dict[str, Any]:
        """Journal entry: the fault, the proxy and the toxic's name."""
        return {**super().describe(), "proxy": self.target.proxy, "toxic_name": self.name}
