"""Shape and movement ops: shape, shape_i, dimshuffle (transpose, squeeze, expand_dims),
reshape (flatten), join (concatenate, stack) and its gradient split, arange, alloc and its
front ends (zeros_like, ones_like, zeros, ones, fill)."""

from __future__ import annotations

import math

import numpy as np

from .graph import Node, as_tensor_variable, constant
from .op import Op, apply, declare, normalize_axis, result_dtype, static_int
from .types import TensorType, as_dtype, kind


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
    """Zeros of ``x``'s shape (and dtype, unless ``dtype`` is given)."""
    x = as_tensor_variable(x)
    if dtype is None or x.dtype is not None and as_dtype(dtype) == x.dtype:
        return apply("zeros_like", x)
    return _filled(x, 0, dtype)


def ones_like(x, dtype=None) -> Node:
    """Ones of ``x``'s shape (and dtype, unless ``dtype`` is given)."""
    x = as_tensor_variable(x)
    if dtype is None or x.dtype is not None and as_dtype(dtype) == x.dtype:
        return apply("ones_like", x)
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

# -- reshape, flatten ----------------------------------------------------------------------
def _int_entry(d, what) -> Node:
    """A shape entry as an int64 scalar node (Python ints become constants)."""
    if isinstance(d, Node):
        if d.ndim not in (0, None) or (d.dtype is not None and kind(d.dtype) not in "iu"):
            raise TypeError(f"{what}: shape entries must be integer scalars, got {d} ({d.type})")
        return d if d.dtype in ("int64", None) else apply("cast", d, dtype="int64")
    if isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer)):
        raise TypeError(f"{what}: shape entries must be integers or symbolic integer scalars, "
                        f"got {d!r}")
    return constant(int(d), dtype="int64")


def _shape_entries(shape, ndim, what) -> list[Node]:
    """A target shape (ints, symbolic int scalars, or an int vector) as int64 scalar nodes."""
    if isinstance(shape, Node) and shape.op == "constant":
        shape = shape.data
    elif isinstance(shape, Node) and shape.op == "shape" and shape.inputs[0].ndim is not None:
        shape = shape_dims(shape.inputs[0])  # y.shape: its entries, constants where static
    if isinstance(shape, Node) and shape.ndim != 0:
        if shape.ndim not in (1, None) or (shape.dtype is not None
                                           and kind(shape.dtype) not in "iu"):
            raise TypeError(f"{what}: a symbolic shape must be an integer vector, got {shape} "
                            f"({shape.type})")
        n = shape.type.shape[0] if shape.type.shape is not None else None
        n = ndim if n is None else n
        if n is None:
            raise TypeError(f"{what}: the length of the symbolic shape {shape} ({shape.type}) is "
                            "unknown; give ndim=")
        shape = [shape[i] for i in range(n)]  # scalars, by subtensor
    elif isinstance(shape, np.ndarray):
        if shape.ndim > 1:
            raise TypeError(f"{what}: a shape must be a vector, got an array of shape "
                            f"{shape.shape}")
        shape = shape.reshape(-1).tolist()
    elif isinstance(shape, (int, np.integer, Node)):
        shape = [shape]
    entries = [_int_entry(d, what) for d in shape]
    if ndim is not None and ndim != len(entries):
        raise ValueError(f"{what}: ndim={ndim} does not match the shape {shape} "
                         f"({len(entries)} entries)")
    return entries


def _static_size(x: Node):
    shp = x.type.shape
    return None if shp is None or None in shp else math.prod(shp)


