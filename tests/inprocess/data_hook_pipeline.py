"""A pipeline process with one DataHook, for the end-to-end test of the inprocess fault.

``python -m tests.inprocess.data_hook_pipeline STATE_DIR`` serves the control endpoint on
127.0.0.1 (port 0; URL and token written to ``STATE_DIR/control.json``), loads a clean
batch through the hooked loader every 50 ms and appends to ``STATE_DIR/seen.jsonl`` how
many label cells differ from the clean batch: what the pipeline itself observed.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from aichaos.inprocess import BOARD, ControlServer, DataHook

hook = DataHook("loader")
CLEAN = pd.DataFrame({"x": np.arange(500.0), "label": np.arange(500) % 2})


@hook
def load() -> pd.DataFrame:
    """The pipeline's loader."""
    return CLEAN.copy()


def main() -> None:
    state = Path(sys.argv[1])
    server = ControlServer(BOARD).start()
    tmp = state / "control.tmp"
    tmp.write_text(json.dumps({"url": server.url, "token": server.token}))
    tmp.rename(state / "control.json")
    end = time.monotonic() + 60
    with (state / "seen.jsonl").open("a") as log:
        while time.monotonic() < end:
            batch = load()
            changed = int((batch["label"] != CLEAN["label"]).sum())
            log.write(json.dumps({"changed": changed}) + "\n")
            log.flush()
            time.sleep(0.05)


if __name__ == "__main__":
    main()
