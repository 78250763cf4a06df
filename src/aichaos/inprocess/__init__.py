"""In-process fault injection for the code of a serving layer or pipeline.

* :class:`Hook` -- a named fault as decorator / context manager (latency, exception,
  outcome replacement), with a rate and a ``when`` switch that can read contextvars;
* :class:`ChaosTransport` / :class:`AsyncChaosTransport` (httpx) and
  :func:`requests_adapter` -- faults in outgoing HTTP calls;
* :class:`ChaosMiddleware` -- faults in a service's own ASGI endpoints;
* :class:`DataHook` -- a loader hook whose data corruption comes from the experiment;
* :class:`Switchboard` and :class:`ControlServer` -- hooks armed remotely with a TTL.

Names load lazily so ``import aichaos.inprocess`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aichaos._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "AsyncChaosTransport": "aichaos.inprocess.clients",
    "BOARD": "aichaos.inprocess.board",
    "ChaosMiddleware": "aichaos.inprocess.asgi",
    "ChaosTransport": "aichaos.inprocess.clients",
    "ControlServer": "aichaos.inprocess.control",
    "DataHook": "aichaos.inprocess.data_hook",
    "Hook": "aichaos.inprocess.hooks",
    "HttpFault": "aichaos.inprocess.hooks",
    "Latency": "aichaos.inprocess.hooks",
    "Raise": "aichaos.inprocess.hooks",
    "Switchboard": "aichaos.inprocess.board",
    "UvicornThread": "aichaos.inprocess.serve",
    "requests_adapter": "aichaos.inprocess.clients",
}

__all__ = [
    "BOARD",
    "AsyncChaosTransport",
    "ChaosMiddleware",
    "ChaosTransport",
    "ControlServer",
    "DataHook",
    "Hook",
    "HttpFault",
    "Latency",
    "Raise",
    "Switchboard",
    "UvicornThread",
    "requests_adapter",
]

if TYPE_CHECKING:
    from aichaos.inprocess.asgi import ChaosMiddleware
    from aichaos.inprocess.board import BOARD, Switchboard
    from aichaos.inprocess.clients import AsyncChaosTransport, ChaosTransport, requests_adapter
    from aichaos.inprocess.control import ControlServer
    from aichaos.inprocess.data_hook import DataHook
    from aichaos.inprocess.hooks import Hook, HttpFault, Latency, Raise
    from aichaos.inprocess.serve import UvicornThread


__getattr__, __dir__ = lazy_exports("aichaos.inprocess", _EXPORTS, globals())