def _reshape_shape(x: Node, vals: list, what="reshape") -> tuple:
    """Static output shape from the static entries ``vals`` (None: dynamic, -1: inferred)."""
    bad = [v for v in vals if v is not None and v < -1]
    if bad or vals.count(-1) > 1:
        raise ValueError(f"{what}: bad target shape {_fmt(vals)} for {x}: sizes must be "
                         ">= 0, with at most one -1")
    size = _static_size(x)
    out = [None if v is None or v < 0 else v for v in vals]
    if size is None or None in vals:
        return tuple(out)
    rest = math.prod(v for v in vals if v != -1)
    if -1 in vals:
        if rest == 0 or size % rest:
            raise ValueError(f"{what}: cannot reshape {x} of shape {x.type.shape} ({size} "
                             f"elements) into shape {_fmt(vals)}")
        out[vals.index(-1)] = size // rest
    elif rest != size:
        raise ValueError(f"{what}: cannot reshape {x} of shape {x.type.shape} ({size} "
                         f"elements) into shape {_fmt(vals)} ({rest} elements)")
    return tuple(out)


def _fmt(vals) -> str:
    return "(" + ", ".join("?" if v is None else str(v) for v in vals) + ")"


def _reshape_infer(inputs):
    x, dims = inputs[0], inputs[1:]
    for d in dims:
        _int_entry(d, "reshape")
    return TensorType(x.dtype, _reshape_shape(x, [static_int(d) for d in dims]))


def _reshape_impl(x, *dims):
    x = np.asarray(x)
    shape = tuple(int(d) for d in dims)
    rest = math.prod(d for d in shape if d != -1)
    if (shape.count(-1) == 0 and rest != x.size) or (
            shape.count(-1) == 1 and (rest == 0 or x.size % rest)) or shape.count(-1) > 1:
        raise ValueError(f"cannot reshape an array of shape {x.shape} ({x.size} elements) "
                         f"into shape {shape}")
    return x.reshape(shape)


def _reshape_grad(node, g):
    x = node.inputs[0]
    return [reshape(g, shape_dims(x))] + [None] * (len(node.inputs) - 1)


declare(Op("reshape", "shape", _reshape_infer, _reshape_impl, _reshape_grad,
           doc="reshape; inputs (x, *dims): int64 scalars, at most one -1"))


def reshape(x, shape, ndim=None) -> Node:
    """``x`` with a new shape of the same size (``numpy.reshape``).

    ``shape``: a tuple/list of ints and symbolic int scalars (``(x.shape[0], -1)``), or a
    symbolic int vector (its length must be known, or given as ``ndim``). One entry may be -1.
    """
    x = as_tensor_variable(x)
    dims = _shape_entries(shape, ndim, "reshape")
    vals = [static_int(d) for d in dims]
    out = _reshape_shape(x, vals)
    if -1 in vals and out[vals.index(-1)] is not None:  # canonical: the -1 resolved
        dims[vals.index(-1)] = constant(out[vals.index(-1)], dtype="int64")
    if x.type.shape is not None and None not in vals and tuple(vals) == x.type.shape:
        return x
    return apply("reshape", x, *dims)


def _product(dims: list) -> Node:
    """The product of int64 scalar nodes, folded to a constant where they are static."""
    static, dynamic = 1, []
    for d in dims:
        v = static_int(d)
        if v is None:
            dynamic.append(d)
        else:
            static *= v
    out = None
    for d in dynamic:
        out = d if out is None else apply("mul", out, d)
    if out is None:
        return constant(static, dtype="int64")
    return out if static == 1 else apply("mul", out, constant(static, dtype="int64"))


def flatten(x, ndim=1) -> Node:
    """Theano's flatten: keep the first ``ndim - 1`` axes and merge the others into one."""
    x = as_tensor_variable(x)
    if x.ndim is None:
        if ndim != 1:
            raise TypeError(f"flatten: ndim={ndim} needs the number of dimensions of {x}")
        return apply("reshape", x, apply("prod", shape(x), axis=(0,)))
    if not isinstance(ndim, (int, np.integer)) or not 1 <= ndim <= max(x.ndim, 1):
        raise ValueError(f"flatten: ndim must be between 1 and {max(x.ndim, 1)} for {x} "
                         f"of type {x.type}, got {ndim!r}")
    dims = shape_dims(x)
    return reshape(x, dims[: ndim - 1] + [_product(dims[ndim - 1:])])


