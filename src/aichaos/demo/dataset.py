"""The demo's data and model: scikit-learn's bundled wine dataset, batches, validation, training.

Everything is seeded: the split, the batch order and the jitter of replayed batches.
Heavy libraries (numpy, pandas, scikit-learn) load only in the demo's own processes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "BATCH_ROWS",
    "Data",
    "load_data",
    "read_batch",
    "sha256_file",
    "train",
    "validate_batch",
    "write_batch",
]

BATCH_ROWS = 24
LABEL = "target"


@dataclass
class Data:
    """Feature table (``id`` + features + ``target``), its holdout and validation bounds."""

    frame: Any  # pandas.DataFrame, all rows, indexed by id
    train_ids: list[int]
    holdout_ids: list[int]
    features: list[str]
    bounds: dict[str, tuple[float, float]]
    majority: int


def load_data(seed: int = 7) -> Data:
    """The wine dataset bundled with scikit-learn (178 rows, 13 features, 3 classes)."""
    import numpy as np
    from sklearn.datasets import load_wine

    bunch = load_wine(as_frame=True)
    frame = bunch.frame.copy()
    frame.columns = [c.replace("/", "_") for c in frame.columns]
    frame.insert(0, "id", range(len(frame)))
    frame = frame.set_index("id", drop=False)
    rng = np.random.default_rng(seed)
    ids = rng.permutation(len(frame)).tolist()
    holdout = sorted(ids[:40])
    train_ids = ids[40:]
    features = [c for c in frame.columns if c not in ("id", LABEL)]
    bounds = {}
    for c in features:
        lo, hi = float(frame[c].min()), float(frame[c].max())
        margin = 0.25 * (hi - lo)  # room for honest variation, none for unit errors
        bounds[c] = (lo - margin, hi + margin)
    majority = int(frame[LABEL].value_counts().idxmax())
    return Data(frame, train_ids, holdout, features, bounds, majority)


def batch_frame(data: Data, index: int, seed: int = 7) -> Any:
    """Batch ``index``: a slice of the training rows; later rounds get a little jitter."""
    import numpy as np

    per_round = len(data.train_ids) // BATCH_ROWS
    rnd, pos = divmod(index, per_round)
    ids = data.train_ids[pos * BATCH_ROWS : (pos + 1) * BATCH_ROWS]
    batch = data.frame.loc[ids].copy()
    if rnd:
        rng = np.random.default_rng([seed, index])
        for c in data.features:
            std = float(data.frame[c].std())
            batch[c] = batch[c] + rng.normal(0.0, 0.02 * std, len(batch))
    return batch.reset_index(drop=True)


def write_batch(batch: Any, folder: Path, index: int) -> Path:
    """Land ``batch`` atomically, as Parquet for even indexes and CSV for odd ones."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".parquet" if index % 2 == 0 else ".csv"
    final = folder / f"batch-{index:05d}{suffix}"
    tmp = folder / f".{final.name}.tmp"
    if suffix == ".parquet":
        batch.to_parquet(tmp, index=False)
    else:
        batch.to_csv(tmp, index=False)
    tmp.replace(final)
    return final


def read_batch(path: Path) -> Any:
    """Read a landed batch (Parquet or CSV)."""
    import pandas as pd

    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path)


def validate_batch(batch: Any, data: Data) -> list[str]:
    """Problems of a batch (empty list = valid): schema, nulls, ranges, label domain."""
    problems: list[str] = []
    expected = ["id", *data.features, LABEL]
    missing = [c for c in expected if c not in batch.columns]
    extra = [c for c in batch.columns if c not in expected]
    if missing or extra:
        problems.append(f"schema: missing {missing}, unexpected {extra}")
        return problems
    if len(batch) == 0:
        return ["empty batch"]
    nulls = int(batch[expected].isna().sum().sum())
    if nulls:
        problems.append(f"{nulls} null cell(s)")
    for c in data.features:
        lo, hi = data.bounds[c]
        col = batch[c]
        try:
            bad = int(((col < lo) | (col > hi)).sum())
        except TypeError:
            problems.append(f"{c}: not numeric")
            continue
        if bad:
            problems.append(f"{c}: {bad} value(s) outside [{lo:.3g}, {hi:.3g}]")
    labels = set(batch[LABEL].dropna().unique().tolist())
    if not labels <= {0, 1, 2}:
        problems.append(f"{LABEL}: unknown classes {sorted(labels - {0, 1, 2})}")
    return problems


def train(batches: list[Any], data: Data, seed: int = 7) -> tuple[Any, float]:
    """Fit scaler + logistic regression on ``batches``; returns (model, holdout accuracy)."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame = pd.concat(batches, ignore_index=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, random_state=seed))
    model.fit(frame[data.features].to_numpy(), frame[LABEL].to_numpy())
    hold = data.frame.loc[data.holdout_ids]
    accuracy = float(model.score(hold[data.features].to_numpy(), hold[LABEL].to_numpy()))
    return model, accuracy


def write_requests(path: Path, data: Data) -> None:
    """Labelled requests for the load generator, one per entity: ``{"id", "expected"}``."""
    with open(path, "w") as f:
        for i in data.frame.index:
            f.write(json.dumps({"id": int(i), "expected": int(data.frame.loc[i, LABEL])}) + "\n")


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_version(root: Path, version: str, model: Any, meta: dict[str, Any]) -> Path:
    """Write ``root/version/model.joblib`` and ``meta.json`` (with the artifact's SHA-256)."""
    import joblib

    folder = root / version
    tmp = root / f".{version}.tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, tmp / "model.joblib")
    meta = {**meta, "sha256": sha256_file(tmp / "model.joblib")}
    (tmp / "meta.json").write_text(json.dumps(meta))
    tmp.replace(folder)
    return folder
