"""The dot family: ``dot`` (NumPy's ``np.dot`` for every pair of ndims), ``tensordot``,
``batched_dot`` and ``outer``.

Two primitive ops carry the work: ``dot`` for the vector/matrix pairs (1,1) (2,1) (1,2) (2,2),
the BLAS kernels, and ``tensordot`` for everything N-d. ``batched_dot`` is a third (a batched
GEMM). Gradients are written with the same ops and dimshuffles; static inner sizes that
disagree are a ``ValueError`` when the graph is built. Output dtypes follow NumPy promotion.
"""

from __future__ import annotations

import numpy as np

from .graph import Node, as_tensor_variable
from .op import Op, apply, declare, result_dtype
from .shape import dimshuffle, flatten
from .types import TensorType


def _T():
    from . import tensor

    return tensor


def _shape_str(x: Node) -> str:
    return f"{x} of type {x.type}"


def _check_inner(what, a, ia, b, ib) -> None:
    """Raise if the static sizes of axis ``ia`` of ``a`` and ``ib`` of ``b`` disagree."""
    da, db = a.type.shape[ia], b.type.shape[ib]
    if da is not None and db is not None and da != db:
        raise ValueError(f"{what}: inner sizes differ: axis {ia % a.ndim} of {_shape_str(a)} has "
                         f"size {da}, axis {ib % b.ndim} of {_shape_str(b)} has size {db}")


# -- dot: vectors and matrices -------------------------------------------------------------
_DOT_NDIMS = ((1, 1), (2, 1), (1, 2), (2, 2))


def _dot_infer(inputs):
    a, b = inputs
    dtype = result_dtype(a, b)
    if a.type.shape is None or b.type.shape is None:
        return TensorType(dtype, None)
    if (a.ndim, b.ndim) not in _DOT_NDIMS:
        raise TypeError(f"the dot op takes 1-d or 2-d inputs, got {_shape_str(a)} and "
                        f"{_shape_str(b)}; use T.dot, which handles every case")
    _check_inner("dot", a, -1, b, 0)
    return TensorType(dtype, a.type.shape[:-1] + b.type.shape[1:])


def _dot_grad(node, g):
    a, b = node.inputs
    pair = (a.ndim, b.ndim)
    if pair == (1, 1):
        return [g * b, g * a]
    if pair == (2, 1):
        return [outer(g, b), dot(a.T, g)]
    if pair == (1, 2):
        return [dot(b, g), outer(a, g)]
    return [dot(g, b.T), dot(a.T, g)]


declare(Op("dot", "blas", _dot_infer, np.dot, _dot_grad, nin=2,
           doc="matrix/vector product of 1-d and 2-d inputs (numpy.dot)"))


# -- tensordot -----------------------------------------------------------------------------
def _tensordot_infer(inputs, axes):
    a, b = inputs
    dtype = result_dtype(a, b)
    axes_a, axes_b = axes
    if len(axes_a) != len(axes_b):
        raise ValueError(f"tensordot: axes {axes} must pair as many axes of each input")
    for x, ax in ((a, axes_a), (b, axes_b)):
        if x.ndim is not None and any(not 0 <= i < x.ndim for i in ax):
            raise ValueError(f"tensordot: axes {ax} are out of range for {_shape_str(x)}")
    if a.type.shape is None or b.type.shape is None:
        return TensorType(dtype, None)
    for i, j in zip(axes_a, axes_b):
        _check_inner("tensordot", a, i, b, j)
    shape = tuple(d for i, d in enumerate(a.type.shape) if i not in axes_a) + tuple(
        d for j, d in enumerate(b.type.shape) if j not in axes_b)
    return TensorType(dtype, shape)


