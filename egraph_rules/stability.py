"""Numerical-stability rules: rewrite forms that overflow or cancel into stable ones.

The left sides are numerically worse, so these rules *subsume* them: the unstable form is
hidden from extraction (and from later matching) once the stable one exists. Each rule has a
one-line law. PyTensor's stabilize list maps to: local_log1p -> log1p*, local_expm1 -> expm1,
logsigm_to_softplus -> log-sigmoid, log1msigm_to_softplus -> log-1m-sigmoid, local_1msigmoid
-> 1m-sigmoid, local_exp_over_1_plus_exp -> exp-over-1p-exp, local_logsoftmax -> log-softmax,
local_softmax_stabilize -> softmax (our softmax op is stable), local_log_sum_exp -> logsumexp,
local_log_add_exp -> log-add-exp.
"""

from __future__ import annotations

import eggflow.frontend.tensor as T

from .dsl import (RuleSet, const, fact, has_ndim, is_float, op, param, positive, rewrite,
                  value)
from .dsl import vars as pvars

x, y, t = pvars("x y t")
(m,) = pvars("m", ndim=2)
(v,) = pvars("v", ndim=1)
c = const("c")
axis = param("axis")

R = [
    # log(1 + x) = log1p(x): exact near 0
    rewrite("log1p", T.log(1 + x), T.log1p(x), when=is_float(x), subsume=True),
    rewrite("log1p-r", T.log(x + 1), T.log1p(x), when=is_float(x), subsume=True),
    # log(1 - x) = log1p(-x)
    rewrite("log1p-neg", T.log(1 - x), T.log1p(-x), when=is_float(x), subsume=True),
    # exp(x) - 1 = expm1(x): exact near 0
    rewrite("expm1", T.exp(x) - 1, T.expm1(x), when=is_float(x), subsume=True),
    # log(1 + exp(x)) = softplus(x): no overflow for large x
    rewrite("softplus", T.log1p(T.exp(x)), T.softplus(x), subsume=True),
    # log(sigmoid(x)) = -softplus(-x)
    rewrite("log-sigmoid", T.log(T.sigmoid(x)), -T.softplus(-x), when=is_float(x), subsume=True),
    # 1 - sigmoid(x) = sigmoid(-x)
    rewrite("1m-sigmoid", 1 - T.sigmoid(x), T.sigmoid(-x), when=is_float(x), subsume=True),
    # log(1 - sigmoid(x)) = -softplus(x)
    rewrite("log-1m-sigmoid", T.log1p(-T.sigmoid(x)), -T.softplus(x), when=is_float(x),
            subsume=True),
    # 1 / (1 + exp(-x)) = sigmoid(x)
    rewrite("sigmoid", 1 / (1 + T.exp(-x)), T.sigmoid(x), subsume=True),
    rewrite("sigmoid-r", 1 / (T.exp(-x) + 1), T.sigmoid(x), subsume=True),
    # exp(x) / (1 + exp(x)) = sigmoid(x)
    rewrite("exp-over-1p-exp", T.exp(x) / (1 + T.exp(x)), T.sigmoid(x), subsume=True),
    # log(softmax(x)) = log_softmax(x)
    rewrite("log-softmax", T.log(op("softmax", x, axis=axis)), op("log_softmax", x, axis=axis),
            subsume=True),
    # log(sum(exp(x), axis)) = logsumexp(x, axis): max-shifted
    rewrite("logsumexp", T.log(op("sum", T.exp(x), axis=axis)),
            op("logsumexp", x, axis=axis), subsume=True),
    # exp(x) / sum(exp(x), axis, keepdims) = softmax(x, axis): max-shifted, no overflow
    # (finite x: our softmax of [inf, 1] is nan, the left side's limit is [1, 0])
    rewrite("softmax-rows", T.exp(m) / op("dimshuffle", op("sum", T.exp(m), axis=(1,)),
                                           pattern=(0, "x")),
            op("softmax", m, axis=(1,)), when=[has_ndim(m, 2), is_float(m)], assumes=("finite",),
            subsume=True),
    rewrite("softmax-rows-index", T.exp(m) / op("subtensor", op("sum", T.exp(m), axis=(1,)),
                                                 idx=((("slice", None, None, None),
                                                       ("newaxis",)))),
            op("softmax", m, axis=(1,)), when=[has_ndim(m, 2), is_float(m)], assumes=("finite",),
            subsume=True),
    rewrite("softmax-vector", T.exp(v) / op("sum", T.exp(v), axis=(0,)),
            op("softmax", v, axis=(0,)), when=[has_ndim(v, 1), is_float(v)], assumes=("finite",),
            subsume=True),
    # log(exp(x)) = x
    rewrite("log-exp", T.log(T.exp(x)), x, when=is_float(x), subsume=True),
    # exp(log(x)) = x where x > 0 is proven
    rewrite("exp-log", T.exp(T.log(x)), x, when=[positive(x), is_float(x)], subsume=True),
    # sqrt(x**2) = |x|
    rewrite("sqrt-sqr", T.sqrt(T.sqr(x)), T.abs(x), when=is_float(x), subsume=True),
    # log(exp(x) + exp(y)) = max(x, y) + log1p(exp(-|x - y|))  (x = y = inf gives nan: finite)
    rewrite("log-add-exp", T.log(T.exp(x) + T.exp(y)),
            T.maximum(x, y) + T.log1p(T.exp(-T.abs(x - y))), when=[is_float(x), is_float(y)],
            assumes=("finite",), subsume=True),
    # facts: x > 0 for these forms
    fact("exp-positive", T.exp(x), "positive"),
    fact("sigmoid-positive", T.sigmoid(x), "positive"),
    fact("softplus-positive", T.softplus(x), "positive"),
    fact("const-positive", c, "positive", when=value(c, ">", 0)),
    fact("add-positive", x + y, "positive",
         when=[positive(x), positive(y), is_float(x), is_float(y)]),
    fact("mul-positive", x * y, "positive",
         when=[positive(x), positive(y), is_float(x), is_float(y)]),
    fact("div-positive", x / y, "positive",
         when=[positive(x), positive(y), is_float(x), is_float(y)]),
    fact("sqrt-positive", T.sqrt(x), "positive", when=positive(x)),
]

RULES = RuleSet("stability", family="stability", rules=R)
