"""Algebraic rules: identities, power specialisation, exp/log algebra, factoring, matrix chains.

Bounded by construction: commutativity of ``add``/``mul`` is the only symmetric rule (each node
gains at most its mirror, so those rules add at most one e-node per original node); there is no
associativity of ``+``/``*`` (it grows a 50-term sum to ~10^23 e-nodes); ``dot`` associativity
on 2-d operands is allowed: a chain of n matrices has O(n^3) sub-products, not Catalan-many trees.
"""

from __future__ import annotations

import eggflow.frontend.tensor as T

from .dsl import RuleSet, birewrite, has_ndim, is_float, rewrite, same_dtype, same_shape
from .dsl import vars as pvars

x, y, z = pvars("x y z")
a, b, c = pvars("a b c")
(m,) = pvars("m", ndim=2)

R = [
    # x + 0 = x, x * 1 = x, x - 0 = x, x / 1 = x, x ** 1 = x  (a 0-d constant keeps x's type)
    rewrite("add-zero", x + 0, x, when=is_float(x)),
    rewrite("mul-one", x * 1, x, when=is_float(x)),
    rewrite("sub-zero", x - 0, x, when=is_float(x)),
    rewrite("div-one", x / 1, x, when=is_float(x)),
    rewrite("pow-one", x**1, x, when=is_float(x)),
    # --x = x
    rewrite("neg-neg", T.neg(T.neg(x)), x),
    # (m^T)^T = m for matrices
    rewrite("transpose-transpose", T.transpose(T.transpose(m)), m, when=has_ndim(m, 2)),
    # (-x) * (-y) = x * y
    rewrite("neg-mul-neg", (-x) * (-y), x * y),
    # x ** 2 = sqr(x), x ** 0.5 = sqrt(x), x ** -1 = 1 / x
    rewrite("pow-2", x**2, T.sqr(x), when=is_float(x)),
    rewrite("pow-half", x**0.5, T.sqrt(x), when=is_float(x)),
    rewrite("pow-minus-1", x**-1, T.reciprocal(x), when=is_float(x)),
    # x * x = sqr(x)
    rewrite("mul-self", x * x, T.sqr(x), when=is_float(x)),
    # exp(a) * exp(b) = exp(a + b)
    rewrite("exp-mul", T.exp(a) * T.exp(b), T.exp(a + b), when=[is_float(a), is_float(b)],
            assumes=("finite",)),
    # a * b + a * c = a * (b + c)  (both ways; expanding only in the first iteration: repeated
    # expansion multiplies out nested sums, exponential in their depth)
    *birewrite("distribute", a * b + a * c, a * (b + c), assumes=("finite",),
               when=[same_dtype(a, b), same_dtype(b, c)],
               iterations=(None, 1)),
    # commutativity (bounded: one mirror per node)
    rewrite("add-comm", a + b, b + a),
    rewrite("mul-comm", a * b, b * a),
    # x - y = x + (-y)  is NOT added: neg stays neg (PyTensor #1476 cannot happen here anyway)
    # dot(dot(a, b), c) = dot(a, dot(b, c)) for matrices: the cost model picks the order
    *birewrite("dot-assoc", T.dot(T.dot(a, b), c), T.dot(a, T.dot(b, c)),
               when=[has_ndim(a, 2), has_ndim(b, 2), has_ndim(c, 2), same_dtype(a, b),
                     same_dtype(b, c)], assumes=("finite",)),
    # sum(x + y) = sum(x) + sum(y) for equal static shapes
    rewrite("sum-add", T.sum(x + y), T.sum(x) + T.sum(y),
            when=[same_shape(x, y), same_dtype(x, y), is_float(x)], assumes=("finite",)),
]

RULES = RuleSet("algebraic", family="algebraic", rules=R)
