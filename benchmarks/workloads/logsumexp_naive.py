"""Issue 5's W4: row-wise logsumexp written naively, ``log(sum(exp(x), axis=1))``, on a square
matrix of standard normal entries with one entry equal to 1000.

exp(1000) overflows: the naive formula gives inf on that row unless the optimizer rewrites it
into the stable form (JAX/XLA does not: it returns inf). The result must be exact, and the
error is reported against a float64 reference computed the stable way.

Not in the registry: a workload whose plain (FAST_COMPILE) graph overflows belongs to the
stability suite, whose member list (and 60-digit checks of the references) test_workloads.py
fixes. ``SPEC`` is the registry entry, for ``issue5`` and for registering it there later."""

from __future__ import annotations

import numpy as np

import eggflow.tensor as T

from . import Workload, WorkloadSpec
from .stability import logsumexp_numpy, logsumexp_reference

TAGS = ("stability", "issue5")
BIG = 1000.0


def big_entry(size: int) -> tuple:
    """Where the 1000 goes: an inner row and column."""
    return size // 2, size // 3


def build(size: int, seed: int) -> Workload:
    """log(sum(exp(x), axis=1)) on a (size, size) normal matrix with one entry = 1000."""
    rng = np.random.default_rng(seed)
    xv = rng.standard_normal((size, size))
    xv[big_entry(size)] = BIG
    x = T.dmatrix("x")

    return Workload("logsumexp_naive", [T.log(T.sum(T.exp(x), axis=1))], [x], [xv],
                    numpy=logsumexp_numpy, reference=logsumexp_reference, tags=TAGS,
                    notes="naive log(sum(exp)); one entry = 1000 (exp overflows)")


SPEC = WorkloadSpec("logsumexp_naive", build, {"quick": 64, "full": 2000}, TAGS,
                    build.__doc__.strip())
