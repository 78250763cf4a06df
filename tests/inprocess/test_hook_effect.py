"""An in-process fault proves what it did: each hook's calls and firings while armed."""

from __future__ import annotations

from aichaos.faults import FAULTS, InjectionContext
from aichaos.faults.base import effect_text
from aichaos.inprocess import ControlServer, Hook, Raise, Switchboard
from aichaos.inprocess.fault import InProcessTarget

TOKEN = "test-token-123"


async def test_calls_and_firings_are_reported_at_revert(
    control: ControlServer, board: Switchboard
) -> None:
    hook = Hook("predict", error=Raise(), board=board)

    @hook
    def predict() -> int:
        return 1

    target = InProcessTarget(url=control.url, token=TOKEN)
    fault = FAULTS.get("inprocess").model_validate({"hooks": ["predict"], "rate": 0.5})
    inj = fault.injection(InjectionContext(target=target, ttl_s=5))
    failed = 0
    async with inj:
        for _ in range(40):
            try:
                predict()
            except Exception:
                failed += 1
    effect = inj.effect()
    assert effect is not None
    assert (effect["seen"], effect["touched"]) == (40, failed)
    assert 0 < failed < 40
    assert effect_text(effect) == f"{failed} of 40 calls fired"


async def test_a_hook_nobody_calls_proves_it_touched_nothing(
    control: ControlServer, board: Switchboard
) -> None:
    Hook("predict", error=Raise(), board=board)
    target = InProcessTarget(url=control.url, token=TOKEN)
    fault = FAULTS.get("inprocess").model_validate({"hooks": ["predict"]})
    inj = fault.injection(InjectionContext(target=target, ttl_s=5))
    async with inj:
        pass
    effect = inj.effect()
    assert effect is not None and (effect["seen"], effect["touched"]) == (0, 0)
