"""Bad input everywhere: random bytes, YAML, JSON and frames get a clear error, never a crash."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aichaos.errors import ExperimentError
from aichaos.experiment.loader import parse_experiment
from aichaos.proxy.toxics.base import TOXICS
from tests.safety.conftest import ThreadedProxy

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from([10**400, -(10**400), 1e308, -1e308, 0, -1, "", "0", "-5", "1e999"])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)

# -- the experiment loader -----------------------------------------------------------------

KEYS = [
    "title",
    "targets",
    "method",
    "fault",
    "type",
    "target",
    "duration_s",
    "start_s",
    "ramp",
    "probes",
    "steady_state",
    "guardrails",
    "phases",
    "safety",
    "ttl_s",
    "workload",
    "rollbacks",
    "blast_radius",
    "fraction",
    "seed",
    "url",
    "headers",
]
keyed = st.recursive(
    scalars | st.sampled_from(["process-pause", "http", "proxy", "${env:NOPE_NOT_SET}"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), children, max_size=5)
    ),
    max_leaves=20,
)


@FUZZ
@given(st.binary(max_size=400))
def test_loader_random_bytes(raw: bytes) -> None:
    _only_experiment_error(raw)


@FUZZ
@given(st.text(max_size=400))
def test_loader_random_text(text: str) -> None:
    _only_experiment_error(text)


@FUZZ
@given(st.dictionaries(st.sampled_from(KEYS), keyed, min_size=1, max_size=8))
def test_loader_random_experiment_trees(tree: dict[str, Any]) -> None:
    try:
        text = yaml.safe_dump(tree)
    except (yaml.YAMLError, OverflowError, ValueError):
        return  # not representable as YAML: nothing to feed
    _only_experiment_error(text)


def _only_experiment_error(source: str | bytes) -> None:
    try:
        parse_experiment(source)
    except ExperimentError as exc:
        text = str(exc)
        assert text and "Traceback" not in text
    # anything else propagates and fails the test


# -- the proxy control API bodies ------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[ThreadedProxy]:
    server = ThreadedProxy()
    yield server
    server.close()


ATTRIBUTE_NAMES = sorted({n for _, cls in TOXICS.items() for n in cls.model_fields})
listen_values = st.sampled_from(["127.0.0.1:0", "127.0.0.1:99999", "nope", ":", ""]) | scalars
proxy_bodies = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["a", "b", "fuzz"]) | scalars,
        "upstream": st.sampled_from(["127.0.0.1:9", "127.0.0.1:x", "[::1]:9"]) | scalars,
        "listen": listen_values,
        "enabled": scalars,
        "half_close": scalars,
        "http": scalars,
    },
)
toxic_bodies = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(sorted(TOXICS.names())) | scalars,
        "name": st.sampled_from(["t", "u"]) | scalars,
        "stream": st.sampled_from(["upstream", "downstream"]) | scalars,
        "toxicity": scalars,
        "ttl_s": scalars,
        "attributes": st.dictionaries(st.sampled_from(ATTRIBUTE_NAMES), json_values, max_size=4)
        | json_values,
    },
)
ROUTES = [
    ("POST", "/proxies", proxy_bodies),
    ("POST", "/populate", st.lists(proxy_bodies, max_size=3) | proxy_bodies),
    ("PATCH", "/proxies/fuzz", proxy_bodies),
    ("POST", "/proxies/fuzz/toxics", toxic_bodies),
    ("POST", "/proxies/fuzz/toxics/t", toxic_bodies),
]


def _dumps(body: Any) -> bytes:
    try:
        return json.dumps(body).encode()
    except ValueError:
        return b"{"  # e.g. a huge float: send broken JSON instead


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "path", "bodies"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES]
)
def test_api_bodies_get_4xx_never_5xx(
    fuzz_server: ThreadedProxy, method: str, path: str, bodies: st.SearchStrategy[Any]
) -> None:
    client = httpx.Client(base_url=fuzz_server.url, timeout=10)

    @FUZZ
    @given(body=bodies | json_values)
    def check(body: Any) -> None:
        # a proxy and a toxic to update, whatever the previous example did to them
        client.post("/proxies", json={"name": "fuzz", "upstream": "127.0.0.1:9"})
        client.post("/proxies/fuzz/toxics", json={"type": "latency", "name": "t"})
        r = client.request(method, path, content=_dumps(body))
        assert r.status_code in (200, 201, 204, 400, 404, 409), (body, r.status_code, r.text)
        if r.status_code >= 400:
            err = r.json()
            assert err["status"] == r.status_code and err["error"]
        # the server state still renders
        assert client.get("/proxies").status_code == 200
        assert client.get("/metrics").status_code == 200

    try:
        check()
    finally:
        client.post("/reset")
        client.close()


# -- data corruptors -----------------------------------------------------------------------


def _corruptor_names() -> list[str]:
    from aichaos.data.base import CORRUPTIONS

    return sorted(CORRUPTIONS.names())


@pytest.mark.slow
@pytest.mark.parametrize("name", _corruptor_names())
def test_corruptors_random_frames_and_params(name: str) -> None:
    """Random frames and random parameters: a ValidationError naming the problem, or a
    corrupted batch whose report counts the input's rows -- never another exception, and
    the input is never modified."""
    from aichaos.data.base import CORRUPTIONS
    from aichaos.errors import ValidationError
    from tests.data._data_helpers import make_frame

    cls = CORRUPTIONS.get(name)
    fields = sorted(cls.model_fields)
    columns = st.sampled_from(["x", "i", "s", "c", "t", "y", "nope", 0, 7, -1])
    params = st.dictionaries(
        st.sampled_from(fields),
        json_values | st.lists(columns, max_size=3) | columns | st.floats(0, 1),
        max_size=4,
    )

    @settings(
        max_examples=40,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        params=params,
        rows=st.integers(0, 25),
        seed=st.integers(0, 2**16),
        nulls=st.sampled_from([0.0, 0.5, 1.0]),
    )
    def check(params: dict[str, Any], rows: int, seed: int, nulls: float) -> None:
        frame = make_frame(rows, seed, nulls)
        before = frame.copy()
        try:
            result = cls(**params).apply(frame)
        except ValidationError as exc:
            assert str(exc)
            return
        assert frame.equals(before), "the input batch was modified"
        assert result.report.n_rows_in == rows

    check()
