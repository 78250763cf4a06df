"""A Ray Train job with one worker killed: ``aichaos run examples/training-ray.yaml``.

One real ``TorchTrainer`` job on a local Ray (its own session, so nothing of it can
outlive the module) and one real run of the example against it, for every assertion: a
Ray start costs tens of seconds on this machine. What is asserted comes from outside
aichaos: the process table, Ray's own log lines, the trainer's records and the driver's
result, and the sockets of every process of the job. Long: ``make test-long``.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import ipaddress
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from aichaos.demo.ray_trainer import EXIT_MISSING, main
from aichaos.engine.journal import read_journal
from aichaos.report import load_run
from aichaos.targets import pid_start_time

AICHAOS_RUN = [sys.executable, "-m", "aichaos.cli", "run"]
EXAMPLE = Path(__file__).parents[2] / "examples" / "training-ray.yaml"
STEPS, EVERY = 300, 20
JOB = [
    *("--out", "runs/ray", "--steps", str(STEPS), "--ckpt-every", str(EVERY)),
    *("--step-s", "0.05", "--workers", "2", "--max-failures", "1"),
]


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def _records(path: Path, kind: str) -> list[dict[str, Any]]:
    return [r for r in _lines(path) if r["kind"] == kind]


def long(test: Any) -> Any:
    """The end-to-end tests (the module's one Ray job is set up inside the first one)."""
    return pytest.mark.long(pytest.mark.timeout(600)(test))


def _loopback(ip: str) -> bool:
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped.is_loopback
    return addr.is_loopback


def _session(sid: int) -> list[int]:
    """Live processes of session ``sid`` (a zombie is not live)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.getsid(int(entry.name)) == sid and pid_start_time(int(entry.name)):
                    out.append(int(entry.name))
    return out


def _naming(text: str) -> list[int]:
    """Live processes whose command line holds ``text`` (Ray's temp dir)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if text.encode() in (entry / "cmdline").read_bytes():
                    out.append(int(entry.name))
    return [p for p in out if pid_start_time(p)]


class Watch(threading.Thread):
    """Every 0.25 s until stopped, from the process table: the remote address of every
    socket a process of the job's session has, and when each of the job's own processes
    (driver, raylet, gcs_server, every worker the trainer listed) was first seen gone."""

    def __init__(self, sid: int, out: Path) -> None:
        super().__init__(daemon=True)
        self.sid, self.out = sid, out
        self.peers: set[tuple[str, str]] = set()
        self.born: dict[int, str] = {}
        self.gone: dict[int, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        for _ in range(2400):  # bounded: far more rounds than the module needs
            self._lives()
            self._sockets()
            if self.stop.wait(0.25):
                return

    def own(self) -> dict[str, Any]:
        """What the driver wrote once Ray started: its ``pid``, the ``raylet`` and
        ``gcs_server`` pids and Ray's ``temp_dir``."""
        with contextlib.suppress(OSError, ValueError):
            return dict(json.loads((self.out / "driver.json").read_text()))
        return {}

    def _lives(self) -> None:
        now = time.time()
        own = self.own()
        pids = [own[name] for name in ("pid", "raylet", "gcs_server") if name in own]
        with contextlib.suppress(OSError, ValueError):
            pids += [w["pid"] for w in _lines(self.out / "workers.jsonl")]
        for pid in pids:
            started = pid_start_time(pid)
            if pid not in self.born:
                if started is not None:
                    self.born[pid] = started
            elif started != self.born[pid]:
                self.gone.setdefault(pid, now)

    def _sockets(self) -> None:
        import psutil

        for pid in _session(self.sid):
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(pid)
                for conn in proc.net_connections(kind="inet"):
                    if conn.raddr:
                        self.peers.add((proc.name(), conn.raddr.ip))


def _die_with_test() -> None:  # pragma: no cover - runs in the child before exec
    # SIGTERM, not SIGKILL: the driver shuts Ray down on it (a SIGKILLed driver leaves
    # Ray's dashboard and runtime-env agents running)
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _end(proc: subprocess.Popen[bytes], temp_dir: str | None) -> list[int]:
    """Stop the job on any path: SIGTERM to the driver (it shuts Ray down), then SIGKILL
    to everything left in its session; returns what still lives after that."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)
    left: list[int] = []
    for _ in range(50):  # bounded: 10 s
        left = sorted(set(_session(proc.pid)) | set(_naming(temp_dir) if temp_dir else []))
        if not left:
            break
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)
    if temp_dir:  # the driver's to remove; left only by a driver that was SIGKILLed
        shutil.rmtree(temp_dir, ignore_errors=True)
    return left


def _wait_checkpoint(proc: subprocess.Popen[bytes], out: Path, log: Path) -> None:
    deadline = time.monotonic() + 240
    while not (out / "metrics.jsonl").exists() or not _records(out / "metrics.jsonl", "checkpoint"):
        code = proc.poll()
        if code == EXIT_MISSING:
            pytest.skip(log.read_text().strip().splitlines()[-1])
        assert code is None, f"the Ray job exited with {code}:\n{log.read_text()[-4000:]}"
        assert time.monotonic() < deadline, f"no checkpoint in 240 s:\n{log.read_text()[-4000:]}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The job, the experiment against it, and what the process table said meanwhile."""
    for name in ("torch", "ray"):
        if importlib.util.find_spec(name) is None:
            pytest.skip(f"the Ray Train job needs {name}: pip install 'aichaos[ray-train]'")
    work = tmp_path_factory.mktemp("raytrain")
    out = work / "runs" / "ray"
    out.mkdir(parents=True)
    log = work / "job.log"
    env = {
        **os.environ,
        # the controller polls the workers (and commits checkpoints) every 2 s by default
        "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.5",
        "AICHAOS_KILL_SWITCH": str(work / "halt"),
    }
    r: dict[str, Any] = {"work": work, "out": out, "log": log}
    t0 = time.monotonic()
    with open(log, "wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "aichaos.demo.ray_trainer", *JOB],
            cwd=work,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_test,
        )
    watch = Watch(proc.pid, out)
    watch.start()
    try:
        _wait_checkpoint(proc, out, log)
        r["experiment"] = subprocess.run(
            [*AICHAOS_RUN, str(EXAMPLE), "-q", "--journal", str(work / "run.jsonl")],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        r["code"] = proc.wait(timeout=180)
        # before _end removes it on every path: the driver removed its temp dir itself
        r["temp_left"] = Path(watch.own()["temp_dir"]).exists()
    finally:
        watch.stop.set()
        # Ray's temp dir: the driver makes a short one in /tmp and removes it at exit
        r["temp_dir"] = watch.own().get("temp_dir")
        r["survivors"] = _end(proc, r["temp_dir"])
        watch.join(timeout=5)
        r["peers"], r["born"], r["gone"] = watch.peers, watch.born, watch.gone
        r["own"] = {k: v for k, v in watch.own().items() if k in ("pid", "raylet", "gcs_server")}
        r["wall_s"] = time.monotonic() - t0
    return r


@long
def test_the_verdict_is_the_predicted_one(run: dict[str, Any]) -> None:
    exp = run["experiment"]
    assert exp.returncode == 0, exp.stdout[-3000:] + exp.stderr[-3000:]
    result = load_run(run["work"] / "run.jsonl")
    assert result.complete and result.prediction == "passed"
    assert result.verdict == result.prediction, result.reason
    assert result.faults and all(w.closed for w in result.faults)
    print(f"Ray job and experiment: {run['wall_s']:.1f}s, load {os.getloadavg()}")


def _killed(run: dict[str, Any]) -> dict[str, Any]:
    events = list(read_journal(run["work"] / "run.jsonl"))
    applied = [e for e in events if e["event"] == "fault-applied"]
    reverted = [e for e in events if e["event"] == "fault-reverted"]
    assert len(applied) == len(reverted) == 1
    (victim,) = applied[0]["fault"]["preempted"]
    return {"pid": victim["pid"], "wall": applied[0]["wall"], "effect": reverted[0]["effect"]}


@long
def test_the_killed_process_was_a_ray_train_worker_and_is_gone(run: dict[str, Any]) -> None:
    killed = _killed(run)
    # the pattern matched the two worker actors and nothing else of Ray's
    assert killed["effect"]["seen"] == 2 and killed["effect"]["touched"] == 1
    assert killed["effect"]["killed_after_grace"] == 1  # grace_s 0: SIGKILL, no notice
    first = [w["pid"] for w in _lines(run["out"] / "workers.jsonl")[:2]]
    assert killed["pid"] in first and killed["pid"] in run["born"]  # a worker, as it wrote
    # gone at the kill (the watch looks every 0.25 s and may see it before the engine
    # journals the step as applied); its peer only when Ray ended the group
    assert abs(run["gone"][killed["pid"]] - killed["wall"]) < 1.5
    log = run["log"].read_text()
    # Ray saw its RayTrainWorker actor die with that process
    died = log.index(f"pid: {killed['pid']}")
    assert "class_name: RayTrainWorker" in log[died - 300 : died]


@long
def test_ray_kept_its_own_processes(run: dict[str, Any]) -> None:
    """The driver, raylet and gcs_server lived through the kill until the run was done."""
    done = _records(run["out"] / "metrics.jsonl", "done")[-1]["t"]
    assert sorted(run["own"]) == ["gcs_server", "pid", "raylet"]
    for name, pid in run["own"].items():
        assert pid in run["born"], name
        assert run["gone"].get(pid, math.inf) > done, name


@long
def test_ray_restarted_the_worker_group(run: dict[str, Any]) -> None:
    assert run["code"] == 0, run["log"].read_text()[-4000:]
    assert json.loads((run["out"] / "result.json").read_text())["error"] is None
    assert run["log"].read_text().count("Attempting to start training worker group") == 2
    workers = _lines(run["out"] / "workers.jsonl")
    first, again = workers[:2], workers[2:]
    assert sorted(w["rank"] for w in first) == sorted(w["rank"] for w in again) == [0, 1]
    assert not {w["pid"] for w in first} & {w["pid"] for w in again}
    # Ray ended the whole old group (the survivor too) before it started the new one
    assert all(run["gone"][w["pid"]] < min(a["t"] for a in again) for w in first)


@long
def test_the_new_group_resumed_from_the_last_committed_checkpoint(run: dict[str, Any]) -> None:
    metrics = run["out"] / "metrics.jsonl"
    starts = _records(metrics, "start")
    assert len(starts) == 2 and starts[0]["resumed_from"] is None
    killed_at, again = _killed(run)["wall"], starts[1]
    saved = [c for c in _records(metrics, "checkpoint") if c["t"] < again["t"]]
    assert saved[-1]["t"] < killed_at + 5  # nothing was committed long after the kill
    assert again["resumed_from"] == saved[-1]["step"] > 0
    assert again["checkpoint"] == saved[-1]["path"]
    rank0 = next(w for w in _lines(run["out"] / "workers.jsonl")[2:] if w["rank"] == 0)
    assert f"rank 0 pid {rank0['pid']}: resumed from checkpoint step {saved[-1]['step']}" in (
        run["log"].read_text()
    )
    steps = _records(metrics, "step")
    before = [s for s in steps if s["t"] < again["t"]]
    lost = max(s["step"] for s in before) - again["resumed_from"]
    assert 0 <= lost <= EVERY  # at most one checkpoint interval redone
    # the redone steps repeat the first pass's losses: same weights, same batches
    first = {s["step"]: s["loss"] for s in before}
    redone = [s for s in steps if s["t"] >= again["t"] and s["step"] in first]
    assert len(redone) == lost
    assert all(abs(s["loss"] - first[s["step"]]) < 1e-6 for s in redone)


@long
def test_the_job_finished_and_reached_its_accuracy(run: dict[str, Any]) -> None:
    metrics = run["out"] / "metrics.jsonl"
    assert _records(metrics, "done") and _records(metrics, "step")[-1]["step"] == STEPS
    assert _records(metrics, "eval")[-1]["value"] >= 0.9
    assert json.loads((run["out"] / "result.json").read_text())["metrics"]["step"] == STEPS


@long
def test_ray_dialled_only_loopback(run: dict[str, Any]) -> None:
    assert run["peers"], "no socket of the job was seen: the watch saw nothing"
    assert {(name, ip) for name, ip in run["peers"] if not _loopback(ip)} == set()


@long
def test_no_ray_process_outlives_the_job(run: dict[str, Any]) -> None:
    assert run["survivors"] == []
    assert run["temp_dir"] and run["temp_dir"].startswith("/tmp/r")
    assert _naming(run["temp_dir"]) == []
    assert run["temp_left"] is False and not Path(run["temp_dir"]).exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--steps", "0"], "--steps must be in [1, 100000], got 0"),
        (["--ckpt-every", "0"], "--ckpt-every must be in [1, 100000], got 0"),
        (["--workers", "9"], "--workers must be in [1, 8], got 9"),
        (["--max-failures", "-1"], "--max-failures must be in [0, 100], got -1"),
        (["--step-s", "-0.5"], "--step-s must be in [0.0, 10.0], got -0.5"),
        (["--temp-dir", "/tmp/" + "x" * 40], "--temp-dir must be at most 40 characters"),
        (["--steps", "many"], "argument --steps: invalid int value: 'many'"),
    ],
)
def test_bad_job_flags_are_named(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--out", str(tmp_path), *args])
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_without_ray_the_job_says_what_to_install(tmp_path: Path) -> None:
    """The long tests skip with this message where ray[train] is not installed."""
    hide_ray = (
        "import sys; sys.modules['ray'] = None; "  # import ray raises ImportError
        "from aichaos.demo.ray_trainer import main; sys.exit(main(sys.argv[1:]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", hide_ray, "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == EXIT_MISSING, proc.stderr
    assert "pip install 'aichaos[ray-train]'" in proc.stderr
    assert "No module named 'ray" in proc.stderr and "Traceback" not in proc.stderr
