"""Arrival schedules and request sources: pure logic, bad input named."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pytest

from aichaos.errors import ValidationError
from aichaos.load.requests import RequestSource, items_from_jsonl, parse_url, read_jsonl
from aichaos.load.schedule import arrivals


def test_constant_schedule_is_exact_and_offset() -> None:
    offs = list(itertools.islice(arrivals("constant", 1000, random.Random(0), 0.0005), 5))
    assert offs == pytest.approx([0.0005, 0.0015, 0.0025, 0.0035, 0.0045])
    # no accumulated rounding after a million requests
    far = next(itertools.islice(arrivals("constant", 3.0, random.Random(0)), 3_000_000, None))
    assert far == 1_000_000.0


def test_poisson_is_reproducible_and_has_the_right_mean() -> None:
    a = list(itertools.islice(arrivals("poisson", 100, random.Random(1)), 20_001))
    b = list(itertools.islice(arrivals("poisson", 100, random.Random(1)), 20_001))
    assert a == b
    assert a[-1] / 20_000 == pytest.approx(0.01, rel=0.03)


@pytest.mark.parametrize(
    ("kind", "rate", "message"),
    [
        ("constant", 0, "rate_rps must be > 0, got 0"),
        ("constant", -5, "rate_rps must be > 0, got -5"),
        ("uniform", 10, "arrival must be 'constant' or 'poisson', got 'uniform'"),
    ],
)
def test_bad_schedules(kind: str, rate: float, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        arrivals(kind, rate, random.Random(0))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://x/", "url must be an http://host"),
        ("https://example.invalid/", "https is not supported"),
        ("http://:80/", "url must be an http://host"),
        ("http://127.0.0.1:99999/", "url must be an http:// URL"),
    ],
)
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_url(url)


def test_url_parts() -> None:
    ep = parse_url("http://127.0.0.1:8080/v1/predict?x=1")
    assert (ep.host, ep.port, ep.path) == ("127.0.0.1", 8080, "/v1/predict?x=1")
    assert parse_url("http://localhost").path == "/"


def test_jsonl_forms(tmp_path: Path) -> None:
    f = tmp_path / "r.jsonl"
    lines = [
        {"features": [1, 2], "expected": 1},
        {"body": {"x": 1}, "expected": "cat", "path": "other", "headers": {"X-A": "b"}},
        {"body": "raw text", "method": "put"},
        [1, 2, 3],
    ]
    f.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    ep = parse_url("http://127.0.0.1:9/api/predict")
    items = items_from_jsonl(read_jsonl(f), ep, "POST")
    assert [i.labelled for i in items] == [True, True, False, False]
    assert [i.expected for i in items] == [1, "cat", None, None]
    assert items[0].raw.startswith(b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1:9\r\n")
    assert items[0].raw.endswith(b'\r\n\r\n{"features": [1, 2]}')
    # a relative path extends the URL's path; an absolute one replaces it
    assert items[1].raw.startswith(b"POST /api/predict/other HTTP/1.1")
    (absolute,) = items_from_jsonl([{"body": 1, "path": "/v2"}], ep, "POST")
    assert absolute.raw.startswith(b"POST /v2 HTTP/1.1")
    assert b"X-A: b\r\n" in items[1].raw
    assert items[2].raw.startswith(b"PUT ") and items[2].raw.endswith(b"raw text")
    assert b"Content-Length: 9\r\n" in items[3].raw


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": 1}\n{"a": \n', "line 2 is not valid JSON"),
        ("\n\n", "holds no requests"),
    ],
)
def test_malformed_jsonl(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "bad.jsonl"
    f.write_text(text)
    with pytest.raises(ValidationError, match=message):
        read_jsonl(f)


def test_missing_jsonl_file(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="cannot read"):
        read_jsonl(tmp_path / "nope.jsonl")


def test_cycle_and_seeded_sample() -> None:
    ep = parse_url("http://127.0.0.1:9/")
    items = items_from_jsonl([{"i": i} for i in range(5)], ep, "POST")
    cyc = RequestSource(items, "cycle")
    assert [cyc.next().index for _ in range(7)] == [0, 1, 2, 3, 4, 0, 1]
    s1 = [RequestSource(items, "sample", random.Random(4)).next().index for _ in range(1)]
    a = RequestSource(items, "sample", random.Random(4))
    b = RequestSource(items, "sample", random.Random(4))
    assert [a.next().index for _ in range(50)] == [b.next().index for _ in range(50)]
    assert s1[0] in range(5)


def test_template_sequence_numbers() -> None:
    ep = parse_url("http://127.0.0.1:9/")
    src = RequestSource.from_template(ep, "POST", '{"n": {seq}}')
    raws = [src.next().raw for _ in range(3)]
    assert [r.rsplit(b"\r\n\r\n", 1)[1] for r in raws] == [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']
