"""Theano-style greedy maximal fusion over an extracted DAG: the baseline the e-graph's fusion
family is compared with (``Mode(fusion='greedy')``).

Walking the graph in topological order, an elementwise node is computed inline inside its
consumer when it has exactly one consumer, that consumer is elementwise, and both have the
same broadcast pattern (so nothing is recomputed); every other elementwise node is
materialised as ``kernel_i(body)`` (the destroy handler decides whether it really runs
inplace). Reductions and everything else keep their form. The result uses the same ops as
the late phase's (frontend/kernel.py), so lowering and codegen are shared.
"""

from __future__ import annotations

from eggflow.frontend.graph import toposort
from eggflow.frontend.op import OPS, apply_node


def _elemwise(node) -> bool:
    return node.op in OPS and OPS[node.op].family == "elemwise"


def _pattern(node):
    return None if node.type.shape is None else tuple(d == 1 for d in node.type.shape)


def greedy_fusion(outputs) -> list:
    order = toposort(outputs)
    clients: dict = {}
    for node in order:
        for i in set(node.inputs):
            clients[i] = clients.get(i, 0) + 1
    for o in outputs:
        clients[o] = clients.get(o, 0) + 1  # an output is materialised
    new, body = {}, {}
    for node in order:
        if not node.inputs:
            new[node] = node
            continue
        if not _elemwise(node):
            new[node] = apply_node(node.op, tuple(new[i] for i in node.inputs), node.params)
            continue
        args = []
        for i in node.inputs:
            if i.op == "constant" and i.ndim == 0:
                args.append(i)
            elif i in body and clients.get(i) == 1 and _pattern(i) == _pattern(node):
                args.append(body[i])
            else:
                args.append(apply_node("load", (new[i],), ()))
        body[node] = apply_node(node.op, tuple(args), node.params)
        new[node] = apply_node("kernel_i", (body[node],), ())
    return [new[o] for o in outputs]
