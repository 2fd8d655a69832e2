"""Layer normalization over the last axis."""

from __future__ import annotations

import numpy as np

import eggflow.tensor as T

from . import Workload, register

EPS = 1e-5


@register("layernorm", sizes={"quick": 64, "full": 4096}, tags=("nnet",))
def build(size: int, seed: int) -> Workload:
    """(x - mean) / sqrt(var + eps) * gamma + beta over the last axis of a (size, size/4) x."""
    n, d = size, max(16, size // 4)
    rng = np.random.default_rng(seed)
    x, gamma, beta = T.dmatrix("x"), T.dvector("gamma"), T.dvector("beta")
    mean = x.mean(axis=-1, keepdims=True)
    var = T.sqr(x - mean).mean(axis=-1, keepdims=True)
    outputs = [(x - mean) / T.sqrt(var + EPS) * gamma + beta]
    values = [rng.standard_normal((n, d)) * 2 + 1, 1 + 0.1 * rng.standard_normal(d),
              0.1 * rng.standard_normal(d)]

    def numpy(x, gamma, beta):
        mean = x.mean(axis=-1, keepdims=True)
        var = x.var(axis=-1, keepdims=True)
        return [(x - mean) / np.sqrt(var + EPS) * gamma + beta]

    def reference(x, gamma, beta):
        xc = x - np.mean(x, axis=-1, keepdims=True)
        var = np.einsum("ij,ij->i", xc, xc)[:, None] / x.shape[-1]
        return [xc / np.sqrt(var + EPS) * gamma + beta]

    return Workload("layernorm", outputs, [x, gamma, beta], values, numpy=numpy,
                    reference=reference, tags=("nnet",))
