"""One experiment step -> one Chaos Mesh chaos spec (or the reason there is none).

How aichaos faults map (a ``kubernetes`` target gives the pods):

===================================  ==============================================
``proxy-latency``                    NetworkChaos ``delay`` (egress of the pods);
                                     HTTPChaos ``delay`` when ``blast_radius.match``
                                     narrows it to HTTP requests (needs ``port``)
``proxy-http-error``                 HTTPChaos ``replace`` (status code, body, headers)
``proxy-toxic`` latency / bandwidth  NetworkChaos ``delay`` / ``bandwidth``
``proxy-toxic`` timeout / reset_peer NetworkChaos ``loss`` 100 % (nothing gets through)
``proxy-toxic`` http_error           HTTPChaos ``replace`` (or ``abort`` for status 0)
``proxy-toxic`` http_delay           HTTPChaos ``delay`` on the request or the response
``proxy-toxic`` json_corrupt         HTTPChaos ``patch`` of the response body, a JSON
                                     merge patch (RFC 7396): ``set`` and ``drop`` on
                                     object keys only (the retriever's ``result`` set
                                     to ``[]``); whole bodies, not SSE events
``process-kill``                     PodChaos ``pod-kill`` (SIGKILL: grace period 0)
``process-pause``                    PodChaos ``pod-failure`` (the pod stops serving for
                                     the duration; unlike SIGSTOP its process restarts)
``cpu-burn`` / ``memory-pressure``   StressChaos ``cpu`` / ``memory`` stressors
===================================  ==============================================

Blast radius: ``fraction`` 1 is ``mode: all``; a smaller fraction is ``fixed-percent`` of
the pods (Chaos Mesh has no per-request or per-connection probability, so a share of
requests becomes a share of pods, and the output says so). Everything else -- data,
in-process, model faults, disk and descriptor exhaustion, the AI stream toxics -- is
reported as unsupported by name.
"""

from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from aichaos.faults.base import BlastRadius, Fault
from aichaos.integrations.kubernetes import KubernetesTarget

__all__ = ["Translated", "Unsupported", "duration", "translate"]

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@dataclass
class Translated:
    """A chaos spec (without ``duration``) of Chaos Mesh ``kind``, and notes on fidelity."""

    kind: str
    spec: dict[str, Any]
    notes: list[str] = field(default_factory=list)


@dataclass
class Unsupported:
    """A step with no Chaos Mesh counterpart, and why."""

    reason: str


def duration(seconds: float) -> str:
    """Seconds as a Go duration string Chaos Mesh accepts: ``30s``, ``1500ms``."""
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    return f"{math.ceil(seconds * 1000)}ms"


def _mode(radius: BlastRadius, notes: list[str], per: str) -> dict[str, Any]:
    if radius.fraction >= 1.0:
        return {"mode": "all"}
    # the webhook takes whole percentages in (0, 100]: the note states what is exported
    percent = max(1, round(radius.fraction * 100))
    if per != "pods":
        notes.append(
            f"blast_radius.fraction {radius.fraction:g} of {per} becomes "
            f"{percent}% of the pods (Chaos Mesh has no per-{per[:-1]} probability)"
        )
    elif percent != radius.fraction * 100:
        notes.append(
            f"blast_radius.fraction {radius.fraction:g} becomes {percent}% of the pods "
            "(Chaos Mesh takes whole percentages)"
        )
    return {"mode": "fixed-percent", "value": str(percent)}


def _base(
    target: KubernetesTarget, radius: BlastRadius, notes: list[str], per: str
) -> dict[str, Any]:
    return {"selector": target.chaos_mesh_selector(), **_mode(radius, notes, per)}


def _containers(target: KubernetesTarget) -> dict[str, Any]:
    return {"containerNames": [target.container]} if target.container else {}


def _http(
    target: KubernetesTarget,
    radius: BlastRadius,
    notes: list[str],
    where: str,
    extra: dict[str, Any],
    match: dict[str, str],
) -> Translated | Unsupported:
    if target.port is None:
        return Unsupported("an HTTP fault needs the kubernetes target's port (HTTPChaos port)")
    spec: dict[str, Any] = {
        **_base(target, radius, notes, "requests"),
        "target": where,
        "port": target.port,
        **extra,
    }
    for key, value in match.items():
        if key == "method":
            # Chaos Mesh compares methods exactly, and HTTP methods are upper-case
            spec["method"] = value.upper()
        elif key == "path":
            spec["path"] = value
        elif key.startswith("header:"):
            spec.setdefault("request_headers", {})[key.removeprefix("header:")] = value
        else:
            return Unsupported(f"HTTPChaos cannot select requests by {key!r}")
    return Translated("HTTPChaos", spec, notes)


