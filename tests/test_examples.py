"""Every file in examples/ validates (the demo end to end: tests/demo)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aichaos.experiment.loader import load_experiment

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_validates(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKEN", "example-token")
    assert load_experiment(path).experiment.title
