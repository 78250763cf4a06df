"""``aichaos import-ctk FILE [-o OUT]``: a Chaos Toolkit experiment -> an aichaos one.

What maps cleanly:

* ``configuration`` and ``secrets`` -- ``{"type": "env", "key": K}`` becomes
  ``${env:K}``, literals are inlined; every ``${name}`` reference is substituted, in URLs
  too (``"${gateway_url}/health"`` -> an http target ``${env:GATEWAY_URL}``, path
  ``/health``);
* steady-state probes -- ``http`` providers become ``http`` probes with
  ``<probe>.ok == 1`` (expected statuses from an int / list tolerance); ``python``
  providers become ``python`` probes, with a bool tolerance as ``<probe>.value == 1`` and
  a range tolerance as two bounds (on ``target`` when it names a key);
* method -- ``python`` actions become steps: aichaos' own ``apply_fault`` /
  ``add_toxic`` (with ``api_url``) become the fault itself, any other function a
  ``python-callable`` fault; ``pauses`` set start times; a fault lasts until its
  ``revert_fault`` / ``remove_toxic`` or the end of the method; probes in the method are
  sampled throughout;
* rollbacks -- ``http`` and ``python`` providers map to aichaos rollbacks; aichaos' own
  revert / reset / stop actions are dropped (the engine reverts what it applied).

Everything else (``process`` providers, ``http`` actions, regex / jsonpath tolerances,
controls, ``start_proxy``) is named in :attr:`Conversion.skipped`, never dropped quietly.
A steady-state probe that does not convert makes the hypothesis weaker: it is also in
:attr:`Conversion.weaker`, and ``import-ctk`` refuses such a conversion unless told to
write it anyway (then the experiment's description says so). Identical targets merge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aichaos.errors import ValidationError
from aichaos.integrations.chaostoolkit.references import References

__all__ = ["Conversion", "convert"]

_OURS = "aichaos.integrations.chaostoolkit"
_IMPLICIT = {
    "revert_fault",
    "revert_all_faults",
    "remove_toxic",
    "reset_proxy",
    "stop_proxy",
    "restore_dataset",
}
_MIN_STEP_S = 1.0
# an http(s) base or a ${env:...} / ${file:...} placeholder standing for one, then a path
_URL = re.compile(r"^(?P<base>(https?://[^/?#]+|\$\{(env|file):[^}]+\}))(?P<path>[/?].*)?$")


@dataclass
class Conversion:
    """The aichaos experiment (plain data) and what could not be converted."""

    experiment: dict[str, Any]
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: steady-state probes that did not convert: the hypothesis is weaker without them
    weaker: list[str] = field(default_factory=list)


def _name(text: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "x"
    if not re.match(r"^[A-Za-z_]", base):
        base = "p_" + base
    name, i = base, 2
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    taken.add(name)
    return name


class _Converter:
    def __init__(self, ctk: dict[str, Any]) -> None:
        self.ctk = ctk
        self.out: dict[str, Any] = {"title": ctk.get("title") or "imported from Chaos Toolkit"}
        if ctk.get("description"):
            self.out["description"] = ctk["description"]
        if ctk.get("tags"):
            self.out["tags"] = [str(t) for t in ctk["tags"]]
        self.targets: dict[str, Any] = {}
        self.probes: dict[str, Any] = {}
        self.names: set[str] = set()
        self.skipped: list[str] = []
        self.notes: list[str] = []
        self.refs = References(ctk, self.skipped, self.notes)
        self.sub = self.refs.sub

    def target(self, hint: str, spec: dict[str, Any]) -> str:
        """The name of a target equal to ``spec`` (one is added if there is none)."""
        for name, existing in self.targets.items():
            if existing == spec:
                return name
        name = _name(hint, self.names)
        self.targets[name] = spec
        return name

    def http_target(self, url: str) -> tuple[str, str] | None:
        """(target name, path) of ``url``; ``None`` if it is no http(s) URL.

        The base may be a placeholder (``${env:GATEWAY_URL}/health``): the loader fills it
        in, and checks it is an http(s) URL, when the experiment is loaded.
        """
        m = _URL.match(url)
        if m is None:
            return None
        base, path = m.group("base"), m.group("path") or "/"
        path = path if path.startswith("/") else "/" + path
        if base.startswith("http"):
            hint = urlsplit(base).hostname or "api"
        else:
            hint = re.sub(r"^\$\{(env|file):", "", base).strip("}").lower()
        return self.target(hint, {"type": "http", "url": base}), path

    # -- probes -------------------------------------------------------------------------
    def probe(self, where: str, act: dict[str, Any], tolerance: Any) -> list[str]:
        prov = act.get("provider") or {}
        kind = prov.get("type")
        pname = _name(act.get("name", "probe"), self.names)
        if kind == "http":
            url = self.sub(prov.get("url", ""))
            found = self.http_target(url) if isinstance(url, str) else None
            if found is None:
                self.skipped.append(f"{where}: {self.refs.why_not_url(url)}")
                return []
            target, path = found
            probe: dict[str, Any] = {
                "type": "http",
                "target": target,
                "path": path,
                "method": str(prov.get("method", "GET")).upper(),
            }
            if isinstance(tolerance, int) and not isinstance(tolerance, bool):
                probe["expect_status"] = [tolerance]
            elif isinstance(tolerance, list) and all(isinstance(t, int) for t in tolerance):
                probe["expect_status"] = tolerance
            elif tolerance is not None:
                self.skipped.append(
                    f"{where}: tolerance {tolerance!r} on an http probe "
                    "(only a status code or a list of them converts)"
                )
                return []
            if "timeout" in prov:
                probe["timeout_s"] = float(
                    prov["timeout"]
                    if not isinstance(prov["timeout"], list)
                    else sum(prov["timeout"])
                )
            self.probes[pname] = probe
            return [f"{pname}.ok == 1"] if tolerance is not None else []
        if (
            kind == "python"
            and prov.get("module", "").startswith(_OURS)
            and prov.get("func")
            in (
                "active_faults",
                "proxy_toxics",
            )
        ):
            self.skipped.append(f"{where}: {prov['func']} reads state of the chaos process")
            return []
        if kind == "python":
            self.probes[pname] = {
                "type": "python",
                "call": f"{prov['module']}:{prov['func']}",
                "arguments": self.sub(prov.get("arguments") or {}),
            }
            if tolerance is None:
                return []
            if isinstance(tolerance, bool):
                return [f"{pname}.value == {int(tolerance)}"]
            if isinstance(tolerance, dict) and tolerance.get("type") == "range":
                lo, hi = tolerance["range"]
                key = tolerance.get("target") or "value"
                return [f"{pname}.{key} >= {lo}", f"{pname}.{key} <= {hi}"]
            self.skipped.append(
                f"{where}: tolerance {tolerance!r} does not convert (bool and range tolerances do)"
            )
            del self.probes[pname]
            return []
        self.skipped.append(
            f"{where}: {kind} provider has no aichaos counterpart "
            "(http and python providers convert)"
        )
        return []

    # -- method --------------------------------------------------------------------------
    def method(self) -> list[dict[str, Any]]:
        t = 0.0
        steps: list[dict[str, Any]] = []
        open_steps: dict[str, dict[str, Any]] = {}
        for i, act in enumerate(self.ctk.get("method") or []):
            where = f"method[{i}] {act.get('name', '')!r}"
            pauses = act.get("pauses") or {}
            t += float(pauses.get("before", 0))
            prov = act.get("provider") or {}
            if act.get("type") == "probe":
                self.probe(where, act, None)
            elif prov.get("type") != "python":
                self.skipped.append(
                    f"{where}: {prov.get('type')} actions have no aichaos "
                    "counterpart (python actions convert)"
                )
            else:
                self._python_action(where, prov, t, steps, open_steps)
            t += float(pauses.get("after", 0))
        end = max(t, max((s["start_s"] for s in steps), default=0.0) + _MIN_STEP_S)
        for step in steps:
            if "duration_s" not in step:
                step["duration_s"] = max(_MIN_STEP_S, end - step["start_s"])
        return steps

    def _python_action(
        self,
        where: str,
        prov: dict[str, Any],
        t: float,
        steps: list[dict[str, Any]],
        open_steps: dict[str, dict[str, Any]],
    ) -> None:
        module, func = prov.get("module", ""), prov.get("func", "")
        if not module or not func:
            raise ValidationError(
                f"malformed Chaos Toolkit experiment: {where}: a python "
                f"provider needs module and func, got {prov!r}"
            )
        args = self.sub(prov.get("arguments") or {})
        if module.startswith(_OURS):
            if func == "apply_fault":
                step: dict[str, Any] = {
                    "name": args.get("name") or args["fault"]["type"],
                    "fault": args["fault"],
                    "start_s": t,
                }
                if args.get("target"):
                    step["target"] = self.target(step["name"] + "_target", args["target"])
                if args.get("blast_radius"):
                    step["blast_radius"] = args["blast_radius"]
                steps.append(step)
                open_steps[step["name"]] = step
                return
            if func == "add_toxic" and args.get("api_url"):
                target = self.target(
                    args["proxy"],
                    {"type": "proxy", "api_url": args["api_url"], "proxy": args["proxy"]},
                )
                name = args.get("toxic_name") or f"{args['type']}-{len(steps)}"
                step = {
                    "name": name,
                    "target": target,
                    "start_s": t,
                    "fault": {
                        "type": "proxy-toxic",
                        "toxic": args["type"],
                        "name": name,
                        "stream": args.get("stream", "downstream"),
                        "toxicity": args.get("toxicity", 1.0),
                        "attributes": args.get("attributes") or {},
                    },
                }
                steps.append(step)
                open_steps[name] = step
                return
            if func in ("revert_fault", "remove_toxic"):
                key = args.get("name") or args.get("toxic_name")
                step = open_steps.pop(str(key), {})
                if step:
                    step["duration_s"] = max(_MIN_STEP_S, t - step["start_s"])
                return
            if func in _IMPLICIT:
                return
            if func in ("start_proxy", "add_toxic"):
                why = (
                    "needs the proxy that start_proxy keeps inside the chaos process (run "
                    "`aichaos proxy`, name it as a proxy target, give add_toxic its api_url)"
                )
            else:
                why = "has no fault counterpart in an aichaos experiment"
            self.skipped.append(f"{where}: {func} {why}")
            return
        steps.append(
            {
                "name": _name(func, set()),
                "start_s": t,
                "fault": {
                    "type": "python-callable",
                    "apply": f"{module}:{func}",
                    "arguments": args,
                },
            }
        )
        self.notes.append(f"{where}: runs {module}:{func} once; it has no revert")

    # -- rollbacks -----------------------------------------------------------------------
    def rollbacks(self) -> list[dict[str, Any]]:
        out = []
        for i, act in enumerate(self.ctk.get("rollbacks") or []):
            where = f"rollbacks[{i}] {act.get('name', '')!r}"
            prov = act.get("provider") or {}
            if prov.get("type") == "python":
                if prov.get("module", "").startswith(_OURS) and prov.get("func") in _IMPLICIT:
                    self.notes.append(f"{where}: dropped, aichaos reverts what it applied itself")
                    continue
                out.append(
                    {
                        "type": "python",
                        "call": f"{prov['module']}:{prov['func']}",
                        "arguments": self.sub(prov.get("arguments") or {}),
                    }
                )
            elif prov.get("type") == "http":
                url = self.sub(prov.get("url", ""))
                found = self.http_target(url) if isinstance(url, str) else None
                if found is None:
                    self.skipped.append(f"{where}: {self.refs.why_not_url(url)}")
                    continue
                target, path = found
                out.append(
                    {
                        "type": "http",
                        "target": target,
                        "path": path,
                        "method": str(prov.get("method", "GET")).upper(),
                    }
                )
            else:
                self.skipped.append(
                    f"{where}: {prov.get('type')} rollbacks have no aichaos counterpart"
                )
        return out

    def run(self) -> Conversion:
        steady: list[str] = []
        hyp = self.ctk.get("steady-state-hypothesis") or {}
        weaker = []
        for i, p in enumerate(hyp.get("probes") or []):
            where = f"steady-state-hypothesis.probes[{i}] {p.get('name', '')!r}"
            lines = self.probe(where, p, p.get("tolerance"))
            if not lines:
                weaker.append(where)
            steady += lines
        steps = self.method()
        rollbacks = self.rollbacks()
        for key in ("controls", "extensions"):
            if self.ctk.get(key):
                self.skipped.append(f"{key}: not converted")
        if not steps:
            raise ValidationError(
                "no method action of this Chaos Toolkit experiment converts:\n  - "
                + "\n  - ".join(self.skipped or ["the method is empty"])
            )
        exp = self.out
        if self.targets:
            exp["targets"] = self.targets
        if self.probes:
            exp["probes"] = self.probes
        if steady:
            exp["steady_state"] = steady
        exp["method"] = steps
        if rollbacks:
            exp["rollbacks"] = rollbacks
        return Conversion(exp, self.skipped, self.notes, weaker)


def convert(ctk: Any) -> Conversion:
    """Convert a parsed Chaos Toolkit experiment; :class:`ValidationError` if nothing does."""
    if not isinstance(ctk, dict) or "method" not in ctk:
        raise ValidationError("not a Chaos Toolkit experiment: expected a mapping with 'method'")
    try:
        return _Converter(ctk).run()
    except (KeyError, TypeError) as exc:
        raise ValidationError(
            f"malformed Chaos Toolkit experiment: missing or wrong {exc}"
        ) from None
