"""Quality figures on a real scikit-learn model served over HTTP by uvicorn + starlette."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aichaos.load.spec import LoadSpec, run_load

from .model_app import ModelState, diabetes_split, iris_split, model_app, write_jsonl
from .servers import ThreadedUvicorn

pytestmark = pytest.mark.slow


def labelled_spec(
    tmp_path: Path,
    url: str,
    data: tuple[Any, Any],
    *,
    quality: dict[str, Any] | None = None,
    with_row: bool = False,
    **kw: Any,
) -> LoadSpec:
    """A POST load spec cycling through ``data`` written as labelled JSONL requests."""
    f = tmp_path / "requests.jsonl"
    write_jsonl(f, *data, with_row=with_row)
    return LoadSpec(
        url=url,
        method="POST",
        body_file=str(f),
        quality=quality or {"json_path": "$.prediction"},
        **kw,
    )


@pytest.fixture(scope="module")
def models() -> dict[str, Any]:
    from sklearn.linear_model import LinearRegression, LogisticRegression

    xtr, xte, ytr, yte = iris_split()
    clf = LogisticRegression(max_iter=1000).fit(xtr, ytr)
    dxtr, dxte, dytr, dyte = diabetes_split()
    reg = LinearRegression().fit(dxtr, dytr)
    return {"clf": clf, "reg": reg, "iris": (xte, yte), "diabetes": (dxte, dyte)}


@pytest.fixture
def served(models: dict[str, Any]) -> Iterator[tuple[str, ModelState]]:
    state = ModelState()
    with ThreadedUvicorn(model_app(models["clf"], models["reg"], state)) as srv:
        yield srv.url, state


async def test_accuracy_matches_offline_score_exactly_over_whole_cycles(
    models: dict[str, Any], served: tuple[str, ModelState], tmp_path: Path
) -> None:
    url, _ = served
    xte, yte = models["iris"]
    offline = models["clf"].score(xte, yte)
    # 100 req/s for 1 s over 50 rows in order: exactly two passes over the test set
    spec = labelled_spec(tmp_path, f"{url}/predict", models["iris"], rate_rps=100)
    gen = await run_load(spec, duration_s=1.0)
    m = gen.total.metrics()
    assert m["completed"] == 100 and m["errors"] == 0
    assert m["labelled"] == 100
    assert m["accuracy"] == pytest.approx(offline)
    assert m["silent_failure_rate"] == 0.0


async def test_sampled_accuracy_within_sampling_error(
    models: dict[str, Any], served: tuple[str, ModelState], tmp_path: Path
) -> None:
    url, _ = served
    xte, yte = models["iris"]
    offline = models["clf"].score(xte, yte)
    spec = labelled_spec(
        tmp_path, f"{url}/predict", models["iris"], rate_rps=150, order="sample", seed=11
    )
    gen = await run_load(spec, duration_s=1.0)
    m = gen.total.metrics()
    n = m["labelled"]
    assert n == 150
    se = math.sqrt(max(offline * (1 - offline), 1 / n) / n)
    assert abs(m["accuracy"] - offline) <= 4 * se


async def test_mae_matches_offline(
    models: dict[str, Any], served: tuple[str, ModelState], tmp_path: Path
) -> None:
    from sklearn.metrics import mean_absolute_error

    url, _ = served
    xte, yte = models["diabetes"]
    offline = mean_absolute_error(yte, models["reg"].predict(xte))
    spec = labelled_spec(
        tmp_path,
        f"{url}/regress",
        models["diabetes"],
        quality={"json_path": "$.y", "task": "regression"},
        rate_rps=80,
    )
    gen = await run_load(spec, duration_s=1.0)  # 80 requests = two passes over 40 rows
    m = gen.total.metrics()
    assert m["labelled"] == 80
    assert m["mae"] == pytest.approx(offline, rel=1e-9)


async def test_nan_wrong_shape_and_missing_predictions_are_silent_failures(
    models: dict[str, Any], served: tuple[str, ModelState], tmp_path: Path
) -> None:
    url, _ = served
    spec = labelled_spec(tmp_path, f"{url}/faulty", models["iris"], with_row=True, rate_rps=100)
    gen = await run_load(spec, duration_s=1.0)
    m = gen.total.metrics()
    # every response is HTTP 200: the transport figures see nothing wrong
    assert m["completed"] == 100 and m["errors"] == 0 and m["error_rate"] == 0
    # rows 0, 1, 2 mod 5 answer NaN, [label], no key: 3 in 5
    assert m["silent_failures"] == 60
    assert m["silent_failure_rate"] == pytest.approx(0.6)
    # accuracy is over the valid answers that carry a label
    assert m["labelled"] == 40


async def test_agreement_and_drift_after_the_model_breaks(
    models: dict[str, Any], served: tuple[str, ModelState], tmp_path: Path
) -> None:
    url, state = served
    xte, _ = models["iris"]
    zero_share = float((models["clf"].predict(xte) == 0).mean())
    spec = labelled_spec(tmp_path, f"{url}/predict", models["iris"], rate_rps=100, window_s=0.5)
    t0 = time.monotonic()

    def phase() -> str:
        return "baseline" if time.monotonic() - t0 < 0.9 else "injecting"

    def breaks() -> None:
        state.broken = True

    asyncio.get_running_loop().call_later(1.25, breaks)
    gen = await run_load(spec, duration_s=2.5, phase=phase)
    wins = {w.index: w.metrics(gen.quality_baseline) for w in gen.windows}
    assert wins[0]["accuracy"] > 0.85 and "agreement" not in wins[0]
    assert "drift_js" not in wins[1]
    for i in (3, 4):  # fully broken windows: one pass over the 50 rows each
        assert wins[i]["agreement"] == pytest.approx(zero_share, abs=0.05)
        assert wins[i]["drift_js"] > 0.2
        assert wins[i]["accuracy"] == pytest.approx(zero_share, abs=0.05)
        assert wins[i]["silent_failure_rate"] == 0.0