# -- squeeze, expand_dims ------------------------------------------------------------------
def squeeze(x, axis=None) -> Node:
    """Remove axes of size 1: all the statically broadcastable ones (``axis=None``), or the
    given ones (an axis of unknown size is checked at run time)."""
    x = as_tensor_variable(x)
    if x.ndim is None:
        raise TypeError(f"squeeze: the number of dimensions of {x} is unknown ({x.type})")
    if axis is None:
        drop = [a for a, d in enumerate(x.type.shape) if d == 1]
    else:
        drop = normalize_axis(axis, x.ndim, "squeeze")
        for a in drop:
            if x.type.shape[a] not in (1, None):
                raise ValueError(f"squeeze: cannot remove axis {a} of {x} (type {x.type}): "
                                 f"its size is {x.type.shape[a]}, not 1")
    return dimshuffle(x, *(a for a in range(x.ndim) if a not in drop))


def expand_dims(x, axis) -> Node:
    """Insert broadcastable axes at the positions ``axis`` (int or tuple) of the result."""
    x = as_tensor_variable(x)
    if x.ndim is None:
        raise TypeError(f"expand_dims: the number of dimensions of {x} is unknown ({x.type})")
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out_ndim = x.ndim + len(axes)
    axes = normalize_axis(axes, out_ndim, "expand_dims")
    it = iter(range(x.ndim))
    return dimshuffle(x, *("x" if i in axes else next(it) for i in range(out_ndim)))


# -- join (concatenate, stack) and split ---------------------------------------------------
def _common_ndim(inputs, what) -> int | None:
    ndims = sorted({i.ndim for i in inputs if i.ndim is not None})
    if len(ndims) > 1:
        raise ValueError(f"{what}: all inputs must have the same number of dimensions, got "
                         + ", ".join(f"{i} ({i.type})" for i in inputs))
    if ndims and ndims[0] == 0:
        raise ValueError(f"{what}: 0-d inputs cannot be joined; use stack")
    return ndims[0] if ndims else None


def _join_infer(inputs, axis):
    ndim = _common_ndim(inputs, "join")
    dtype = result_dtype(*inputs)
    if ndim is None:
        return TensorType(dtype, None)
    if not 0 <= axis < ndim:
        raise ValueError(f"join: axis {axis} is out of range for {ndim}-d inputs")
    shapes = [i.type.shape for i in inputs if i.type.shape is not None]
    out = []
    for a in range(ndim):
        dims = [s[a] for s in shapes]
        if a == axis:
            static = len(shapes) == len(inputs) and None not in dims
            out.append(sum(dims) if static else None)
            continue
        known = sorted({d for d in dims if d is not None})
        if len(known) > 1:
            raise ValueError(f"join: the inputs' sizes differ on axis {a} ({known}) and only "
                             f"axis {axis} may differ: "
                             + ", ".join(f"{i} ({i.type})" for i in inputs))
        out.append(known[0] if known else None)
    return TensorType(dtype, tuple(out))


def _join_grad(node, g):
    axis = node.attrs["axis"]
    sizes = [shape_i(x, axis) for x in node.inputs]
    return [apply("split", g, *sizes, axis=axis, k=k) for k in range(len(sizes))]


declare(Op("join", "shape", _join_infer, lambda *xs, axis: np.concatenate(xs, axis=axis),
           _join_grad, params=("axis",), doc="concatenate the inputs along axis"))


