"""Overhead of an in-process hook on a hot call, measured side by side in one run.

Prints per-call times and ratios against the undecorated function: a hook that is not
armed, one armed at rate 0 (the full decision, never firing), and one firing with an
outcome replacement (no latency).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aichaos.inprocess import Hook, Switchboard

N = 200_000


def _per_call_ns(fn: Callable[[int], int]) -> float:
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter_ns()
        for i in range(N):
            fn(i)
        best = min(best, (time.perf_counter_ns() - t0) / N)
    return best


def main() -> None:
    board = Switchboard()

    def plain(x: int) -> int:
        return x + 1

    unarmed = Hook("unarmed", board=Switchboard())(plain)  # a quiet service: nothing armed
    rate0 = Hook("rate0", rate=0.0, board=board, armed=True)(plain)
    firing = Hook("firing", replace=lambda v: v, board=board, armed=True)(plain)
    base = _per_call_ns(plain)
    print(f"plain function        {base:8.1f} ns/call  1.00x")
    for name, fn in (
        ("hook, not armed", unarmed),
        ("hook, armed, rate 0", rate0),
        ("hook, firing", firing),
    ):
        ns = _per_call_ns(fn)
        print(f"{name:<21} {ns:8.1f} ns/call  {ns / base:.2f}x  (+{ns - base:.0f} ns)")


if __name__ == "__main__":
    main()
