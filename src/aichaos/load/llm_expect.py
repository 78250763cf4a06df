"""What a labelled prompt expects of its answer, compiled once, and the checks themselves.

A JSONL line's ``expect`` object (see ``docs/load.md``) holds any of:

* ``exact``: a string (or list of strings): the answer text is identical to one;
* ``normalized`` (or ``normalised``): the same after :func:`normalize` on both sides; a
  plain string ``expect: "Paris"`` is short for ``{normalized: "Paris"}``;
* ``regex``: :func:`re.search` finds the pattern in the answer text;
* ``json_schema``: the answer text (inside one Markdown code fence at most) is JSON valid
  against this schema (``jsonschema``, the draft the schema names, default 2020-12);
* ``tool_call``: ``true`` (a call to a known tool) or a tool's name (a call to it): every
  call names a known tool, and its arguments parse as a JSON object valid against the
  tool's parameter schema;
* ``grounded``: ``false`` exempts the prompt from the groundedness check.

Mistakes are refused with the line: ``body_file line 3: expect.regex is not a valid
regular expression: ...``.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aichaos.errors import ValidationError, did_you_mean
from aichaos.load.llm_answer import ToolCall
from aichaos.validation import Loc, SpecError

__all__ = [
    "EXPECT_KEYS",
    "Expect",
    "compile_expect",
    "compile_schema",
    "normalize",
    "parse_tools",
    "schema_ok",
    "tool_calls_ok",
]

EXPECT_KEYS = ("exact", "normalized", "normalised", "regex", "json_schema", "tool_call", "grounded")
_FENCE = re.compile(r"\A```[A-Za-z0-9_-]*[ \t]*\n(.*)\n```\Z", re.S)
_validators: dict[str, Any] = {}


def normalize(text: str) -> str:
    """Unicode NFKC, case folded, every punctuation character (Unicode category P*) a
    space, runs of whitespace one space, no leading or trailing space.

    >>> normalize("  The Eiffel-Tower,\\n in PARIS! ")
    'the eiffel tower in paris'
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(" " if unicodedata.category(c).startswith("P") else c for c in text)
    return " ".join(text.split())


def compile_schema(schema: Any, loc: Loc) -> Any:
    """A ``jsonschema`` validator for ``schema``; a :class:`SpecError` at ``loc`` when it
    is not a valid schema (``check_schema``)."""
    if not isinstance(schema, dict | bool):
        raise SpecError.one(loc, f"must be a JSON schema (an object), got {schema!r:.60}")
    key = json.dumps(schema, sort_keys=True)
    found = _validators.get(key)
    if found is not None:
        return found
    from jsonschema import SchemaError, validators

    cls = validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path)
        at = f" at {where}" if where else ""
        raise SpecError.one(loc, f"is not a valid JSON schema{at}: {exc.message}") from None
    _validators[key] = validator = cls(schema)
    return validator


def parse_tools(tools: Any, field: str) -> dict[str, Any]:
    """Tool name -> validator of its parameters, from a list in the OpenAI
    (``{"type": "function", "function": {"name", "parameters"}}``), Anthropic
    (``{"name", "input_schema"}``) or plain (``{"name", "parameters"}``) form.

    Mistakes are a :class:`SpecError` at ``field[i]...`` (``field`` may be empty when
    the caller places the problems)."""
    if not isinstance(tools, list) or not tools:
        raise SpecError.one((field,), f"must be a non-empty list of tools, got {tools!r:.60}")
    out: dict[str, Any] = {}
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise SpecError.one((field, i), f"must be an object, got {tool!r:.60}")
        inner = tool.get("function")
        loc: Loc = (field, i, "function") if isinstance(inner, dict) else (field, i)
        spec: dict[str, Any] = inner if isinstance(inner, dict) else tool
        name = spec.get("name")
        if not isinstance(name, str) or not name:
            raise SpecError.one(
                (*loc, "name"), f"must be a tool's name (a non-empty string), got {name!r:.60}"
            )
        if name in out:
            raise SpecError.one((*loc, "name"), f"names tool {name!r} a second time")
        key = "input_schema" if "input_schema" in spec else "parameters"
        out[name] = compile_schema(spec.get(key, {"type": "object"}), (*loc, key))
    return out


