"""JUnit XML: one test case per experiment, so CI systems list each one.

``passed`` is a pass; ``deviated``, ``aborted`` and ``failed-baseline`` are failures
(the system did not hold); ``error`` and an incomplete journal are errors (the run
itself went wrong).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from aichaos.report.model import RunReport
from aichaos.verdict import Verdict

__all__ = ["render_junit"]

_FAILURES = {v for v in Verdict if v.system_failed}
# XML 1.0 forbids most control characters even when escaped
_BAD_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _clean(text: str) -> str:
    return _BAD_XML.sub("?", text)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "experiment"


def render_junit(runs: list[RunReport], *, suite: str = "aichaos") -> str:
    """The XML document (UTF-8 declaration included)."""
    failures = sum(1 for r in runs if r.verdict in _FAILURES)
    errors = sum(1 for r in runs if r.verdict not in _FAILURES and r.verdict != Verdict.PASSED)
    total_time = sum(r.duration_s for r in runs)
    root = ET.Element("testsuites", name=suite)
    ts = ET.SubElement(
        root,
        "testsuite",
        name=suite,
        tests=str(len(runs)),
        failures=str(failures),
        errors=str(errors),
        skipped="0",
        time=f"{total_time:.3f}",
    )
    for r in runs:
        case = ET.SubElement(
            ts,
            "testcase",
            classname=f"{suite}.{_slug(r.path.stem)}",
            name=_clean(r.title),
            time=f"{r.duration_s:.3f}",
        )
        detail = _clean(
            f"verdict: {r.verdict}\nreason: {r.reason}\n"
            f"SLO checks held: {r.checks_held}/{r.checks_total}\njournal: {r.path}"
        )
        if r.verdict in _FAILURES:
            el = ET.SubElement(case, "failure", message=_clean(r.reason), type=r.verdict)
            el.text = detail
        elif r.verdict != Verdict.PASSED:
            el = ET.SubElement(case, "error", message=_clean(r.reason), type=r.verdict)
            el.text = detail
        out = ET.SubElement(case, "system-out")
        out.text = detail
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