def _http_error(
    status: int, preset: str | None, retry_after_s: float, attributes: dict[str, Any]
) -> dict[str, Any]:
    if status == 0:
        return {"abort": True}
    replace: dict[str, Any] = {"code": status}
    body = attributes.get("body")
    headers: dict[str, str] = {}
    if preset is not None:
        from aichaos.proxy.presets import error_preset

        code, preset_headers, body = error_preset(preset, retry_after_s)
        replace["code"] = code
        headers.update(preset_headers)
    if replace["code"] == 429 and not any(k.lower() == "retry-after" for k in headers):
        headers["Retry-After"] = str(math.ceil(retry_after_s))
    if body not in (None, ""):
        raw = body if isinstance(body, str) else json.dumps(body)
        replace["body"] = base64.b64encode(raw.encode()).decode()
    if headers:
        replace["headers"] = headers
    return {"replace": replace}


def _network(
    target: KubernetesTarget,
    radius: BlastRadius,
    notes: list[str],
    action: str,
    detail: dict[str, Any],
) -> Translated:
    spec = {
        **_base(target, radius, notes, "connections"),
        "action": action,
        "direction": "to",
        **detail,
    }
    notes.append(
        f"NetworkChaos {action} has no target: it acts on every packet the pods send, "
        "including their answers to the kubelet's liveness and readiness probes (a long "
        "delay or loss can get the pods restarted or taken out of the Service)"
    )
    return Translated("NetworkChaos", spec, notes)


def translate(fault: Fault, target: Any, radius: BlastRadius) -> Translated | Unsupported:
    """The Chaos Mesh spec for ``fault`` on ``target`` with ``radius``."""
    kind = fault.type
    if not isinstance(target, KubernetesTarget):
        got = "no target" if target is None else f"a {target.type!r} target"
        return Unsupported(f"needs a kubernetes target to become a Chaos Mesh resource, has {got}")
    notes: list[str] = []
    data = fault.model_dump()
    if kind == "proxy-latency":
        if radius.match:
            return _http(
                target,
                radius,
                notes,
                "Response",
                {"delay": duration(data["latency_ms"] / 1000)},
                radius.match,
            )
        return _network(
            target,
            radius,
            notes,
            "delay",
            {"delay": {"latency": f"{data['latency_ms']}ms", "jitter": f"{data['jitter_ms']}ms"}},
        )
    if kind == "proxy-http-error":
        extra = _http_error(
            data["status"], data["preset"], data["retry_after_s"], data["attributes"]
        )
        return _http(target, radius, notes, "Response", extra, radius.match)
    if kind == "proxy-toxic":
        return _toxic(data, target, radius, notes)
    if radius.match:
        return Unsupported(f"blast_radius.match has no meaning for {kind} in Chaos Mesh")
    if kind == "process-kill":
        spec = {**_base(target, radius, notes, "pods"), "action": "pod-kill", **_containers(target)}
        if target.container:
            spec["action"] = "container-kill"
        if data["signal"] == "SIGKILL" and not target.container:
            spec["gracePeriod"] = 0
        if data["keep_alive"]:
            if radius.fraction >= 1.0:
                return Unsupported(
                    "keep_alive with fraction 1 cannot be expressed: Chaos Mesh "
                    "does not know how many pods match; give a fraction < 1"
                )
            notes.append(f"keep_alive={data['keep_alive']} is approximated by the fraction")
        return Translated("PodChaos", spec, notes)
    if kind == "process-pause":
        notes.append(
            "process-pause becomes pod-failure: the pod stops serving for the "
            "duration, but its process restarts instead of resuming"
        )
        return Translated(
            "PodChaos", {**_base(target, radius, notes, "pods"), "action": "pod-failure"}, notes
        )
    if kind == "cpu-burn":
        load = max(1, min(100, round(data["load_fraction"] * 100)))
        return Translated(
            "StressChaos",
            {
                **_base(target, radius, notes, "pods"),
                **_containers(target),
                "stressors": {"cpu": {"workers": data["workers"], "load": load}},
            },
            notes,
        )
    if kind == "memory-pressure":
        size = f"{math.ceil(data['size_mb'])}MB"
        return Translated(
            "StressChaos",
            {
                **_base(target, radius, notes, "pods"),
                **_containers(target),
                "stressors": {"memory": {"workers": 1, "size": size}},
            },
            notes,
        )
    return Unsupported(
        f"fault type {kind!r} has no Chaos Mesh counterpart (data, in-process, "
        "model and host-resource faults run with `aichaos run`)"
    )


