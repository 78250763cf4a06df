"""In-memory weight perturbation of scikit-learn estimators (and torch modules if present)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.ensemble import VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

from aichaos.errors import ValidationError
from aichaos.model.weights import checksum, parameters, perturb
from tests.model.conftest import Data


@pytest.fixture(scope="module")
def mlp(data: Data) -> Any:
    X = (data.X - data.X.mean(0)) / data.X.std(0)
    return MLPClassifier(hidden_layer_sizes=(16,), max_iter=2000, tol=1e-3, random_state=0).fit(
        X, data.y
    ), X


@pytest.mark.parametrize(("mode", "sigma"), [("gaussian", 2.0), ("bitflip", 0.0)])
def test_pipeline_perturbed_then_restored_exactly(
    models: dict[str, Any], data: Data, mode: str, sigma: float
) -> None:
    model = models["v2"]
    before_sum = checksum(model)
    before_pred = model.predict(data.X)
    with perturb(model, mode=mode, fraction=0.3, sigma=sigma, seed=11) as p:  # type: ignore[arg-type]
        assert checksum(model) != before_sum
        assert p.touched > 0
        try:
            with np.errstate(all="ignore"):
                changed = not np.array_equal(model.predict(data.X), before_pred)
        except ValueError:  # flipped exponent bits made inf/NaN, which sklearn refuses
            changed = True
        assert changed
    assert checksum(model) == before_sum
    assert np.array_equal(model.predict(data.X), before_pred)


def test_fraction_controls_how_many_values_change(mlp: Any) -> None:
    model, _ = mlp
    originals = [a.copy() for _, a in parameters(model)]
    total = sum(a.size for a in originals)
    with perturb(model, fraction=0.25, sigma=1.0, seed=5):
        changed = sum(
            int((a != o).sum()) for (_, a), o in zip(parameters(model), originals, strict=True)
        )
    assert 0.2 * total <= changed <= 0.3 * total


def test_mlp_and_ensembles_are_walked(mlp: Any, data: Data) -> None:
    model, X = mlp
    names = [n for n, _ in parameters(model)]
    assert any(n.startswith("coefs_") for n in names) and any("intercepts_" in n for n in names)
    vote = VotingClassifier([("lr", LogisticRegression(max_iter=500))]).fit(X, data.y)
    assert any("estimators_" in n for n, _ in parameters(vote))
    base = model.score(X, data.y)
    with perturb(model, fraction=1.0, sigma=3.0, seed=2):
        assert model.score(X, data.y) < base - 0.05
    assert model.score(X, data.y) == base


def test_bad_input() -> None:
    with pytest.raises(ValidationError, match="float parameter arrays"):
        perturb(LogisticRegression(), fraction=0.1)  # not fitted: nothing to perturb
    with pytest.raises(ValidationError, match="fraction must be in"):
        perturb(object(), fraction=0)
    with pytest.raises(ValidationError, match="sigma must be >= 0"):
        perturb(object(), sigma=-1)


@pytest.mark.slow  # importing torch alone takes seconds
def test_torch_module_restored_exactly() -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    x = torch.randn(32, 8)
    with torch.no_grad():
        before = net(x).clone()
    before_sum = checksum(net)
    with perturb(net, mode="gaussian", fraction=0.5, sigma=1.0, seed=1), torch.no_grad():
        assert not torch.equal(net(x), before)
    with torch.no_grad():
        assert torch.equal(net(x), before)
    assert checksum(net) == before_sum
