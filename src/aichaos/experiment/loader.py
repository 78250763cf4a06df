"""Load an experiment file (YAML or JSON), reporting every mistake at once.

Each problem names the field path (``method[1].fault.latency_ms``), the YAML line, the
bad value and what was expected. Values may come from the environment or a secrets
file -- ``${env:NAME}``, ``${file:/path}`` -- and are remembered so the journal and logs
can redact them.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
import yaml

from aichaos.errors import ExperimentError, Problem
from aichaos.experiment.model import Experiment
from aichaos.experiment.yamlsafe import parse_yaml
from aichaos.limits import number_problems
from aichaos.redact import Redactor
from aichaos.validation import SpecError, expectation, format_path

__all__ = [
    "Loaded",
    "explain",
    "format_path",
    "load_experiment",
    "parse_experiment",
]

_REF = re.compile(r"\$\{(env|file):([^}]+)\}")
_MAX_BYTES = 1 << 20
_MAX_SECRET = 64 * 1024

Path_ = tuple[str | int, ...]


@dataclass
class Loaded:
    """A validated experiment, its source and the redactor for its secrets."""

    experiment: Experiment
    source: str
    redactor: Redactor


def _line_map(node: yaml.Node | None) -> dict[Path_, int]:
    lines: dict[Path_, int] = {}

    def walk(n: yaml.Node, path: Path_) -> None:
        lines[path] = n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                key = k.value if isinstance(k, yaml.ScalarNode) else str(k)
                lines[(*path, key)] = k.start_mark.line + 1
                walk(v, (*path, key))
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                walk(v, (*path, i))

    if node is not None:
        walk(node, ())
    return lines


def _line_for(lines: dict[Path_, int], loc: Path_) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _read_secret(name: str) -> str:
    """A secrets file's text: a regular file of at most 64 KiB, UTF-8 (ValueError if not).

    Opened non-blocking and checked before reading, so ``/dev/zero`` or a FIFO is refused
    instead of read forever or waited on.
    """
    fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError("is not a regular file")
        if st.st_size > _MAX_SECRET:
            raise ValueError(f"is larger than {_MAX_SECRET} bytes")
        data = os.read(fd, _MAX_SECRET + 1)
    finally:
        os.close(fd)
    if len(data) > _MAX_SECRET:
        raise ValueError(f"is larger than {_MAX_SECRET} bytes")
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ValueError("is not UTF-8 text") from None


def _substitute(
    data: Any, path: Path_, redactor: Redactor, problems: list[tuple[Path_, str]]
) -> Any:
    if isinstance(data, dict):
        return {k: _substitute(v, (*path, k), redactor, problems) for k, v in data.items()}
    if isinstance(data, list):
        return [_substitute(v, (*path, i), redactor, problems) for i, v in enumerate(data)]
    if not isinstance(data, str) or "${" not in data:
        return data

    def repl(m: re.Match[str]) -> str:
        kind, name = m.group(1), m.group(2).strip()
        if kind == "env":
            value = os.environ.get(name)
            if value is None:
                problems.append((path, f"environment variable {name!r} is not set"))
                return m.group(0)
        else:
            try:
                value = _read_secret(name)
            except OSError as exc:
                problems.append((path, f"cannot read secrets file {name!r}: {exc.strerror}"))
                return m.group(0)
            except ValueError as exc:
                problems.append((path, f"secrets file {name!r} {exc}"))
                return m.group(0)
        redactor.add(value, m.group(0))
        return value

    return _REF.sub(repl, data)


def _describe(value: Any, redactor: Redactor) -> str:
    # redact before repr and truncation: either would hide a secret from the redactor
    # (an escaped newline, a cut-off tail) and leak the rest of it
    text = repr(redactor.data(value))
    return text if len(text) <= 60 else text[:57] + "..."


def parse_experiment(text: str | bytes, source: str = "<experiment>") -> Loaded:
    """Validate experiment text (YAML or JSON); :class:`ExperimentError` lists every problem."""
    if isinstance(text, bytes):
        if len(text) > _MAX_BYTES:
            raise ExperimentError(source, [Problem("", f"file is larger than {_MAX_BYTES} bytes")])
        if b"\0" in text:
            raise ExperimentError(source, [Problem("", "not a text file (contains NUL bytes)")])
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ExperimentError(
                source, [Problem("", f"not UTF-8 text: {exc.reason} at byte {exc.start}")]
            ) from None
    if not text.strip():
        raise ExperimentError(
            source,
            [Problem("", "file is empty; an experiment needs at least 'title' and 'method'")],
        )
    try:
        node, raw = parse_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        what = getattr(exc, "problem", None) or str(exc)
        raise ExperimentError(source, [Problem("", f"YAML syntax error: {what}", line)]) from None
    if not isinstance(raw, dict):
        raise ExperimentError(
            source,
            [Problem("", f"the top level must be a mapping of fields, got {type(raw).__name__}")],
        )
    lines = _line_map(node)
    redactor = Redactor()
    subst_problems: list[tuple[Path_, str]] = []
    data = _substitute(raw, (), redactor, subst_problems)
    numbers = number_problems(data)
    said = {format_path(p) for p, _ in numbers}
    subst_problems += numbers
    problems = [Problem(format_path(p), m, _line_for(lines, p)) for p, m in subst_problems]
    try:
        experiment = Experiment.model_validate(data)
    except pydantic.ValidationError as exc:
        # one message per bad number: the model's own complaint about it (at its path, or
        # at an enclosing step that checks its ramp levels) repeats what was said
        problems += [
            p for p in _problems(exc, lines, redactor) if not any(_within(n, p.path) for n in said)
        ]
        raise _redacted(source, problems, redactor) from None
    # again on the model: pydantic turns numeric strings ("1.0e300" is one in YAML 1.1)
    # into numbers the first pass never saw
    for p, m in number_problems(experiment.model_dump()):
        if format_path(p) not in said:
            problems.append(Problem(format_path(p), m, _line_for(lines, p)))
    if problems:
        raise _redacted(source, problems, redactor)
    return Loaded(experiment, source, redactor)


def explain(exc: pydantic.ValidationError, prefix: str = "") -> list[str]:
    """Each error of ``exc`` as ``path: message`` (no pydantic wording or URLs).

    ``prefix`` is prepended to every path (``blast_radius`` -> ``blast_radius.fraction``).
    """
    out = []
    for p in _problems(exc, {}, Redactor()):
        path = ".".join(x for x in (prefix, p.path) if x)
        out.append(f"{path}: {p.message}" if path else p.message)
    return out


def _within(path: str, ancestor: str) -> bool:
    """Whether field ``path`` is ``ancestor`` or lies inside it."""
    return path == ancestor or path.startswith((f"{ancestor}.", f"{ancestor}["))


def _redacted(source: str, problems: list[Problem], redactor: Redactor) -> ExperimentError:
    """The error for ``problems``, no value from ``${env:}`` / ``${file:}`` in any of them."""
    clean = [Problem(redactor.text(p.path), redactor.text(p.message), p.line) for p in problems]
    return ExperimentError(source, clean)


def _problems(
    exc: pydantic.ValidationError, lines: dict[Path_, int], redactor: Redactor
) -> list[Problem]:
    out: list[Problem] = []
    for err in exc.errors(include_url=False):
        loc: Path_ = tuple(err["loc"])
        inner = (err.get("ctx") or {}).get("error")
        if isinstance(inner, SpecError):  # a model-level check: its own structured problems
            for p in inner.problems:
                p = p.under(format_path(loc))
                out.append(Problem(p.path, p.message, _line_for(lines, _parse_path(p.path))))
            continue
        msg = expectation(err, lambda v: _describe(v, redactor))
        out.append(Problem(format_path(loc), msg, _line_for(lines, loc)))
    return out


def _parse_path(path: str) -> Path_:
    parts: list[str | int] = []
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        parts.append(int(index) if index else name)
    return tuple(parts)


def load_experiment(path: str | os.PathLike[str]) -> Loaded:
    """Read and validate an experiment file; :class:`ExperimentError` lists every problem."""
    p = Path(path)
    try:
        if p.stat().st_size > _MAX_BYTES:
            raise ExperimentError(str(p), [Problem("", f"file is larger than {_MAX_BYTES} bytes")])
        data = p.read_bytes()
    except IsADirectoryError:
        raise ExperimentError(
            str(p), [Problem("", "is a directory, not an experiment file")]
        ) from None
    except OSError as exc:
        raise ExperimentError(str(p), [Problem("", f"cannot read: {exc.strerror}")]) from None
    return parse_experiment(data, str(p))
