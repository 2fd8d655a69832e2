"""Shape and movement ops: shape, shape_i, dimshuffle (transpose, squeeze, expand_dims),
alloc and its front ends (zeros_like, ones_like, zeros, ones, fill)."""

from __future__ import annotations

import numpy as np

from .graph import Node, as_tensor_variable, constant
from .op import Op, apply, declare, static_int
from .types import TensorType, as_dtype


# -- shape ---------------------------------------------------------------------------------
def _shape_infer(inputs):
    return TensorType("int64", (inputs[0].ndim,))


declare(Op("shape", "shape", _shape_infer, lambda x: np.array(np.shape(x), dtype=np.int64),
           nin=1, doc="the runtime shape of x as an int64 vector"))
declare(Op("shape_i", "shape", lambda inputs, i: TensorType("int64", ()),
           lambda x, i: np.int64(np.shape(x)[i]), params=("i",), nin=1,
           doc="the runtime size of axis i of x (int64 scalar)"))


def shape(x) -> Node:
    """``x.shape``: a symbolic int64 vector (indexing it gives scalars)."""
    return apply("shape", x)


def shape_i(x, i: int) -> Node:
    """The size of axis ``i`` of ``x``: a constant when statically known, else ``shape_i``."""
    x = as_tensor_variable(x)
    if x.ndim is not None:
        if not -x.ndim <= i < x.ndim:
            raise ValueError(f"axis {i} is out of range for {x} of type {x.type}")
        i %= x.ndim
        if x.type.shape[i] is not None:
            return constant(x.type.shape[i], dtype="int64")
    return apply("shape_i", x, i=i)


def shape_dims(x) -> list[Node]:
    """One int64 scalar node per axis of ``x`` (constants where the size is static)."""
    return [shape_i(x, i) for i in range(as_tensor_variable(x).ndim)]


# -- dimshuffle ----------------------------------------------------------------------------
def _ds_infer(inputs, pattern):
    x = inputs[0]
    if x.type.shape is None:
        return TensorType(x.dtype, tuple(1 if p == "x" else None for p in pattern))
    for axis in range(x.ndim):
        if axis not in pattern and x.type.shape[axis] not in (1, None):
            raise ValueError(f"dimshuffle{pattern}: cannot drop axis {axis} of {x} (type "
                             f"{x.type}): only axes of size 1 can be dropped")
    return TensorType(x.dtype, tuple(1 if p == "x" else x.type.shape[p] for p in pattern))


def _ds_impl(x, pattern):
    x = np.asarray(x)
    dropped = [a for a in range(x.ndim) if a not in pattern]
    for a in dropped:
        if x.shape[a] != 1:
            raise ValueError(f"cannot drop axis {a} of size {x.shape[a]} (shape {x.shape})")
    kept = [p for p in pattern if p != "x"]
    y = x.reshape([d for a, d in enumerate(x.shape) if a not in dropped])
    order = sorted(kept)
    y = y.transpose([order.index(p) for p in kept])
    return y.reshape([1 if p == "x" else x.shape[p] for p in pattern])


def _ds_grad(node, g):
    pattern, x = node.attrs["pattern"], node.inputs[0]
    back = [pattern.index(i) if i in pattern else "x" for i in range(x.ndim)]
    return [dimshuffle(g, *back)]


declare(Op("dimshuffle", "shape", _ds_infer, _ds_impl, _ds_grad, params=("pattern",), nin=1,
           doc="permute axes, insert broadcastable axes ('x'), drop size-1 axes (a view)"))


def dimshuffle(x, *pattern) -> Node:
    """Theano's dimshuffle: ``x.dimshuffle(1, 0)``, ``x.dimshuffle('x', 0)``."""
    x = as_tensor_variable(x)
    if len(pattern) == 1 and isinstance(pattern[0], (list, tuple)):
        pattern = tuple(pattern[0])
    for p in pattern:
        if p != "x" and not (isinstance(p, (int, np.integer)) and x.ndim is not None
                             and 0 <= p < x.ndim):
            raise ValueError(f"dimshuffle: bad entry {p!r} in pattern {pattern} for {x} "
                             f"of type {x.type} (expected 'x' or an axis 0..{(x.ndim or 1) - 1})")
    kept = [p for p in pattern if p != "x"]
    if len(set(kept)) != len(kept):
        raise ValueError(f"dimshuffle: repeated axis in pattern {pattern}")
    if tuple(pattern) == tuple(range(x.ndim)):
        return x
    return apply("dimshuffle", x, pattern=tuple(int(p) if p != "x" else p for p in pattern))


