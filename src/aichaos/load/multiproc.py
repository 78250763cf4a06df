"""Several generator processes splitting one rate, their windows merged exactly.

One Python process saturates one core; past that, ``processes=N`` starts N spawned
children, each sending ``rate / N`` (constant schedules interleaved, Poisson streams
from seeds ``seed + i``, whose sum is again Poisson at the full rate). All children share
one start time on the system-wide monotonic clock, so window ``k`` means the same
interval everywhere. Each child sends its windows as JSON (histograms in encoded
HdrHistogram form); the parent merges window ``k`` once every child has sent it, so
counts and histograms are exactly those of one generator that saw every request.

The engine's phase is forwarded to the children through shared memory, so baseline
predictions are recorded by whichever child sent the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import queue
import time
from collections.abc import Callable
from typing import Any

from aichaos.errors import AichaosError
from aichaos.load.quality import QualityBaseline
from aichaos.load.spec import LoadSpec
from aichaos.load.stats import WindowStats

__all__ = ["run_multiprocess"]

_PHASE_BYTES = 32
_READY_TIMEOUT_S = 60.0


def _child(
    spec_json: str,
    index: int,
    processes: int,
    duration_s: float | None,
    out: Any,
    go: Any,
    stop: Any,
    start_at: Any,
    phase: Any,
) -> None:
    """Body of one generator process (module level so ``spawn`` can import it)."""
    from aichaos.eventloop import new_event_loop
    from aichaos.load.requests import parse_url
    from aichaos.load.spec import build_generator, freeze_gc

    try:
        spec = LoadSpec.model_validate_json(spec_json)

        def read_phase() -> str:
            return bytes(phase.value).decode(errors="replace")

        gen = build_generator(
            spec,
            parse_url(spec.url),
            seed=spec.seed or 0,
            window_s=spec.window_s,
            process_index=index,
            processes=processes,
            phase=read_phase,
            on_window=lambda w: out.put(("window", index, w.to_json())),
        )

        async def main() -> None:
            stop_event = asyncio.Event()

            async def watch() -> None:
                # a multiprocessing Event cannot be awaited: poll it, 20 times a second
                while not stop.is_set():  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
                stop_event.set()

            watcher = asyncio.ensure_future(watch())
            try:
                await gen.run(duration_s=duration_s, stop=stop_event, start_at=start_at.value)
            finally:
                watcher.cancel()

        freeze_gc()
        out.put(("ready", index, None))
        go.wait(_READY_TIMEOUT_S)
        loop = new_event_loop()
        try:
            loop.run_until_complete(main())
        finally:
            loop.close()
        out.put(("done", index, gen.total.to_json()))
    except BaseException as exc:  # reported to the parent, which raises it cleanly
        out.put(("error", index, f"{type(exc).__name__}: {exc}"))


async def run_multiprocess(
    spec: LoadSpec,
    duration_s: float | None = None,
    stop: asyncio.Event | None = None,
    on_window: Callable[[WindowStats, QualityBaseline], None] | None = None,
    phase: Callable[[], str] = lambda: "",
) -> tuple[WindowStats, list[WindowStats], QualityBaseline]:
    """Run ``spec`` in ``spec.processes`` processes; returns (total, windows, baseline).

    ``on_window`` gets each merged window and the baseline so far (for quality drift).
    """
    n = spec.processes
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    go, stop_flag = ctx.Event(), ctx.Event()
    start_at = ctx.Value("d", 0.0, lock=False)
    phase_mem = ctx.Array("c", _PHASE_BYTES, lock=False)

    def set_phase() -> None:
        phase_mem.value = phase().encode()[: _PHASE_BYTES - 1]

    set_phase()
    procs = [
        ctx.Process(
            target=_child,
            args=(
                spec.model_dump_json(),
                i,
                n,
                duration_s,
                out,
                go,
                stop_flag,
                start_at,
                phase_mem,
            ),
            daemon=True,
        )
        for i in range(n)
    ]
    from aichaos.faults.pids import register_own

    for p in procs:
        p.start()
        if p.pid is not None:
            register_own(p.pid, "an aichaos load generator process")
    loop = asyncio.get_running_loop()
    pending: dict[int, tuple[int, WindowStats]] = {}
    windows: list[WindowStats] = []
    baseline = QualityBaseline()
    total = WindowStats()
    ready = done = 0
    next_emit = 0

    def emit(w: WindowStats) -> None:
        if w.quality is not None and w.phase == "baseline":
            baseline.add(w.quality)
        windows.append(w)
        if on_window is not None:
            on_window(w, baseline)

    try:
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while done < n:
            if stop is not None and stop.is_set():
                stop_flag.set()
            set_phase()
            try:
                kind, index, payload = await loop.run_in_executor(None, out.get, True, 0.1)
            except queue.Empty:
                if ready < n and time.monotonic() > deadline:
                    raise AichaosError("load generator processes did not start in time") from None
                if not any(p.is_alive() for p in procs):
                    raise AichaosError("load generator processes exited unexpectedly") from None
                continue
            if kind == "ready":
                ready += 1
                if ready == n:
                    start_at.value = time.monotonic() + 0.1
                    go.set()
            elif kind == "window":
                w = WindowStats.from_json(payload)
                seen, merged = pending.get(w.index, (0, WindowStats()))
                pending[w.index] = (seen + 1, merged.merge(w, inflight=True) if seen else w)
                while next_emit in pending and pending[next_emit][0] == n:
                    emit(pending.pop(next_emit)[1])
                    next_emit += 1
            elif kind == "done":
                done += 1
                total.merge(WindowStats.from_json(payload))
            else:
                raise AichaosError(f"load generator process {index} failed: {payload}")
        # a child's last, partial window may have no partner in the others
        for index in sorted(pending):
            emit(pending[index][1])
        return total, windows, baseline
    finally:
        stop_flag.set()
        go.set()
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join(timeout=5)
        with contextlib.suppress(Exception):
            out.close()