def _split_infer(inputs, axis, k):
    g, sizes = inputs[0], inputs[1:]
    for d in sizes:
        _int_entry(d, "split")
    if not 0 <= k < len(sizes):
        raise ValueError(f"split: part {k} of {len(sizes)}")
    if g.type.shape is None:
        return TensorType(g.dtype, None)
    if not 0 <= axis < g.ndim:
        raise ValueError(f"split: axis {axis} is out of range for {g} ({g.type})")
    static = [static_int(d) for d in sizes]
    if any(v is not None and v < 0 for v in static):
        raise ValueError(f"split: negative size in {_fmt(static)}")
    if None not in static and g.type.shape[axis] not in (None, sum(static)):
        raise ValueError(f"split: sizes {_fmt(static)} do not add up to the size "
                         f"{g.type.shape[axis]} of axis {axis} of {g}")
    return TensorType(g.dtype, tuple(static[k] if a == axis else d
                                     for a, d in enumerate(g.type.shape)))


def _split_impl(g, *sizes, axis, k):
    g, sizes = np.asarray(g), [int(s) for s in sizes]
    if sum(sizes) != g.shape[axis] or min(sizes) < 0:
        raise ValueError(f"split: sizes {sizes} do not add up to the size {g.shape[axis]} of "
                         f"axis {axis} (shape {g.shape})")
    lo = sum(sizes[:k])
    index = [slice(None)] * g.ndim
    index[axis] = slice(lo, lo + sizes[k])
    return g[tuple(index)]


def _split_grad(node, gk):
    """Part k back in its place: join(zeros, ..., gk, ..., zeros)."""
    sizes = node.inputs[1:]
    axis, k = node.attrs["axis"], node.attrs["k"]
    parts = []
    for j, size in enumerate(sizes):
        if j == k:
            parts.append(gk)
            continue
        dims = shape_dims(gk)
        dims[axis] = size
        parts.append(alloc(constant(0, dtype=gk.dtype), *dims))
    return [apply("join", *parts, axis=axis)] + [None] * len(sizes)


declare(Op("split", "shape", _split_infer, _split_impl, _split_grad, params=("axis", "k"),
           doc="part k of x cut along axis into pieces of the given sizes; inputs (x, *sizes)"))


def _join_axis(tensors, axis, what) -> int:
    ndim = _common_ndim(tensors, what)
    if not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{what}: axis must be an int, got {axis!r}")
    if ndim is None:
        if axis < 0:
            raise TypeError(f"{what}: a negative axis needs the number of dimensions")
        return int(axis)
    if not -ndim <= axis < ndim:
        raise ValueError(f"{what}: axis {axis} is out of range for {ndim}-d inputs")
    return int(axis) % ndim


def concatenate(tensor_list, axis=0) -> Node:
    """Join tensors of the same ndim along an existing ``axis`` (``numpy.concatenate``)."""
    if isinstance(tensor_list, Node) or not isinstance(tensor_list, (list, tuple)):
        raise TypeError(f"concatenate: expected a list of tensors, got {tensor_list!r}")
    tensors = [as_tensor_variable(t) for t in tensor_list]
    if not tensors:
        raise ValueError("concatenate: need at least one tensor")
    axis = _join_axis(tensors, axis, "concatenate")
    if len(tensors) == 1:
        return tensors[0]
    return apply("join", *tensors, axis=axis)


def join(axis, *tensors) -> Node:
    """Theano's spelling of ``concatenate(tensors, axis)``."""
    return concatenate(list(tensors), axis)


