"""A small Ray Train job for preemption experiments: ``TorchTrainer`` on a local Ray.

::

    python -m aichaos.demo.ray_trainer --out DIR [--steps 60] [--ckpt-every 10]

    driver (this process: ray.init on 127.0.0.1, TorchTrainer.fit)
      ├── gcs_server, raylet, ...               Ray's own processes
      ├── ray::TrainController                  restarts the worker group on a failure
      └── ray::RayTrainWorker  x --workers      the training loop below (gloo, CPU)
            rank 0 ── reporter ──► DIR/metrics.jsonl   (the ``training`` probe)
                   ── checkpoints ──► DIR/results/      (ray.train.report)

Each worker trains on its share of every global batch of the same seeded synthetic
data set as the ``torchrun`` demo; ``prepare_model`` averages the gradients. Every
``--ckpt-every`` steps the workers report, rank 0 with a checkpoint (model, optimizer,
step); after a failure Ray starts a new worker group (``FailureConfig(max_failures)``)
whose workers resume from ``ray.train.get_checkpoint()``, so a resumed run repeats the
fault-free run's losses step for step.

What an experiment judges comes from outside aichaos: rank 0's reporter lines, one line
per worker start in ``DIR/workers.jsonl`` (pid, rank, the checkpoint step it resumed
from), ``DIR/driver.json`` (the driver's and Ray's pids, the temp dir) and, at the end,
``DIR/result.json`` (Ray's result: error, last metrics, checkpoint). Ray stays on this
machine: no dashboard, no usage stats, every address 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

__all__ = ["main", "ray_missing", "train_loop"]

#: the module's own exit code when Ray Train or PyTorch is not installed
EXIT_MISSING = 3
#: how long rank 0 waits for Ray to commit a checkpoint before it fails the worker
COMMIT_TIMEOUT_S = 120.0


def ray_missing() -> str | None:
    """Why the Ray Train job cannot run here (ray[train] or torch missing), or None.

    Imports Ray: call it after :data:`RAY_ENV` is in the environment.
    """
    import importlib

    for name in ("ray.train.torch", "torch"):  # ray first: without it, fail before torch loads
        try:
            importlib.import_module(name)
        except ImportError as exc:
            return (
                f"the Ray Train job needs ray[train] and torch ({exc}): "
                "pip install 'aichaos[ray-train]' (a CPU wheel of torch is enough)"
            )
    return None


def _write(path: Path, text: str) -> None:
    """Whole or not at all: a reader (a pid_file target) never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _append(path: Path, record: dict[str, Any]) -> None:
    """One JSON line in one write on an O_APPEND file: workers never interleave."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (json.dumps(record) + "\n").encode())
    finally:
        os.close(fd)


def train_loop(config: dict[str, Any]) -> None:
    """One Ray Train worker's loop: resume, train, checkpoint, evaluate (rank 0 reports)."""
    import ray.train
    import ray.train.torch
    import torch

    from aichaos.demo.trainer import BATCH, new_model, synthetic_data
    from aichaos.training.reporter import TrainingReporter, torch_step

    torch.set_num_threads(1)
    out = Path(config["out"])
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    rep = TrainingReporter(out / "metrics.jsonl", rank=rank)
    model, opt = new_model(config["seed"])
    first = 0
    ckpt = ray.train.get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as d:
            state = torch.load(Path(d) / "state.pt", weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        first = int(state["step"])
    ddp = ray.train.torch.prepare_model(model)
    _write(out / f"rank-{rank}.pid", f"{os.getpid()}\n")
    _append(
        out / "workers.jsonl",
        {"t": time.time(), "pid": os.getpid(), "rank": rank, "resumed_from": first},
    )
    print(f"rank {rank} pid {os.getpid()}: resumed from checkpoint step {first}", flush=True)
    rep.start(resumed_from=first if ckpt else None, checkpoint=ckpt.path if ckpt else None)
    steps, every, pace = config["steps"], config["ckpt_every"], config["step_s"]
    x, y, x_eval, y_eval = synthetic_data(config["seed"])
    share = BATCH // world

    def evaluate(step: int) -> None:
        if rank == 0:
            with torch.no_grad():
                acc = (model(x_eval).argmax(1) == y_eval).float().mean().item()
            rep.eval(step, acc)

    for step in range(first + 1, steps + 1):
        t0 = time.monotonic()
        idx = (torch.arange(BATCH) + step * BATCH) % len(x)
        mine = idx[rank * share : (rank + 1) * share]
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(ddp(x[mine]), y[mine])
        loss.backward()
        # the loss of rank 0's share; the gradients are the group's average (DDP)
        torch_step(rep, step, loss, BATCH, model)
        opt.step()
        if step % every == 0 or step == steps:
            rep.checkpoint(step, _checkpoint(rank, step, model, opt, float(loss.item())))
            evaluate(step)
        time.sleep(max(0.0, pace - (time.monotonic() - t0)))
    rep.done()


def _checkpoint(rank: int, step: int, model: Any, opt: Any, loss: float) -> str | None:
    """Every worker reports (a barrier); rank 0 hands Ray the checkpoint and waits until
    Ray has committed it. Returns the committed checkpoint's path on rank 0.

    Ray Train commits a reported checkpoint when its controller next polls the workers
    (every ``RAY_TRAIN_HEALTH_CHECK_INTERVAL_S``); a worker lost before then loses the
    checkpoint with it, and the new group resumes from the one before. Counting a
    checkpoint durable only once committed keeps the lost work within one interval.
    """
    import ray.train
    import torch
    from ray.train import CheckpointConsistencyMode

    with tempfile.TemporaryDirectory(prefix="ckpt") as d:
        ckpt = None
        if rank == 0:
            state = {"model": model.state_dict(), "opt": opt.state_dict(), "step": step}
            torch.save(state, Path(d) / "state.pt")
            ckpt = ray.train.Checkpoint.from_directory(d)
        ray.train.report({"step": step, "loss": loss}, checkpoint=ckpt)
    if rank != 0:
        return None
    committed = ray.train.get_all_reported_checkpoints(
        consistency_mode=CheckpointConsistencyMode.COMMITTED, timeout_s=COMMIT_TIMEOUT_S
    )
    mine = [c for c in committed if c.metrics.get("step") == step]
    if not mine:  # unknown is not durable: fail the worker, Ray restarts the group
        raise RuntimeError(f"Ray did not commit the checkpoint of step {step}")
    return str(mine[-1].checkpoint.path)


def _ray_pids(temp_dir: str) -> dict[str, int]:
    """Ray's own processes of this temp dir (gcs_server, raylet), by executable name."""
    out: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        name = os.path.basename(argv[0].decode(errors="replace"))
        if name in ("gcs_server", "raylet") and temp_dir.encode() in b" ".join(argv):
            out[name] = int(entry.name)
    return out


def _parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m aichaos.demo.ray_trainer",
        description="a small Ray Train (TorchTrainer, gloo, CPU) job on a local Ray",
    )
    ap.add_argument("--out", type=Path, required=True, help="the job's folder")
    ap.add_argument("--steps", type=int, default=60, help="optimisation steps")
    ap.add_argument("--ckpt-every", type=int, default=10, help="steps between checkpoints")
    ap.add_argument("--step-s", type=float, default=0.1, help="pace of a step, in seconds")
    ap.add_argument("--workers", type=int, default=2, help="Ray Train workers")
    ap.add_argument("--max-failures", type=int, default=1, help="FailureConfig.max_failures")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--temp-dir", type=Path, help="Ray's temp dir (default: a new one in /tmp)")
    args = ap.parse_args(argv)
    limits = {
        "steps": (1, 100_000),
        "ckpt_every": (1, 100_000),
        "workers": (1, 8),
        "max_failures": (0, 100),
        "step_s": (0.0, 10.0),
    }
    for name, (low, high) in limits.items():
        value = getattr(args, name)
        if not low <= value <= high:
            ap.error(f"--{name.replace('_', '-')} must be in [{low}, {high}], got {value}")
    if args.temp_dir is not None and len(str(args.temp_dir)) > 40:
        # Ray's unix sockets live under it, and a socket path has at most 107 bytes
        ap.error(f"--temp-dir must be at most 40 characters long, got {str(args.temp_dir)!r}")
    return args


