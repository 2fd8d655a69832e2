"""The numerical-stability suite: naive formulas on entries up to ±1000, where they overflow
unless the optimizer rewrites them (logsumexp, softplus, the logits form of cross-entropy).

The references are float64 with stable formulas, accurate to a few ulps at these values (the
tests check them against Python's decimal)."""

from __future__ import annotations

import numpy as np

import eggflow.tensor as T

from . import Workload, register

TAGS = ("stability",)
EDGES = (-1000.0, -745.0, -710.0, -40.0, -37.0, -30.0, -1.0, -1e-10, 0.0, 1e-10, 1.0, 30.0,
         37.0, 40.0, 710.0, 745.0, 1000.0)


def extreme_vector(rng, n: int):
    """Edge values, then a third each of uniform(-1000, 1000), normal*40 and normal*3."""
    x = np.concatenate([rng.uniform(-1000, 1000, n), rng.normal(0, 40, n), rng.normal(0, 3, n)])
    x = rng.permutation(x)[:n]
    x[: len(EDGES)] = EDGES[:n]
    return x


def softplus(x):
    """log(1 + exp(x)) without overflow or cancellation."""
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def logsumexp_numpy(x):
    """Row-wise logsumexp the way a NumPy user writes it stably (max shift)."""
    m = x.max(axis=1)
    return [m + np.log(np.exp(x - m[:, None]).sum(axis=1))]


def logsumexp_reference(x):
    """Row-wise logsumexp, accurate (log1p of the shifted sum minus the max's 1)."""
    m = np.max(x, axis=1, keepdims=True)
    return [m[:, 0] + np.log1p(np.sum(np.exp(x - m), axis=1) - 1)]


@register("stable_logsumexp", sizes={"quick": 64, "full": 2048}, tags=TAGS)
def build_logsumexp(size: int, seed: int) -> Workload:
    """log(sum(exp(x), axis=1)) on (size, size/2) x: rows near +1000, near -1000 and mixed."""
    n, k = size, max(8, size // 2)
    rng = np.random.default_rng(seed)
    xv = rng.uniform(-1000, 1000, (n, k))
    xv[0::4] = rng.uniform(900, 1000, (len(xv[0::4]), k))  # exp overflows
    xv[1::4] = rng.uniform(-1000, -900, (len(xv[1::4]), k))  # exp underflows: log(0)
    xv[2::4] = rng.normal(0, 3, (len(xv[2::4]), k))  # harmless
    x = T.dmatrix("x")

    return Workload("stable_logsumexp", [T.log(T.sum(T.exp(x), axis=1))], [x], [xv],
                    numpy=logsumexp_numpy, reference=logsumexp_reference, tags=TAGS)


@register("stable_softplus", sizes={"quick": 256, "full": 1_000_000}, tags=TAGS)
def build_softplus(size: int, seed: int) -> Workload:
    """log(1 + exp(x)) on x with entries up to ±1000."""
    x = T.dvector("x")
    xv = extreme_vector(np.random.default_rng(seed), size)
    return Workload("stable_softplus", [T.log(1 + T.exp(x))], [x], [xv],
                    numpy=lambda x: [np.logaddexp(0, x)], reference=lambda x: [softplus(x)],
                    numexpr=["maximum(x, 0) + log1p(exp(-abs(x)))"], tags=TAGS)


@register("stable_sigmoid_xent", sizes={"quick": 256, "full": 1_000_000}, tags=TAGS)
def build_sigmoid_xent(size: int, seed: int) -> Workload:
    """-y log(p) - (1-y) log(1-p), p = 1/(1+exp(-z)), logits up to ±1000, 0/1 labels."""
    rng = np.random.default_rng(seed)
    z, y = T.dvector("z"), T.dvector("y")
    p = 1 / (1 + T.exp(-z))
    zv, yv = extreme_vector(rng, size), rng.integers(0, 2, size).astype(np.float64)

    def numpy(z, y):
        return [y * np.logaddexp(0, -z) + (1 - y) * np.logaddexp(0, z)]

    def reference(z, y):  # both terms are >= 0: no cancellation, whatever y in [0, 1]
        return [y * softplus(-z) + (1 - y) * softplus(z)]

    return Workload("stable_sigmoid_xent", [-y * T.log(p) - (1 - y) * T.log(1 - p)], [z, y],
                    [zv, yv], numpy=numpy, reference=reference, tags=TAGS,
                    numexpr=["log1p(exp(-abs(z))) + y * maximum(-z, 0) + (1 - y) * maximum(z, 0)"])
