"""The engine's task helpers on a real event loop."""

from __future__ import annotations

import asyncio

from aichaos.engine import tasks


def test_cancel_ends_a_task_that_swallowed_the_first_cancellation() -> None:
    """A loop whose await ate one cancellation (as Python 3.11's wait_for can) is
    cancelled again, so cancel() returns instead of waiting for ever."""

    async def main() -> tuple[int, bool]:
        swallowed = 0

        async def ticker() -> None:
            nonlocal swallowed
            while True:
                try:
                    await asyncio.sleep(0.01)
                except asyncio.CancelledError:
                    if swallowed:
                        raise
                    swallowed += 1  # ran on, as if the cancel never came

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0.02)
        canceller = asyncio.create_task(tasks.cancel(task))
        done, _ = await asyncio.wait({canceller}, timeout=5)
        if not done:  # the old helper waits here for ever: end the ticker, then fail
            task.cancel()
            await asyncio.wait({canceller}, timeout=5)
            raise AssertionError("cancel() did not return within 5 s")
        return swallowed, task.cancelled()

    assert asyncio.run(main()) == (1, True)


def test_cancel_of_a_task_that_already_failed_keeps_quiet() -> None:
    async def main() -> bool:
        async def boom() -> None:
            raise RuntimeError("boom")

        task = asyncio.create_task(boom())
        await asyncio.sleep(0)
        await tasks.cancel(task)
        return task.done()

    assert asyncio.run(main())
