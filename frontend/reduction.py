"""Reductions: sum, prod, max, min, argmax, argmin, all, any (ops) and mean, var, std (built
from them).

Canonical form: a reduce op takes ``axis``, a sorted tuple of non-negative axes (``None`` only
when the input's ndim is unknown, i.e. a rule-pattern wildcard: reduce everything), and drops
the reduced axes; ``keepdims`` is a ``dimshuffle`` after it. Reducing over no axis (``axis=()``)
is the identity (cast to the reduction's dtype), as in NumPy. Output dtypes are NumPy's.
"""

from __future__ import annotations

import builtins

import numpy as np

from .graph import Node, as_tensor_variable
from .op import OPS, Op, apply, declare, normalize_axis
from .shape import alloc, dimshuffle, reshape, shape, shape_i, shape_dims
from .types import TensorType, kind


def _T():
    from . import tensor

    return tensor


def _reduced_shape(x: Node, axis) -> tuple | None:
    if axis is None:  # all axes (ndim unknown): a scalar
        return ()
    if x.type.shape is None:
        return None
    return tuple(d for i, d in enumerate(x.type.shape) if i not in axis)


def _check_axis(what, x: Node, axis) -> None:
    if axis is not None and x.ndim is not None and builtins.any(a >= x.ndim for a in axis):
        raise ValueError(f"{what}: axis {axis} is out of range for {x} of type {x.type}")


def _sum_dtype(dtype):
    """NumPy's accumulator rule for add/multiply: small ints -> int64 (uints -> uint64)."""
    return None if dtype is None else np.add.reduce(np.zeros(1, dtype)).dtype.name


def keep_dims(r: Node, x: Node, axis) -> Node:
    """Re-insert the reduced axes of ``r`` as broadcastable axes (keepdims=True); ``axis``
    None means all axes."""
    if x.ndim is None:
        if r.ndim == 0:
            return r  # a full reduction of a wildcard: a scalar broadcasts against anything
        raise TypeError(f"keepdims needs the number of dimensions of {x}, which is unknown "
                        f"({x.type})")
    axis = range(x.ndim) if axis is None else axis
    it = iter(range(r.ndim))
    return dimshuffle(r, *("x" if i in axis else next(it) for i in range(x.ndim)))


def broadcast_back(g: Node, x: Node, axis) -> Node:
    """The gradient of a reduction: ``g`` broadcast back over the reduced axes of ``x``."""
    if x.ndim is None:
        raise TypeError(f"the gradient of a reduction needs the number of dimensions of {x}")
    return alloc(keep_dims(g, x, axis), *shape_dims(x))


def _declare_reduce(name, impl, dtype_rule, grad, doc):
    def infer(inputs, axis):
        x = inputs[0]
        _check_axis(name, x, axis)
        return TensorType(dtype_rule(x.dtype), _reduced_shape(x, axis))

    declare(Op(name, "reduce", infer, impl, grad, params=("axis",), nin=1, doc=doc))


# -- gradients ------------------------------------------------------------------------------
def _prod_grad(node, g):
    """d prod / d x_i, exact with zeros: no zero -> prod / x_i; one zero -> the product of the
    others at the zero and 0 elsewhere; two or more -> 0 everywhere."""
    T = _T()
    x, axis = node.inputs[0], node.attrs["axis"]
    is0 = T.eq(x, 0)
    safe = T.switch(is0, 1, x)  # x with its zeros replaced by 1: no division by zero below
    nzeros = keep_dims(apply("sum", is0, axis=axis), x, axis)
    others = keep_dims(apply("prod", safe, axis=axis), x, axis)  # product of the non-zeros
    at_zero = T.switch(T.eq(nzeros, 1), others, 0)
    elsewhere = T.switch(T.eq(nzeros, 0), others / safe, 0)
    return [keep_dims(g, x, axis) * T.switch(is0, at_zero, elsewhere)]


def _extremum_grad(node, g):
    """Theano's rule: the gradient goes (whole) to every position equal to the extremum."""
    T = _T()
    x, axis = node.inputs[0], node.attrs["axis"]
    return [keep_dims(g, x, axis) * T.eq(x, keep_dims(node, x, axis))]


_same = lambda dtype: dtype  # noqa: E731
_declare_reduce("sum", lambda x, axis: np.sum(x, axis=axis), _sum_dtype,
                lambda node, g: [broadcast_back(g, node.inputs[0], node.attrs["axis"])],
                "sum over axes")
