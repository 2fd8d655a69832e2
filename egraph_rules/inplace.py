"""Inplace rules (the late phase): ops that may overwrite an input buffer.

Each inplace op (``kernel_i``, ``gemm_i``, ...) has the value of its out-of-place form and a
destroy map in the op table (``extra["destroy"]``). The cost model prices it without the
allocation; after extraction the destroy handler (codegen.lower) keeps the choice only where
the overwritten buffer is dead afterwards and is not a function input, an output, a view of
one, or a shared value still needed — otherwise the out-of-place form runs.
"""

from __future__ import annotations

from eggflow.frontend.op import OPS

from .dsl import RuleSet, has_ndim, op, param, rewrite
from .dsl import vars as pvars

_v = pvars("a b c d e f")


def _rules(name: str, arities, ndims=None):
    decl = OPS[name]
    params = {p: param(p) for p in decl.params}
    args = _v if ndims is None else [pvars(f"v{k}", ndim=nd or None)[0]
                                    for k, nd in enumerate(ndims)]
    when = [] if ndims is None else [has_ndim(a, 0) for a, nd in zip(args, ndims) if nd == 0]
    # op(...) = op_i(...): the same value, may overwrite its destroyed input
    return [rewrite(f"inplace-{name}" + ("" if decl.nin else f"-{n}"),
                    op(name, *args[:n], **params), op(name + "_i", *args[:n], **params),
                    when=when, law=f"{name} may overwrite its input (destroy handler decides)")
            for n in arities]


R = (_rules("kernel", [1]) + _rules("gemm", [5], (2, 0, 2, 2, 0))
     + _rules("gemv", [5], (1, 0, 2, 1, 0)) + _rules("ger", [4], (2, 0, 1, 1))
     + _rules("set_subtensor", [2, 3, 4]) + _rules("inc_subtensor", [2, 3, 4]))

RULES = RuleSet("inplace", "inplace", R)
