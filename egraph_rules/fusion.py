"""Fusion rules (the late phase): elementwise work and reductions become fused kernels.

A fused kernel is ``kernel(body)`` where ``body`` is an elementwise expression over
``load(t)`` leaves (see frontend/kernel.py). Three laws do all the work:

- seed: an elementwise op of materialised tensors is a one-op kernel,
  ``f(x, y) = kernel(f(load(x), load(y)))`` (only where x and y are ``top``: the graph's own
  tensors, so inline bodies are never seeded again);
- fuse: ``load(kernel(s)) = inline(s)`` — reading a kernel's result equals computing its body
  inside the consumer. After it fires, the e-class of every inline operand holds both choices
  (read the materialised buffer, or recompute the producer inside the consumer), and
  extraction decides per operand: chains and trees of any size fuse into one kernel, with no
  operand cap;
- reductions (and row-wise softmax/log_softmax/logsumexp) read their input inline,
  ``sum(x) = kreduce(load(x), 'sum')``, so their elementwise producers fuse into them.

Growth is linear: every inline e-class is the inline form of one tensor e-class.
"""

from __future__ import annotations

from eggflow.frontend.kernel import REDUCIBLE
from eggflow.frontend.op import OPS

from .dsl import RuleSet, const, op, param, rewrite, top
from .dsl import vars as pvars

x, y, z, s = pvars("x y z s")
c = const("c")
axis = param("axis")


def _seed(name: str):
    decl = OPS[name]
    args = (x, y, z)[: decl.nin]
    params = {p: param(p) for p in decl.params}
    # f(x, y) = kernel(f(load(x), load(y))) for materialised x, y
    return rewrite(f"fuse-{name}", op(name, *args, **params),
                   op("kernel", op(name, *(op("load", a) for a in args), **params)),
                   when=[top(a) for a in args],
                   law=f"{name} of tensors is a one-op fused kernel")


R = [_seed(name) for name, decl in OPS.items() if decl.family == "elemwise"]
R += [
    # load(kernel(s)) = inline(s): reading a kernel's result = computing its body inline
    rewrite("fuse", op("load", op("kernel", s)), op("inline", s),
            law="reading a kernel's result = computing its body inline"),
    # load(c) = c for a scalar constant: a literal in the kernel
    rewrite("load-const", op("load", c), c, law="a scalar constant is inlined as a literal"),
]
# r(x) = kreduce(load(x), r): a reduction reads its input inline
R += [rewrite(f"fuse-{name}", op(name, x, axis=axis),
              op("kreduce", op("load", x), op=name, axis=axis), when=top(x),
              law=f"{name} reads its input inline (producers fuse into it)")
      for name in REDUCIBLE if name in OPS and OPS[name].params == ("axis",)]

RULES = RuleSet("fusion", "fusion", R)
