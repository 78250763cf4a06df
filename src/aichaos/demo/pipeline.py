"""The ingestion pipeline: land batches, validate them, train, register and promote.

Every ``interval_s`` a producer lands the next batch of the wine data in ``landing/``
(Parquet and CSV alternately). The ingester reads each landed batch, validates it
(schema, nulls, value ranges, label domain), moves a bad batch to ``quarantine/``,
and otherwise trains a model on the recent valid batches, writes it to the registry as
a new version and promotes it.

The loader is wrapped in an in-process hook, ``corrupt-batch``: when an experiment arms
it (over the control endpoint, with a TTL), loaded batches come back corrupted (unit
errors and missing cells), as a broken upstream would deliver them. Validation is what
must keep them out of training.

Run as ``python -m aichaos.demo.pipeline --root DIR``; prints one JSON line when ready;
exits when its standard input closes (its parent is gone) or on SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aichaos.demo import dataset
from aichaos.demo.lifecycle import exit_with_parent, quiet_server

__all__ = ["Pipeline", "bootstrap", "main"]

_WINDOW = 6  # batches a model is trained on


def _corrupt(batch: Any) -> Any:
    """What an armed ``corrupt-batch`` hook does to a loaded batch."""
    from aichaos.data import make

    out, _ = make("scaling", fraction=0.3, columns=["alcohol", "proline"], seed=1).apply(batch)
    out, _ = make("missing-values", fraction=0.1, columns=["magnesium"], seed=2).apply(out)
    return out


class Pipeline:
    """Producer + ingester over a landing directory and a model registry."""

    def __init__(self, root: Path, interval_s: float, seed: int = 7) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge

        from aichaos.inprocess import Hook
        from aichaos.model.directory_registry import DirectoryRegistry

        self.root = root
        self.landing = root / "landing"
        self.quarantine = root / "quarantine"
        self.done = root / "ingested"
        for d in (self.landing, self.quarantine, self.done, root / "registry"):
            d.mkdir(parents=True, exist_ok=True)
        self.registry = DirectoryRegistry(root / "registry")
        self.interval_s = interval_s
        self.seed = seed
        self.data = dataset.load_data(seed)
        self.recent: deque[Any] = deque(maxlen=_WINDOW)
        self.next_index = len(list(self.done.iterdir()))
        self.metrics = CollectorRegistry()
        m = self.metrics
        self.landed = Counter("pipeline_batches_landed", "Batches landed.", registry=m)
        self.accepted = Counter("pipeline_batches_accepted", "Batches validated.", registry=m)
        self.rejected = Counter("pipeline_batches_rejected", "Batches quarantined.", registry=m)
        self.versions = Counter("pipeline_versions_promoted", "Promotions.", registry=m)
        self.holdout = Gauge(
            "pipeline_model_holdout_accuracy", "Holdout accuracy of the newest model.", registry=m
        )
        self.load = Hook("corrupt-batch", replace=_corrupt)(dataset.read_batch)
        self.stop = threading.Event()

    def produce(self) -> Path:
        """Land the next batch."""
        batch = dataset.batch_frame(self.data, self.next_index, self.seed)
        path = dataset.write_batch(batch, self.landing, self.next_index)
        self.next_index += 1
        self.landed.inc()
        return path

    def ingest(self, path: Path) -> bool:
        """Validate one landed batch; train, register and promote if it is valid."""
        try:
            batch = self.load(path)
            problems = dataset.validate_batch(batch, self.data)
        except Exception as exc:  # an unreadable file is a bad batch, not a crash
            problems = [f"unreadable: {type(exc).__name__}"]
        if problems:
            path.replace(self.quarantine / path.name)
            (self.quarantine / f"{path.name}.why.json").write_text(json.dumps(problems))
            self.rejected.inc()
            return False
        path.replace(self.done / path.name)
        self.accepted.inc()
        self.recent.append(batch)
        self.train_and_promote()
        return True

    def train_and_promote(self) -> str:
        """Train on the recent valid batches, register a version, promote it."""
        model, accuracy = dataset.train(list(self.recent), self.data, self.seed)
        versions = self.registry.versions()
        version = f"v{len(versions) + 1}"
        dataset.save_version(
            self.registry.root,
            version,
            model,
            {"created": time.time(), "holdout_accuracy": accuracy, "rows": 0},
        )
        self.registry.promote(version)
        self.versions.inc()
        self.holdout.set(accuracy)
        return version

    def run(self) -> None:
        """Produce and ingest every ``interval_s`` until stopped."""
        while not self.stop.wait(self.interval_s):
            path = self.produce()
            self.ingest(path)


def bootstrap(pipe: Pipeline, batches: int = 3) -> None:
    """First batches and a first promoted version, so serving can start at once."""
    if pipe.registry.current() is None:
        for _ in range(batches):
            pipe.ingest(pipe.produce())


def _handler(pipe: Pipeline) -> type[BaseHTTPRequestHandler]:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

        def do_GET(self) -> None:
            if self.path == "/metrics":
                body, ctype = generate_latest(pipe.metrics), CONTENT_TYPE_LATEST
            elif self.path == "/health":
                body = json.dumps({"ok": True, "current": pipe.registry.current()}).encode()
                ctype = "application/json"
            else:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def main(argv: list[str] | None = None) -> None:
    """Serve metrics and the control endpoint; run the pipeline until told to stop."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", type=Path, required=True)
    ap.add_argument("--interval-s", type=float, default=1.5)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    from aichaos.inprocess import BOARD, ControlServer

    pipe = Pipeline(args.root, args.interval_s, args.seed)
    bootstrap(pipe)
    control = ControlServer(BOARD, token=os.environ["AICHAOS_DEMO_TOKEN"]).start()
    server = quiet_server(ThreadingHTTPServer(("127.0.0.1", 0), _handler(pipe)))
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
    ).start()
    exit_with_parent(pipe.stop.set)
    port = server.server_address[1]
    requests_file = args.root / "requests.jsonl"
    dataset.write_requests(requests_file, pipe.data)
    ready = {"url": f"http://127.0.0.1:{port}", "control": control.url}
    print(json.dumps({**ready, "requests_file": str(requests_file)}), flush=True)
    try:
        pipe.run()
    finally:
        server.shutdown()
        control.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
