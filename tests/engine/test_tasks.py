"""The engine's task helpers on a real event loop."""

from __future__ import annotations

import asyncio
import contextlib

from aichaos import eventloop
from aichaos.engine import tasks
from aichaos.errors import AichaosError, OperationTimeout


def test_cancel_ends_a_ticker_whose_wait_for_swallowed_the_cancellation() -> None:
    """The CI hang, reproduced: a ticker renews through ``asyncio.wait_for`` in a loop (as
    the guardrail ticker renews faults); its renewal answers in the same loop pass as the
    cancel, so Python 3.11's wait_for returns instead of raising (gh-86296) and the loop
    runs on. cancel() cancels again and returns; the old helper waited for ever."""

    async def main() -> bool:
        loop = asyncio.get_running_loop()
        pending: list[asyncio.Future[None]] = []

        async def ticker() -> None:
            while True:
                await asyncio.sleep(0)
                renewal = loop.create_future()
                pending.append(renewal)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(renewal, 5)

        task = asyncio.create_task(ticker())
        for _ in range(3):
            await asyncio.sleep(0)
        pending[-1].set_result(None)  # answers in the pass the cancel is delivered in
        canceller = asyncio.create_task(eventloop.cancel(task))
        done, _ = await asyncio.wait({canceller}, timeout=5)
        if not done:  # end the ticker for good, then fail
            task.cancel()
            await asyncio.wait({canceller}, timeout=5)
            raise AssertionError("cancel() did not return within 5 s")
        return task.cancelled()

    assert asyncio.run(main())


def test_cancel_of_a_task_that_already_failed_keeps_quiet() -> None:
    async def main() -> bool:
        async def boom() -> None:
            raise RuntimeError("boom")

        task = asyncio.create_task(boom())
        await asyncio.sleep(0)
        await eventloop.cancel(task)
        return task.done()

    assert asyncio.run(main())


def test_stop_ends_a_poller_and_raises_what_it_failed_with() -> None:
    """A fault's revert stops its background task: a running one ends, and one that had
    already failed makes the revert fail with its error (not a silent clean revert)."""

    async def main() -> tuple[bool, str]:
        async def poll() -> None:
            await asyncio.Event().wait()  # a poller that never ends by itself

        async def boom() -> None:
            raise RuntimeError("could not restore the pointer")

        running = asyncio.create_task(poll())
        await eventloop.stop(running)
        failed = asyncio.create_task(boom())
        await asyncio.sleep(0)
        try:
            await eventloop.stop(failed)
        except RuntimeError as exc:
            return running.cancelled(), str(exc)
        return running.cancelled(), "no error"

    assert asyncio.run(main()) == (True, "could not restore the pointer")


def test_bounded_raises_operation_timeout_naming_its_limit() -> None:
    """A probe, apply or revert past its limit is the OperationTimeout errors.py promises."""

    async def main() -> BaseException:
        try:
            await tasks.bounded(asyncio.sleep(5), 0.05)
        except BaseException as exc:
            return exc
        raise AssertionError("bounded returned after its limit")

    exc = asyncio.run(main())
    assert isinstance(exc, OperationTimeout) and isinstance(exc, AichaosError)
    assert str(exc) == "timed out after 0.05s"
    assert tasks.failure_text(exc) == "timed out after 0.05s"
    assert tasks.failure_text(ValueError("no")) == "ValueError: no"
