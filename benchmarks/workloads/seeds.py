"""The Theano tutorial programs (../shared/seeds/) as one workload: their main expressions."""

from __future__ import annotations

import numpy as np

import eggflow as ef
import eggflow.tensor as T

from . import Workload, register


@register("seeds", sizes={"quick": 32, "full": 1000}, tags=("seeds", "tutorial"))
def build(size: int, seed: int) -> Workload:
    """The tutorials' expressions: dot, elementwise product, logistic, a neuron, two SGD steps."""
    n = size
    rng = np.random.default_rng(seed)
    a, b, m = T.dmatrices("a", "b", "m")
    x, w, W = T.dvectors("x", "w", "W")
    bias, target, c = T.dscalars("bias", "target", "c")

    y = (x * W).sum()  # the training example: weights pulled towards a target sum
    cost = T.sqr(target - y)
    d2 = T.sum((x - c) ** 2)  # the gradient-method example: fit c to x
    outputs = [
        T.dot(a, b),  # matrix multiplication
        a * b,  # elementwise multiplication
        1 / (1 + T.exp(-m)),  # the logistic function of a matrix
        1 / (1 + T.exp(-(T.dot(m, w) + bias))),  # a neuron, on every row of m
        y,
        W - 0.1 * ef.grad(cost, W),
        d2,
        c - 0.05 * ef.grad(d2, c),
    ]
    inputs = [a, b, m, x, w, W, bias, target, c]
    values = [rng.standard_normal((n, n)), rng.standard_normal((n, n)),
              rng.standard_normal((n, n)), rng.random(n), rng.standard_normal(n) / np.sqrt(n),
              rng.random(n) / n, np.float64(0.1), np.float64(100.0), np.float64(0.0)]

    def numpy(a, b, m, x, w, W, bias, target, c):
        y = (x * W).sum()
        return [a @ b, a * b, 1 / (1 + np.exp(-m)), 1 / (1 + np.exp(-(m @ w + bias))), y,
                W - 0.1 * (-2 * (target - y) * x), ((x - c) ** 2).sum(),
                c - 0.05 * (-2 * (x - c).sum())]

    def reference(a, b, m, x, w, W, bias, target, c):
        from scipy.special import expit

        y = np.dot(x, W)
        return [np.dot(a, b), np.multiply(a, b), expit(m), expit(np.dot(m, w) + bias), y,
                W + 0.2 * (target - y) * x, np.dot(x - c, x - c),
                c + 0.1 * np.sum(x - c)]

    return Workload("seeds", outputs, inputs, values, numpy=numpy, reference=reference,
                    tags=("seeds", "tutorial"))
