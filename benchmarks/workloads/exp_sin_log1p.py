"""Issue 5's W1: one elementwise expression on a long vector, in float64 and in float32.

    exp(-x**2/2) * sin(3*x) + log1p(x*x)

Five transcendental-or-arithmetic passes for NumPy (a temporary each), one loop once fused.
x is drawn from [0, 4): there the result has no zero crossing other than x = 0 (where it is
~3x), so a float32 result stays within a few float32 ulps, relatively, of the float64
reference (elsewhere its error near a crossing would be absolute, not relative)."""

from __future__ import annotations

import numpy as np

import eggflow.tensor as T

from . import Workload, register

NUMEXPR = "exp(-x**2/2)*sin(3*x) + log1p(x*x)"
SIZES = {"quick": 1000, "full": 10_000_000}
TAGS = ("elementwise", "fusion", "issue5")


def _build(name: str, dtype: str, size: int, seed: int) -> Workload:
    x = T.tensor(dtype, shape=(None,), name="x")
    xv = np.random.default_rng(seed).uniform(0.0, 4.0, size).astype(dtype)

    def numpy(x):
        return [np.exp(-x**2 / 2) * np.sin(3 * x) + np.log1p(x * x)]

    def reference(x):
        x = np.asarray(x, dtype=np.float64)
        return [np.exp(-x * x / 2) * np.sin(3 * x) + np.log1p(x * x)]

    return Workload(name, [T.exp(-x**2 / 2) * T.sin(3 * x) + T.log1p(x * x)], [x], [xv],
                    numpy=numpy, reference=reference, numexpr=[NUMEXPR], tags=TAGS,
                    notes=f"{dtype}; the reference is float64 on the same inputs")


@register("exp_sin_log1p", sizes=SIZES, tags=TAGS)
def build(size: int, seed: int) -> Workload:
    """exp(-x²/2) sin(3x) + log1p(x²) on a float64 vector of size entries (issue 5, W1)."""
    return _build("exp_sin_log1p", "float64", size, seed)


@register("exp_sin_log1p_f32", sizes=SIZES, tags=TAGS)
def build_f32(size: int, seed: int) -> Workload:
    """exp(-x²/2) sin(3x) + log1p(x²) on a float32 vector of size entries (issue 5, W1)."""
    return _build("exp_sin_log1p_f32", "float32", size, seed)
