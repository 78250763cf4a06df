"""The RAG demo system, started for real on 127.0.0.1 and stopped cleanly.

::

    load / probes ──► gateway ──► [proxy "vectors"] ──► vector store (sqlite-vec index)
                        │  ╰────► [proxy "primary"] ──► LLM stand-in "primary"
                        │  ╰────► [proxy "secondary"] ► LLM stand-in "secondary"
                        ╰ in-process hook query-embedding-drift (control endpoint)

Five processes (chaos proxy, vector store, two LLM stand-ins, gateway), each in its own
process group and exiting with its parent, like the first demo's
(:mod:`aichaos.demo.lifecycle`). Every dependency of the gateway is reached through the
chaos proxy, so a proxy toxic is what the gateway meets. :attr:`values` fills the
bundled experiment templates in ``experiments/``.

>>> with RagSystem.start(Path("/tmp/rag")) as system:  # doctest: +SKIP
...     print(system.values["gateway_url"])
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path

from aichaos.demo.system import TOKEN_ENV, DemoSystem, proxied

__all__ = ["PRIMARY", "SECONDARY", "RagSystem"]

#: (time to first token, time per output token) of the stand-ins, in milliseconds
PRIMARY = (120.0, 15.0)
SECONDARY = (200.0, 20.0)


class RagSystem(DemoSystem):
    """The running RAG system; stopping and the context manager are the first demo's."""

    @classmethod
    def start(cls, root: Path, *, seed: int = 7, log: Path | None = None) -> RagSystem:
        """Start every service; raise (after stopping what started) if one fails."""
        import httpx

        from aichaos.demo.rag.corpus import write_prompts

        root.mkdir(parents=True, exist_ok=True)
        with cls.starting(root, log) as (system, spawn):
            proxy = spawn("proxy", "aichaos.demo.proxyd", "--seed", str(seed))
            index_root = root / "index"
            vectors = spawn("vectors", "aichaos.demo.rag.vectord", "--registry", str(index_root))
            llms = {
                name: spawn(
                    f"llm-{name}",
                    "aichaos.demo.rag.llm",
                    "--name",
                    name,
                    "--ttft-ms",
                    str(ttft),
                    "--tpot-ms",
                    str(tpot),
                )
                for name, (ttft, tpot) in (("primary", PRIMARY), ("secondary", SECONDARY))
            }
            api = proxy.ready()["api"]
            direct = {"vectors": vectors.ready(timeout_s=60)["url"]}
            direct.update({name: child.ready()["url"] for name, child in llms.items()})
            through: dict[str, str] = {}
            with httpx.Client(base_url=api, timeout=5.0, trust_env=False) as c:
                for name, url in direct.items():
                    through[name] = proxied(c, name, url)
            gateway = spawn(
                "gateway",
                "aichaos.demo.rag.gateway",
                "--vector-url",
                through["vectors"],
                "--primary-url",
                through["primary"],
                "--secondary-url",
                through["secondary"],
            )
            info = gateway.ready(timeout_s=60)
            prompts = write_prompts(root)
            system.values.update(
                gateway_url=info["url"],
                gateway_control=info["control"],
                proxy_api=api,
                vector_url=direct["vectors"],
                primary_url=direct["primary"],
                secondary_url=direct["secondary"],
                index_registry=str(index_root),
                token_env=TOKEN_ENV,
                **{f"{key}_file": str(path) for key, path in prompts.items()},
            )
            system._warm()
        return system

    def describe(self) -> str:
        """Where the services are, in one line for the console."""
        v = self.values
        return (
            f"gateway {v['gateway_url']}, vector store {v['vector_url']}, LLM stand-ins "
            f"{v['primary_url']} / {v['secondary_url']}, proxy API {v['proxy_api']}"
        )

    def _warm(self, timeout_s: float = 20.0) -> None:
        """Ask a few questions through the whole path (embedder, proxies, stand-ins), so
        the first experiment's baseline measures a warm system, not imports."""
        import httpx

        lines = Path(self.values["prompts_whole_file"]).read_text().splitlines()[:6]
        deadline = time.monotonic() + timeout_s
        with httpx.Client(timeout=5.0, trust_env=False) as client:
            url = f"{self.values['gateway_url']}/v1/chat/completions"
            ok = 0
            while ok < len(lines) and time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    r = client.post(url, json=json.loads(lines[ok])["body"])
                    if r.status_code == 200:
                        ok += 1
                        continue
                time.sleep(0.1)
        if ok < len(lines):
            raise TimeoutError(f"the RAG gateway did not answer after {timeout_s:g}s")


if __name__ == "__main__":  # manual: start, print the endpoints, wait for Ctrl-C
    with RagSystem.start(Path(sys.argv[1] if len(sys.argv) > 1 else "aichaos-rag")) as s:
        print(json.dumps(s.values, indent=2))
        with contextlib.suppress(KeyboardInterrupt):
            time.sleep(3600)
