"""``aichaos demo`` end to end: a real system, real faults, verdicts as predicted.

The quick demo runs once per module (about 25 s); its HTML report is opened in headless
Chromium. A second run is interrupted with SIGINT mid-fault. The remaining bundled
experiments run in one more test, so every bundled prediction is checked.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from aichaos.demo.cli import bundled_experiments
from aichaos.engine.journal import read_journal
from aichaos.report import load_run

pytestmark = pytest.mark.slow

AICHAOS = [sys.executable, "-m", "aichaos.cli"]
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts"


def _demo(out: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AICHAOS_KILL_SWITCH": str(out.parent / "halt")}
    return subprocess.run(
        [*AICHAOS, "demo", "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def _check_predictions(out: Path, names: list[str]) -> None:
    for name in names:
        run = load_run(out / name.replace(".yaml", ".jsonl"))
        assert run.complete, name
        assert run.prediction is not None, f"{name} states no predicted verdict"
        assert run.verdict == run.prediction, f"{name}: {run.verdict} ({run.reason})"
        # every fault applied was reverted
        assert run.faults and all(w.closed for w in run.faults), name


@pytest.fixture(scope="module")
def quick(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str], float]:
    out = tmp_path_factory.mktemp("quick") / "demo"
    t0 = time.monotonic()
    proc = _demo(out, "--quick")
    return out, proc, time.monotonic() - t0


def _quick_names() -> list[str]:
    return [n for n, text in bundled_experiments() if "quick" in text.split("tags:", 1)[1][:80]]


def test_quick_demo_verdicts_are_the_predicted_ones(
    quick: tuple[Path, subprocess.CompletedProcess[str], float],
) -> None:
    out, proc, wall = quick
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    names = _quick_names()
    assert len(names) >= 3
    _check_predictions(out, names)
    for f in ("report.html", "report.md", "junit.xml"):
        assert (out / f).exists() and str(out / f) in proc.stdout
    assert "aichaos demo" in proc.stderr and "✓" in proc.stderr  # the summary table
    assert wall < 90, f"quick demo took {wall:.1f}s"  # < 30 s on an idle 2-core machine


def test_quick_demo_left_no_process(
    quick: tuple[Path, subprocess.CompletedProcess[str], float],
) -> None:
    out = quick[0]
    leftovers = [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if any(str(out) in part for part in (p.info["cmdline"] or []))
    ]
    assert leftovers == []


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )


def _console(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ":CONSOLE" in ln]


@pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="headless Chromium not installed (apt-get install chromium)"
)
def test_html_report_renders_in_headless_chromium(
    quick: tuple[Path, subprocess.CompletedProcess[str], float], tmp_path: Path
) -> None:
    out = quick[0]
    url = (out / "report.html").resolve().as_uri()
    dom = _chromium("--dump-dom", url, profile=tmp_path / "p1")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert _console(dom.stderr) == [], _console(dom.stderr)
    html = dom.stdout
    plots = re.findall(r'<div class="plot timeline"><svg.*?</svg>', html, flags=re.S)
    assert len(plots) == len(_quick_names())
    for svg in plots:
        assert svg.count("<path") > 20  # lines, spans and axes were drawn
    assert 'id="score"' in html and "/100" in html
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "demo-report.png"
    shot.unlink(missing_ok=True)
    pic = _chromium(f"--screenshot={shot}", "--window-size=1280,2400", url, profile=tmp_path / "p2")
    assert pic.returncode == 0 and shot.stat().st_size > 20_000
    # the check above can fail: a page with a broken script is caught
    bad = tmp_path / "bad.html"
    bad.write_text(
        (out / "report.html").read_text().replace("</body>", "<script>nope()</script></body>")
    )
    broken = _chromium("--dump-dom", bad.as_uri(), profile=tmp_path / "p3")
    assert any("nope is not defined" in ln for ln in _console(broken.stderr))


def test_sigint_stops_the_demo_reverts_and_leaves_no_process(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    env = {**os.environ, "AICHAOS_KILL_SWITCH": str(tmp_path / "halt")}
    children: list[psutil.Process] = []
    deadline = time.monotonic() + 90
    with subprocess.Popen(
        [*AICHAOS, "demo", "--only", "80-memory", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        assert proc.stderr is not None
        try:
            for line in proc.stderr:  # bounded by the deadline and the process's end
                if "+ memory-512mb" in line:
                    break
                assert time.monotonic() < deadline, "the fault was never applied"
            children = psutil.Process(proc.pid).children(recursive=True)
            assert len(children) >= 5  # proxy, features, pipeline, model server, ballast
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 3
    _, alive = psutil.wait_procs(children, timeout=10)
    assert [p.pid for p in alive] == []
    events = list(read_journal(out / "80-memory-pressure.jsonl"))
    kinds = [e["event"] for e in events]
    assert "fault-applied" in kinds and "fault-reverted" in kinds
    assert kinds.index("fault-reverted") > kinds.index("fault-applied")
    ended = events[-1]
    assert ended["event"] == "run-ended" and ended["status"] == "aborted"
    assert "SIGINT" in ended["reason"]


@pytest.mark.long
def test_the_other_bundled_experiments_meet_their_predictions(tmp_path: Path) -> None:
    names = [n for n, _ in bundled_experiments() if n not in _quick_names()]
    out = tmp_path / "demo"
    proc = _demo(out, *[arg for n in names for arg in ("--only", n.split("-", 1)[0])])
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    _check_predictions(out, names)
    ramp = load_run(out / "10-feature-latency-ramp.jsonl")
    assert ramp.breaking_points and ramp.breaking_points[0]["broke"] == 400
    assert ramp.breaking_points[0]["held"] == 100


def test_bundled_experiments_all_state_a_prediction() -> None:
    from aichaos.report.model import predicted_verdict

    for name, text in bundled_experiments():
        assert predicted_verdict(text) is not None, name