def _tensordot_grad(node, g):
    """ga: g contracted with b over b's free axes, then a's axes put back in order; gb alike."""
    a, b = node.inputs
    axes_a, axes_b = node.attrs["axes"]
    free_a = [i for i in range(a.ndim) if i not in axes_a]
    free_b = [j for j in range(b.ndim) if j not in axes_b]
    g_a = tuple(range(len(free_a)))  # g's axes that come from a, then those from b
    g_b = tuple(range(len(free_a), len(free_a) + len(free_b)))
    # ga_raw axes: a's free axes, then b's contracted axes in increasing order
    ga_raw = apply("tensordot", g, b, axes=(g_b, tuple(free_b)))
    where_a = {i: k for k, i in enumerate(free_a)}
    where_a.update({i: len(free_a) + sorted(axes_b).index(j) for i, j in zip(axes_a, axes_b)})
    # gb_raw axes: a's contracted axes in increasing order, then b's free axes
    gb_raw = apply("tensordot", a, g, axes=(tuple(free_a), g_a))
    where_b = {j: len(axes_a) + k for k, j in enumerate(free_b)}
    where_b.update({j: sorted(axes_a).index(i) for i, j in zip(axes_a, axes_b)})
    return [dimshuffle(ga_raw, *(where_a[i] for i in range(a.ndim))),
            dimshuffle(gb_raw, *(where_b[j] for j in range(b.ndim)))]


declare(Op("tensordot", "blas", _tensordot_infer,
           lambda a, b, axes: np.tensordot(a, b, axes=(list(axes[0]), list(axes[1]))),
           _tensordot_grad, params=("axes",), nin=2,
           doc="sum of products over the paired axes (numpy.tensordot); "
               "axes=((a axes), (b axes)); the result has a's free axes then b's"))


def _normalize_axes(axes, a: Node, b: Node) -> tuple:
    if isinstance(axes, (int, np.integer)):
        if a.ndim is None or b.ndim is None:
            raise TypeError(f"tensordot: axes={axes} needs the number of dimensions of both "
                            f"inputs ({a.type}, {b.type}); give the axes as two lists")
        if not 0 <= axes <= min(a.ndim, b.ndim):
            raise ValueError(f"tensordot: axes={axes} is out of range for {_shape_str(a)} and "
                             f"{_shape_str(b)}")
        return tuple(range(a.ndim - axes, a.ndim)), tuple(range(int(axes)))
    try:
        axes_a, axes_b = axes
    except (TypeError, ValueError):
        raise ValueError(f"tensordot: axes must be an int or a pair of axis lists, got "
                         f"{axes!r}") from None
    out = []
    for x, ax in ((a, axes_a), (b, axes_b)):
        ax = (ax,) if isinstance(ax, (int, np.integer)) else tuple(ax)
        if x.ndim is None:
            if any(i < 0 for i in ax):
                raise TypeError(f"tensordot: negative axes need the ndim of {_shape_str(x)}")
        elif any(not -x.ndim <= i < x.ndim for i in ax):
            raise ValueError(f"tensordot: axes {ax} are out of range for {_shape_str(x)}")
        ax = tuple(int(i) % x.ndim if x.ndim else int(i) for i in ax)
        if len(set(ax)) != len(ax):
            raise ValueError(f"tensordot: repeated axis in {ax} for {_shape_str(x)}")
        out.append(ax)
    if len(out[0]) != len(out[1]):
        raise ValueError(f"tensordot: axes {axes!r} pair {len(out[0])} axes of a with "
                         f"{len(out[1])} of b")
    return tuple(out)


def tensordot(a, b, axes=2) -> Node:
    """``numpy.tensordot``: ``axes`` an int n (the last n axes of ``a`` with the first n of
    ``b``) or a pair of axis lists; the result has ``a``'s free axes then ``b``'s."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    return apply("tensordot", a, b, axes=_normalize_axes(axes, a, b))


def dot(a, b) -> Node:
    """``numpy.dot``: a scalar operand multiplies; vectors and matrices use the ``dot`` op;
    N-d inputs contract the last axis of ``a`` with the second-to-last of ``b`` (its only
    axis for a vector) via ``tensordot``."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim == 0 or b.ndim == 0:
        return _T().mul(a, b)
    if a.ndim is None or b.ndim is None or (a.ndim <= 2 and b.ndim <= 2):
        return apply("dot", a, b)
    return tensordot(a, b, ((a.ndim - 1,), (max(b.ndim - 2, 0),)))


