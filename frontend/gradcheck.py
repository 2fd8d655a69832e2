"""``verify_grad``: compare symbolic gradients with central finite differences."""

from __future__ import annotations

import numpy as np

from .evaluate import build_program, run_program
from .graph import as_tensor_variable, constant, input_variable
from .grad import grad
from .types import TensorType


class GradientError(AssertionError):
    """The symbolic and numeric gradients disagree (message: input, position, both values)."""


_EPS = {"float64": 1e-6, "float32": 1e-3}
_TOL = {"float64": 1e-4, "float32": 1e-2}


def verify_grad(fun, pt, n_tests=2, rng=None, eps=None, abs_tol=None, rel_tol=None,
                mode=None):
    """Check ``grad`` of ``fun`` at the point ``pt`` (a list of float arrays) numerically.

    ``fun`` maps symbolic inputs (typed like the arrays of ``pt``) to one symbolic output; the
    check projects that output on a random tensor and compares the symbolic gradient of the
    projection with central differences, ``n_tests`` times. Raises ``GradientError``.
    """
    rng = rng if rng is not None else np.random.default_rng(42)
    if isinstance(rng, np.random.RandomState):
        rng = np.random.default_rng(rng.randint(2**31))
    pt = [np.array(p, dtype=np.asarray(p).dtype if np.asarray(p).dtype.kind in "fc"
                   else "float64") for p in pt]
    inputs = [input_variable(TensorType(p.dtype, p.shape), f"input{i}") for i, p in enumerate(pt)]
    out = fun(*inputs)
    if isinstance(out, (list, tuple)):
        raise TypeError("verify_grad: fun must return a single output")
    out = as_tensor_variable(out)
    dtype = max((p.dtype for p in pt), key=lambda d: d.itemsize).name
    eps = eps or _EPS.get(dtype, 1e-6)
    abs_tol = abs_tol or _TOL.get(dtype, 1e-4)
    rel_tol = rel_tol or _TOL.get(dtype, 1e-4)
    out_value = run_program(build_program([out], inputs), pt)[0]
    for _ in range(n_tests):
        projection = constant(rng.uniform(0.5, 1.5, np.shape(out_value)).astype(out.dtype))
        cost = (out * projection).sum()
        grads = grad(cost, inputs, disconnected_inputs="ignore")
        symbolic = run_program(build_program(grads, inputs), pt)
        cost_program = build_program([cost], inputs)
        for k, p in enumerate(pt):
            numeric = np.zeros(p.shape, dtype="float64")
            for idx in np.ndindex(*p.shape):
                values = [q.copy() for q in pt]
                values[k][idx] = p[idx] + eps
                up = float(run_program(cost_program, values)[0])
                values[k][idx] = p[idx] - eps
                down = float(run_program(cost_program, values)[0])
                numeric[idx] = (up - down) / (2 * eps)
            abs_err = np.abs(symbolic[k] - numeric)
            rel_err = abs_err / np.maximum(np.abs(symbolic[k]) + np.abs(numeric), 1e-8)
            bad = (abs_err > abs_tol) & (rel_err > rel_tol)
            if np.any(bad) or not np.all(np.isfinite(symbolic[k])):
                pos = np.unravel_index(np.argmax(np.where(bad, abs_err, -1)), p.shape)
                raise GradientError(
                    f"verify_grad: gradient of input {k} (shape {p.shape}) is wrong at {pos}: "
                    f"symbolic {symbolic[k][pos]!r}, numeric {numeric[pos]!r} "
                    f"(max abs err {abs_err.max():.3g}, max rel err {rel_err.max():.3g})")


__all__ = ["verify_grad", "GradientError"]
