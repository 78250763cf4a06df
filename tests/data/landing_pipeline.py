"""A polling pipeline the data-corrupt tests run as a real process.

It watches a landing folder for Parquet batches, validates each new or changed one the way
a data team would (no nulls, labels 0/1, positive rate 0.20 +/- 0.05), trains a
nearest-centroid classifier on the accepted batches and scores it on a clean holdout.
Like many landing loaders it takes a file only once its mtime is ``settle_s`` old.

``python -m tests.data.landing_pipeline LANDING STATE_DIR`` writes ``STATE_DIR/status.json``
(atomically; read by :func:`status`, the experiments' ``python`` probe) and appends one
line per validation to ``STATE_DIR/log.jsonl``: what the pipeline itself observed.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROWS = 10_000
POSITIVE_RATE = 0.2


def make_batch(seed: int, rows: int = ROWS) -> pd.DataFrame:
    """A clean batch: exactly 20 % positives, the feature shifted by the label."""
    rng = np.random.default_rng(seed)
    label = np.zeros(rows, dtype=np.int64)
    label[: int(rows * POSITIVE_RATE)] = 1
    rng.shuffle(label)
    x = rng.normal(0.0, 1.0, rows) + 2.5 * label
    return pd.DataFrame({"x": x, "label": label})


def validate(df: pd.DataFrame) -> str | None:
    """Why the batch is rejected, or None."""
    if list(df.columns) != ["x", "label"]:
        return f"columns {list(df.columns)}"
    if df.isna().any().any():
        return "nulls"
    if not df["label"].isin([0, 1]).all():
        return "labels outside 0/1"
    rate = float(df["label"].mean())
    if abs(rate - POSITIVE_RATE) > 0.05:
        return f"positive rate {rate:.3f}"
    return None


def status(state_dir: str) -> dict[str, float]:
    """The pipeline's latest status (the ``python`` probe of the experiments)."""
    data = json.loads((Path(state_dir) / "status.json").read_text())
    return {k: float(v) for k, v in data.items()}


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def run(landing: Path, state: Path, poll_s: float, settle_s: float, max_s: float) -> None:
    """Poll ``landing`` until ``max_s`` has passed (bounded: a test never leaves it behind)."""
    holdout = make_batch(10_000)
    seen: dict[str, tuple[int, int, int]] = {}
    accepted: dict[str, pd.DataFrame] = {}
    rejected: set[str] = set()
    rejected_total = 0
    log = (state / "log.jsonl").open("a")
    end = time.monotonic() + max_s
    while time.monotonic() < end:
        now = time.time_ns()
        for p in sorted(landing.glob("*.parquet")):
            try:
                st = p.stat()
                key = (st.st_ino, st.st_mtime_ns, st.st_size)
                if seen.get(p.name) == key or now - st.st_mtime_ns < settle_s * 1e9:
                    continue
                raw = p.read_bytes()
                why = validate(pd.read_parquet(p))
            except FileNotFoundError:
                continue
            except Exception as exc:  # an unreadable batch is a rejected batch
                why = f"unreadable: {type(exc).__name__}"
            seen[p.name] = key
            sha = hashlib.sha256(raw).hexdigest()
            log.write(json.dumps({"file": p.name, "ok": why is None, "why": why, "sha": sha}))
            log.write("\n")
            log.flush()
            if why is None:
                accepted[p.name] = pd.read_parquet(p)
                rejected.discard(p.name)
            else:
                accepted.pop(p.name, None)
                rejected.add(p.name)
                rejected_total += 1
        accuracy = 0.0
        if accepted:
            train = pd.concat(accepted.values())
            c0 = train.loc[train.label == 0, "x"].mean()
            c1 = train.loc[train.label == 1, "x"].mean()
            pred = (abs(holdout.x - c1) < abs(holdout.x - c0)).astype(int)
            accuracy = float((pred == holdout.label).mean())
        _write(
            state / "status.json",
            {
                "rejected": len(rejected),
                "rejected_total": rejected_total,
                "accepted": len(accepted),
                "accuracy": accuracy,
            },
        )
        time.sleep(poll_s)


if __name__ == "__main__":
    run(
        Path(sys.argv[1]),
        Path(sys.argv[2]),
        poll_s=float(sys.argv[3]) if len(sys.argv) > 3 else 0.05,
        settle_s=float(sys.argv[4]) if len(sys.argv) > 4 else 0.3,
        max_s=float(sys.argv[5]) if len(sys.argv) > 5 else 120.0,
    )
