"""The pytest plugin, driven through pytester: real inner test files, real servers."""

from __future__ import annotations

import json
from pathlib import Path

# loaded once here: pytester's in-process runs restore sys.modules, and numpy cannot be
# imported twice in one process
import pandas  # noqa: F401
import pytest

# (in the test module: pytest refuses pytest_plugins in a conftest below the root)
pytest_plugins = ["pytester"]

# every test runs a whole inner pytest session (and most start proxy processes)
pytestmark = pytest.mark.slow

INNER_CONFTEST = """
import http.server, threading, json
import pytest

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        body = json.dumps({"ok": True, "score": 0.9}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

@pytest.fixture(scope="session")
def service():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield "127.0.0.1:%d" % server.server_address[1]
    server.shutdown()
    server.server_close()

@pytest.fixture
def chaos_upstream(service):
    return service
"""


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(INNER_CONFTEST)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    return pytester


def test_proxy_fixture_adds_and_removes_toxics(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import time, httpx

        def test_latency_and_errors(chaos_proxy):
            assert httpx.get(chaos_proxy.url + "/").status_code == 200
            with chaos_proxy.toxic("latency", latency=300):
                t0 = time.perf_counter()
                httpx.get(chaos_proxy.url + "/")
                assert time.perf_counter() - t0 >= 0.29
            name = chaos_proxy.add_toxic("http_error", status=503)
            assert httpx.get(chaos_proxy.url + "/").status_code == 503
            assert [t["name"] for t in chaos_proxy.toxics()] == [name]
            chaos_proxy.remove_toxic(name)
            assert httpx.get(chaos_proxy.url + "/").status_code == 200

        def test_factory_in_front_of_any_upstream(chaos_proxy_factory, service):
            api = chaos_proxy_factory(service, name="other")
            api.add_toxic("json_corrupt", ops=[{"path": "score", "action": "nan"}])
            assert "NaN" in httpx.get(api.url + "/").text
        """
    )
    res = inner.runpytest("-p", "no:cacheprovider")
    res.assert_outcomes(passed=2)


def test_marker_applies_fault_and_reverts_it(inner: pytest.Pytester, tmp_path: Path) -> None:
    record = tmp_path / "after.json"
    inner.makepyfile(
        f"""
        import json, pathlib, httpx, pytest

        @pytest.fixture
        def after(chaos_proxy):
            yield
            # fixture teardown runs after the body: the fault must be gone by then
            status = httpx.get(chaos_proxy.url + "/").status_code
            pathlib.Path({str(record)!r}).write_text(json.dumps({{"status": status}}))

        @pytest.mark.chaos("proxy-http-error", status=503)
        def test_under_503(chaos_proxy, after):
            assert httpx.get(chaos_proxy.url + "/").status_code == 503

        @pytest.mark.chaos("proxy-http-error", status=503)
        def test_fails_under_fault(chaos_proxy):
            assert httpx.get(chaos_proxy.url + "/").status_code == 200

        @pytest.mark.chaos("proxy-latency", latency_ms=-5)
        def test_bad_marker(chaos_proxy):
            pass

        @pytest.mark.chaos("proxy-latency", latency_ms=5, target="nope")
        def test_bad_target(chaos_proxy):
            pass
        """
    )
    res = inner.runpytest("-p", "no:cacheprovider")
    res.assert_outcomes(passed=1, failed=3)
    assert json.loads(record.read_text()) == {"status": 200}
    out = res.stdout.str()
    assert "assert 503 == 200" in out
    assert "latency_ms" in out and "greater than or equal to 0" in out
    assert "target='nope' names no fixture this test requests" in out


def test_marker_pauses_a_process(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import pathlib, subprocess, sys, time, pytest

        @pytest.fixture(scope="module")
        def child():
            p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
            yield p.pid
            p.kill(); p.wait()

        def state(pid, want=None):
            # a signal is delivered asynchronously: wait (bounded) for the state to show
            for _ in range(100):
                s = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
                if want is None or s in want:
                    return s
                time.sleep(0.01)
            return s

        @pytest.fixture
        def target(child):
            return {"type": "process", "pid": child}

        @pytest.mark.chaos("process-pause", target="target")
        def test_paused(child, target):
            assert state(child, "T") == "T"

        def test_resumed_after(child):
            assert state(child, "SR") in ("S", "R")
        """
    )
    res = inner.runpytest("-p", "no:cacheprovider")
    res.assert_outcomes(passed=2)


