"""The training demo's trainer: a small PyTorch classifier under ``torchrun`` (gloo, CPU).

Each of the ``WORLD_SIZE`` ranks trains on its share of every global batch of a seeded
synthetic data set (four Gaussian classes, nothing downloaded); gradients are averaged
with ``all_reduce``. Rank 0 writes a checkpoint every ``--ckpt-every`` steps (atomic,
with a checksum: :mod:`aichaos.demo.checkpoints`) and reports through
:class:`~aichaos.training.reporter.TrainingReporter`. Every (re)start resumes from the
latest good checkpoint (``--no-verify``: from the newest file, unchecked), restoring
model and optimizer, so a resumed run repeats the fault-free run's losses step for step.

SIGTERM (a preemption notice) makes a rank stop at the next step boundary; rank 0 then
saves a final checkpoint. A stopped rank exits 143, so the elastic agent restarts the
group. Run by :class:`aichaos.demo.training.TrainingJob`::

    torchrun --nnodes=1 --nproc-per-node=2 -m aichaos.demo.trainer --dir D --metrics M
"""

from __future__ import annotations

import argparse
import ctypes
import io
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn, TypeVar

__all__ = ["main", "new_model", "synthetic_data"]

FEATURES, CLASSES, BATCH = 16, 4, 64
B = TypeVar("B")


def synthetic_data(seed: int) -> tuple[Any, Any, Any, Any]:
    """The demo's seeded data set: training inputs and labels, then held-out ones."""
    import torch

    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(CLASSES, FEATURES, generator=g) * 1.2
    y = torch.randint(0, CLASSES, (2560,), generator=g)
    x = centers[y] + torch.randn(2560, FEATURES, generator=g)
    return x[:2048], y[:2048], x[2048:], y[2048:]


def new_model(seed: int) -> tuple[Any, Any]:
    """The demo's classifier, seeded, and its optimizer (the same in every launcher)."""
    import torch

    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(FEATURES, 32), torch.nn.ReLU(), torch.nn.Linear(32, CLASSES)
    )
    return model, torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)


def _store(rank: int, world: int) -> Any:
    """The rendezvous store, keyed by restart: the agent's store outlives a restart, and
    keys the previous attempt's ranks left there (their gloo addresses) must not be read
    as this attempt's, or a restarted rank dials a dead peer (connection refused)."""
    from datetime import timedelta

    import torch.distributed as dist

    agent = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
    base = dist.TCPStore(
        os.environ["MASTER_ADDR"],
        int(os.environ["MASTER_PORT"]),
        world_size=world,
        is_master=rank == 0 and not agent,
        timeout=timedelta(seconds=120),
    )
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    prefix = f"/aichaos-trainer/attempt_{attempt}"
    return dist.PrefixStore(prefix, base)


