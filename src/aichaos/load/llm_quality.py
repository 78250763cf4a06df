"""Quality of LLM answers on live traffic: ``quality: {task: llm, ...}``.

Each 2xx response is read as an OpenAI or Anthropic answer, whole or streamed
(:mod:`aichaos.load.llm_answer`), and judged against its prompt's expectations
(:mod:`aichaos.load.llm_expect`). Per window, as ``<workload>.<name>``:

* ``answer_accuracy``: share of responses to prompts with an ``exact``, ``normalized``
  or ``regex`` expectation whose answer meets all of them;
* ``schema_valid_rate``: share of responses to prompts with a ``json_schema`` (or whose
  request asks for structured output, :func:`requested_schema`) whose answer text is
  JSON valid against it;
* ``tool_call_valid_rate``: share of responses that are expected to call a tool
  (``tool_call``) or do call one while the tool list is known, whose calls are all valid;
* ``refusal_rate``: share of responses that refuse (the provider's refusal flag or stop
  reason, or a ``refusal_patterns`` match in the text);
* ``fallback_rate``: share of responses a gateway marks as served by a fallback (the
  ``fallback_header``, a truthy value at ``fallback_path``, or ``fallback_patterns``);
* ``groundedness`` (with ``passages_path`` or ``passages_header``): share of responses
  whose answer cites a passage the retriever returned by its id (``[doc-12]``) or
  contains a span of ``grounded_min_words`` consecutive words of one (both sides
  normalised; a shorter passage must appear whole); no passages: not grounded;
* ``silent_failure_rate``: share of 2xx responses that hold no complete answer, or
  whose answer fails any of the checks above but refusal and fallback ("200 OK,
  well-formed, wrong").

A response that holds no complete answer fails every check it was due. A rate whose
window had no eligible response is left out: an SLO on it has no data, which is
unknown, not healthy.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any, Literal

from pydantic import Field, field_validator

from aichaos.errors import ValidationError
from aichaos.jsonpath import JsonPath
from aichaos.load.llm_answer import Answer, Api, read_answer
from aichaos.load.llm_expect import (
    Expect,
    compile_expect,
    compile_schema,
    normalize,
    parse_tools,
    schema_ok,
    tool_calls_ok,
)
from aichaos.load.quality import QualityWindow, compile_json_path
from aichaos.load.requests import RequestItem
from aichaos.spec import Spec
from aichaos.validation import SpecError

__all__ = [
    "DEFAULT_REFUSAL_PATTERNS",
    "LlmQualitySettings",
    "LlmQualityTracker",
    "compile_prompts",
    "expect_key",
    "grounded",
    "passages",
    "requested_schema",
]

#: phrases of a model declining, matched case-insensitively anywhere in the answer
DEFAULT_REFUSAL_PATTERNS = (
    r"\bI(?:['\u2019]m| am) (?:sorry|afraid),? (?:but )?I "
    r"(?:can(?:no|['\u2019])t|won['\u2019]t|am unable)",
    r"\bI (?:can(?:no|['\u2019])t|cannot|won['\u2019]t|(?:am|['\u2019]m) (?:not able|unable) to)"
    r" (?:help|assist|comply|provide|answer|do that|fulfil)",
    r"\bas an AI(?: language model)?\b",
    r"\bI must (?:decline|refuse)\b",
)
_HEADER = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"
_FALSE = frozenset({"", "0", "false", "no", "none", "null"})
_CITE = re.compile(r"\[([^\[\]\n]{1,200})\]")


def _regexes(patterns: tuple[str, ...]) -> tuple[str, ...]:
    for i, pattern in enumerate(patterns):
        try:
            re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise SpecError.one(
                (i,), f"is not a valid regular expression ({exc}), got {pattern!r:.60}"
            ) from None
    return patterns


class LlmQualitySettings(Spec):
    """How to read LLM answers and judge them (see the module docstring)."""

    task: Literal["llm"] = Field(description="judge LLM answers (OpenAI / Anthropic APIs)")
    api: Api = Field("auto", description="auto: tell OpenAI and Anthropic answers apart")
    refusal_patterns: tuple[str, ...] = Field(
        DEFAULT_REFUSAL_PATTERNS, description="regexes (case-insensitive) of a refusal"
    )
    fallback_header: str | None = Field(
        "x-aichaos-fallback", pattern=_HEADER, description="set by a gateway on fallback"
    )
    fallback_path: str | None = Field(None, description="JSON path of a fallback marker")
    fallback_patterns: tuple[str, ...] = Field((), description="regexes of a fallback answer")
    passages_path: str | None = Field(None, description="JSON path of the retrieved passages")
    passages_header: str | None = Field(
        None, pattern=_HEADER, description="header holding the retrieved passage ids"
    )
    grounded_min_words: int = Field(8, ge=1, le=1000, description="words of a quoted span")
    tools: tuple[dict[str, Any], ...] | None = Field(
        None, description="the known tools (else the request's own tools)"
    )

    @field_validator("refusal_patterns", "fallback_patterns")
    @classmethod
    def _patterns_ok(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return _regexes(v)

    @field_validator("fallback_path", "passages_path")
    @classmethod
    def _path_ok(cls, v: str | None) -> str | None:
        if v is not None:
            compile_json_path(v)
        return v

    @field_validator("tools")
    @classmethod
    def _tools_ok(cls, v: tuple[dict[str, Any], ...] | None) -> Any:
        if v is not None:
            parse_tools(list(v), "")  # its problems are placed under this field
        return v

    @property
    def grounding(self) -> bool:
        """Whether the responses carry retrieved passages to judge groundedness by."""
        return self.passages_path is not None or self.passages_header is not None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in _FALSE
    return bool(value)


def _find(docs: list[Any], path: JsonPath | None) -> Any:
    if path is None:
        return None
    for doc in docs:
        found = path.find(doc, None)
        if found is not None:
            return found
    return None


def passages(value: Any) -> tuple[set[str], list[str]]:
    """``(ids, texts)`` of retrieved passages: a list whose items are strings (an id
    when it has no whitespace, ``doc-12``; a passage text otherwise) or objects with
    ``id`` and ``text`` (or ``content``); a header's comma-separated ids; or a JSON list
    in a header."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                return set(), []
        else:
            return {p.strip() for p in text.split(",") if p.strip()}, []
    ids: set[str] = set()
    texts: list[str] = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, str) and any(c.isspace() for c in item):
            texts.append(item)
        elif isinstance(item, str):
            ids.add(item)
        elif isinstance(item, dict):
            pid = item.get("id")
            if isinstance(pid, str | int) and not isinstance(pid, bool):
                ids.add(str(pid))
            body = item.get("text", item.get("content"))
            if isinstance(body, str):
                texts.append(body)
    return ids, texts


