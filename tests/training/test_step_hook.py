"""Numerical faults in a numpy loop and a scikit-learn ``partial_fit`` loop."""

from __future__ import annotations

from typing import Any

import numpy as np

from aichaos.inprocess import ControlServer, Switchboard
from aichaos.training import StepHook
from tests.training.armed import board, control, training

__all__ = ["board", "control"]


def _data(n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3))
    return x, (x[:, 0] - x[:, 1] > 0).astype(np.int64)


def _logreg(hook: StepHook, steps: int, guard: bool) -> dict[str, Any]:
    """Logistic regression by gradient descent; the guard skips a non-finite step."""
    x, y = _data()
    w = np.zeros(3)
    seen: dict[str, Any] = {"nan_loss": 0, "bad_grad_steps": 0, "bad_values": 0, "lrs": []}
    for i in range(steps):
        xb, yb = x[i % 10 * 40 : i % 10 * 40 + 40], y[i % 10 * 40 : i % 10 * 40 + 40]
        s = hook.step()
        p = 1 / (1 + np.exp(-np.clip(xb @ w, -30, 30)))
        loss = s.loss(float(-np.mean(yb * np.log(p + 1e-9) + (1 - yb) * np.log(1 - p + 1e-9))))
        grad = s.grads(xb.T @ (p - yb) / len(yb))
        lr = s.lr(0.5)
        seen["lrs"].append(lr)
        seen["nan_loss"] += int(not np.isfinite(loss))
        bad = int((~np.isfinite(grad)).sum())
        seen["bad_grad_steps"] += int(bad > 0)
        seen["bad_values"] += bad
        if guard and (bad or not np.isfinite(loss)):
            continue
        w = w - lr * grad
    seen["accuracy"] = float(((x @ w > 0) == y).mean()) if np.isfinite(w).all() else 0.0
    return seen


async def test_numpy_loop_sees_nan_gradients_and_its_guard_holds(
    control: ControlServer, board: Switchboard
) -> None:
    hook = StepHook("sgd", board=board)
    for guard in (True, False):
        inj = training(control, ["sgd"], kind="nan", fraction=0.5, rate=0.1)
        async with inj:
            seen = _logreg(hook, 100, guard)
        effect = inj.effect()
        assert effect is not None and effect["hooks"]["sgd"]["calls"] == 100
        if guard:  # each poisoned step the loop saw is one the fault hit, and vice versa
            assert 0 < seen["bad_grad_steps"] == effect["touched"] < 100
            assert effect["hooks"]["sgd"]["nan_injected.grads"] == seen["bad_values"]
        else:  # the first NaN step poisons the weights, and every step after it
            assert seen["bad_grad_steps"] > effect["touched"] > 0
        assert (seen["accuracy"] > 0.9) is guard


async def test_numpy_loop_sees_inf_loss_and_lr_spikes(
    control: ControlServer, board: Switchboard
) -> None:
    hook = StepHook("sgd", board=board)
    inj = training(control, ["sgd"], kind="inf", values="loss", rate=0.3)
    async with inj:
        seen = _logreg(hook, 50, guard=True)
    effect = inj.effect()
    assert effect is not None and 0 < seen["nan_loss"] == effect["touched"] < 50
    assert seen["bad_grad_steps"] == 0  # only the loss was hit

    inj = training(control, ["sgd"], kind="lr-spike", factor=20, rate=0.2)
    async with inj:
        seen = _logreg(hook, 50, guard=True)
    effect = inj.effect()
    assert effect is not None
    assert sorted(set(seen["lrs"])) == [0.5, 10.0]
    assert seen["lrs"].count(10.0) == effect["touched"] == effect["hooks"]["sgd"]["lr_spiked"]


async def test_partial_fit_gets_nan_batches_and_spiked_step_sizes(
    control: ControlServer, board: Switchboard
) -> None:
    from sklearn.linear_model import SGDClassifier

    hook = StepHook("sgd", board=board)
    x, y = _data()
    clf = SGDClassifier(random_state=0)
    refused = 0
    inj = training(control, ["sgd"], kind="nan", values="inputs", fraction=0.01, rate=0.3)
    async with inj:
        for i in range(20):
            try:
                hook.partial_fit(clf, x[i % 10 * 40 : i % 10 * 40 + 40], y[:40], classes=[0, 1])
            except ValueError as exc:  # what scikit-learn does with a NaN batch
                assert "NaN" in str(exc)
                refused += 1
    effect = inj.effect()
    assert effect is not None and 0 < refused == effect["touched"] < 20

    # the default schedule ignores eta0: the spike is reported as not applied, not as done
    inj = training(control, ["sgd"], kind="lr-spike", factor=10)
    async with inj:
        hook.partial_fit(clf, x[:40], y[:40])
    effect = inj.effect()
    assert effect is not None and effect["touched"] == 0
    assert "learning_rate='optimal'" in effect["hooks"]["sgd"]["last_error"]

    clf = SGDClassifier(learning_rate="constant", eta0=0.01, random_state=0)
    clf.partial_fit(x[:40], y[:40], classes=[0, 1])
    twin = SGDClassifier(learning_rate="constant", eta0=0.01, random_state=0)
    twin.partial_fit(x[:40], y[:40], classes=[0, 1])
    async with training(control, ["sgd"], kind="lr-spike", factor=10) as inj:
        hook.partial_fit(clf, x[40:80], y[40:80])
    twin.eta0 = 0.1
    twin.partial_fit(x[40:80], y[40:80])
    assert clf.eta0 == 0.01  # put back after the call
    assert inj.effect()["touched"] == 1  # type: ignore[index]
    # the spiked call stepped as eta0=0.1 would: the same move as its twin's
    assert np.allclose(clf.coef_, twin.coef_)


async def test_numpy_loop_sees_exploded_gradients_and_nan_inputs(
    control: ControlServer, board: Switchboard
) -> None:
    hook = StepHook("sgd", board=board)
    x, _ = _data()
    grad = np.array([0.5, -0.25, 1.0])
    inj = training(control, ["sgd"], kind="explode", factor=1000, rate=0.3)
    async with inj:
        norms = [float(np.linalg.norm(hook.step().grads(grad))) for _ in range(30)]
    effect = inj.effect()
    assert effect is not None
    big = [n for n in norms if n > 100 * np.linalg.norm(grad)]
    assert 0 < len(big) == effect["touched"] < 30
    assert effect["hooks"]["sgd"]["values_scaled.grads"] == 3 * len(big)

    inj = training(control, ["sgd"], kind="inf", values="inputs", fraction=0.1)
    async with inj:
        seen = hook.step().inputs(x)
    effect = inj.effect()
    assert effect is not None and x.shape == seen.shape and np.isfinite(x).all()
    assert int(np.isinf(seen).sum()) == effect["hooks"]["sgd"]["inf_injected.inputs"] > 0