_declare_reduce("prod", lambda x, axis: np.prod(x, axis=axis), _sum_dtype, _prod_grad,
                "product over axes")
_declare_reduce("max", lambda x, axis: np.max(x, axis=axis), _same, _extremum_grad,
                "maximum over axes")
_declare_reduce("min", lambda x, axis: np.min(x, axis=axis), _same, _extremum_grad,
                "minimum over axes")
_declare_reduce("all", lambda x, axis: np.all(x, axis=axis), lambda d: "bool", None,
                "logical and over axes")
_declare_reduce("any", lambda x, axis: np.any(x, axis=axis), lambda d: "bool", None,
                "logical or over axes")


def _arg_infer(name):
    def infer(inputs, axis):
        x = inputs[0]
        if axis is not None and len(axis) != 1:
            raise ValueError(f"{name} reduces one axis, got axis={axis}")
        _check_axis(name, x, axis)
        return TensorType("int64", _reduced_shape(x, axis))

    return infer


# argmax/argmin reduce one axis, axis=(k,) (None only for an input of unknown ndim: flattened).
for _name, _fn in (("argmax", np.argmax), ("argmin", np.argmin)):
    declare(Op(_name, "reduce", _arg_infer(_name),
               lambda x, axis, _fn=_fn: _fn(x, axis=None if axis is None else axis[0]),
               params=("axis",), nin=1, doc=f"{_name} over one axis (int64 indices)"))


# -- user-facing functions ------------------------------------------------------------------
def _reduce(op, x, axis, keepdims, **params):
    x = as_tensor_variable(x)
    axis = normalize_axis(axis, x.ndim, op)
    if keepdims and x.ndim is None:
        raise TypeError(f"{op}: keepdims needs the number of dimensions of {x} ({x.type})")
    if axis == ():  # NumPy: reducing over no axis is the identity (in the reduction's dtype)
        return _T().cast(x, OPS[op].infer((x,), axis=()).dtype)
    r = apply(op, x, axis=axis, **params)
    return keep_dims(r, x, axis) if keepdims else r


def _with_dtype(r, dtype):
    return r if dtype is None else _T().cast(r, dtype)


def sum(x, axis=None, keepdims=False, dtype=None, acc_dtype=None):  # noqa: A001
    """Sum over ``axis`` (None: all, int or tuple); ints accumulate in int64 as in NumPy.
    ``dtype`` casts the result; ``acc_dtype`` is accepted for Theano compatibility."""
    return _with_dtype(_reduce("sum", x, axis, keepdims), dtype)


def prod(x, axis=None, keepdims=False, dtype=None, acc_dtype=None):
    """Product over ``axis``; ints accumulate in int64 as in NumPy. Its gradient is exact when
    the input holds zeros. ``dtype`` casts the result; ``acc_dtype`` is accepted (Theano)."""
    return _with_dtype(_reduce("prod", x, axis, keepdims), dtype)


def max(x, axis=None, keepdims=False):  # noqa: A001
    """Maximum over ``axis``; the gradient flows to every position equal to the maximum."""
    return _reduce("max", x, axis, keepdims)


def min(x, axis=None, keepdims=False):  # noqa: A001
    """Minimum over ``axis``; the gradient flows to every position equal to the minimum."""
    return _reduce("min", x, axis, keepdims)


def all(x, axis=None, keepdims=False):  # noqa: A001
    """True where every element over ``axis`` is non-zero (bool)."""
    return _reduce("all", x, axis, keepdims)


def any(x, axis=None, keepdims=False):  # noqa: A001
    """True where some element over ``axis`` is non-zero (bool)."""
    return _reduce("any", x, axis, keepdims)


def _count(x: Node, axis):
    """The number of elements over ``axis``: a Python int when static, else an int64 node."""
    if axis is None:
        return apply("prod", shape(x), axis=(0,))
    static, dynamic = 1, []
    for a in axis:
        d = shape_i(x, a)
        if d.op == "constant":
            static *= int(d.data)
        else:
            dynamic.append(d)
    if not dynamic:
        return static
    n = dynamic[0]
    for d in dynamic[1:]:
        n = n * d
    return n if static == 1 else n * static