def main(argv: list[str] | None = None) -> int:
    """Train; 0 when done (a SIGTERM ends the process with 143 at a step boundary)."""
    ap = argparse.ArgumentParser(prog="aichaos.demo.trainer")
    ap.add_argument("--dir", type=Path, required=True, help="checkpoint directory")
    ap.add_argument("--metrics", type=Path, required=True, help="the reporter's file")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--ckpt-every", type=int, default=25)
    ap.add_argument("--step-s", type=float, default=0.02, help="pace of a step")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-verify", action="store_true", help="resume without the checksum")
    ap.add_argument("--guard", action="store_true", help="skip a step with non-finite grads")
    args = ap.parse_args(argv)
    _end_with_agent()
    stop: list[float] = []
    training: list[bool] = []

    def on_term(signum: int, frame: FrameType | None) -> None:
        if not training:  # still importing or meeting the other ranks: nothing to save
            _exit(143)
        stop.append(time.time())

    signal.signal(signal.SIGTERM, on_term)

    import torch
    import torch.distributed as dist

    from aichaos.demo.checkpoints import resume, save
    from aichaos.training.reporter import TrainingReporter, torch_step

    torch.set_num_threads(1)
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    dist.init_process_group("gloo", store=_store(rank, world), rank=rank, world_size=world)
    rep = TrainingReporter(args.metrics, rank=rank)
    model, opt = new_model(args.seed)

    def load(payload: bytes) -> int:
        state = torch.load(io.BytesIO(payload), weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        return int(state["step"])

    args.dir.mkdir(parents=True, exist_ok=True)
    found = resume(args.dir, load, verify=not args.no_verify)
    first = found[2] if found else 0
    rep.start(resumed_from=first if found else None, checkpoint=str(found[1]) if found else None)
    x, y, x_eval, y_eval = synthetic_data(args.seed)
    share = BATCH // world

    def batches() -> Iterator[tuple[Any, Any]]:
        for step in range(first + 1, args.steps + 1):
            idx = (torch.arange(BATCH) + step * BATCH) % len(x)
            mine = idx[rank * share : (rank + 1) * share]
            yield x[mine], y[mine]

    feed = iter(_hooks(rank, model, opt, args.metrics.with_name("control.json"), batches()))

    def checkpoint(step: int) -> None:
        if rank == 0:
            buf = io.BytesIO()
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step}, buf)
            rep.checkpoint(step, str(save(args.dir, step, buf.getvalue())))

    def evaluate(step: int) -> None:
        if rank == 0:
            with torch.no_grad():
                acc = (model(x_eval).argmax(1) == y_eval).float().mean().item()
            rep.eval(step, acc)

    training.append(True)
    for step in range(first + 1, args.steps + 1):
        if stop:
            checkpoint(step - 1)
            print(f"rank {rank}: SIGTERM, stopped after step {step - 1}", flush=True)
            _exit(143)
        t0 = time.monotonic()
        batch = next(feed, None)
        if batch is None:  # a loader fault skipped batches: the data ran out first
            break
        xb, yb = batch
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(xb), yb)
        loss.backward()
        for p in model.parameters():
            assert p.grad is not None
            dist.all_reduce(p.grad)
            p.grad /= world
        torch_step(rep, step, loss, BATCH, model)
        finite = all(bool(torch.isfinite(p.grad).all()) for p in model.parameters())
        if finite or not args.guard:  # the guard skips the step (every rank: grads are reduced)
            opt.step()
        if step % args.ckpt_every == 0:
            checkpoint(step)
            evaluate(step)
        time.sleep(max(0.0, args.step_s - (time.monotonic() - t0)))
    evaluate(args.steps)
    rep.done()
    dist.destroy_process_group()
    return 0


def _hooks(rank: int, model: Any, opt: Any, control: Path, batches: Iterator[B]) -> Iterable[B]:
    """Rank 0's training hooks and control endpoint; the batches as rank 0 will get them.

    The NaN-gradient and stalled-loader experiments arm them (the endpoint's URL and
    token go to ``control`` for the experiment's target). A NaN in rank 0's gradients
    reaches every rank through the all_reduce; a stall on rank 0 holds every rank there.
    """
    if rank != 0:
        return batches
    from aichaos.inprocess import BOARD, ControlServer
    from aichaos.training import LoaderHook, TorchHook

    TorchHook("trainer").attach(model, opt)
    loader = LoaderHook("loader")
    server = ControlServer(BOARD).start()
    tmp = control.with_suffix(".tmp")
    tmp.write_text(json.dumps({"url": server.url, "token": server.token}))
    tmp.replace(control)
    return loader.wrap(batches)


def _end_with_agent() -> None:
    """Have the kernel SIGKILL this worker when its elastic agent dies.

    torchrun starts each worker in a session of its own, out of reach of the demo's stop
    (which signals the agent's process group); a worker whose agent was killed would
    otherwise wait in gloo for peers that are gone, for ever.
    """
    if not sys.platform.startswith("linux"):
        return
    agent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != agent:  # the agent died before the request took hold
        _exit(1)


def _exit(code: int) -> NoReturn:
    """Exit now: an interpreter shutdown with a live gloo group can hang in its threads,
    and the elastic agent waits for every worker before it restarts the group."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    try:
        code = main()
    except BaseException:
        traceback.print_exc()
        _exit(1)
    _exit(code)
