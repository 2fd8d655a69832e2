"""A long elementwise expression (22 ops) on three vectors: what fusion is for."""

from __future__ import annotations

import numpy as np

import eggflow.tensor as T

from . import Workload, register

NUMEXPR = ("tanh(a * b + c) * exp(-a * a) + sqrt(abs(b - c)) / (1 + c * c)"
           " - log1p(b * b) * 0.5 + cos(a) * sin(c)")


@register("elementwise_chain", sizes={"quick": 1000, "full": 1_000_000},
          tags=("elementwise", "fusion"))
def build(size: int, seed: int) -> Workload:
    """tanh(ab+c) exp(-a²) + sqrt|b-c| / (1+c²) - log1p(b²)/2 + cos(a) sin(c) on vectors."""
    rng = np.random.default_rng(seed)
    a, b, c = T.dvectors("a", "b", "c")
    out = (T.tanh(a * b + c) * T.exp(-a * a) + T.sqrt(T.abs(b - c)) / (1 + c * c)
           - T.log1p(b * b) * 0.5 + T.cos(a) * T.sin(c))

    def numpy(a, b, c):
        return [np.tanh(a * b + c) * np.exp(-a * a) + np.sqrt(np.abs(b - c)) / (1 + c * c)
                - np.log1p(b * b) * 0.5 + np.cos(a) * np.sin(c)]

    return Workload("elementwise_chain", [out], [a, b, c],
                    [rng.standard_normal(size) for _ in range(3)], numpy=numpy,
                    reference=numpy, numexpr=[NUMEXPR], tags=("elementwise", "fusion"),
                    notes="the reference is the NumPy peer (float64, no cancellation to fear)")
