"""Theano's tutorial logistic regression: one training step, as a pure function
(``logreg_train``) and, as in the tutorial, on shared parameters updated by the call
(``logreg_step``, issue 5's W2)."""

from __future__ import annotations

import numpy as np

import eggflow as ef
import eggflow.tensor as T

from . import Workload, register


def _graph(x, y, w, b) -> list:
    """[prediction, cost, new w, new b]."""
    p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))
    prediction = p_1 > 0.5
    xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)
    cost = xent.mean() + 0.01 * (w**2).sum()
    gw, gb = ef.grad(cost, [w, b])
    return [prediction, cost, w - 0.1 * gw, b - 0.1 * gb]


def _numpy(x, y, w, b):
    z = x @ w + b
    p_1 = 1 / (1 + np.exp(-z))
    xent = np.logaddexp(0, -z) * y + np.logaddexp(0, z) * (1 - y)
    cost = xent.mean() + 0.01 * (w**2).sum()
    gz = (p_1 - y) / len(y)
    return [p_1 > 0.5, cost, w - 0.1 * (x.T @ gz + 0.02 * w), b - 0.1 * gz.sum()]


def _reference(x, y, w, b):
    from scipy.special import expit, log_expit

    z = np.dot(x, w) + b
    cost = -np.mean(y * log_expit(z) + (1 - y) * log_expit(-z)) + 0.01 * np.dot(w, w)
    gz = (expit(z) - y) / len(y)
    return [(z > 0).astype(np.float64), cost, w - 0.1 * (np.dot(gz, x) + 0.02 * w),
            b - 0.1 * np.sum(gz)]


def _values(rows: int, feats: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((rows, feats)), rng.integers(0, 2, rows).astype(np.float64),
            rng.standard_normal(feats) * 0.1, np.float64(0.1)]


@register("logreg_train", sizes={"quick": 64, "full": 3000}, tags=("train", "tutorial"))
def build(size: int, seed: int) -> Workload:
    """Logistic regression step (size features, 2*size rows): prediction, cost, new w and b."""
    x, y, w, b = T.dmatrix("x"), T.dvector("y"), T.dvector("w"), T.dscalar("b")
    return Workload("logreg_train", _graph(x, y, w, b), [x, y, w, b],
                    _values(2 * size, size, seed), numpy=_numpy, reference=_reference,
                    tags=("train", "tutorial"))


STEP_TAGS = ("train", "tutorial", "issue5")


@register("logreg_step", sizes={"quick": 200, "full": 10_000}, tags=STEP_TAGS)
def build_step(size: int, seed: int) -> Workload:
    """The tutorial's train step (size rows, min(100, max(10, size/100)) features): shared w, b
    updated by the call, which returns prediction, cost (and the new w, b)."""
    feats = min(100, max(10, size // 100))
    xv, yv, wv, bv = _values(size, feats, seed)
    x, y = T.dmatrix("x"), T.dvector("y")
    w, b = ef.shared(wv, name="w"), ef.shared(bv, name="b")

    def numpy(x, y):
        return _numpy(x, y, w.get_value(borrow=True), b.get_value(borrow=True))

    def reference(x, y):
        return _reference(x, y, w.get_value(borrow=True), b.get_value(borrow=True))

    return Workload("logreg_step", _graph(x, y, w, b), [x, y], [xv, yv], numpy=numpy,
                    reference=reference, tags=STEP_TAGS, updates=((w, 2), (b, 3)),
                    notes="shared w and b, updated by each call (Theano's tutorial)")
