"""Softmax cross-entropy of a logits matrix against one-hot targets."""

from __future__ import annotations

import numpy as np

import eggflow as ef
import eggflow.tensor as T

from . import Workload, register


@register("softmax_xent", sizes={"quick": 64, "full": 4096}, tags=("nnet",))
def build(size: int, seed: int) -> Workload:
    """Mean softmax cross-entropy (size rows, size//4 classes) and its gradient."""
    n, k = size, max(10, size // 4)
    rng = np.random.default_rng(seed)
    z, t = T.dmatrix("z"), T.dmatrix("t")
    cost = T.nnet.categorical_crossentropy(T.nnet.softmax(z), t).mean()
    outputs = [cost, ef.grad(cost, z)]
    values = [rng.standard_normal((n, k)) * 3, np.eye(k)[rng.integers(0, k, n)]]

    def numpy(z, t):
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        cost = -(t * (z - np.log(s))).sum() / len(z)
        return [cost, (e / s - t) / len(z)]

    def reference(z, t):
        from scipy.special import log_softmax, softmax

        return [-np.sum(t * log_softmax(z, axis=1)) / len(z), (softmax(z, axis=1) - t) / len(z)]

    return Workload("softmax_xent", outputs, [z, t], values, numpy=numpy, reference=reference,
                    tags=("nnet",))
