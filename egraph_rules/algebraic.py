"""Algebraic rules: folding, identities, power specialisation, exp algebra, factoring, layout
identities, lifting indexing through elementwise ops, matrix chains.

Bounded by construction: commutativity of ``add``/``mul`` adds at most one mirror per node;
there is no associativity of ``+``/``*`` (with commutativity it enumerates every bracketing:
a 50-term sum grows to ~10^23 e-nodes); distributivity expands (``a*(b+c) -> a*b + a*c``) only
in the first iteration (repeated expansion multiplies out nested sums), so it adds at most
three e-nodes per product node, once; factoring runs in the first four iterations (with
x = x * 1.0 in the e-graph, unbounded factoring and constant folding build x * 2^k for every
k); ``dot`` associativity on 2-d operands gives a chain of n matrices O(n^3) sub-products, not
Catalan-many trees. tests/egraph/test_families.py measures the bound.
"""

from __future__ import annotations

import eggflow.frontend.tensor as T

from .dsl import (RuleSet, birewrite, fold, has_ndim, is_float, op, param, rewrite,
                  same_broadcast, same_dtype)
from .dsl import vars as pvars

x, y, z = pvars("x y z")
a, b, c = pvars("a b c")
(m,) = pvars("m", ndim=2)
p, q = pvars("p q", ndim=2)
axis, idx = param("axis"), param("idx")
(i,) = pvars("i")

# unary elementwise ops of one float type in and out: indexing commutes with them
LIFTABLE = ("neg", "abs", "exp", "expm1", "log", "log1p", "sqrt", "sqr", "tanh", "sigmoid",
            "softplus", "sin", "cos")

