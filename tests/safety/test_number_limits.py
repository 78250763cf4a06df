"""Numbers are finite and within each field's physical range at load: exit 2 at validate.

Each case validated today and failed at run time (exit 5) after the baseline had run.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

HEAD = """title: numbers
targets:
  dep: {type: proxy, api_url: "http://127.0.0.1:9", proxy: api}
method:
"""
LATENCY_STEP = "  - {fault: {type: proxy-latency, latency_ms: 100}, target: dep, RAMP}\n"


def _ramp(values: str) -> str:
    return HEAD + LATENCY_STEP.replace(
        "RAMP", f"ramp: {{field: latency_ms, values: [{values}], hold_s: 1}}"
    )


CASES = [
    ("ramp NaN", _ramp("10, .nan"), "method[0].ramp.values[1]", "finite"),
    ("ramp -5", _ramp("10, -5"), "ramp.values[1] = -5", "greater than or equal to 0"),
    ("ramp 1e300", _ramp("10, 1.0e+300"), "method[0].ramp.values[1]", "at most 2**53"),
    ("ramp 1e300 string", _ramp("10, 1.0e300"), "ramp.values[1] = 1e+300", "at most"),
    ("ramp past a year", _ramp("10, 1.0e+12"), "ramp.values[1]", "a year"),
    (
        "size_mb .inf",
        HEAD + "  - {fault: {type: disk-fill, directory: /tmp, size_mb: .inf}, duration_s: 1}\n",
        "method[0].fault.size_mb",
        "finite",
    ),
    (
        "max_duration_s .inf",
        _ramp("10") + "safety: {max_duration_s: .inf}\n",
        "safety.max_duration_s",
        "finite",
    ),
    (
        "latency_ms 10^400",
        HEAD + LATENCY_STEP.replace("100", "1" + "0" * 400).replace("RAMP", "duration_s: 1"),
        "method[0].fault.latency_ms",
        "401-digit integer",
    ),
    (
        "nested attribute 1e300",
        HEAD
        + "  - {fault: {type: proxy-toxic, toxic: latency, attributes: {latency: 1.0e+300}},"
        + " target: dep, duration_s: 1}\n",
        "method[0].fault.attributes.latency",
        "at most 2**53",
    ),
]


def test_validate_refuses_numbers_out_of_range(tmp_path: Path) -> None:
    files = []
    for i, (_, text, _, _) in enumerate(CASES):
        files.append(tmp_path / f"case{i}.yaml")
        files[-1].write_text(text)
    proc = subprocess.run(
        [sys.executable, "-m", "aichaos.cli", "validate", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert not proc.stdout, "every file is refused"
    reports = re.split(f"(?m)^{re.escape(str(tmp_path))}", proc.stderr)[1:]
    for i, (name, _, where, what) in enumerate(CASES):
        report = next(r for r in reports if r.startswith(f"/case{i}.yaml:"))
        line = next((ln for ln in report.splitlines() if where in ln), None)
        assert line is not None and what in line, (name, report)
        assert report.count(where.split(" ")[0] + " ") <= 1, ("one message per number", report)