#: set before ray is imported (its constants are read at import) and inherited by every
#: Ray process and worker
RAY_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    # a local Ray only: every address 127.0.0.1 (Ray's own switch, as on macOS)
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    # each worker line as it was printed (the log is what a test reads)
    "RAY_DEDUP_LOGS": "0",
    "GLOO_SOCKET_IFNAME": "lo",
    "OMP_NUM_THREADS": "1",
    "PYTHONUNBUFFERED": "1",
}


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """Run the job; 0 when Ray reports it finished, 1 when it failed, 3 without Ray."""
    args = _parse(argv)
    if sys.modules.get("ray") is not None:
        raise RuntimeError("run the Ray Train job in a process of its own (ray is imported)")
    os.environ.update(RAY_ENV)
    signal.signal(signal.SIGTERM, _on_sigterm)
    if why := ray_missing():
        print(why, file=sys.stderr)
        return EXIT_MISSING
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    own_temp = args.temp_dir is None
    temp_dir = str(args.temp_dir or tempfile.mkdtemp(prefix="r", dir="/tmp"))
    try:
        return _fit(args, out, temp_dir)
    finally:
        if own_temp:
            shutil.rmtree(temp_dir, ignore_errors=True)


def _fit(args: argparse.Namespace, out: Path, temp_dir: str) -> int:
    import ray
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    ray.init(
        # a worker asks Ray for one CPU: fewer than --workers and the group never starts
        num_cpus=max(2, args.workers),
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        _temp_dir=temp_dir,
        configure_logging=False,
    )
    # SIGTERM unwinds like Ctrl-C, so ray.shutdown() and the temp dir's removal run
    # (ray.init put in a handler of its own that aborts the driver, leaving Ray to die
    # of its parent's death)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        info = {"pid": os.getpid(), "temp_dir": temp_dir, **_ray_pids(temp_dir)}
        _write(out / "driver.json", json.dumps(info, indent=1))
        _write(out / "driver.pid", f"{os.getpid()}\n")
        trainer = TorchTrainer(
            train_loop,
            train_loop_config={
                "out": str(out),
                "steps": args.steps,
                "ckpt_every": args.ckpt_every,
                "step_s": args.step_s,
                "seed": args.seed,
            },
            torch_config=TorchConfig(backend="gloo"),
            scaling_config=ScalingConfig(num_workers=args.workers, use_gpu=False),
            run_config=RunConfig(
                name="aichaos-ray-train",
                storage_path=str(out / "results"),
                failure_config=FailureConfig(max_failures=args.max_failures),
                checkpoint_config=CheckpointConfig(num_to_keep=3),
            ),
        )
        error: str | None = None
        metrics: dict[str, Any] = {}
        checkpoint = None
        try:
            result = trainer.fit()
            metrics = dict(result.metrics or {})
            checkpoint = result.checkpoint.path if result.checkpoint else None
            if result.error is not None:
                error = repr(result.error)
        except Exception as exc:  # Ray's TrainingFailedError: the run gave up
            error = repr(exc)
        except SystemExit as exc:  # SIGTERM: say so, then shut Ray down on the way out
            stopped: dict[str, Any] = {
                "error": f"stopped (exit {exc.code})",
                "metrics": {},
                "checkpoint": None,
            }
            _write(out / "result.json", json.dumps(stopped))
            raise
        result_doc = {"error": error, "metrics": metrics, "checkpoint": checkpoint}
        _write(out / "result.json", json.dumps(result_doc, indent=1))
        print(f"ray train job {'failed: ' + error if error else 'finished'}", flush=True)
        return 1 if error else 0
    finally:
        with contextlib.suppress(Exception):
            ray.shutdown()


if __name__ == "__main__":
    # the real module's main: Ray pickles train_loop by reference, not from __main__
    from aichaos.demo.ray_trainer import main as _main

    sys.exit(_main())
