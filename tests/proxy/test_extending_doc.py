"""docs/extending.md's two worked toxics work as written: registered from the page's own
code, they act on real traffic through a proxy (in a subprocess, so the registry of this
test process is left alone)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import asyncio, re, sys, time, types
import httpx
from aichaos.proxy.server import ApiSite, ProxyApp
from tests.proxy.asgi_app import Seen, make_app
from tests.proxy.conftest import serve_asgi

text = open(sys.argv[1]).read()
# the page's worked toxics are the blocks that register one (other blocks are fragments)
blocks = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "@TOXICS.register(" in b]
assert len(blocks) == 2, len(blocks)
for i, code in enumerate(blocks):
    mod = types.ModuleType(f"doc_example_{i}")
    sys.modules[mod.__name__] = mod
    exec(compile(code, f"extending.md block {i}", "exec"), mod.__dict__)

async def main():
    app = ProxyApp(seed=1)
    site = ApiSite(app, "127.0.0.1", 0)
    await site.start()
    async with serve_asgi(make_app(Seen())) as addr, httpx.AsyncClient(base_url=site.url) as api:
        r = await api.post("/proxies", json={"name": "p", "upstream": addr, "listen": "127.0.0.1:0"})
        listen = r.json()["listen"]
        r = await api.post("/proxies/p/toxics", json={"type": "stream_echo", "attributes": {"every": 2}})
        assert r.status_code == 200, r.text
        async with httpx.AsyncClient(base_url=f"http://{listen}") as c:
            lines = [l for l in (await c.get("/v1/stream")).text.splitlines() if l]
        # 6 events, every 2nd sent twice
        assert len(lines) == 9, lines
        await api.delete("/proxies/p/toxics/stream_echo_downstream")
        r = await api.post("/proxies/p/toxics", json={"type": "drip", "attributes": {"delay": 100}})
        assert r.status_code == 200, r.text
        async with httpx.AsyncClient(base_url=f"http://{listen}") as c:
            start = time.perf_counter()
            for _ in range(3):
                assert (await c.get("/v1/models")).status_code == 200
            took = time.perf_counter() - start
        # each answer is at least one chunk, each held 100 ms after the one before
        assert took >= 0.2, took
    await site.stop()
    await app.close()
    print("ok")

asyncio.run(main())
"""


def test_the_worked_examples_run() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(ROOT / "docs" / "extending.md")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]
