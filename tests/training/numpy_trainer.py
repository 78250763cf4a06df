"""A plain numpy training loop (no torch): logistic regression with checkpoints and resume.

The real process the training faults are tested on where PyTorch is not needed. It
resumes from the latest good checkpoint (``--no-verify``: the newest, unchecked), reports
through :class:`~aichaos.training.reporter.TrainingReporter`, and on SIGTERM saves a
final checkpoint at the next step boundary and exits 0 (``--ignore-sigterm``: it does
not). Usage::

    python -m tests.training.numpy_trainer --dir CKPTS --metrics M.jsonl --steps 200
"""

from __future__ import annotations

import argparse
import io
import signal
import sys
import time
from pathlib import Path
from types import FrameType

import numpy as np

from aichaos.demo.checkpoints import resume, save
from aichaos.training.reporter import TrainingReporter


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 8))
    return x, (x @ rng.normal(size=8) > 0).astype(float)


def _load(payload: bytes) -> tuple[np.ndarray, int]:
    with np.load(io.BytesIO(payload)) as z:
        return z["w"], int(z["step"])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", type=Path, required=True)
    ap.add_argument("--metrics", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--ckpt-every", type=int, default=10)
    ap.add_argument("--step-s", type=float, default=0.005)
    ap.add_argument("--no-verify", action="store_true")
    ap.add_argument("--ignore-sigterm", action="store_true")
    args = ap.parse_args()
    stop: list[float] = []

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop.append(time.time())

    signal.signal(signal.SIGTERM, signal.SIG_IGN if args.ignore_sigterm else on_term)
    rep = TrainingReporter(args.metrics)
    args.dir.mkdir(parents=True, exist_ok=True)
    found = resume(args.dir, _load, verify=not args.no_verify)
    w, first = (np.zeros(8), 0) if found is None else found[2]
    rep.start(resumed_from=first if found else None, checkpoint=str(found[1]) if found else None)
    x, y = _data()
    for step in range(first + 1, args.steps + 1):
        idx = np.arange(step * 32, step * 32 + 32) % len(x)
        p = 1 / (1 + np.exp(-(x[idx] @ w)))
        eps = 1e-9
        loss = float(-np.mean(y[idx] * np.log(p + eps) + (1 - y[idx]) * np.log(1 - p + eps)))
        w = w - 0.5 * x[idx].T @ (p - y[idx]) / len(idx)
        rep.step(step, loss, samples=len(idx))
        time.sleep(args.step_s)
        if step % args.ckpt_every == 0 or stop:
            buf = io.BytesIO()
            np.savez(buf, w=w, step=step)
            path = save(args.dir, step, buf.getvalue())
            rep.checkpoint(step, str(path))
        if stop:
            print(f"sigterm: saved step {step} after {time.time() - stop[0]:.3f}s", flush=True)
            return 0
    acc = float(np.mean(((x @ w) > 0) == y))
    rep.eval(args.steps, acc)
    rep.done()
    print(f"done: accuracy {acc:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
