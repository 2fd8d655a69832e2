"""Higher-order ops: ``map_index`` evaluates a body graph once per index (used by jacobian)."""

from __future__ import annotations

import numpy as np

from .graph import Node, leaves
from .op import Op, apply, declare, static_int
from .types import TensorType


def _map_infer(inputs, index, body, free):
    n = static_int(inputs[0])
    shape = None if body.type.shape is None else (n,) + body.type.shape
    return TensorType(body.dtype, shape)


def _map_impl(n, *free_values, index, body, free):
    from .evaluate import build_program, run_program

    program = build_program([body], (index, *free))
    rows = [run_program(program, [np.asarray(i, dtype=index.dtype), *free_values])[0]
            for i in range(int(n))]
    if rows:
        return np.stack(rows)
    return np.zeros((0,) + tuple(0 if d is None else d for d in body.type.shape), body.dtype)


declare(Op("map_index", "control", _map_infer, _map_impl, grad=None,
           params=("index", "body", "free"),
           doc="stack(body evaluated with index = 0 .. n-1); inputs (n, *free leaves of body)"))


def map_index(index: Node, body: Node, n) -> Node:
    """``stack([body with index = i for i in range(n)])``: a loop the size of which may be
    symbolic. ``index`` is an int64 scalar input appearing in ``body``."""
    free = tuple(v for v in leaves([body]) if v is not index)
    return apply("map_index", n, *free, index=index, body=body, free=free)


__all__ = ["map_index"]
