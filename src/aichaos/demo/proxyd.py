"""The demo's chaos proxy process: an aichaos proxy control API on 127.0.0.1, port 0.

Proxies are added by the demo over the (Toxiproxy-compatible) API once their upstreams
are up. Run as ``python -m aichaos.demo.proxyd --seed 7``; prints one JSON line
(``{"api": "http://127.0.0.1:<port>"}``) when ready; exits when its parent goes away.
"""

from __future__ import annotations

import argparse
import asyncio
import json

__all__ = ["main"]


async def _serve(seed: int) -> None:
    from aichaos.demo.lifecycle import exit_with_parent
    from aichaos.proxy.server import ApiSite, ProxyApp

    app = ProxyApp(seed)
    site = ApiSite(app, "127.0.0.1", 0)
    await site.start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_exit() -> None:
        loop.call_soon_threadsafe(stop.set)

    exit_with_parent(on_exit)
    print(json.dumps({"api": site.url}), flush=True)
    try:
        await stop.wait()
    finally:
        await site.stop()
        await app.close()


def main(argv: list[str] | None = None) -> None:
    """Serve until the parent goes away."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    from aichaos.eventloop import new_event_loop

    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(_serve(args.seed))


if __name__ == "__main__":
    main()
