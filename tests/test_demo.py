"""The demo (examples/logistic_regression.py) against a NumPy re-implementation of its loop."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

DEMO = Path(__file__).resolve().parents[1] / "examples" / "logistic_regression.py"


@pytest.fixture(scope="module")
def demo():
    spec = importlib.util.spec_from_file_location("logistic_regression_demo", DEMO)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def numpy_training(seed, steps):
    """The same model and updates, written directly in float64 NumPy (the oracle)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((400, 784))
    y = rng.integers(0, 2, size=400).astype(np.float64)
    w, b = rng.standard_normal(784) * 0.01, 0.0
    costs = []
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x @ w) - b))
        costs.append(np.mean(-y * np.log(p) - (1 - y) * np.log(1 - p)) + 0.01 * np.sum(w ** 2))
        g = (p - y) / len(y)  # d mean(xent) / d logit
        w, b = w - 0.1 * (x.T @ g + 0.02 * w), b - 0.1 * g.sum()
    accuracy = np.mean((1 / (1 + np.exp(-(x @ w) - b)) > 0.5) == y)
    return np.array(costs), w, b, accuracy


def test_demo_trains_like_numpy(demo, capsys):
    result = demo.main(["--steps", "40", "--seed", "7", "--no-progress"])
    assert "training accuracy" in capsys.readouterr().out
    costs, w, b, accuracy = numpy_training(7, 40)
    assert len(result.costs) == 40
    assert result.costs[-1] < result.costs[0] * 0.6
    assert np.all(np.diff(result.costs) < 0)  # plain gradient descent, small steps: monotone
    assert result.accuracy > result.accuracy_before
    assert result.accuracy >= 0.95
    np.testing.assert_allclose(result.costs, costs, rtol=1e-10)
    assert np.allclose(result.w, w, rtol=1e-9, atol=1e-12)
    assert np.isclose(result.b, b, rtol=1e-9, atol=1e-12)
    assert result.accuracy == accuracy


def test_demo_with_progress_bar_and_zero_steps(demo, capsys):
    result = demo.run(steps=3, seed=1, progress=True)
    assert len(result.costs) == 3
    result = demo.main(["--steps", "0", "--no-progress"])
    assert result.costs == [] and "n/a" in capsys.readouterr().out
