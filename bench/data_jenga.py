"""Benchmark: aichaos corruptions side by side with the real Jenga 0.0.1a1.

Jenga declares Python < 3.10, so it runs in a Python 3.9 venv (made on first use under
``~/.cache/aichaos-bench``, ``pip install jenga==0.0.1a1``) as a worker process
(``bench/jenga_worker.py``) that holds the same columns. Each round asks the worker for
one Jenga call and times one aichaos call in this process, alternating who goes first;
best of REPEATS each. Both sides time the call alone (``gc.collect()`` before it).

Python 3.9 is looked for as ``$AICHAOS_JENGA_PYTHON``, ``python3.9`` on PATH, or pyenv's
``~/.pyenv/versions/3.9*``; where there is none (or pip cannot install Jenga) the bench
says why and exits 0. Run: ``python bench/data_jenga.py [--rows N]``.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aichaos.data import make

REPEATS = 7
JENGA = "jenga==0.0.1a1"
VENV = Path.home() / ".cache" / "aichaos-bench" / "jenga-0.0.1a1-py39"


def python39() -> str | None:
    """A Python 3.9 interpreter that runs, or None."""
    candidates = [os.environ.get("AICHAOS_JENGA_PYTHON")]
    candidates += [
        str(p) for p in sorted((Path.home() / ".pyenv/versions").glob("3.9*/bin/python"))
    ]
    candidates.append(shutil.which("python3.9"))  # may be a pyenv shim of no active version
    for py in candidates:
        if not py:
            continue
        probe = [py, "-c", "import sys; print(sys.version_info[:2] == (3, 9))"]
        try:
            ok = subprocess.run(probe, capture_output=True, text=True, timeout=30).stdout
        except OSError:
            continue
        if ok.strip() == "True":
            return py
    return None


def jenga_python() -> tuple[str | None, str]:
    """(the venv's python with Jenga installed, or None; why not)."""
    py = python39()
    if py is None:
        return None, "no Python 3.9 (Jenga needs < 3.10): set AICHAOS_JENGA_PYTHON"
    venv_py = VENV / "bin" / "python"
    if not venv_py.exists():
        made = subprocess.run([py, "-m", "venv", str(VENV)], capture_output=True, text=True)
        if made.returncode != 0:
            return None, f"cannot make a venv with {py}: {made.stderr.strip()[-200:]}"
    check = subprocess.run([str(venv_py), "-c", "import jenga"], capture_output=True)
    if check.returncode != 0:
        pip = [str(venv_py), "-m", "pip", "install", "-q", JENGA]
        done = subprocess.run(pip, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            return None, f"pip install {JENGA} failed: {done.stderr.strip()[-300:]}"
    return str(venv_py), ""


def build(n: int, categories: int, folder: Path) -> pd.DataFrame:
    """The columns both sides use, saved as .npy for the worker."""
    rng = np.random.default_rng(0)
    words = [f"category-{i:02d}" for i in range(categories)]
    labels = np.array(words)[rng.integers(0, categories, n)]
    cols: dict[str, Any] = {
        "f0": rng.normal(size=n),
        "f1": rng.normal(size=n),
        "f2": rng.normal(size=n),
        "f3": rng.normal(size=n),
        "i0": rng.integers(0, 1000, n),
        "labels": labels,
    }
    for name, values in cols.items():
        np.save(folder / f"{name}.npy", values, allow_pickle=False)
    df = pd.DataFrame({k: v for k, v in cols.items() if k != "labels"})
    df["obj"] = pd.Series(labels.astype(object), dtype=object)
    df["cat"] = pd.Categorical(labels)
    df["str"] = pd.Series(labels, dtype="str")  # pandas 3's default string dtype
    return df


class Worker:
    """The Jenga process: one call per request, its own timing."""

    def __init__(self, python: str, folder: Path, fraction: float, text_rows: int) -> None:
        script = Path(__file__).with_name("jenga_worker.py")
        args = [python, str(script), str(folder), str(fraction), str(text_rows)]
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stdin is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the Jenga worker did not start")

    def time(self, case: str) -> float:
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self.proc.stdin.write(case + "\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline())

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(30)


def _time(fn: Callable[[], Any]) -> float:
    gc.collect()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--text-rows", type=int, default=20_000)
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--categories", type=int, default=20, help="distinct labels")
    parser.add_argument("--only", default="", help="run only cases whose name has this")
    args = parser.parse_args()
    python, why = jenga_python()
    if python is None:
        print(f"skipped: {why}")
        return
    version = subprocess.run(
        [python, "-c", "import sys, pandas; print(sys.version.split()[0], pandas.__version__)"],
        capture_output=True,
        text=True,
    ).stdout.split()
    f = args.fraction
    with tempfile.TemporaryDirectory() as tmp:
        df = build(args.rows, args.categories, Path(tmp))
        text = df[["obj"]].head(args.text_rows).copy()
        ours: dict[str, Callable[[], Any]] = {
            "missing-values": lambda: make("missing-values", columns=["f0"], fraction=f).apply(df),
            "gaussian-noise": lambda: make("gaussian-noise", columns=["f1"], fraction=f).apply(df),
            "scaling": lambda: make("scaling", columns=["i0"], fraction=f).apply(df),
            "swapped-columns": lambda: make(
                "swapped-columns", columns=["f2", "f3"], fraction=f
            ).apply(df),
            "categorical-shift object": lambda: make(
                "categorical-shift", columns=["obj"], fraction=f
            ).apply(df),
            "categorical-shift category": lambda: make(
                "categorical-shift", columns=["cat"], fraction=f
            ).apply(df),
            "broken-characters": lambda: make(
                "broken-characters", columns=["obj"], fraction=f
            ).apply(text),
        }
        str_shift = make("categorical-shift", columns=["str"], fraction=f)
        worker = Worker(python, Path(tmp), f, args.text_rows)
        try:
            print(
                f"aichaos: python {sys.version.split()[0]}, pandas {pd.__version__}; "
                f"jenga 0.0.1a1: python {version[0]}, pandas {version[1]}"
            )
            print(
                f"{args.rows:,} rows, {args.categories} categories, fraction {f}; "
                f"broken-characters on {args.text_rows:,} rows (Jenga iterates rows in "
                f"Python); best of {REPEATS}, alternating\n"
            )
            print(f"{'corruption':<28} {'jenga ms':>10} {'aichaos ms':>11} {'ratio':>8}  >= 5x")
            for case, fn in ours.items():
                if args.only not in case:
                    continue
                best_j = best_a = float("inf")
                for r in range(REPEATS):
                    if r % 2:
                        best_a = min(best_a, _time(fn))
                        best_j = min(best_j, worker.time(case))
                    else:
                        best_j = min(best_j, worker.time(case))
                        best_a = min(best_a, _time(fn))
                ratio = best_j / best_a
                print(
                    f"{case:<28} {best_j * 1e3:>10.2f} {best_a * 1e3:>11.2f} {ratio:>7.1f}x"
                    f"  {'yes' if ratio >= 5 else 'NO'}"
                )
            best_s = min(_time(lambda: str_shift.apply(df)) for _ in range(REPEATS))
            print(
                f"{'categorical-shift str':<28} {'-':>10} {best_s * 1e3:>11.2f}"
                "  (pandas 3 'str' dtype; Jenga's pandas has none)"
            )
        finally:
            worker.close()


if __name__ == "__main__":
    main()
