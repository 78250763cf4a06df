"""The pytest plugin, driven through pytester: real inner test files, real servers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

# loaded once here: pytester's in-process runs restore sys.modules, and numpy cannot be
# imported twice in one process
import pandas  # noqa: F401
import pytest

import aichaos.experiment.loader  # noqa: F401 (its YAML loader class, like the registries)
from aichaos.data.base import CORRUPTIONS
from aichaos.faults.base import FAULTS
from aichaos.load.base import WORKLOADS
from aichaos.probes.base import PROBES
from aichaos.proxy.toxics.base import TOXICS
from aichaos.targets import TARGETS
from tests.conftest import _stop, process_state, start_sleeper

# every registry's built-ins too: re-imported by an inner run, a fault class would no
# longer be the class the registry holds (isinstance checks fail, names register twice)
for _registry in (CORRUPTIONS, FAULTS, PROBES, TARGETS, TOXICS, WORKLOADS):
    _registry.names()

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
    assert "chaos marker 'proxy-latency': latency_ms: must be >= 0, got -5" in out
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


def test_marker_mistakes_fail_with_one_line(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import pytest

        @pytest.mark.chaos("proxy-latncy", latency_ms=5)
        def test_unknown_fault(chaos_proxy):
            pass

        @pytest.mark.chaos("proxy-latency", latency_ms="slow")
        def test_bad_value(chaos_proxy):
            pass

        @pytest.mark.chaos("proxy-latency", latency_ms=5, colour="blue")
        def test_unknown_field(chaos_proxy):
            pass

        @pytest.mark.chaos("proxy-latency", latency_ms=5, blast_radius={"fraction": 2})
        def test_bad_blast_radius(chaos_proxy):
            pass

        @pytest.mark.chaos("process-pause", ttl_s=-1, target={"type": "process", "pid": 1})
        def test_bad_ttl():
            pass

        @pytest.mark.chaos("cpu-burn", target={"type": "kubernetes", "namespace": "ml",
                                               "selector": {"app": "m"}})
        def test_wrong_target_kind():
            pass

        @pytest.mark.chaos("hook", hook="predict", rte=0.5)
        def test_bad_hook_option():
            pass

        def test_invalid_experiment(chaos_experiment, tmp_path):
            p = tmp_path / "bad.yaml"
            p.write_text("title: t\\nmethod:\\n  - fault: {type: cpu-burn, workers: 0}\\n    duration_s: 1\\n")
            chaos_experiment(p)
        """
    )
    res = inner.runpytest("-p", "no:cacheprovider")
    res.assert_outcomes(failed=8)
    out = res.stdout.str()
    expected = [
        "chaos marker: unknown fault type 'proxy-latncy'; known: ",
        "chaos marker 'proxy-latency': latency_ms: input should be a valid integer, unable to "
        "parse string as an integer, got 'slow'",
        "chaos marker 'proxy-latency': colour: is not a known field",
        "chaos marker 'proxy-latency': blast_radius.fraction: must be <= 1, got 2",
        "chaos marker 'process-pause': ttl_s must be a number of seconds > 0, got -1",
        "chaos marker 'cpu-burn': target: fault 'cpu-burn' acts on this machine and takes "
        "no target, but the target is 'kubernetes'",
        "chaos marker 'hook': rte is not a known field; known: hook, ttl_s, rate, latency_ms",
        "method[0].fault.workers (line 3): must be >= 1, got 0",
    ]
    for line in expected:
        # once in the failure, once in the short summary at most (it is truncated there)
        assert line in out, line
    # printed once in the failure (the short summary repeats it, untruncated under CI=true)
    failures = out.split("short test summary info")[0]
    assert failures.count("method[0].fault.workers (line 3)") == 1
    for noise in ("Traceback", "During handling", "pydantic", "validation error", "plugin.py"):
        assert noise not in out, noise


def test_failure_report_names_the_active_faults(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import httpx, pytest

        @pytest.mark.chaos("proxy-http-error", status=503, ttl_s=7)
        def test_fails_under_fault(chaos_proxy):
            assert httpx.get(chaos_proxy.url + "/").status_code == 200
        """
    )
    res = inner.runpytest("-p", "no:cacheprovider")
    res.assert_outcomes(failed=1)
    res.stdout.fnmatch_lines(
        [
            "*aichaos: faults active during the test*",
            "  - proxy-http-error(status=503) on proxy upstream at http://127.0.0.1:*, ttl_s=7",
        ]
    )


def test_marker_fault_is_renewed_during_a_long_test(inner: pytest.Pytester) -> None:
    # the toxic expires on the proxy ttl_s after its last renewal: without renewal the
    # second half of the body would see 200s
    inner.makepyfile(
        """
        import time, httpx, pytest

        @pytest.mark.chaos("proxy-http-error", status=503, ttl_s=1.5)
        def test_long(chaos_proxy):
            statuses = []
            for _ in range(8):
                statuses.append(httpx.get(chaos_proxy.url + "/").status_code)
                time.sleep(0.5)
            assert statuses == [503] * 8
        """
    )
    res = inner.runpytest("-p", "no:cacheprovider")
    res.assert_outcomes(passed=1)


_TTL_S = 2.0
_SLACK_S = 4.0


@pytest.mark.parametrize("death", ["kill-9", "sigterm", "pytest-timeout-thread"])
def test_watchdog_resumes_a_paused_victim_when_pytest_dies(
    inner: pytest.Pytester, tmp_path: Path, death: str
) -> None:
    victim = start_sleeper("120")
    ready = tmp_path / "ready"
    timeout = '@pytest.mark.timeout(4, method="thread")' if death.endswith("thread") else ""
    inner.makepyfile(
        f"""
        import pathlib, time, pytest

        @pytest.mark.chaos("process-pause", target={{"type": "process", "pid": {victim.pid}}},
                           ttl_s={_TTL_S})
        {timeout}
        def test_long():
            pathlib.Path({str(ready)!r}).write_text("paused")
            time.sleep(60)
        """
    )
    proc = inner.popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"],
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not ready.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert ready.exists(), proc.communicate(timeout=10)
        assert process_state(victim.pid) == "T"
        if death == "kill-9":
            os.kill(proc.pid, signal.SIGKILL)
        elif death == "sigterm":
            os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
        died = time.monotonic()
        assert process_state(victim.pid) == "T"  # nothing reverted it on the way out
        deadline = died + _TTL_S + _SLACK_S
        while process_state(victim.pid) == "T" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process_state(victim.pid) != "T", f"still paused {_TTL_S + _SLACK_S}s after"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        _stop(victim)


def test_factory_in_front_of_an_https_upstream(chaos_proxy_factory: object, tmp_path: Path) -> None:
    import http.server
    import ssl
    import threading

    import httpx
    import trustme

    from aichaos.errors import ValidationError

    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        url = f"https://127.0.0.1:{server.server_address[1]}/"
        handle = chaos_proxy_factory(url, upstream_tls={"ca_file": str(ca_file)})  # type: ignore[operator]
        r = httpx.get(handle.url + "/", timeout=10)
        assert r.status_code == 200 and r.text == "ok"
        proxy = httpx.get(f"{handle.api_url}/proxies/upstream", timeout=10).json()
        assert proxy["upstream_tls"]["ca_file"] == str(ca_file)
        for bad in ("ftp://x:1", "no-port", 8000):
            with pytest.raises(ValidationError, match="upstream"):
                chaos_proxy_factory(bad)  # type: ignore[operator]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
