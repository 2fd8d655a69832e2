"""Logistic regression, as in Theano's tutorial ("A Real Example: Logistic Regression").

400 random samples of 784 features with random 0/1 labels: with more features than samples the
data are linearly separable, so training accuracy reaches 100%.

    python examples/logistic_regression.py [--steps 300] [--seed 1234] [--no-progress]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import eggflow as ef
import eggflow.tensor as T
from eggflow import function, shared

N_SAMPLES, N_FEATURES = 400, 784


@dataclass
class Result:
    costs: list  # cost at each step (computed before that step's update)
    accuracy_before: float
    accuracy: float  # training accuracy after the last step
    w: np.ndarray
    b: float


def make_data(seed: int):
    """Random inputs and 0/1 labels (the tutorial's ``D``), reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    return rng, (rng.standard_normal((N_SAMPLES, N_FEATURES)),
                 rng.integers(0, 2, size=N_SAMPLES).astype(np.float64))


def run(steps: int = 300, seed: int = 1234, progress: bool = True, mode=None) -> Result:
    """Build the model, train it for ``steps`` gradient steps, and return what happened."""
    rng, (data_x, data_y) = make_data(seed)
    feats = N_FEATURES

    # Declare Theano symbolic variables
    x = T.dmatrix("x")
    y = T.dvector("y")
    w = shared(rng.standard_normal(feats) * 0.01, name="w")
    b = shared(0.0, name="b")

    # Construct the expression graph
    p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))  # probability that the target is 1
    prediction = p_1 > 0.5  # the prediction, thresholded
    xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)  # cross-entropy loss
    cost = xent.mean() + 0.01 * (w ** 2).sum()  # the cost to minimize, with L2 penalty
    gw, gb = T.grad(cost, [w, b])

    # Compile
    train = function([x, y], [prediction, cost], mode=mode,
                     updates=((w, w - 0.1 * gw), (b, b - 0.1 * gb)))
    predict = function([x], prediction, mode=mode)

    accuracy_before = float(np.mean(predict(data_x) == data_y))
    costs = []
    with Progress(TextColumn("[bold]training"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("cost {task.fields[cost]:.4f}"), TimeElapsedColumn(),
                  disable=not progress, transient=False) as bar:
        task = bar.add_task("train", total=steps, cost=float("nan"))
        for _ in range(steps):
            _, err = train(data_x, data_y)
            costs.append(float(err))
            bar.update(task, advance=1, cost=float(err))
    accuracy = float(np.mean(predict(data_x) == data_y))
    return Result(costs, accuracy_before, accuracy, w.get_value(), float(b.get_value()))


def main(argv=None) -> Result:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps (default 300)")
    parser.add_argument("--seed", type=int, default=1234, help="random seed (default 1234)")
    parser.add_argument("--mode", default=None, help="FAST_RUN, FAST_COMPILE or DebugMode")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    result = run(args.steps, args.seed, progress=not args.no_progress, mode=args.mode)
    first = f"{result.costs[0]:.4f} -> " if result.costs else ""
    last = f"{result.costs[-1]:.4f}" if result.costs else "n/a"
    print(f"eggflow {ef.__version__}: {args.steps} steps, cost {first}{last}, "
          f"training accuracy {result.accuracy_before:.1%} -> {result.accuracy:.1%}")
    return result


if __name__ == "__main__":
    main()