def test_inprocess_hooks_and_marker(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import pytest
        from aichaos.inprocess import Hook, Raise

        @Hook("predict-down", error=Raise(ConnectionError, "model down"))
        def predict(x):
            return x * 2

        @pytest.mark.chaos("hook", hook="predict-down")
        def test_marker_arms():
            with pytest.raises(ConnectionError, match="model down"):
                predict(1)

        def test_disarmed_after():
            assert predict(2) == 4

        def test_fixture(chaos_inprocess):
            chaos_inprocess.arm("predict-down")
            with pytest.raises(ConnectionError):
                predict(1)
            chaos_inprocess.disarm("predict-down")
            assert predict(3) == 6
        """
    )
    res = inner.runpytest("-p", "no:cacheprovider")
    res.assert_outcomes(passed=3)


def test_corrupt_fixture_is_seeded(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import pandas as pd

        def test_missing(chaos_corrupt):
            df = pd.DataFrame({"age": range(100), "income": [1.5] * 100})
            a = chaos_corrupt("missing-values", df, fraction=0.2, columns=["age"])
            b = chaos_corrupt("missing-values", df, fraction=0.2, columns=["age"])
            assert 5 <= a["age"].isna().sum() <= 40
            assert (chaos_corrupt.reports[0].cells["age"] == a["age"].isna().to_numpy()).all()
            assert a["age"].isna().equals(b["age"].isna())
            assert df["age"].notna().all()
            assert len(chaos_corrupt.reports) == 2
            print("MASK", list(a.index[a["age"].isna()]))
        """
    )
    first = inner.runpytest("-p", "no:cacheprovider", "-s", "--chaos-seed", "3")
    first.assert_outcomes(passed=1)
    again = inner.runpytest("-p", "no:cacheprovider", "-s", "--chaos-seed", "3")
    other = inner.runpytest("-p", "no:cacheprovider", "-s", "--chaos-seed", "4")

    def mask(res: pytest.RunResult) -> str:
        (line,) = [ln for ln in res.outlines if "MASK [" in ln]
        return line.split("MASK", 1)[1]

    assert mask(first) == mask(again)
    assert mask(first) != mask(other)


EXPERIMENT = """
title: {title}
targets:
  api: {{type: http, url: "{url}"}}
  edge: {{type: proxy, api_url: "{api_url}", proxy: "{proxy}"}}
probes:
  health: {{type: http, target: api, path: /, every_s: 0.1, timeout_s: 1}}
steady_state:
  - health.ok == 1
method:
  - fault: {fault}
    target: edge
    duration_s: 0.8
phases: {{baseline_s: 0.4, recovery_s: 0.4}}
safety: {{ttl_s: 10, guardrail_interval_s: 0.1}}
"""


def test_experiment_fixture_fails_with_verdict_and_slo_table(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        f"""
        EXPERIMENT = {EXPERIMENT!r}

        def write(tmp_path, proxy, fault, title):
            p = tmp_path / "exp.yaml"
            p.write_text(EXPERIMENT.format(title=title, url=proxy.url, api_url=proxy.api_url,
                                           proxy=proxy.name, fault=fault))
            return p

        def test_latency_is_tolerated(chaos_experiment, chaos_proxy, tmp_path):
            exp = write(tmp_path, chaos_proxy, "{{type: proxy-latency, latency_ms: 20}}", "latency ok")
            result = chaos_experiment(exp)
            assert result.status == "passed"

        def test_errors_are_not(chaos_experiment, chaos_proxy, tmp_path):
            exp = write(tmp_path, chaos_proxy, "{{type: proxy-http-error, status: 503}}", "503s hurt")
            chaos_experiment(exp)
        """
    )
    res = inner.runpytest("-p", "no:cacheprovider")
    res.assert_outcomes(passed=1, failed=1)
    out = res.stdout.str()
    assert "experiment '503s hurt': deviated (expected passed)" in out
    assert "steady state broke during injection" in out
    assert "injecting  health.ok == 1" in out
    assert "NO (" in out
