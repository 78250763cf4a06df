"""Runs the real Jenga 0.0.1a1 for ``bench/data_jenga.py``, under Python 3.9.

Started by the bench in a venv with ``jenga==0.0.1a1``: it loads the bench's columns from
``.npy`` files, then for each case name read on stdin runs that Jenga corruption once on
the whole frame and answers the seconds it took (``gc.collect()`` first, like the bench's
own calls). Standard library + numpy + pandas + jenga only.
"""

import gc
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from jenga.corruptions.generic import CategoricalShift, MissingValues, SwappedValues
from jenga.corruptions.numerical import GaussianNoise, Scaling
from jenga.corruptions.text import BrokenCharacters


def main() -> None:
    folder, fraction, text_rows = Path(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    cols = {p.stem: np.load(p, allow_pickle=False) for p in sorted(folder.glob("*.npy"))}
    labels = cols.pop("labels").astype(object)
    df = pd.DataFrame({k: v for k, v in cols.items() if k != "cat"})
    df["obj"] = labels  # strings as Python objects: pandas 2's default
    df["cat"] = pd.Categorical(labels)
    text = df[["obj"]].head(text_rows).copy()
    cases = {
        "missing-values": lambda: MissingValues("f0", fraction).transform(df),
        "gaussian-noise": lambda: GaussianNoise("f1", fraction).transform(df),
        "scaling": lambda: Scaling("i0", fraction).transform(df),
        "swapped-columns": lambda: SwappedValues("f2", fraction, swap_with="f3").transform(df),
        "categorical-shift object": lambda: CategoricalShift("obj", fraction).transform(df),
        "categorical-shift category": lambda: CategoricalShift("cat", fraction).transform(df),
        "broken-characters": lambda: BrokenCharacters("obj", fraction).transform(text),
    }
    np.random.seed(0)
    print("ready", flush=True)
    for line in sys.stdin:
        name = line.strip()
        gc.collect()
        t0 = time.perf_counter()
        cases[name]()
        print(f"{time.perf_counter() - t0:.9f}", flush=True)


if __name__ == "__main__":
    main()
