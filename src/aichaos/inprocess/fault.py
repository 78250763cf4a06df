"""The ``inprocess`` target and fault: arm a running service's hooks over its control API.

The target names the service's control endpoint (:mod:`aichaos.inprocess.control`) and
where its token comes from. The fault arms hooks with the step's TTL (apply), pushes the
deadline (renew), and disarms them (revert). If the runner dies, the hooks disarm
themselves when the TTL lapses, and the watchdog also sends the ``DELETE`` for each.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import httpx
from pydantic import Field, field_validator, model_validator

from aichaos.errors import InjectionError, TargetError
from aichaos.faults.base import FAULTS, Fault, Injection, InjectionContext
from aichaos.faults.clients import control_client
from aichaos.faults.undo import HttpRequest, UndoAction
from aichaos.targets import TARGETS, Target

__all__ = ["InProcessFault", "InProcessTarget"]


@TARGETS.register("inprocess")
class InProcessTarget(Target):
    """A service exposing aichaos's control endpoint at ``url`` (loopback by default)."""

    url: str = Field(pattern=r"^https?://", description="control base URL")
    token: str | None = Field(None, description="bearer token (prefer token_env)")
    token_env: str | None = Field(None, description="environment variable holding the token")

    @model_validator(mode="after")
    def _one_token(self) -> InProcessTarget:
        if (self.token is None) == (self.token_env is None):
            raise ValueError("give exactly one of token, token_env")
        return self

    def bearer(self) -> str:
        """The token, read from the environment when ``token_env`` is set."""
        if self.token is not None:
            return self.token
        value = os.environ.get(self.token_env or "")
        if not value:
            raise TargetError(f"environment variable {self.token_env} (token_env) is not set")
        return value

    def describe(self) -> str:
        return f"inprocess {self.url}"


@FAULTS.register("inprocess")
class InProcessFault(Fault):
    """Arm named in-process hooks of a running service for the step's duration."""

    target_kinds: ClassVar[tuple[str, ...]] = ("inprocess",)

    hooks: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    rate: float | None = Field(None, ge=0.0, le=1.0, description="overrides each hook's rate")
    latency_ms: float | None = Field(None, ge=0, description="overrides each hook's latency")
    corruption: dict[str, Any] | None = Field(
        None,
        description="for data hooks (aichaos.inprocess.DataHook): "
        "{name: label-flip, fraction: 0.2, columns: [label]}",
    )

    @field_validator("corruption")
    @classmethod
    def _corruption(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is not None:
            # checked here so that `aichaos validate` names a typo, not the service later
            from aichaos.data.corrupt_fault import CorruptionEntry

            CorruptionEntry.model_validate(v)
        return v

    def injection(self, ctx: InjectionContext) -> Injection:
        """Build the injection that talks to ``ctx.target``'s control endpoint."""
        self.require_target(ctx, InProcessTarget)
        corruption = self.corruption
        if corruption is not None and "seed" not in corruption:
            corruption = {**corruption, "seed": ctx.rng.getrandbits(32)}  # the run's seed
        return RemoteHookInjection(
            self, ctx, self.hooks, self.rate, self.latency_ms, corruption=corruption
        )


class RemoteHookInjection(Injection):
    """Arms ``hooks`` on a control endpoint; shared by faults built on in-process hooks."""

    def __init__(
        self,
        fault: Fault,
        ctx: InjectionContext,
        hooks: list[str],
        rate: float | None = None,
        latency_ms: float | None = None,
        *,
        corruption: dict[str, Any] | None = None,
        training: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(fault, ctx)
        self.corruption = corruption
        self.training = training
        #: per hook, what it did while armed (from the control endpoint at disarm)
        self.effects: dict[str, dict[str, float]] = {}
        self.target: InProcessTarget = ctx.target
        self.hooks = hooks
        self.rate = rate
        self.latency_ms = latency_ms
        self.armed: list[str] = []

    def _url(self, name: str, suffix: str = "") -> str:
        return f"{self.target.url.rstrip('/')}/faults/{name}{suffix}"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.target.bearer()}"}

    async def _call(
        self, method: str, url: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        try:
            async with control_client(self.ctx.clients, self.target.url) as client:
                r = await client.request(method, url, json=body, headers=self._headers())
        except httpx.HTTPError as exc:
            raise InjectionError(f"{method} {url} failed: {exc}") from exc
        if r.status_code >= 400:
            raise InjectionError(f"{method} {url} -> {r.status_code}: {r.text}")
        try:
            answer = r.json()
        except ValueError:
            return {}
        return answer if isinstance(answer, dict) else {}

    async def apply(self) -> None:
        body: dict[str, Any] = {"ttl_s": self.ctx.ttl_s}
        if self.rate is not None:
            body["rate"] = self.rate
        if self.latency_ms is not None:
            body["latency_ms"] = self.latency_ms
        if self.corruption is not None:
            body["corruption"] = self.corruption
        if self.training is not None:
            body["training"] = self.training
        try:
            for name in self.hooks:
                self.armed.append(name)  # before the call: a timeout may still have armed it
                await self._call("POST", self._url(name), body)
        except InjectionError:
            await self.revert()
            raise

    async def renew(self, ttl_s: float) -> None:
        for name in self.armed:
            await self._call("POST", self._url(name, "/renew"), {"ttl_s": ttl_s})

    async def revert(self) -> None:
        armed, self.armed = self.armed, []
        errors = []
        for name in armed:
            try:
                answer = await self._call("DELETE", self._url(name))
                if isinstance(answer.get("effect"), dict):
                    self.effects[name] = answer["effect"]
            except InjectionError as exc:
                errors.append(str(exc))
        if errors:
            raise InjectionError("; ".join(errors))

    def effect(self) -> dict[str, Any] | None:
        """What each hook did while armed, as its service tallied it (counts only)."""
        if not self.effects:
            return None
        # an empty tally is a hook nobody called while it was armed: it touched nothing
        data = any("batches" in e for e in self.effects.values())
        return {
            "hooks": self.effects,
            "seen": sum(_num(e, "calls") + _num(e, "batches") for e in self.effects.values()),
            "touched": sum(
                _num(e, "fired") + max(_num(e, "cells_changed"), _num(e, "rows_changed"))
                for e in self.effects.values()
            ),
            "unit": "calls fired or cells changed" if data else "calls fired",
        }

    def undo_actions(self) -> list[UndoAction]:
        # with token_env the watchdog reads the token from its environment: none on disk
        env = self.target.token_env
        headers = {} if env is not None else self._headers()
        return [
            HttpRequest(method="DELETE", url=self._url(name), headers=headers, bearer_env=env)
            for name in self.armed
        ]


def _num(tally: dict[str, Any], key: str) -> int:
    value = tally.get(key, 0)
    return int(value) if isinstance(value, (int, float)) else 0