def _arg(op, x, axis, keepdims):
    x = as_tensor_variable(x)
    if x.ndim is None:
        if axis is not None and not isinstance(axis, (int, np.integer)):
            raise TypeError(f"{op}: a tuple axis needs the number of dimensions of {x}")
        if keepdims:
            raise TypeError(f"{op}: keepdims needs the number of dimensions of {x}")
        return apply(op, x, axis=None if axis is None else (int(axis),))
    axes = normalize_axis(axis, x.ndim, op)
    if axes == ():
        raise ValueError(f"{op}: cannot take the {op[3:]} over an empty tuple of axes")
    if len(axes) == 1:
        r = apply(op, x, axis=axes)
    else:  # Theano: move the axes last, merge them and take the index in the merged axis
        kept = [a for a in range(x.ndim) if a not in axes]
        moved = dimshuffle(x, *kept, *axes)
        merged = reshape(moved, [shape_i(x, a) for a in kept] + [_count(x, axes)])
        r = apply(op, merged, axis=(len(kept),))
    return keep_dims(r, x, axes) if keepdims else r


def argmax(x, axis=None, keepdims=False):
    """Index (int64) of the maximum over ``axis``; None: of the flattened array; a tuple: of
    the axes moved last and merged (Theano)."""
    return _arg("argmax", x, axis, keepdims)


def argmin(x, axis=None, keepdims=False):
    """Index (int64) of the minimum over ``axis`` (see ``argmax``)."""
    return _arg("argmin", x, axis, keepdims)


def _real_dtype(dtype):
    """The float dtype a mean of ``dtype`` divides in: ints -> float64, complex -> its part."""
    if dtype is None:
        return None
    if kind(dtype) == "f":
        return dtype
    return "float32" if dtype == "complex64" else "float64"


def _divide(total: Node, n, dtype):
    """``total / n`` in ``dtype``'s precision (a static ``n`` is a weak Python number)."""
    if isinstance(n, Node):
        n = _T().cast(n, _real_dtype(dtype)) if dtype is not None else n
    return _T().true_div(total, n)


def mean(x, axis=None, keepdims=False, dtype=None, acc_dtype=None):
    """Mean over ``axis``: ``sum / n`` (ints give float64, as in NumPy); with ``dtype``, the
    input is converted to it first."""
    x = as_tensor_variable(x)
    if dtype is not None:
        x = _T().cast(x, dtype)
    axes = normalize_axis(axis, x.ndim, "mean")
    if keepdims and x.ndim is None:
        raise TypeError(f"mean: keepdims needs the number of dimensions of {x} ({x.type})")
    out_dtype = None if x.dtype is None else (
        x.dtype if kind(x.dtype) in "fc" else "float64")
    if axes == ():
        return _T().cast(x, out_dtype) if out_dtype else x
    r = _divide(apply("sum", x, axis=axes), _count(x, axes), x.dtype)
    return keep_dims(r, x, axes) if keepdims else r


def var(x, axis=None, ddof=0, keepdims=False, corrected=False):
    """Variance over ``axis``: ``sum(|x - mean|**2) / (n - ddof)`` (NumPy's ``ddof``).

    ``corrected`` (Theano's compensated formula) is accepted; the two-pass form is used."""
    T = _T()
    x = as_tensor_variable(x)
    axes = normalize_axis(axis, x.ndim, "var")
    if x.ndim is None and axes is not None:
        raise TypeError(f"var: axis={axis} needs the number of dimensions of {x} ({x.type})")
    # the mean broadcast back (for a wildcard reduced over everything, a scalar broadcasts)
    d = x - (mean(x) if axes is None else mean(x, axes, keepdims=True))
    sq = T.sqr(T.abs(d)) if kind(d.dtype) == "c" else T.sqr(d)
    n = _count(x, axes)
    r = _divide(sum(sq, axes), n - ddof, d.dtype)
    return keep_dims(r, x, axes) if keepdims else r


def std(x, axis=None, ddof=0, keepdims=False, corrected=False):
    """Standard deviation over ``axis``: ``sqrt(var(x, axis, ddof))``."""
    return _T().sqrt(var(x, axis, ddof=ddof, keepdims=keepdims))


__all__ = ["sum", "prod", "max", "min", "argmax", "argmin", "all", "any", "mean", "var", "std",
           "keep_dims", "broadcast_back"]
