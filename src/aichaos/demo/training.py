"""The training demo's system: the PyTorch trainer under ``torchrun``, one job at a time.

::

    torchrun (elastic agent, --max-restarts N)
      ├── rank 0  ── checkpoints ──► <root>/ckpt/ckpt-<step>.bin   (atomic, checksummed)
      │           ── reporter ─────► <root>/metrics.jsonl          (the training probe)
      └── rank 1      (gloo all_reduce over 127.0.0.1)

:class:`TrainingJob` starts one job in its own directory (its own process group, ending
with its parent: :mod:`aichaos.demo.lifecycle`), waits for its first step, and stops
it. ``aichaos demo --training`` first runs a fault-free job whose metrics file is every
experiment's baseline, then one fresh job per bundled experiment; an experiment's
``job:`` tags choose the job's settings (``job:no-verify`` resumes without the
checksum, ``job:max-restarts=1``; any other ``job:<flag>[=<value>]`` is handed to the
trainer as ``--<flag> [<value>]``).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from aichaos.demo.lifecycle import Child

__all__ = ["TrainingJob", "job_options", "torch_missing"]


def torch_missing() -> str | None:
    """Why the training demo cannot run here (torch not installed), or None."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return (
            "the training demo needs PyTorch: pip install 'aichaos[training]' "
            "(a CPU wheel is enough)"
        )
    return None


def job_options(tags: list[str]) -> tuple[list[str], int]:
    """The trainer's extra arguments and the restart budget an experiment's tags ask for."""
    args: list[str] = []
    restarts = 3
    for tag in tags:
        if not tag.startswith("job:"):
            continue
        flag, _, value = tag[4:].partition("=")
        if not re.fullmatch(r"[a-z][a-z0-9-]*", flag):
            raise ValueError(f"tag {tag!r}: expected job:<flag> or job:<flag>=<value>")
        if flag == "max-restarts":
            restarts = int(value)
        else:
            args += [f"--{flag}", *([value] if value else [])]
    return args, restarts


class TrainingJob:
    """One ``torchrun`` job of :mod:`aichaos.demo.trainer` in ``root``."""

    def __init__(
        self,
        root: Path,
        *,
        trainer_args: list[str] | None = None,
        max_restarts: int = 3,
        nproc: int = 2,
        log: Path | None = None,
    ) -> None:
        self.root = root
        self.ckpt_dir = root / "ckpt"
        self.metrics = root / "metrics.jsonl"
        self.trainer_args = [*(trainer_args or [])]
        self.max_restarts = max_restarts
        self.nproc = nproc
        self.log = log or root / "job.log"
        self.child: Child | None = None
        self.started = 0.0

    def start(self) -> TrainingJob:
        """Launch the job (returns at once; :meth:`wait_training` waits for a step)."""
        self.root.mkdir(parents=True, exist_ok=True)
        argv = [
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nnodes=1",
            f"--nproc-per-node={self.nproc}",
            f"--max-restarts={self.max_restarts}",
            "--monitor-interval=0.1",
            "--local-addr=127.0.0.1",
            "-m",
            "aichaos.demo.trainer",
            "--dir",
            str(self.ckpt_dir),
            "--metrics",
            str(self.metrics),
            *self.trainer_args,
        ]
        env = {"GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        self.started = time.monotonic()
        with open(self.log, "ab") as log:
            self.child = Child("trainer", argv, env=env, log=log)
        return self

    @property
    def pid(self) -> int:
        """The elastic agent's pid."""
        assert self.child is not None
        return self.child.pid

    def records(self, kind: str) -> list[dict[str, Any]]:
        """The reporter's records of ``kind`` so far."""
        if not self.metrics.exists():
            return []
        lines = self.metrics.read_text().splitlines()
        rows = []
        for line in lines:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # the last line, still being written
        return [r for r in rows if r.get("kind") == kind]

    def wait_training(self, timeout_s: float = 120.0) -> float:
        """Until the job reports its first step (imports, rendezvous and resume are done);
        returns the seconds it took since :meth:`start`."""
        deadline = self.started + timeout_s
        while not self.records("step"):
            assert self.child is not None
            if self.child.proc.poll() is not None:
                raise RuntimeError(
                    f"training job exited with {self.child.proc.returncode}: see {self.log}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"training job made no step in {timeout_s:g}s: see {self.log}")
            time.sleep(0.1)
        return time.monotonic() - self.started

    def wait(self, timeout_s: float) -> int | None:
        """The job's exit status, or None if it still runs after ``timeout_s``."""
        assert self.child is not None
        try:
            return self.child.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def values(self) -> dict[str, Any]:
        """What a bundled experiment's template names: files, agent pid, worker pattern,
        and rank 0's in-process control endpoint (the training hooks' experiments)."""
        control = json.loads((self.root / "control.json").read_text())
        return {
            "ckpt_dir": str(self.ckpt_dir),
            "metrics": str(self.metrics),
            "job_pid": self.pid,
            # the workers' command line (the agent's holds it too: faults pick a rank)
            "workers": re.escape(f"aichaos.demo.trainer --dir {self.ckpt_dir}"),
            "control_url": control["url"],
            "control_token": control["token"],
        }

    def stop(self) -> None:
        """Stop the job's process group (idempotent)."""
        if self.child is not None:
            self.child.stop()


if __name__ == "__main__":  # manual: one job in the given folder, until it ends
    job = TrainingJob(Path(sys.argv[1])).start()
    try:
        job.wait_training()
        print(json.dumps(job.values(), indent=2), flush=True)
        print("exit", job.wait(600))
    finally:
        job.stop()