def grounded(text: str, ids: set[str], texts: list[str], min_words: int) -> bool:
    """The answer cites one of ``ids`` in brackets or quotes a span of one of ``texts``."""
    for cited in _CITE.findall(text):
        if any(part.strip() in ids for part in re.split(r"[,;]", cited)):
            return True
    words = normalize(text).split()
    for passage in texts:
        pw = normalize(passage).split()
        n = min(min_words, len(pw))
        if n == 0 or n > len(words):
            continue
        spans = {tuple(pw[i : i + n]) for i in range(len(pw) - n + 1)}
        if any(tuple(words[i : i + n]) in spans for i in range(len(words) - n + 1)):
            return True
    return False


class LlmQualityTracker:
    """Judges each 2xx response of one generator process (the quality tracker seam)."""

    #: the generator keeps response headers for it (fallback and passage headers)
    wants_headers = True

    def __init__(self, settings: LlmQualitySettings) -> None:
        self.settings = settings
        s = settings
        self._refusals = [re.compile(p, re.IGNORECASE) for p in s.refusal_patterns]
        self._fallbacks = [re.compile(p, re.IGNORECASE) for p in s.fallback_patterns]
        self._fallback_path = None if s.fallback_path is None else JsonPath.parse(s.fallback_path)
        self._passages_path = None if s.passages_path is None else JsonPath.parse(s.passages_path)
        self._fallback_header = (s.fallback_header or "").lower()
        self._passages_header = (s.passages_header or "").lower()
        tools = None if s.tools is None else parse_tools(list(s.tools), "tools")
        self._default = Expect(tools=tools)
        self._win = QualityWindow()

    def observe(
        self,
        index: int,
        expected: Any,
        labelled: bool,
        body: bytes,
        baseline: bool,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Judge one 2xx response; ``expected`` is the prompt's :class:`Expect`."""
        exp = expected if isinstance(expected, Expect) else self._default
        hdrs = headers or {}
        w = self._win
        w.responses += 1
        # an event stream says so; anything else is told apart by its body (gateways
        # label JSON text/plain, and some streams carry no content type)
        stream = hdrs.get("content-type", "").startswith("text/event-stream") or None
        ans = read_answer(body, self.settings.api, stream)
        counts = w.llm
        wrong = ans is None

        def count(name: str, hit: bool) -> None:
            counts[f"{name}_n"] += 1
            counts[name] += hit

        count("fallback_rate", self._fallback(ans, hdrs))
        count("refusal_rate", ans is not None and self._refused(ans))
        text = "" if ans is None else ans.text
        if exp.checks_text:
            ok = ans is not None and exp.text_ok(text)
            count("answer_accuracy", ok)
            wrong |= not ok
        if exp.schema is not None:
            ok = ans is not None and schema_ok(exp.schema, text)
            count("schema_valid_rate", ok)
            wrong |= not ok
        calls = [] if ans is None else ans.tool_calls
        if exp.tool_call is not None or (calls and exp.tools is not None):
            ok = ans is not None and tool_calls_ok(calls, exp)
            count("tool_call_valid_rate", ok)
            wrong |= not ok
        if self.settings.grounding and exp.grounded is not False:
            ok = ans is not None and self._grounded(ans, hdrs)
            count("groundedness", ok)
            wrong |= not ok
        w.silent += wrong

    def _refused(self, ans: Answer) -> bool:
        return ans.refused or any(r.search(ans.text) for r in self._refusals)

    def _fallback(self, ans: Answer | None, hdrs: dict[str, str]) -> bool:
        if self._fallback_header and _truthy(hdrs.get(self._fallback_header, "")):
            return True
        if ans is None:
            return False
        if _truthy(_find(ans.docs, self._fallback_path)):
            return True
        return any(r.search(ans.text) for r in self._fallbacks)

    def _grounded(self, ans: Answer, hdrs: dict[str, str]) -> bool:
        ids: set[str] = set()
        texts: list[str] = []
        if self._passages_header and self._passages_header in hdrs:
            ids, texts = passages(hdrs[self._passages_header])
        found = _find(ans.docs, self._passages_path)
        if found is not None:
            more_ids, more_texts = passages(found)
            ids |= more_ids
            texts += more_texts
        return grounded(ans.text, ids, texts, self.settings.grounded_min_words)

    def take(self) -> QualityWindow:
        """This window's counts; starts a new window."""
        w, self._win = self._win, QualityWindow()
        return w


def expect_key(expected_key: str) -> str:
    """The JSONL key of a prompt's expectations: ``expect``, unless ``expected_key`` was
    changed from its default."""
    return "expect" if expected_key == "expected" else expected_key


def requested_schema(body: Any) -> Any:
    """The validator of the structured output a request asks for, or ``None``: OpenAI's
    ``response_format`` ``{"type": "json_schema", "json_schema": {"schema": ...}}`` (that
    schema) or ``{"type": "json_object"}`` (any JSON object)."""
    fmt = body.get("response_format") if isinstance(body, dict) else None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "json_object":
        return compile_schema({"type": "object"}, ("response_format",))
    if kind == "json_schema":
        assert isinstance(fmt, dict)
        inner = fmt.get("json_schema")
        schema = inner.get("schema") if isinstance(inner, dict) else None
        return compile_schema(schema, ("response_format", "json_schema", "schema"))
    return None


def compile_prompts(
    items: list[RequestItem],
    lines: list[tuple[int, Any]],
    settings: LlmQualitySettings,
    key: str,
    where: str,
) -> list[RequestItem]:
    """``items`` (built from the JSONL ``lines``) with their expectations compiled; the
    known tools are ``settings.tools``, else the request's own ``tools``; a request for
    structured output (:func:`requested_schema`) is a ``json_schema`` expectation unless
    the line gives one. A mistake raises one ValidationError naming the line (``where``
    names the file)."""
    tools = None if settings.tools is None else parse_tools(list(settings.tools), "tools")
    out = []
    for item, (lineno, value) in zip(items, lines, strict=True):
        at = f"{where} line {lineno}"
        raw = value.get(key) if isinstance(value, dict) else None
        body = value.get("body") if isinstance(value, dict) and "body" in value else value
        known, schema = tools, None
        try:
            if known is None and isinstance(body, dict) and "tools" in body:
                known = parse_tools(body["tools"], "tools")
            schema = requested_schema(body)
        except ValidationError as exc:
            raise ValidationError(f"{at}: {exc}") from None
        exp = compile_expect(raw, at, known, settings.grounding)
        if exp.schema is None and schema is not None:
            exp = dataclasses.replace(exp, schema=schema)
        out.append(RequestItem(item.index, item.raw, exp, exp.labelled))
    return out
