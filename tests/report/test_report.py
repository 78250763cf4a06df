"""Reports rendered from real journals (the real engine, in virtual time, writes them)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from aichaos.cli import cli
from aichaos.report import load_run, resilience_score, write_reports
from aichaos.report.model import predicted_verdict
from tests.engine import system
from tests.engine.test_engine import M, _ramp_experiment, experiment, run


@pytest.fixture(autouse=True)
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    system.reset()
    monkeypatch.setenv("AICHAOS_KILL_SWITCH", str(tmp_path / "halt"))


@pytest.fixture
def journals(tmp_path: Path) -> dict[str, Path]:
    """A passed run, a ramped (deviated) run and an aborted run, journaled to files."""
    out = {}
    exp = experiment(
        title="passes",
        description="A small slowdown stays under the SLO. Predicted verdict: passed.",
        weight=1.0,
    )
    out["passed"] = tmp_path / "passed.jsonl"
    assert run(exp, out["passed"])[0].status == "passed"
    system.reset()
    out["ramp"] = tmp_path / "ramp.jsonl"
    assert run(_ramp_experiment(), out["ramp"])[0].status == "deviated"
    system.reset()
    aborted = experiment(
        title="guarded",
        weight=2.0,
        guardrails=["sys.latency_ms < 300"],
        method=[
            {
                "name": "very-slow",
                "fault": {
                    "type": "python-callable",
                    "apply": f"{M}:slow_down",
                    "revert": f"{M}:restore",
                    "arguments": {"latency_ms": 900},
                },
                "start_s": 1,
                "duration_s": 5,
            }
        ],
    )
    out["aborted"] = tmp_path / "aborted.jsonl"
    assert run(aborted, out["aborted"])[0].status == "aborted"
    return out


def test_model_reads_verdicts_faults_checks_and_breaking_points(journals: dict[str, Path]) -> None:
    passed, ramp, aborted = (load_run(journals[k]) for k in ("passed", "ramp", "aborted"))
    assert (passed.verdict, ramp.verdict, aborted.verdict) == ("passed", "deviated", "aborted")
    assert passed.prediction == "passed" and ramp.prediction is None
    assert passed.checks_total > 0 and passed.held_share == 1.0
    assert 0 < ramp.held_share < 1
    assert [w.step for w in passed.faults] == ["slow"] and passed.faults[0].closed
    assert passed.faults[0].end > passed.faults[0].start
    assert ramp.breaking_points[0]["held"] == 0.25 and ramp.breaking_points[0]["broke"] == 0.5
    assert aborted.guardrails and aborted.aborts and aborted.weight == 2.0
    assert "sys.latency_ms" in passed.series
    # the weighted score by hand: (1 * share_p + 1 * share_r + 2 * share_a) / 4
    want = 100 * (passed.held_share + ramp.held_share + 2 * aborted.held_share) / 4
    assert resilience_score([passed, ramp, aborted]) == pytest.approx(want)


def test_html_is_self_contained_with_plots_and_marks(
    journals: dict[str, Path], tmp_path: Path
) -> None:
    html_path = tmp_path / "r.html"
    write_reports(list(journals.values()), html=html_path)
    html = html_path.read_text()
    assert html.count('<div class="plot timeline"><svg') == 3
    assert html.count('<div class="plot breaking-point"><svg') == 1
    # offline: nothing is fetched from anywhere
    assert not re.search(r"""(src|href)=["']https?://""", html)
    assert "<link" not in html and "@import" not in html
    assert "guardrail breached" in html and "breaking point" in html
    assert html.count('class="badge aborted"') >= 2  # summary row and section
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "SVG ids of several plots must not collide"


def test_markdown_and_junit(journals: dict[str, Path], tmp_path: Path) -> None:
    md, xml = tmp_path / "r.md", tmp_path / "r.xml"
    write_reports(list(journals.values()), markdown=md, junit=xml)
    text = md.read_text()
    assert "Resilience score" in text and "| passes | ✅ passed | passed ✓ |" in text
    assert "held at 0.25, broke at 0.5" in text
    suite = ET.parse(xml).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "2", "0")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["passes"].find("failure") is None
    assert cases["guarded"].find("failure").get("type") == "aborted"  # type: ignore[union-attr]


def test_a_journal_cut_short_renders_marked_incomplete(
    journals: dict[str, Path], tmp_path: Path
) -> None:
    lines = journals["passed"].read_bytes().split(b"\n")
    applied = next(i for i, ln in enumerate(lines) if b'"fault-applied"' in ln)
    cut = tmp_path / "killed.jsonl"
    # as SIGKILL leaves it: the fault applied, no revert, no run-ended, a torn last line
    cut.write_bytes(b"\n".join(lines[: applied + 3]) + b"\n" + lines[applied + 3][:17])
    r = load_run(cut)
    assert not r.complete and r.verdict == "incomplete"
    assert r.faults and not r.faults[0].closed
    out = tmp_path / "k"
    write_reports([cut], html=out / "r.html", markdown=out / "r.md", junit=out / "r.xml")
    assert "incomplete journal" in (out / "r.html").read_text()
    assert "Incomplete journals" in (out / "r.md").read_text()
    suite = ET.parse(out / "r.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("errors") == "1"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        (b"", "is empty"),
        (b"   \n", "is empty"),
        (b"hello world\n", "line 1 is not JSON"),
        (b'{"a": 1}\n', "line 1 has no 'event' key"),
        (b'{"event": "sample", "t": 0}\n', "does not start with a 'run-started' event"),
        (b"\x00\xff\x10binary\n", "line 1 is not JSON"),
    ],
)
def test_bad_input_is_a_clear_error_exit_2(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "j.jsonl"
    if content is not None:
        path.write_bytes(content)
    result = CliRunner().invoke(cli, ["report", str(path), "--html", str(tmp_path / "r.html")])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "r.html").exists()


def test_cli_writes_every_format_and_markdown_to_stdout(
    journals: dict[str, Path], tmp_path: Path
) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["report", str(journals["passed"])])
    assert result.exit_code == 0 and "| passes |" in result.output
    args = ["report", *map(str, journals.values())]
    args += ["--html", str(tmp_path / "a.html"), "--junit", str(tmp_path / "a.xml")]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "a.html").stat().st_size > 10_000 and (tmp_path / "a.xml").exists()


def test_directory_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "is a directory" in result.output


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("It holds. Predicted verdict: passed.", "passed"),
        ("predicted verdict: Failed-Baseline", "failed-baseline"),
        ("Predicted verdict: maybe", None),
        ("no prediction", None),
    ],
)
def test_predicted_verdict(text: str, want: str | None) -> None:
    assert predicted_verdict(text) == want