R = [
    # c1 + c2, c1 - c2, c1 * c2, c1 / c2 on float constants = the constant they compute
    fold("fold-add", "add"),
    fold("fold-sub", "sub"),
    fold("fold-mul", "mul"),
    fold("fold-div", "true_div"),
    # x + 0 = x, x * 1 = x, x - 0 = x, x / 1 = x, x ** 1 = x  (a 0-d constant keeps x's type)
    rewrite("add-zero", x + 0, x, when=is_float(x)),
    rewrite("mul-one", x * 1, x, when=is_float(x)),
    rewrite("sub-zero", x - 0, x, when=is_float(x)),
    rewrite("div-one", x / 1, x, when=is_float(x)),
    rewrite("pow-one", x**1, x, when=is_float(x)),
    # x * 0 = 0 and x - x = 0 for finite x (inf * 0 and inf - inf are nan)
    rewrite("mul-zero", x * 0, T.zeros_like(x), when=is_float(x), assumes=("finite",)),
    rewrite("sub-self", x - x, T.zeros_like(x), when=is_float(x), assumes=("finite",)),
    # zeros_like(f(x)) = zeros_like(x) for elementwise f of one float type: only the shape counts
    *[rewrite(f"zeros-like-{f}", T.zeros_like(op(f, x)), T.zeros_like(x), when=is_float(x))
      for f in LIFTABLE],
    # shape_i(f(x), i) = shape_i(x, i) for elementwise f: the size, not the value (mean(x**2)
    # then needs no materialised x**2 for its count)
    *[rewrite(f"shape-i-{f}", op("shape_i", op(f, x), i=axis), op("shape_i", x, i=axis),
              when=is_float(x)) for f in LIFTABLE],
    # zeros_like(a) + b = b for equal shapes and dtypes
    rewrite("add-zeros", T.zeros_like(a) + b, b,
            when=[same_broadcast(a, b), same_dtype(a, b), is_float(b)]),
    # --x = x
    rewrite("neg-neg", T.neg(T.neg(x)), x),
    # (-x) * (-y) = x * y
    rewrite("neg-mul-neg", (-x) * (-y), x * y),
    # (-x) - y = -(x + y)
    rewrite("neg-sub", (-x) - y, -(x + y)),
    # x - y * (-z) = x + y * z
    rewrite("sub-mul-neg", x - y * (-z), x + y * z),
    # x ** 2 = sqr(x), x ** 0.5 = sqrt(x), x ** -1 = 1 / x
    rewrite("pow-2", x**2, T.sqr(x), when=is_float(x)),
    rewrite("pow-half", x**0.5, T.sqrt(x), when=is_float(x)),
    rewrite("pow-minus-1", x**-1, T.reciprocal(x), when=is_float(x)),
    # x * x = sqr(x)
    rewrite("mul-self", x * x, T.sqr(x), when=is_float(x)),
    # exp(a) * exp(b) = exp(a + b)
    rewrite("exp-mul", T.exp(a) * T.exp(b), T.exp(a + b), when=[is_float(a), is_float(b)],
            assumes=("finite",)),
    # a * b + a * c = a * (b + c)  (both ways; bounded: factoring in the first 4 iterations,
    # expanding in the first one. With x = x * 1.0 in the e-graph, unbounded factoring folds
    # x + x into x * 2.0, then x * 4.0, ... forever)
    *birewrite("distribute", a * b + a * c, a * (b + c), assumes=("finite",),
               when=[same_dtype(a, b), same_dtype(b, c)], iterations=(4, 1)),
    # commutativity (bounded: one mirror per node)
    rewrite("add-comm", a + b, b + a),
    rewrite("mul-comm", a * b, b * a),
    # sum(x + y, axis) = sum(x, axis) + sum(y, axis) for equal shapes (so mean(x + y) too)
    rewrite("sum-add", op("sum", x + y, axis=axis), op("sum", x, axis=axis) +
            op("sum", y, axis=axis), when=[same_broadcast(x, y), same_dtype(x, y), is_float(x)],
            assumes=("finite",)),
    # sum(a * x, axis) = a * sum(x, axis) for a 0-d a
    rewrite("sum-scalar", op("sum", a * x, axis=axis), a * op("sum", x, axis=axis),
            when=[has_ndim(a, 0), same_dtype(a, x), is_float(x)], assumes=("finite",)),
    # dot(a * x, y) = a * dot(x, y) and dot(x, a * y) = a * dot(x, y) for a 0-d a
    rewrite("dot-scalar-l", T.dot(a * x, y), a * T.dot(x, y),
            when=[has_ndim(a, 0), same_dtype(a, x), same_dtype(x, y), is_float(x)],
            assumes=("finite",)),
    rewrite("dot-scalar-r", T.dot(x, a * y), a * T.dot(x, y),
            when=[has_ndim(a, 0), same_dtype(a, x), same_dtype(x, y), is_float(x)],
            assumes=("finite",)),
    # (m^T)^T = m for matrices
    rewrite("transpose-transpose", T.transpose(T.transpose(m)), m, when=has_ndim(m, 2)),
    # dimshuffle(x, 0..n-1) = x: the identity pattern
    rewrite("dimshuffle-id-1", op("dimshuffle", x, pattern=(0,)), x, when=has_ndim(x, 1)),
    rewrite("dimshuffle-id-2", op("dimshuffle", x, pattern=(0, 1)), x, when=has_ndim(x, 2)),
    # dropping an axis just added: (x[None, :])[0, :] style merges of dimshuffles
    rewrite("dimshuffle-row-back", op("dimshuffle", op("dimshuffle", x, pattern=("x", 0)),
                                      pattern=(1,)), x, when=has_ndim(x, 1)),
    rewrite("dimshuffle-col-back", op("dimshuffle", op("dimshuffle", x, pattern=(0, "x")),
                                      pattern=(0,)), x, when=has_ndim(x, 1)),
    # reshape(reshape(x, s1), s2) = reshape(x, s2)
    rewrite("reshape-reshape", op("reshape", op("reshape", x, a), b), op("reshape", x, b)),
    # (a b)^T = b^T a^T for matrices (both ways)
    *birewrite("transpose-dot", T.transpose(T.dot(p, q)), T.dot(T.transpose(q), T.transpose(p)),
               when=[has_ndim(p, 2), has_ndim(q, 2)]),
    # dot(dot(a, b), c) = dot(a, dot(b, c)) for matrices: the cost model picks the order
    *birewrite("dot-assoc", T.dot(T.dot(a, b), c), T.dot(a, T.dot(b, c)),
               when=[has_ndim(a, 2), has_ndim(b, 2), has_ndim(c, 2), same_dtype(a, b),
                     same_dtype(b, c)], assumes=("finite",)),
    # f(x)[idx] = f(x[idx]) for elementwise f: index first, compute less
    *[rewrite(f"lift-index-{f}", op("subtensor", op(f, x), idx=idx),
              op(f, op("subtensor", x, idx=idx)), when=is_float(x)) for f in LIFTABLE],
    *[rewrite(f"lift-index1-{f}", op("subtensor", op(f, x), i, idx=idx),
              op(f, op("subtensor", x, i, idx=idx)), when=is_float(x)) for f in LIFTABLE],
    # (x + y)[idx] = x[idx] + y[idx] and (x * y)[idx] = x[idx] * y[idx] for equal shapes
    *[rewrite(f"lift-index-{f}2", op("subtensor", op(f, x, y), idx=idx),
              op(f, op("subtensor", x, idx=idx), op("subtensor", y, idx=idx)),
              when=same_broadcast(x, y)) for f in ("add", "sub", "mul")],
]

RULES = RuleSet("algebraic", family="algebraic", rules=R)
