"""The toxic vocabulary: attributes (plain data), stages (what runs on a link).

A toxic type is a frozen pydantic model of its attributes, registered by name in
:data:`TOXICS`. Its wire names are Toxiproxy's (``latency``, ``rate``...), kept as aliases
of unit-named fields (``latency_ms``, ``rate_kbps``) so the API stays compatible and the
code stays readable.

TCP toxics build a :class:`Stage` per connection: one coroutine method, ``pipe``, that
receives a chunk and passes zero or more chunks on. Optional capabilities sit beside it,
as in Toxiproxy's ``Toxic`` / ``StatefulToxic`` / ``CleanupToxic``: a stage with
``start``/``stop`` is told when it joins and leaves a live connection.

HTTP toxics (``kind = "http"``) build no stage: the HTTP layer of a connection asks them,
per request, whether to act, and runs the handler a winner builds for that request (see
:mod:`aichaos.proxy.toxics.http_base`).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar, runtime_checkable

from pydantic import ConfigDict, model_validator

from aichaos.limits import number_problems
from aichaos.proxy.timer import now, timer_for
from aichaos.registry import Registry
from aichaos.spec import Spec
from aichaos.validation import SpecError

if TYPE_CHECKING:
    from aichaos.proxy.toxic import Toxic

__all__ = [
    "TOXICS",
    "Chunk",
    "ConnControl",
    "Out",
    "Stage",
    "StageBase",
    "StageEnv",
    "Stateful",
    "TimerStage",
    "ToxicAttributes",
    "stateful",
]

#: the last part of a toxic's sleep is spent spinning (no loop iteration to wait for)
YIELD_S = 0.00005


@dataclass(slots=True)
class Chunk:
    """Bytes read from one side, stamped with :func:`~aichaos.proxy.timer.now` on arrival
    (so latency pipelines).

    ``eof`` marks the end of the stream; it travels through the chain like data so stages
    keep order (slow_close delays it, latency delays it behind the data before it).
    """

    data: bytes
    t: float
    eof: bool = False
    #: a response made by the proxy itself (the HTTP layer passes it through unparsed)
    synthetic: bool = False


Out = Callable[[Chunk], Awaitable[None]]


@runtime_checkable
class ConnControl(Protocol):
    """What a stage may do to its connection besides passing bytes on."""

    def close(self) -> None:
        """Close both sides after flushing what was already written."""

    def reset(self) -> None:
        """Abort both sides with a TCP RST (SO_LINGER 0)."""


class StageEnv:
    """What a stage gets when it is built for one connection.

    ``rng`` may be given as a function that makes it: it is then made on first use (a
    noop or fixed-latency stage never draws, and seeding an RNG is not free).
    """

    __slots__ = ("_rng", "conn", "loop", "toxic")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        rng: random.Random | Callable[[], random.Random],
        conn: ConnControl,
        toxic: Toxic,
    ) -> None:
        self.loop = loop
        self._rng = rng
        self.conn = conn
        self.toxic = toxic

    @property
    def rng(self) -> random.Random:
        """The connection's RNG (seeded from the proxy's seed)."""
        if not isinstance(self._rng, random.Random):
            self._rng = self._rng()
        return self._rng


class Stage(Protocol):
    """The one method every TCP toxic stage implements."""

    async def pipe(self, chunk: Chunk, out: Out) -> None:
        """Take one chunk and pass on zero or more chunks (awaiting ``out`` keeps order)."""

    def interrupt(self) -> None:
        """The toxic left this link: stop any wait now so held bytes flow on."""


@runtime_checkable
class Stateful(Protocol):
    """Optional: a stage told when it joins (``start``) and leaves (``stop``) a connection."""

    def start(self) -> None:
        """The stage joined a live connection (timers start here)."""

    def stop(self) -> None:
        """The stage left the connection (timers are cancelled here)."""


_STATEFUL: dict[type, bool] = {}


def stateful(stage: object) -> Stateful | None:
    """``stage`` as a :class:`Stateful` if it is one, else None; known per class.

    ``isinstance`` against a runtime-checkable protocol walks the protocol's members on
    every call; a connection asks twice per stage.
    """
    cls = type(stage)
    known = _STATEFUL.get(cls)
    if known is None:
        known = _STATEFUL[cls] = isinstance(stage, Stateful)
    return stage if known else None  # type: ignore[return-value]


#: a toxic's attributes type, as a stage asks for it (:meth:`StageBase.attrs`)
A = TypeVar("A", bound="ToxicAttributes")


class StageBase:
    """Helpers for stages: an interruptible sleep, the env, pass-through ``pipe``."""

    __slots__ = ("_waiter", "env", "gone")

    def __init__(self, env: StageEnv) -> None:
        self.env = env
        self.gone = False
        self._waiter: asyncio.Future[None] | None = None

    async def pipe(self, chunk: Chunk, out: Out) -> None:
        """Pass the chunk on unchanged."""
        await out(chunk)

    def attrs(self, kind: type[A]) -> A:
        """The toxic's attributes as ``kind``, read live: an update applies at once."""
        attrs = self.env.toxic.attributes
        assert isinstance(attrs, kind)
        return attrs

    async def sleep(self, delay_s: float) -> None:
        """Sleep, but return at once when the toxic is removed (never hang a stuck stream)."""
        if delay_s > 0:
            await self.sleep_until(now() + delay_s)

    async def sleep_until(self, deadline: float) -> None:
        """Sleep until ``now() >= deadline`` (sub-millisecond), or until the toxic is removed."""
        if self.gone or deadline <= now():
            return
        timer = timer_for(self.env.loop)
        fut = timer.at(deadline)
        if not fut.done():
            wake = deadline - timer.lead
            self._waiter = fut
            try:
                await fut
            finally:
                self._waiter = None
            if self.gone:
                return
            timer.observe(now() - wake)
        # The timer wakes us up early by what a wake-up from idle costs on this machine
        # (learned); spend the rest on the clock so the chunk leaves on time: yielding to
        # the loop (other connections go on) until the last YIELD_S, then spinning.
        while not self.gone:
            left = deadline - now()
            if left <= 0.0:
                return
            if left > YIELD_S:
                await asyncio.sleep(0)
            else:
                while now() < deadline:
                    pass
                return

    def interrupt(self) -> None:
        """Wake any sleep; later sleeps return at once."""
        self.gone = True
        if self._waiter is not None:
            _wake(self._waiter)


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class TimerStage(StageBase):
    """A stage that acts on its connection a delay after it joins (``reset_peer`` resets,
    ``timeout`` closes); the timer is cancelled when the toxic leaves the connection.

    Subclasses call :meth:`after` from ``start()``; ``stop()`` is this class's.
    """

    __slots__ = ("_timer",)

    def __init__(self, env: StageEnv) -> None:
        super().__init__(env)
        self._timer: asyncio.TimerHandle | None = None

    def after(self, delay_ms: float, action: Callable[[], object]) -> None:
        """Call ``action`` ``delay_ms`` from now, unless the toxic leaves first."""
        self._timer = self.env.loop.call_later(delay_ms / 1000.0, action)

    def stop(self) -> None:
        """The toxic left the connection: the action will not happen."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


#: a stage class (``type`` is a field name inside ToxicAttributes)
StageClass = type[StageBase]


class ToxicAttributes(Spec):
    """Base of every toxic type's attributes. Subclasses register with ``@TOXICS.register``."""

    model_config = ConfigDict(populate_by_name=True)

    type: ClassVar[str] = ""
    #: "tcp": builds a stage per connection; "http": consulted per request by the HTTP layer
    kind: ClassVar[str] = "tcp"
    #: the stage a TCP toxic builds for each connection (as HTTP toxics set ``handler_class``)
    stage_class: ClassVar[StageClass] = StageBase

    @model_validator(mode="after")
    def _physical(self) -> ToxicAttributes:
        # 10^400 ms passes ``int, ge=0`` and then overflows every conversion to a float
        # (per chunk, with bytes lost, or while the toxic is being added): refuse it here
        fields = type(self).model_fields
        problems = number_problems({n: getattr(self, n) for n in fields})
        if problems:
            path, why = problems[0]
            name = str(path[0])
            raise SpecError.one((fields[name].alias or name, *path[1:]), why)
        return self

    def stage(self, env: StageEnv) -> Stage:
        """Build this toxic's stage for one connection: ``stage_class(env)``."""
        return self.stage_class(env)

    @classmethod
    def merge(cls, current: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
        """The raw attributes of an update: ``given`` over the toxic's ``current`` ones."""
        return {**current, **given}

    def wire(self) -> dict[str, object]:
        """The attributes as the API shows them (Toxiproxy names)."""
        return self.model_dump(mode="json", by_alias=True)


TOXICS: Registry[ToxicAttributes] = Registry(
    "toxic",
    "aichaos.toxics",
    builtin_modules=(
        "aichaos.proxy.toxics.latency",
        "aichaos.proxy.toxics.bandwidth",
        "aichaos.proxy.toxics.slow_close",
        "aichaos.proxy.toxics.timeout",
        "aichaos.proxy.toxics.reset_peer",
        "aichaos.proxy.toxics.slicer",
        "aichaos.proxy.toxics.limit_data",
        "aichaos.proxy.toxics.noop",
        "aichaos.proxy.toxics.http_error",
        "aichaos.proxy.toxics.http_delay",
        "aichaos.proxy.toxics.stream_stall",
        "aichaos.proxy.toxics.stream_cut",
        "aichaos.proxy.toxics.json_corrupt",
        "aichaos.proxy.toxics.truncate",
        "aichaos.proxy.toxics.token_rate",
        "aichaos.proxy.toxics.early_stop",
        "aichaos.proxy.toxics.tool_args_corrupt",
        "aichaos.proxy.toxics.redis_stream",
    ),
)
