"""Numerical faults in a real PyTorch loop, as the trainer observes them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from aichaos.inprocess import ControlServer, Switchboard
from tests.training.armed import board, control, training

torch = pytest.importorskip("torch", reason="the torch hook needs PyTorch (the training extra)")

from aichaos.training import TorchHook  # noqa: E402

__all__ = ["board", "control"]


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # a tiny model on a shared 2-core box: intra-op threads only contend (40x slower)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _data() -> tuple[Any, Any]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 4, generator=g)
    return x, (x[:, 0] + x[:, 1] > 0).long()


def _train(
    hook: TorchHook, steps: int, *, guard: bool, clip: float | None = None
) -> dict[str, Any]:
    """A small classifier's loop with an optional guard: skip a step whose grads are not finite."""
    torch.manual_seed(0)
    x, y = _data()
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.2)
    hook.attach(model, opt)
    seen: dict[str, Any] = {"bad_steps": 0, "bad_values": 0, "bad_loss": 0, "norms": []}
    for i in range(steps):
        xb, yb = x[i % 8 * 32 : i % 8 * 32 + 32], y[i % 8 * 32 : i % 8 * 32 + 32]
        opt.zero_grad()
        loss = hook.loss(torch.nn.functional.cross_entropy(model(xb), yb))
        seen["bad_loss"] += int(not torch.isfinite(loss))
        loss.backward()
        bad = sum(int((~torch.isfinite(p.grad)).sum()) for p in model.parameters())
        seen["bad_steps"] += int(bad > 0)
        seen["bad_values"] += bad
        if clip is not None:
            seen["norms"].append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), clip)))
        if guard and bad:
            continue
        opt.step()
    hook.detach()
    with torch.no_grad():
        seen["accuracy"] = float((model(x).argmax(1) == y).float().mean())
    seen["finite"] = all(bool(torch.isfinite(p).all()) for p in model.parameters())
    return seen


async def test_nan_gradients_reach_the_guard_and_without_one_the_weights(
    control: ControlServer, board: Switchboard
) -> None:
    hook = TorchHook("trainer", board=board)
    clean = _train(hook, 80, guard=True)
    assert clean["bad_steps"] == 0 and clean["accuracy"] > 0.9
    runs = {}
    for guard in (True, False):
        inj = training(control, ["trainer"], kind="nan", values="grads", fraction=0.05, rate=0.1)
        async with inj:
            seen = _train(hook, 80, guard=guard)
        runs[guard] = seen
        effect = inj.effect()
        assert effect is not None
        tally = effect["hooks"]["trainer"]
        assert tally["calls"] == 80 and effect["unit"] == "steps hit"
        if guard:  # every poisoned step the trainer saw is one the fault hit, and vice versa
            assert 0 < seen["bad_steps"] == effect["touched"] < 80
            assert tally["nan_injected"] == seen["bad_values"]
    assert runs[True]["finite"] and runs[True]["accuracy"] > 0.9
    assert not runs[False]["finite"]  # one unguarded NaN step poisons the weights for good
    assert _train(hook, 5, guard=False)["bad_steps"] == 0  # disarmed: clean again


async def test_nan_in_the_loss_and_an_explosion_the_clip_sees(
    control: ControlServer, board: Switchboard
) -> None:
    hook = TorchHook("trainer", board=board)
    inj = training(control, ["trainer"], kind="inf", values="loss", rate=0.25)
    async with inj:
        seen = _train(hook, 40, guard=True)
    effect = inj.effect()
    assert effect is not None and 0 < seen["bad_loss"] == effect["touched"] < 40
    assert effect["hooks"]["trainer"]["inf_injected.loss"] == seen["bad_loss"]

    inj = training(control, ["trainer"], kind="explode", factor=1e4, rate=0.2)
    async with inj:
        seen = _train(hook, 40, guard=True, clip=1.0)
    effect = inj.effect()
    assert effect is not None
    exploded = [n for n in seen["norms"] if n > 100]  # the norms clip_grad_norm_ measured
    assert 0 < len(exploded) == effect["touched"] < 40
    assert seen["finite"] and seen["accuracy"] > 0.9  # clipping held the run


async def test_an_lr_spike_lasts_one_optimizer_step(
    control: ControlServer, board: Switchboard
) -> None:
    hook = TorchHook("trainer", board=board)
    w = torch.nn.Parameter(torch.zeros(3))
    model = torch.nn.Module()
    model.w = w
    model.forward = lambda x: (w * x).sum()  # type: ignore[method-assign]
    opt = torch.optim.SGD([w], lr=0.1)
    hook.attach(model, opt)
    ratios = []
    async with training(control, ["trainer"], kind="lr-spike", factor=50, rate=0.5) as inj:
        for _ in range(20):
            opt.zero_grad()
            model(torch.ones(3)).backward()  # grad 1: the step moves w by the lr it used
            before = w.detach().clone()
            opt.step()
            ratios.append(round(float((before - w.detach())[0]) / 0.1, 2))
    effect = inj.effect()
    assert effect is not None
    assert sorted(set(ratios)) == [1.0, 50.0] and ratios.count(50.0) == effect["touched"]
    assert opt.param_groups[0]["lr"] == 0.1  # put back after every spike


async def test_nan_inputs_reach_the_forward_pass_and_evaluation_is_not_a_step(
    control: ControlServer, board: Switchboard
) -> None:
    hook = TorchHook("trainer", board=board)
    model = torch.nn.Linear(4, 2)
    hook.attach(model)
    x = torch.ones(8, 4)
    async with training(control, ["trainer"], kind="nan", values="inputs", fraction=0.25) as inj:
        with torch.no_grad():
            model.eval()
            assert torch.isfinite(model(x)).all()  # evaluation: not a training step
            model.train()
        out = model(x)
    effect = inj.effect()
    assert effect is not None and effect["seen"] == 1 == effect["touched"]
    rows_hit = int((~torch.isfinite(out)).any(1).sum())
    assert rows_hit > 0 and torch.isfinite(x).all()  # the trainer's own tensor is untouched
    assert effect["hooks"]["trainer"]["nan_injected.inputs"] >= rows_hit
    # an lr-spike on a hook attached without its optimizer says so, and touches nothing
    async with training(control, ["trainer"], kind="lr-spike", factor=10) as inj:
        model(x)
    effect = inj.effect()
    assert effect is not None and (effect["seen"], effect["touched"]) == (1, 0)
    assert "attach(model, optimizer)" in effect["hooks"]["trainer"]["last_error"]
