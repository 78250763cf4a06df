"""``aichaos proxy`` as a user runs it: --config, --seed, bad input -> exit 2 with a message."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _run(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "aichaos.cli", "proxy", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_config_and_seed(tmp_path: Path) -> None:
    config = tmp_path / "proxies.json"
    config.write_text(json.dumps([{"name": "db", "upstream": "127.0.0.1:1"}]))
    proc = _run("--config", str(config), "--seed", "42")
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "seed=42" in line and "db 127.0.0.1:" in line
        url = re.search(r"http://\S+", line)
        assert url
        with urllib.request.urlopen(url.group(0) + "/proxies", timeout=5) as r:
            assert json.load(r)["db"]["upstream"] == "127.0.0.1:1"
        with urllib.request.urlopen(url.group(0) + "/version", timeout=5) as r:
            assert json.load(r)["seed"] == 42
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
        proc.communicate()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[{", "not valid JSON"),
        ('[{"name": "x"}]', "missing required field: upstream"),
        (
            '[{"name": "x", "upstream": "127.0.0.1:1", "listen": "nope"}]',
            "listen must be host:port",
        ),
    ],
)
def test_bad_config_exits_2_with_a_message(tmp_path: Path, content: str, message: str) -> None:
    config = tmp_path / "bad.json"
    config.write_text(content)
    proc = _run("--config", str(config))
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 2
    assert message in err and "Traceback" not in err
