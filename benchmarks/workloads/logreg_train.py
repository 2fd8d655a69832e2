"""Theano's tutorial logistic regression: one training step as a pure function."""

from __future__ import annotations

import numpy as np

import eggflow as ef
import eggflow.tensor as T

from . import Workload, register


@register("logreg_train", sizes={"quick": 64, "full": 3000}, tags=("train", "tutorial"))
def build(size: int, seed: int) -> Workload:
    """Logistic regression step (size features, 2*size rows): prediction, cost, new w and b."""
    feats, rows = size, 2 * size
    rng = np.random.default_rng(seed)
    x, y, w, b = T.dmatrix("x"), T.dvector("y"), T.dvector("w"), T.dscalar("b")
    p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))
    prediction = p_1 > 0.5
    xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)
    cost = xent.mean() + 0.01 * (w**2).sum()
    gw, gb = ef.grad(cost, [w, b])
    outputs = [prediction, cost, w - 0.1 * gw, b - 0.1 * gb]
    values = [rng.standard_normal((rows, feats)), rng.integers(0, 2, rows).astype(np.float64),
              rng.standard_normal(feats) * 0.1, np.float64(0.1)]

    def numpy(x, y, w, b):
        z = x @ w + b
        p_1 = 1 / (1 + np.exp(-z))
        xent = np.logaddexp(0, -z) * y + np.logaddexp(0, z) * (1 - y)
        cost = xent.mean() + 0.01 * (w**2).sum()
        gz = (p_1 - y) / len(y)
        return [p_1 > 0.5, cost, w - 0.1 * (x.T @ gz + 0.02 * w), b - 0.1 * gz.sum()]

    def reference(x, y, w, b):
        from scipy.special import expit, log_expit

        z = np.dot(x, w) + b
        cost = -np.mean(y * log_expit(z) + (1 - y) * log_expit(-z)) + 0.01 * np.dot(w, w)
        gz = (expit(z) - y) / len(y)
        return [(z > 0).astype(np.float64), cost, w - 0.1 * (np.dot(gz, x) + 0.02 * w),
                b - 0.1 * np.sum(gz)]

    return Workload("logreg_train", outputs, [x, y, w, b], values, numpy=numpy,
                    reference=reference, tags=("train", "tutorial"))