def stack(tensors, *more, axis=0) -> Node:
    """Join tensors of the same shape along a new ``axis`` (``numpy.stack``); also
    ``stack(a, b, c)`` (Theano's old form)."""
    if isinstance(tensors, (list, tuple)):
        if more:
            (axis,) = more
    else:
        tensors = [tensors, *more]
    tensors = [as_tensor_variable(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: need at least one tensor")
    ndims = {t.ndim for t in tensors}
    if None in ndims or len(ndims) > 1:
        raise ValueError("stack: all inputs must have the same (known) number of dimensions, "
                         "got " + ", ".join(f"{t} ({t.type})" for t in tensors))
    ndim = ndims.pop()
    if not isinstance(axis, (int, np.integer)) or not -ndim - 1 <= axis <= ndim:
        raise ValueError(f"stack: axis {axis!r} is out of range for {ndim + 1}-d output")
    axis = int(axis) % (ndim + 1)
    return concatenate([expand_dims(t, axis) for t in tensors], axis)


def split(x, splits_size, n_splits, axis=0) -> list:
    """Theano's split: cut ``x`` along ``axis`` into ``n_splits`` parts of the given sizes."""
    x = as_tensor_variable(x)
    sizes = _shape_entries(splits_size, n_splits, "split")
    if x.ndim is not None:
        if not -x.ndim <= axis < x.ndim:
            raise ValueError(f"split: axis {axis} is out of range for {x} ({x.type})")
        axis %= x.ndim
    return [apply("split", x, *sizes, axis=int(axis), k=k) for k in range(len(sizes))]


# -- arange --------------------------------------------------------------------------------
def _static_number(node: Node):
    if node.op == "constant" and node.ndim == 0:
        return node.data.item()
    return None


def _arange_length(start, stop, step) -> int:
    if step == 0:
        raise ValueError("arange: step must not be 0")
    if all(isinstance(v, (int, bool)) for v in (start, stop, step)):
        return len(range(start, stop, step))
    return max(0, math.ceil((stop - start) / step))  # NumPy's length rule


def _arange_infer(inputs, dtype):
    for name, i in zip(("start", "stop", "step"), inputs):
        if i.ndim not in (0, None) or (i.dtype is not None and kind(i.dtype) not in "biuf"):
            raise TypeError(f"arange: {name} must be a real scalar, got {i} ({i.type})")
    values = [_static_number(i) for i in inputs]
    n = None if None in values else _arange_length(*values)
    return TensorType(dtype, (n,))


def _arange_grad(node, g):
    """d out[i] = d start + i * d step (float ranges); stop only sets the length."""
    if kind(node.dtype) != "f":
        return [None, None, None]
    index = apply("arange", constant(0, dtype="int64"), shape_i(node, 0),
                  constant(1, dtype="int64"), dtype=node.dtype)
    return [apply("sum", g, axis=(0,)), None, apply("sum", apply("mul", g, index), axis=(0,))]


declare(Op("arange", "alloc", _arange_infer,
           lambda start, stop, step, dtype: np.arange(start, stop, step, dtype=dtype),
           _arange_grad, params=("dtype",), nin=3,
           doc="numpy.arange(start, stop, step) of the given dtype"))


def _arange_dtype(inputs) -> str | None:
    from .config import config

    dtype = result_dtype(*inputs)
    if dtype is None:
        return None
    if kind(dtype) == "c":
        raise TypeError("arange: arguments must be real numbers, got "
                        + ", ".join(str(i.type) for i in inputs))
    if kind(dtype) in "biu":  # NumPy: ints give int64 (don't be stingy: no overflow)
        return "uint64" if dtype == "uint64" else "int64"
    if any(i.dtype == "float64" and not (i.op == "constant" and i.attrs["weak"])
           for i in inputs):
        return "float64"
    return "float32" if config.floatX == "float32" else "float64"  # floats: floatX


def arange(start, stop=None, step=1, dtype=None) -> Node:
    """``numpy.arange``, with symbolic scalars allowed (a static length when all are constant).

    Default dtype: int64 for integer arguments; for floats, float64 unless ``config.floatX``
    is float32 and no argument is a float64 variable.
    """
    if stop is None:
        start, stop = 0, start
    inputs = [as_tensor_variable(v) for v in (start, stop, step)]
    if dtype is None:
        dtype = _arange_dtype(inputs)
    else:
        dtype = as_dtype(dtype)
    return apply("arange", *inputs, dtype=dtype)


__all__ = ["shape", "shape_i", "shape_dims", "dimshuffle", "transpose", "alloc", "zeros_like",
           "ones_like", "zeros", "ones", "fill", "second", "reshape", "flatten", "squeeze",
           "expand_dims", "join", "concatenate", "stack", "split", "arange"]