def _toxic(
    data: dict[str, Any], target: KubernetesTarget, radius: BlastRadius, notes: list[str]
) -> Translated | Unsupported:
    toxic, attrs = data["toxic"], data["attributes"]
    if data["toxicity"] < 1.0:
        radius = radius.model_copy(update={"fraction": radius.fraction * data["toxicity"]})
    if toxic == "latency":
        return _network(
            target,
            radius,
            notes,
            "delay",
            {
                "delay": {
                    "latency": f"{attrs.get('latency', 0)}ms",
                    "jitter": f"{attrs.get('jitter', 0)}ms",
                }
            },
        )
    if toxic == "bandwidth":
        rate_kbps = int(attrs.get("rate", 0))
        if rate_kbps <= 0:
            return Unsupported(
                "bandwidth rate 0 (nothing passes) has no NetworkChaos rate; use the timeout toxic"
            )
        # tc's rate is in bits: KB/s x 8 = kbit/s
        return _network(
            target,
            radius,
            notes,
            "bandwidth",
            {"bandwidth": {"rate": f"{rate_kbps * 8}kbps", "limit": 20971520, "buffer": 10000}},
        )
    if toxic in ("timeout", "reset_peer"):
        notes.append(f"{toxic} becomes 100% packet loss (connections hang, then time out)")
        return _network(target, radius, notes, "loss", {"loss": {"loss": "100"}})
    if toxic == "http_error":
        extra = _http_error(
            int(attrs.get("status", 503)),
            attrs.get("preset"),
            float(attrs.get("retry_after_s", 1.0)),
            attrs,
        )
        return _http(target, radius, notes, "Response", extra, _attr_match(attrs, radius))
    if toxic == "http_delay":
        request_ms = int(attrs.get("request_ms", 0))
        first_byte_ms = int(attrs.get("first_byte_ms", 0))
        if request_ms and first_byte_ms:
            return Unsupported(
                "http_delay with both request_ms and first_byte_ms: one "
                "HTTPChaos delays either the request or the response"
            )
        where, ms = ("Request", request_ms) if request_ms else ("Response", first_byte_ms)
        return _http(
            target, radius, notes, where, {"delay": duration(ms / 1000)}, _attr_match(attrs, radius)
        )
    if toxic == "json_corrupt":
        patch = _merge_patch(attrs.get("ops") or [])
        if isinstance(patch, str):
            return Unsupported(patch)
        notes.append(
            "json_corrupt becomes a JSON merge patch of each whole matching response; "
            "Chaos Mesh does not rewrite the events of a streamed (SSE) answer"
        )
        extra = {"patch": {"body": {"type": "JSON", "value": json.dumps(patch)}}}
        return _http(target, radius, notes, "Response", extra, _attr_match(attrs, radius))
    return Unsupported(f"toxic {toxic!r} has no Chaos Mesh counterpart")


def _merge_patch(ops: list[dict[str, Any]]) -> dict[str, Any] | str:
    """The JSON merge patch doing ``ops``, or why there is none.

    A merge patch sets object keys to values and deletes keys (``null``); it cannot
    reach list items, set a JSON ``null``, or compute a value from the one it replaces
    (``nan`` in place of a number, ``scale``, ``shuffle``, ``wrong_type``).
    """
    patch: dict[str, Any] = {}
    for i, op in enumerate(ops):
        path, action = str(op.get("path", "")).removeprefix("$."), op.get("action")
        parts = path.split(".")
        if not all(_KEY.match(part) for part in parts):
            return (
                f"json_corrupt ops[{i}] path {path!r}: a JSON merge patch reaches object "
                "keys only (no [*], *, or list index)"
            )
        if action == "drop":
            value = None
        elif action == "set" and op.get("value") is not None:
            value = op["value"]
        else:
            return (
                f"json_corrupt ops[{i}] action {action!r}: a JSON merge patch can only set a "
                "key to a value (not null) or drop it"
            )
        node = patch
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                return f"json_corrupt ops[{i}] path {path!r} crosses a value another op sets"
        node[parts[-1]] = value
    if not patch:
        return "json_corrupt without ops changes nothing"
    return patch


def _attr_match(attrs: dict[str, Any], radius: BlastRadius) -> dict[str, str]:
    match = dict(radius.match)
    for key in ("method", "path"):
        if attrs.get(key):
            match.setdefault(key, str(attrs[key]))
    for name, value in (attrs.get("headers") or {}).items():
        match.setdefault(f"header:{name}", str(value))
    return match
