"""Reductions: sum (more to come: prod, max, min, argmax, argmin, all, any, mean, var, std)."""

from __future__ import annotations

import numpy as np

from .graph import Node, as_tensor_variable
from .op import Op, apply, declare, normalize_axis
from .shape import alloc, dimshuffle, shape_dims
from .types import TensorType


def _reduced_shape(x: Node, axis) -> tuple | None:
    if x.type.shape is None:
        return None
    return tuple(d for i, d in enumerate(x.type.shape) if i not in axis)


def _sum_dtype(dtype):
    return None if dtype is None else np.add.reduce(np.zeros(1, dtype)).dtype.name


def keep_dims(r: Node, x: Node, axis) -> Node:
    """Re-insert the reduced axes of ``r`` as broadcastable axes (keepdims=True)."""
    it = iter(range(r.ndim))
    return dimshuffle(r, *("x" if i in axis else next(it) for i in range(x.ndim)))


def broadcast_back(g: Node, x: Node, axis) -> Node:
    """The gradient of a reduction: ``g`` broadcast back over the reduced axes of ``x``."""
    return alloc(keep_dims(g, x, axis), *shape_dims(x))


declare(Op("sum", "reduce",
           lambda inputs, axis: TensorType(_sum_dtype(inputs[0].dtype),
                                           _reduced_shape(inputs[0], axis)),
           lambda x, axis: np.sum(x, axis=axis),
           lambda node, g: [broadcast_back(g, node.inputs[0], node.attrs["axis"])],
           params=("axis",), nin=1, doc="sum over axes"))


def _reduce(op, x, axis, keepdims, **params):
    x = as_tensor_variable(x)
    axis = normalize_axis(axis, x.ndim, op)
    r = apply(op, x, axis=axis, **params)
    return keep_dims(r, x, axis) if keepdims else r


def sum(x, axis=None, keepdims=False, dtype=None, acc_dtype=None):  # noqa: A001
    """Sum over ``axis`` (None: all, int or tuple); ints accumulate in int64 as in NumPy."""
    from .elemwise import cast

    r = _reduce("sum", x, axis, keepdims)
    return r if dtype is None else cast(r, dtype)


__all__ = ["sum", "keep_dims", "broadcast_back"]
