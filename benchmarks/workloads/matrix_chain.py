"""Chains of matrix products written left to right in a bad order, with static shapes (the
optimizer may reassociate them by cost). One workload per chain length."""

from __future__ import annotations

from functools import reduce

import numpy as np

import eggflow.tensor as T

from . import Workload, register

# The chains' dimensions, in units of n (0 stands for 1): matrix i is dims[i] x dims[i+1].
CHAINS = {
    3: (1, 10, 10, 0),  # (n,10n) (10n,10n) (10n,1): left to right costs 200n³, else ~110n²
    4: (10, 1, 10, 1, 0),  # (10n,n) (n,10n) (10n,n) (n,1): 200n³ against ~30n²
    6: (1, 10, 10, 1, 10, 10, 0),  # 220n³ against ~230n²
}


def _chain(length: int, size: int, seed: int) -> Workload:
    return _chain_of(f"matrix_chain_{length}", [d * size if d else 1 for d in CHAINS[length]],
                     seed)


def _chain_of(name: str, dims: list, seed: int, tags=("matrix_chain", "blas")) -> Workload:
    """The left-to-right product of matrices dims[i] x dims[i+1]."""
    rng = np.random.default_rng(seed)
    mats = [T.tensor("float64", shape=(p, q), name=f"m{i}")
            for i, (p, q) in enumerate(zip(dims, dims[1:]))]
    # positive entries (no cancellation) scaled so that every product has entries near 1
    values = [rng.random((p, q)) * 2 / p for p, q in zip(dims, dims[1:])]

    def numpy(*ms):
        return [np.linalg.multi_dot(ms)]

    def reference(*ms):
        return [reduce(lambda acc, m: np.dot(m, acc), reversed(ms[:-1]), ms[-1])]

    return Workload(name, [reduce(T.dot, mats)], mats, values, numpy=numpy,
                    reference=reference, tags=tags,
                    notes="numpy peer: np.linalg.multi_dot (a careful user's optimal order); "
                          "written left to right, the chain is O(n³)")


@register("matrix_chain_3", sizes={"quick": 4, "full": 300}, tags=("matrix_chain", "blas"))
def build3(size: int, seed: int) -> Workload:
    """m0 @ m1 @ m2, shapes (n,10n) (10n,10n) (10n,1), n = size, left to right."""
    return _chain(3, size, seed)


@register("matrix_chain_4", sizes={"quick": 4, "full": 300}, tags=("matrix_chain", "blas"))
def build4(size: int, seed: int) -> Workload:
    """m0 @ m1 @ m2 @ m3, shapes (10n,n) (n,10n) (10n,n) (n,1), n = size, left to right."""
    return _chain(4, size, seed)


@register("matrix_chain_6", sizes={"quick": 4, "full": 300}, tags=("matrix_chain", "blas"))
def build6(size: int, seed: int) -> Workload:
    """A 6-matrix chain (n,10n) (10n,10n) (10n,n) (n,10n) (10n,10n) (10n,1), left to right."""
    return _chain(6, size, seed)


ABC_TAGS = ("matrix_chain", "blas", "issue5")


@register("matrix_chain_abc", sizes={"quick": 10, "full": 100}, tags=ABC_TAGS)
def build_abc(size: int, seed: int) -> Workload:
    """A @ B @ C, shapes (n,10n) (10n,10n) (10n,n/10), n = size, left to right (issue 5, W5).

    At 100: 100x1000 . 1000x1000 . 1000x10, 1.0e8 multiply-adds left to right, 1.1e7 right to
    left."""
    return _chain_of("matrix_chain_abc", [size, 10 * size, 10 * size, max(1, size // 10)], seed,
                     ABC_TAGS)
