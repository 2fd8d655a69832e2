"""Types of e-classes: seeded from the frontend, inferred through e-nodes by the op table.

A rewrite creates e-classes the frontend never saw (the ``neg x`` inside ``-softplus(-x)``);
their types come from the same ``infer`` functions the frontend uses. An e-node whose inferred
type contradicts its class's type is *ill-typed* (e.g. a float32 form merged into a float64
class) and is never extracted.
"""

from __future__ import annotations

from eggflow.frontend.graph import input_variable
from eggflow.frontend.op import OPS
from eggflow.frontend.types import TensorType

_INFER_ERRORS = (TypeError, ValueError, IndexError, OverflowError, KeyError, AttributeError)


def compatible(a: TensorType, b: TensorType) -> bool:
    if a.dtype != b.dtype or a.ndim != b.ndim:
        return False
    return all(x is None or y is None or x == y for x, y in zip(a.shape, b.shape))


def merge(a: TensorType, b: TensorType) -> TensorType:
    """The more specific of two compatible types."""
    return TensorType(a.dtype, tuple(x if x is not None else y for x, y in zip(a.shape, b.shape)))


def infer_types(eg, seeds: dict):
    """(class_types, node_ok): a type per e-class (None if unknown) and, per e-node, whether it
    is well-typed and may be extracted."""
    n_classes = eg.nclasses
    types = [None] * n_classes
    for cls, t in seeds.items():
        types[cls] = t
    stand_in = [None] * n_classes  # the Node passed to infer for a child class
    users = [[] for _ in range(n_classes)]
    for i, node in enumerate(eg.nodes):
        if node.op == "leaf":
            leaf = node.params[0][1]
            if leaf.op == "constant":
                stand_in[node.eclass] = leaf
            if types[node.eclass] is None:
                types[node.eclass] = leaf.type
        for c in set(node.children):
            users[c].append(i)

    def arg(cls):
        if stand_in[cls] is None:
            stand_in[cls] = input_variable(types[cls])
        return stand_in[cls]

    inferred = [None] * len(eg.nodes)
    memo = {}
    pending = [i for i, n in enumerate(eg.nodes) if n.op != "leaf"]
    queued = set(pending)
    while pending:
        i = pending.pop()
        queued.discard(i)
        node = eg.nodes[i]
        if inferred[i] is not None or any(types[c] is None for c in node.children):
            continue
        key = (node.op, node.params, tuple(stand_in[c] if stand_in[c] is not None and
                                           stand_in[c].op == "constant" else types[c]
                                           for c in node.children))
        t = memo.get(key)
        if t is None:  # many e-nodes share op and operand types: infer each combination once
            try:
                t = OPS[node.op].infer(tuple(arg(c) for c in node.children), **dict(node.params))
            except _INFER_ERRORS:
                t = False
            memo[key] = t
        inferred[i] = t
        if t and types[node.eclass] is None:
            types[node.eclass] = t
            for u in users[node.eclass]:
                if u not in queued and inferred[u] is None:
                    pending.append(u)
                    queued.add(u)
    ok = []
    for i, node in enumerate(eg.nodes):
        cls_type = types[node.eclass]
        if node.op == "leaf":
            t = node.params[0][1].type
        else:
            t = inferred[i]
        ok.append(bool(t) and cls_type is not None and compatible(t, cls_type))
    return types, ok
