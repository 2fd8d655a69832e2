"""Scaled dot-product attention, with the softmax written out as exp / sum(exp)."""

from __future__ import annotations

import numpy as np

import eggflow.tensor as T

from . import Workload, register

D = 64


@register("attention", sizes={"quick": 64, "full": 2048}, tags=("nnet",))
def build(size: int, seed: int) -> Workload:
    """softmax(Q Kᵀ / sqrt(d)) V for (size × 64) Q, K, V, softmax as exp(s) / sum(exp(s))."""
    n = size
    rng = np.random.default_rng(seed)
    q, k, v = T.dmatrices("q", "k", "v")
    e = T.exp(T.dot(q, k.T) / np.sqrt(D))
    outputs = [T.dot(e / e.sum(axis=1, keepdims=True), v)]
    values = [rng.standard_normal((n, D)) for _ in range(3)]

    def numpy(q, k, v):
        s = q @ k.T / np.sqrt(D)
        e = np.exp(s - s.max(axis=1, keepdims=True))
        return [(e / e.sum(axis=1, keepdims=True)) @ v]

    def reference(q, k, v):
        from scipy.special import softmax

        return [np.dot(softmax(np.dot(q, k.T) / np.sqrt(D), axis=1), v)]

    return Workload("attention", outputs, [q, k, v], values, numpy=numpy, reference=reference,
                    tags=("nnet",))