def transpose(x, *axes) -> Node:
    """Reverse the axes (``x.T``), or permute them by ``axes``."""
    x = as_tensor_variable(x)
    if len(axes) == 1 and isinstance(axes[0], (list, tuple)):
        axes = tuple(axes[0])
    if not axes or axes == (None,):
        axes = tuple(reversed(range(x.ndim)))
    if sorted(a % x.ndim for a in axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: {axes} is not a permutation of the {x.ndim} axes of {x}")
    return dimshuffle(x, *(a % x.ndim for a in axes))


# -- alloc ---------------------------------------------------------------------------------
def _alloc_infer(inputs):
    value, dims = inputs[0], inputs[1:]
    for d in dims:
        if d.ndim not in (0, None) or (d.dtype is not None and d.type.dtype[0] not in "iu"):
            raise TypeError(f"alloc: shape entries must be integer scalars, got {d} ({d.type})")
    shape = tuple(static_int(d) for d in dims)
    if value.ndim is not None and value.ndim > len(dims):
        raise ValueError(f"alloc: value {value} has more dimensions ({value.ndim}) than the "
                         f"shape ({len(dims)})")
    return TensorType(value.dtype, shape)


def _alloc_impl(value, *dims):
    value = np.asarray(value)
    shape = tuple(int(d) for d in dims)
    return np.array(np.broadcast_to(value, shape), copy=True)


def _alloc_grad(node, g):
    from .elemwise import unbroadcast

    return [unbroadcast(g, node.inputs[0])] + [None] * (len(node.inputs) - 1)


declare(Op("alloc", "alloc", _alloc_infer, _alloc_impl, _alloc_grad,
           doc="a new array of the given shape filled by broadcasting value"))


def _dims(shape) -> list:
    if isinstance(shape, Node):
        if shape.ndim != 1 or shape.type.shape[0] is None:
            raise TypeError(f"a symbolic shape must be an int vector of known length, got {shape}")
        from .tensor import subtensor

        return [subtensor(shape, i) for i in range(shape.type.shape[0])]
    if isinstance(shape, (int, np.integer)):
        return [shape]
    return list(shape)


def alloc(value, *shape) -> Node:
    """An array of ``shape`` filled with ``value`` (broadcast): ``T.alloc(0.0, n, m)``."""
    if len(shape) == 1 and (isinstance(shape[0], (list, tuple))
                            or isinstance(shape[0], Node) and shape[0].ndim == 1):
        shape = _dims(shape[0])
    dims = [as_tensor_variable(d) if isinstance(d, Node) else constant(int(d), dtype="int64")
            for d in shape]
    return apply("alloc", value, *dims)


def _filled(x, fill, dtype) -> Node:
    x = as_tensor_variable(x)
    dtype = as_dtype(dtype) if dtype is not None else x.dtype
    return alloc(constant(fill, dtype=dtype), *shape_dims(x))


def zeros_like(x, dtype=None) -> Node:
    return _filled(x, 0, dtype)


def ones_like(x, dtype=None) -> Node:
    return _filled(x, 1, dtype)


def zeros(shape, dtype=None) -> Node:
    from .config import config

    return alloc(constant(0, dtype=dtype or config.floatX), *_dims(shape))


def ones(shape, dtype=None) -> Node:
    from .config import config

    return alloc(constant(1, dtype=dtype or config.floatX), *_dims(shape))


def fill(model, value) -> Node:
    """``value`` broadcast to the shape of ``model`` (Theano's fill / second)."""
    return alloc(value, *shape_dims(model))


second = fill

__all__ = ["shape", "shape_i", "shape_dims", "dimshuffle", "transpose", "alloc", "zeros_like",
           "ones_like", "zeros", "ones", "fill", "second"]
