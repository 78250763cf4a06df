"""Benchmark: the ``data-corrupt`` file fault vs a plain pyarrow read + write of the file.

A Parquet file of 1,000,000 rows x 10 columns (``bench/data.py``'s frame). Each round
times, in turns (who goes first alternates; best of REPEATS; ``gc.collect()`` before):

* pyarrow -- ``pq.read_table(path)`` then ``pq.write_table(table, other_path)``;
* aichaos -- the ``data-corrupt`` injection's apply on the same file: hard-link the
  original, read and checksum it, corrupt, write, manifest line, atomic rename.
  (Its revert, outside the timing, puts the original back for the next round.)

Goal (issue 16): aichaos <= 1.5x pyarrow. Run: ``python bench/data_file.py [--rows N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from aichaos.faults import FAULTS, InjectionContext
from data import build

REPEATS = 7


def _time(fn: Callable[[], Any]) -> float:
    gc.collect()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--corruption", default="missing-values")
    parser.add_argument("--column", default="f0")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "batch.parquet"
        pq.write_table(pa.Table.from_pandas(build(args.rows), preserve_index=False), path)
        other = folder / "copy.parquet.out"

        def plain() -> None:
            pq.write_table(pq.read_table(path), other)

        fault = FAULTS.get("data-corrupt")(
            path=str(path),
            corruptions=[{"name": args.corruption, "fraction": 0.1, "columns": [args.column]}],
        )
        loop = asyncio.new_event_loop()
        injection: Any = None

        def corrupt() -> None:
            nonlocal injection
            injection = fault.injection(InjectionContext())
            loop.run_until_complete(injection.apply())

        best_p = best_a = float("inf")
        for r in range(REPEATS):
            order = [("p", plain), ("a", corrupt)]
            for who, fn in order if r % 2 == 0 else order[::-1]:
                t = _time(fn)
                if who == "p":
                    best_p = min(best_p, t)
                else:
                    best_a = min(best_a, t)
                    loop.run_until_complete(injection.revert())
        loop.close()
        size = path.stat().st_size / 1e6
        print(f"python {sys.version.split()[0]}, pyarrow {pa.__version__}")
        print(
            f"{args.rows:,} rows x 10 columns, Parquet {size:.1f} MB; {args.corruption} 10 % of "
            f"{args.column}; best of {REPEATS}, alternating"
        )
        ratio = best_a / best_p
        print(f"pyarrow read + write   {best_p * 1e3:8.1f} ms")
        print(f"data-corrupt apply     {best_a * 1e3:8.1f} ms   {ratio:.2f}x  (goal <= 1.5x)")


if __name__ == "__main__":
    main()
