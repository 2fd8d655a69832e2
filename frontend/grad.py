"""Reverse-mode differentiation over the op table: ``grad``, ``jacobian``, ``hessian``.

Each op's declaration gives ``grad(node, gout) -> [gradient per input]``; this module walks the
graph from the cost back to the requested variables, summing the contributions of every use.
The result is a symbolic graph, optimised and compiled like any other.
"""

from __future__ import annotations

import functools
import warnings

from .graph import Node, as_tensor_variable, input_variable, toposort
from .op import OPS
from .types import TensorType, is_int


class DisconnectedInputError(ValueError):
    """``grad`` was asked for a variable the cost does not depend on."""


class NullTypeGradError(TypeError):
    """The gradient does not exist (integer variable, or an op without a gradient)."""


def _ancestors_of(targets: set, order: list) -> set:
    """Nodes of ``order`` (topological) that depend on some node of ``targets``."""
    reach = set()
    for node in order:
        if node in targets or any(i in reach for i in node.inputs):
            reach.add(node)
    return reach


def _sum(terms):
    from . import tensor as T

    total = terms[0]
    for t in terms[1:]:
        total = T.add(total, t)
    return total


def backprop(cost: Node, seed: Node, wrt: list, consider_constant=()) -> dict:
    """Gradients of ``cost`` (seeded with ``seed``) for every node between ``wrt`` and it."""
    from . import tensor as T

    order = toposort([cost])
    relevant = _ancestors_of(set(wrt), order)
    blocked = set(consider_constant)
    contributions: dict[Node, list] = {cost: [seed]}
    grads: dict[Node, Node] = {}
    for node in reversed(order):
        terms = contributions.pop(node, None)
        if terms is None or node not in relevant:
            continue
        g = grads[node] = _sum(terms)
        if not node.inputs or node in blocked or is_int(node.dtype):
            continue
        op = OPS[node.op]
        if op.grad is None:
            if any(i in relevant and not is_int(i.dtype) for i in node.inputs):
                raise NullTypeGradError(f"op {node.op} has no gradient (needed for {node})")
            continue
        for inp, gi in zip(node.inputs, op.grad(node, g)):
            if gi is None or inp not in relevant or is_int(inp.dtype):
                continue
            gi = as_tensor_variable(gi)
            if gi.dtype != inp.dtype:
                gi = T.cast(gi, inp.dtype)
            if gi.ndim != inp.ndim and inp.ndim is not None and gi.ndim is not None:
                raise AssertionError(f"grad of {node.op} gave ndim {gi.ndim} for input "
                                     f"{inp} of ndim {inp.ndim}")
            contributions.setdefault(inp, []).append(gi)
    return grads


def grad(cost, wrt, consider_constant=None, disconnected_inputs="raise",
         return_disconnected="zero"):
    """Symbolic gradient of the scalar ``cost`` with respect to ``wrt`` (a variable or a list).

    ``wrt`` may be inputs, shared variables or intermediate nodes (e.g. a subtensor of a
    lookup table). For a variable the cost does not depend on: ``disconnected_inputs``
    'raise' (default), 'warn' or 'ignore'; the returned gradient is then zeros
    (``return_disconnected='zero'``) or None.
    """
    from . import tensor as T

    if disconnected_inputs not in ("raise", "warn", "ignore"):
        raise ValueError("disconnected_inputs must be 'raise', 'warn' or 'ignore', "
                         f"got {disconnected_inputs!r}")
    cost = as_tensor_variable(cost)
    if cost.ndim != 0:
        raise TypeError(f"grad: the cost must be a scalar (0-d), got {cost} of type {cost.type}; "
                        "reduce it first (e.g. .sum()) or use jacobian()")
    single = not isinstance(wrt, (list, tuple))
    wrt_list = [wrt] if single else list(wrt)
    for w in wrt_list:
        if not isinstance(w, Node):
            raise TypeError(f"grad: wrt must be symbolic variables, got {w!r}")
        if is_int(w.dtype):
            raise TypeError(f"grad: cannot differentiate with respect to {w} of integer/bool type "
                            f"{w.type}; gradients are defined for float variables only")
    if is_int(cost.dtype):
        raise TypeError(f"grad: the cost {cost} has integer type {cost.type}; it is not "
                        "differentiable")
    seed = T.ones_like(cost)
    if not consider_constant:
        cost = _stabilized(cost, wrt_list)
    grads = backprop(cost, seed, wrt_list, consider_constant or ())
    out = []
    for w in wrt_list:
        g = grads.get(w)
        if g is None:
            msg = (f"grad: the cost does not depend on {w.name or w} (it is disconnected); "
                   "pass disconnected_inputs='ignore' or 'warn' to get zeros")
            if disconnected_inputs == "raise":
                raise DisconnectedInputError(msg)
            if disconnected_inputs == "warn":
                warnings.warn(msg, stacklevel=2)
            g = T.zeros_like(w) if return_disconnected == "zero" else None
        out.append(g)
    return out[0] if single else out