@dataclass(frozen=True)
class Expect:
    """One prompt's compiled expectations (empty: nothing to check but refusals)."""

    exact: tuple[str, ...] = ()
    normalized: tuple[str, ...] = ()
    regex: re.Pattern[str] | None = None
    schema: Any = None
    #: None: no call expected; True: a call to a known tool; a name: a call to that tool
    tool_call: bool | str | None = None
    #: the tools the request may call: name -> parameter validator
    tools: Mapping[str, Any] | None = None
    grounded: bool | None = None
    labelled: bool = field(default=False, compare=False)

    @property
    def checks_text(self) -> bool:
        """Whether the prompt has an exact, normalised or regex expectation."""
        return bool(self.exact or self.normalized or self.regex is not None)

    def text_ok(self, text: str) -> bool:
        """Every text expectation given holds for ``text``."""
        if self.exact and text not in self.exact:
            return False
        if self.normalized and normalize(text) not in self.normalized:
            return False
        return self.regex is None or self.regex.search(text) is not None


def _strings(value: Any, field: str) -> tuple[str, ...]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) for v in values):
        raise ValidationError(f"{field} must be a string or a list of strings, got {value!r:.60}")
    return tuple(values)


def compile_expect(
    raw: Any, where: str, tools: Mapping[str, Any] | None, grounding: bool
) -> Expect:
    """Compile one line's ``expect`` (``None``: unlabelled); errors start with ``where``."""
    if raw is None:
        return Expect(tools=tools)
    if isinstance(raw, str):
        raw = {"normalized": raw}
    if not isinstance(raw, dict):
        raise ValidationError(f"{where}: expect must be an object or a string, got {raw!r:.60}")
    for key in raw:
        if key not in EXPECT_KEYS:
            raise ValidationError(
                f"{where}: expect.{key} is not a known field{did_you_mean(key, EXPECT_KEYS)}; "
                f"expected one of {', '.join(EXPECT_KEYS)}"
            )
    try:
        return _compile(raw, tools, grounding)
    except ValidationError as exc:
        raise ValidationError(f"{where}: {exc}") from None


def _compile(raw: dict[str, Any], tools: Mapping[str, Any] | None, grounding: bool) -> Expect:
    exact = _strings(raw["exact"], "expect.exact") if "exact" in raw else ()
    norm: tuple[str, ...] = ()
    for key in ("normalized", "normalised"):
        if key in raw:
            norm += tuple(normalize(s) for s in _strings(raw[key], f"expect.{key}"))
    regex = None
    if "regex" in raw:
        pattern = raw["regex"]
        if not isinstance(pattern, str):
            raise ValidationError(f"expect.regex must be a string, got {pattern!r:.60}")
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise ValidationError(
                f"expect.regex is not a valid regular expression ({exc}), got {pattern!r:.60}"
            ) from None
    schema = (
        compile_schema(raw["json_schema"], ("expect", "json_schema"))
        if "json_schema" in raw
        else None
    )
    call = raw.get("tool_call")
    if call is not None:
        if call is False:
            call = None
        elif not (call is True or (isinstance(call, str) and call)):
            raise ValidationError(
                f"expect.tool_call must be true or a tool's name, got {call!r:.60}"
            )
        elif tools is None:
            raise ValidationError(
                "expect.tool_call needs the tool list: quality.tools, or tools in the request"
            )
        elif isinstance(call, str) and call not in tools:
            raise ValidationError(
                f"expect.tool_call names {call!r}, which is not a known tool"
                f"{did_you_mean(call, list(tools))}"
            )
    grounded = raw.get("grounded")
    if grounded is not None and not isinstance(grounded, bool):
        raise ValidationError(f"expect.grounded must be true or false, got {grounded!r:.60}")
    if grounded and not grounding:
        raise ValidationError(
            "expect.grounded needs quality.passages_path or quality.passages_header"
        )
    return Expect(exact, norm, regex, schema, call, tools, grounded, labelled=True)


def schema_ok(validator: Any, text: str) -> bool:
    """``text`` (one enclosing Markdown code fence allowed) is JSON the schema accepts."""
    text = text.strip()
    fenced = _FENCE.match(text)
    if fenced is not None:
        text = fenced.group(1)
    try:
        doc = json.loads(text)
    except ValueError:
        return False
    return bool(validator.is_valid(doc))


def tool_calls_ok(calls: list[ToolCall], expect: Expect) -> bool:
    """The calls are valid: at least one, each to a known tool with arguments that parse
    as a JSON object valid against that tool's schema, and the expected tool among them."""
    tools = expect.tools or {}
    if not calls:
        return False
    if isinstance(expect.tool_call, str) and all(c.name != expect.tool_call for c in calls):
        return False
    for call in calls:
        validator = tools.get(call.name)
        if validator is None:
            return False
        try:
            args = json.loads(call.arguments)
        except ValueError:
            return False
        if not isinstance(args, dict) or not validator.is_valid(args):
            return False
    return True