def outer(x, y) -> Node:
    """Outer product of two vectors (other inputs are flattened first, as in Theano)."""
    x, y = as_tensor_variable(x), as_tensor_variable(y)
    x = x if x.ndim == 1 else flatten(x)
    y = y if y.ndim == 1 else flatten(y)
    return dot(dimshuffle(x, 0, "x"), dimshuffle(y, "x", 0))


# -- batched_dot ---------------------------------------------------------------------------
_BATCHED_NDIMS = ((2, 2), (3, 2), (2, 3), (3, 3))


def _batched_infer(inputs):
    a, b = inputs
    dtype = result_dtype(a, b)
    if a.type.shape is None or b.type.shape is None:
        return TensorType(dtype, None)
    if (a.ndim, b.ndim) not in _BATCHED_NDIMS:
        raise TypeError(f"the batched_dot op takes 2-d or 3-d inputs, got {_shape_str(a)} and "
                        f"{_shape_str(b)}")
    _check_inner("batched_dot (batch axis)", a, 0, b, 0)
    _check_inner("batched_dot", a, -1, b, 1)
    batch = a.type.shape[0] if a.type.shape[0] is not None else b.type.shape[0]
    return TensorType(dtype, (batch,) + a.type.shape[1:-1] + b.type.shape[2:])


def _batched_impl(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"batched_dot: batch sizes differ: {a.shape} and {b.shape}")
    if a.shape[-1] != b.shape[1]:
        raise ValueError(f"batched_dot: inner sizes differ: {a.shape} and {b.shape}")
    a3 = a if a.ndim == 3 else a[:, None, :]
    b3 = b if b.ndim == 3 else b[:, :, None]
    out = np.matmul(a3, b3)
    return out.reshape((a.shape[0],) + a.shape[1:-1] + b.shape[2:])


def _batched_grad(node, g):
    a, b = node.inputs
    pair = (a.ndim, b.ndim)
    if pair == (2, 2):  # out[i] = a[i] . b[i]
        gb = dimshuffle(g, 0, "x")
        return [gb * b, gb * a]
    if pair == (3, 2):  # out[i] = a[i] @ b[i]: (n,k) (k,) -> (n,)
        return [dimshuffle(g, 0, 1, "x") * dimshuffle(b, 0, "x", 1),
                batched_dot(dimshuffle(a, 0, 2, 1), g)]
    if pair == (2, 3):  # (k,) (k,m) -> (m,)
        return [batched_dot(b, g), dimshuffle(a, 0, 1, "x") * dimshuffle(g, 0, "x", 1)]
    return [batched_dot(g, dimshuffle(b, 0, 2, 1)), batched_dot(dimshuffle(a, 0, 2, 1), g)]


declare(Op("batched_dot", "blas", _batched_infer, _batched_impl, _batched_grad, nin=2,
           doc="one dot per entry of the leading (batch) axis: (B,n,k)x(B,k,m)->(B,n,m), "
               "(B,k)x(B,k)->(B,), (B,n,k)x(B,k)->(B,n), (B,k)x(B,k,m)->(B,m)"))


def batched_dot(a, b) -> Node:
    """Theano's batched_dot: ``out[i] = dot(a[i], b[i])`` over the leading axis.

    (B,n,k) x (B,k,m) -> (B,n,m); (B,k) x (B,k) -> (B,); (B,n,k) x (B,k) -> (B,n);
    (B,k) x (B,k,m) -> (B,m); a 1-d operand scales the other per batch entry.
    """
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim == 0 or b.ndim == 0:
        raise TypeError(f"batched_dot: inputs need a batch axis, got {_shape_str(a)} and "
                        f"{_shape_str(b)}")
    if a.ndim == 1 and b.ndim is not None:
        return dimshuffle(a, 0, *["x"] * (b.ndim - 1)) * b
    if b.ndim == 1 and a.ndim is not None:
        return a * dimshuffle(b, 0, *["x"] * (a.ndim - 1))
    if (a.ndim is not None and a.ndim > 3) or (b.ndim is not None and b.ndim > 3):
        raise TypeError(f"batched_dot: inputs of more than 3 dimensions are not supported, "
                        f"got {_shape_str(a)} and {_shape_str(b)}")
    return apply("batched_dot", a, b)


__all__ = ["dot", "tensordot", "batched_dot", "outer"]