def _stabilized(cost: Node, wrt: list) -> Node:
    """``cost`` rewritten by the e-graph (config.grad_stabilize), so that its
    gradient is built from stable forms: differentiating log(sigmoid(z)) gives g/p * p(1-p),
    which is nan where p underflows; differentiating its equal -softplus(-z) gives the stable
    g * sigmoid(-z). The same function, so the same gradient in exact arithmetic. The original
    is kept when nothing changes, when a ``wrt`` variable would disappear from the rewritten
    graph (an intermediate node), or when the optimizer is unavailable. The rewritten cost is
    kept in the optimized-graph disk cache (a new process, or a machine without egglog that
    was given the cache, builds the same gradient graph)."""
    from .config import config

    if not config.grad_stabilize or not _stable_targets() & {n.op for n in toposort([cost])}:
        return cost
    try:
        from eggflow.optimize import optimize

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = optimize(cost, budget={"seconds": 2.0, "iterations": 20}, disk_cache=True)
    except ImportError:
        return cost
    new = result.outputs[0]
    if result.report.fallback or new is cost:
        return cost
    nodes = set(toposort([new]))
    return new if all(w in nodes for w in wrt) else cost


@functools.cache
def _stable_targets() -> frozenset:
    """The ops at the root of some stability rewrite's left side: a graph without any of them
    has nothing to stabilize, and skips the e-graph."""
    from eggflow.egraph_rules.library import builtin

    return frozenset(r.lhs.op for r in builtin()["stability"] if r.kind == "rewrite")


def jacobian(expression, wrt, consider_constant=None, disconnected_inputs="raise"):
    """d expression / d wrt, with one row per element of the (flattened) expression.

    Rows are computed by a ``map`` node over a symbolic index, so the size need not be known.
    """
    from . import tensor as T

    expression = as_tensor_variable(expression)
    single = not isinstance(wrt, (list, tuple))
    wrt_list = [wrt] if single else list(wrt)
    if expression.ndim == 0:
        out = grad(expression, wrt_list, consider_constant, disconnected_inputs)
        return out[0] if single else out
    flat = expression.flatten() if expression.ndim != 1 else expression
    i = input_variable(TensorType("int64", ()), "i")
    rows = grad(flat[i], wrt_list, consider_constant, disconnected_inputs)
    out = [T.map_index(i, row, flat.shape[0]) for row in rows]
    return out[0] if single else out


def hessian(cost, wrt, consider_constant=None, disconnected_inputs="raise"):
    """Matrix of second derivatives of the scalar ``cost`` (``wrt`` a vector or a list)."""
    single = not isinstance(wrt, (list, tuple))
    wrt_list = [wrt] if single else list(wrt)
    out = []
    for w in wrt_list:
        if w.ndim != 1:
            raise TypeError(f"hessian: wrt must be vectors, got {w} of type {w.type}")
        g = grad(cost, w, consider_constant, disconnected_inputs)
        out.append(jacobian(g, w, consider_constant, disconnected_inputs))
    return out[0] if single else out


__all__ = ["grad", "jacobian", "hessian", "backprop", "DisconnectedInputError",
           "NullTypeGradError"]
