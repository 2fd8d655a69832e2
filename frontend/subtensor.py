"""Indexing: ``subtensor`` (NumPy basic and advanced indexing) and its writers
``set_subtensor`` / ``inc_subtensor``.

The three ops share one param, ``idx``: a tuple with one entry per index item, in order.

    ("int", v)                   an integer index (drops the axis)
    ("slice", start, stop, step) each None, a Python int or a reference
    ("array", j)                 an integer index tensor (advanced indexing)
    ("mask", j)                  a boolean mask tensor (advanced; consumes mask.ndim axes)
    ("newaxis",)                 ``None`` / ``np.newaxis``
    ("ellipsis",)                kept only where it cannot be expanded into full slices: the
                                 ndim is unknown, or it expands to nothing between advanced
                                 indices (NumPy then moves the advanced axes first)

``v`` and the slice parts are Python ints or ``("in", j)``: the j-th *index part*, a symbolic
integer scalar. Index parts are the op's inputs after the data: ``subtensor(x, *parts)`` and
``set_subtensor(x, y, *parts)`` / ``inc_subtensor(x, y, *parts)``, so the three ops read the
same ``idx`` the same way. Integer arrays (constant or symbolic) are always parts.

Type inference follows NumPy: integer scalars count as advanced indices when an advanced index
is present; adjacent advanced indices put their broadcast shape in place, separated ones
(by a slice, a newaxis or an ellipsis) put it first.
"""

from __future__ import annotations

import operator

import numpy as np

from .graph import Node, as_tensor_variable, constant
from .op import Op, apply_node, broadcast_shapes, declare, result_dtype
from .shape import shape_i, zeros_like
from .types import TensorType, kind

_ADV = ("array", "mask")


# -- parsing a Python index into (idx, parts) ----------------------------------------------
def _is_int_scalar_type(node: Node) -> bool:
    return node.ndim in (0, None) and (node.dtype is None or kind(node.dtype) in "iu")


def _bound(v, x, parts, what):
    """A slice bound or an int index: None, a Python int, or ("in", j) for a symbolic scalar."""
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{what}: a boolean ({v!r}) is not a valid index of {x}")
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, Node):
        if v.op == "constant" and v.ndim == 0 and kind(v.dtype) in "iu":
            return int(v.data)
        if not _is_int_scalar_type(v):
            raise TypeError(f"{what}: expected an integer scalar for an index of {x}, got {v} "
                            f"of type {v.type}")
        parts.append(v)
        return ("in", len(parts) - 1)
    raise TypeError(f"{what}: indices of {x} must be integers, slices, None, Ellipsis or "
                    f"integer/boolean tensors, got {v!r} ({type(v).__name__})")


def _array_entry(value, x, parts):
    """A constant (list / ndarray) index: an int, an int array part or a boolean mask part."""
    array = np.asarray(value)
    if array.size == 0 and array.dtype.kind == "f":  # NumPy: an empty list indexes as ints
        array = array.astype(np.int64)
    if array.dtype.kind == "b":
        if array.ndim == 0:
            raise TypeError(f"subtensor: a boolean scalar index ({value!r}) of {x} is not "
                            "supported")
        parts.append(constant(array))
        return ("mask", len(parts) - 1)
    if array.dtype.kind not in "iu":
        raise TypeError(f"subtensor: indices of {x} must be integers or booleans, got "
                        f"{value!r} (dtype {array.dtype})")
    if array.ndim == 0:
        return ("int", int(array))
    parts.append(constant(array))
    return ("array", len(parts) - 1)


def _entry(item, x, parts):
    if item is None:
        return ("newaxis",)
    if item is Ellipsis:
        return ("ellipsis",)
    if isinstance(item, slice):
        bounds = tuple(_bound(v, x, parts, "subtensor") for v in (item.start, item.stop,
                                                                  item.step))
        if bounds[2] == 0:
            raise ValueError(f"subtensor: slice step cannot be zero (index of {x})")
        return ("slice", *bounds)
    if isinstance(item, Node):
        if item.op == "constant" and item.ndim == 0 and kind(item.dtype) in "iu":
            return ("int", int(item.data))
        if item.dtype is not None and kind(item.dtype) == "b":
            if item.ndim == 0:
                raise TypeError(f"subtensor: a boolean scalar index ({item}) of {x} is not "
                                "supported; use a boolean mask tensor of ndim >= 1")
            parts.append(item)
            return ("mask", len(parts) - 1)
        if item.dtype is not None and kind(item.dtype) not in "iu":
            raise TypeError(f"subtensor: index tensors of {x} must be integer or boolean, got "
                            f"{item} of type {item.type}")
        if item.ndim == 0:
            return ("int", _bound(item, x, parts, "subtensor"))
        parts.append(item)
        return ("array", len(parts) - 1)
    if isinstance(item, (list, tuple)) and any(isinstance(v, Node) for v in item):
        from .shape import stack  # x[[i, j]] with symbolic scalars: an index vector

        return _entry(stack([as_tensor_variable(v) for v in item]), x, parts)
    if isinstance(item, (list, tuple, np.ndarray)):
        return _array_entry(item, x, parts)
    return ("int", _bound(item, x, parts, "subtensor"))


def _consumed(entry, parts):
    """The number of axes of x an entry consumes (None: unknown)."""
    if entry[0] in ("int", "slice", "array"):
        return 1
    if entry[0] == "mask":
        return parts[entry[1]].ndim
    return 0


def _separates(idx, at) -> bool:
    """Whether position ``at`` lies between two advanced entries (int entries count as
    advanced when an array or mask is present)."""
    if not any(e[0] in _ADV for e in idx):
        return False
    adv = [k for k, e in enumerate(idx) if e[0] in _ADV or e[0] == "int"]
    return bool(adv) and adv[0] < at < adv[-1]


def parse_index(x: Node, index) -> tuple[tuple, list]:
    """A Python index (as given to ``x[index]``) -> (``idx`` entries, index part nodes)."""
    items = index if isinstance(index, tuple) else (index,)
    parts: list = []
    idx = [_entry(item, x, parts) for item in items]
    ellipses = [k for k, e in enumerate(idx) if e[0] == "ellipsis"]
    if len(ellipses) > 1:
        raise IndexError(f"subtensor: an index can only have a single ellipsis (index of {x})")
    counts = [_consumed(e, parts) for e in idx]
    if x.ndim is None or None in counts:
        return tuple(idx), parts
    used = sum(counts)
    if used > x.ndim:
        raise IndexError(f"subtensor: too many indices for {x} of type {x.type}: {x.ndim} "
                         f"dimension(s) but {used} indexed")
    if ellipses:
        k, fill = ellipses[0], x.ndim - used
        if fill or not _separates(idx, k):  # keep a separating empty ellipsis (see module doc)
            idx[k: k + 1] = [("slice", None, None, None)] * fill
    return tuple(idx), parts


# -- type inference ------------------------------------------------------------------------
def _slice_len(n, entry):
    bounds = entry[1:]
    if n is None or any(isinstance(b, tuple) for b in bounds):
        return None
    if bounds[2] == 0:
        raise ValueError("subtensor: slice step cannot be zero")
    return len(range(*slice(*bounds).indices(n)))


def _check_int(v, n, axis, x):
    if isinstance(v, int) and n is not None and not -n <= v < n:
        raise IndexError(f"subtensor: index {v} is out of bounds for axis {axis} with size {n} "
                         f"of {x} ({x.type})")


def _check_part(part: Node, entry, x):
    if entry[0] == "array" and part.dtype is not None and kind(part.dtype) not in "iu":
        raise TypeError(f"subtensor: index tensors of {x} must be integer, got {part} of type "
                        f"{part.type}")
    if entry[0] == "mask" and part.dtype is not None and kind(part.dtype) != "b":
        raise TypeError(f"subtensor: mask {part} of {x} must be boolean, got {part.type}")


def index_shape(x: Node, idx: tuple, parts) -> tuple | None:
    """The static shape of ``x[idx]`` (None where NumPy's result ndim is unknown)."""
    for e in idx:
        for b in (e[1:] if e[0] in ("int", "slice") else ()):
            if isinstance(b, tuple) and not _is_int_scalar_type(parts[b[1]]):
                raise TypeError(f"subtensor: expected an integer scalar for an index of {x}, got "
                                f"{parts[b[1]]} of type {parts[b[1]].type}")
        if e[0] in _ADV:
            _check_part(parts[e[1]], e, x)
    counts = [_consumed(e, parts) for e in idx]
    xs = x.type.shape
    if xs is None or None in counts:
        return None
    if sum(counts) > len(xs):
        raise IndexError(f"subtensor: too many indices for {x} of type {x.type}")
    has_adv = any(e[0] in _ADV for e in idx)
    adv = [k for k, e in enumerate(idx) if e[0] in _ADV or has_adv and e[0] == "int"]
    adv_shapes, out, axis = [], [], 0
    for k, e in enumerate(idx):
        if k == (adv[0] if adv else None):
            out.append("ADV")  # where the broadcast advanced shape goes if adjacent
        if e[0] == "newaxis":
            out.append(1)
        elif e[0] == "ellipsis":
            fill = len(xs) - sum(counts)
            out.extend(xs[axis: axis + fill])
            axis += fill
        elif e[0] == "slice":
            out.append(_slice_len(xs[axis], e))
            axis += 1
        elif e[0] == "int":
            _check_int(e[1], xs[axis], axis, x)
            if has_adv:
                adv_shapes.append(())
            axis += 1
        elif e[0] == "array":
            part = parts[e[1]]
            if part.type.shape is None:
                return None
            if part.op == "constant" and part.data.size and xs[axis] is not None:
                lo, hi = int(part.data.min()), int(part.data.max())
                _check_int(lo if lo < -xs[axis] else hi, xs[axis], axis, x)
            adv_shapes.append(part.type.shape)
            axis += 1
        else:  # mask
            part = parts[e[1]]
            for a, (m, d) in enumerate(zip(part.type.shape, xs[axis: axis + part.ndim])):
                if None not in (m, d) and m != d:
                    raise IndexError(f"subtensor: boolean index {part} ({part.type}) does not "
                                     f"match {x} ({x.type}) on axis {axis + a}: {m} vs {d}")
            count = int(part.data.sum()) if part.op == "constant" else None
            adv_shapes.append((count,))
            axis += part.ndim
    out.extend(xs[axis:])
    if not adv:
        return tuple(out)
    try:
        block = list(broadcast_shapes(*adv_shapes))
    except ValueError:
        raise IndexError(f"subtensor: shape mismatch: the index arrays of {x} cannot be "
                         f"broadcast together (shapes {', '.join(map(str, adv_shapes))})") from None
    at = out.index("ADV")
    if adv == list(range(adv[0], adv[-1] + 1)):
        return tuple(out[:at] + block + out[at + 1:])
    return tuple(block + out[:at] + out[at + 1:])


def _subtensor_infer(inputs, idx):
    x, parts = inputs[0], inputs[1:]
    return TensorType(x.dtype, index_shape(x, idx, parts))


def _check_y(name, x: Node, y: Node, idx, parts):
    """``y`` must broadcast to ``x[idx]`` (and, for inc, add into x's dtype)."""
    sub = index_shape(x, idx, parts)
    if sub is not None and y.type.shape is not None:
        if y.ndim > len(sub):
            raise ValueError(f"{name}: cannot write the {y.ndim}-d value {y} ({y.type}) into "
                             f"the {len(sub)}-d subtensor of {x} (shape {sub})")
        for d, s in zip(reversed(y.type.shape), reversed(sub)):
            if d is not None and d != 1 and s is not None and s != d:
                raise ValueError(f"{name}: the value {y} ({y.type}) does not broadcast to "
                                 f"the subtensor of {x} of shape {sub}")
    if name == "inc_subtensor" and None not in (x.dtype, y.dtype):
        summed = result_dtype(x, y)
        if not np.can_cast(summed, x.dtype, "same_kind"):
            raise TypeError(f"inc_subtensor: cannot add {y} ({y.dtype}) into {x} ({x.dtype}): "
                            f"the sum is {summed}; cast the value first")


def _writer_infer(name):
    def infer(inputs, idx):
        x, y, parts = inputs[0], inputs[1], inputs[2:]
        _check_y(name, x, y, idx, parts)
        return TensorType(x.dtype, x.type.shape)

    return infer


# -- NumPy implementations -----------------------------------------------------------------
def _as_mask(part):
    return np.asarray(part, dtype=bool)


def index_tuple(idx, parts, scalar=operator.index, array=np.asarray, mask=_as_mask) -> tuple:
    """The ``idx`` param with its index parts -> a Python index tuple. ``scalar``, ``array`` and
    ``mask`` convert the parts (NumPy values here; a peer translating to another library passes
    its own, e.g. identity for traced values)."""
    def val(b):
        return scalar(parts[b[1]]) if isinstance(b, tuple) else b

    out = []
    for e in idx:
        if e[0] == "int":
            out.append(val(e[1]))
        elif e[0] == "slice":
            out.append(slice(val(e[1]), val(e[2]), val(e[3])))
        elif e[0] == "array":
            out.append(array(parts[e[1]]))
        elif e[0] == "mask":
            out.append(mask(parts[e[1]]))
        else:
            out.append(None if e[0] == "newaxis" else Ellipsis)
    return tuple(out)


def _subtensor_impl(x, *parts, idx):
    return np.asarray(x)[index_tuple(idx, parts)]  # basic indexing gives a view, as in Theano


def _set_impl(x, y, *parts, idx):
    out = np.array(x, copy=True)  # never modify the input
    out[index_tuple(idx, parts)] = y
    return out


def _inc_impl(x, y, *parts, idx):
    out = np.array(x, copy=True, order="C")  # C order: reshape(-1) below must be a view
    index = index_tuple(idx, parts)
    if not any(e[0] in _ADV for e in idx):
        out[index] += y  # basic indexing: no position repeats
        return out
    # Advanced: repeated positions accumulate (numpy.add.at); going through flat positions
    # handles every index form NumPy accepts (masks, newaxis, separated advanced indices).
    pos = np.arange(out.size).reshape(out.shape)[index]
    np.add.at(out.reshape(-1), pos.reshape(-1), np.broadcast_to(y, pos.shape).reshape(-1))
    return out


# -- gradients -----------------------------------------------------------------------------
def _subtensor_grad(node, g):
    x, parts = node.inputs[0], node.inputs[1:]
    gx = apply_node("inc_subtensor", (zeros_like(x), g, *parts), node.params)
    return [gx] + [None] * len(parts)


def _inc_grad(node, g):
    from .elemwise import unbroadcast

    y, parts = node.inputs[1], node.inputs[2:]
    gy = unbroadcast(apply_node("subtensor", (g, *parts), node.params), y)
    return [g, gy] + [None] * len(parts)


def _set_grad(node, g):
    from . import tensor as T
    from .elemwise import unbroadcast

    x, y, parts = node.inputs[0], node.inputs[1], node.inputs[2:]
    gx = apply_node("set_subtensor", (g, constant(0, dtype=g.dtype), *parts), node.params)
    gsub = apply_node("subtensor", (g, *parts), node.params)
    if any(e[0] in _ADV for e in node.attrs["idx"]):
        # Where advanced indices repeat a position only the last write lands; find the
        # winners with the op itself (write occurrence numbers, read them back).
        dims = T.shape_dims(apply_node("subtensor", (x, *parts), node.params))
        occurrence = T.reshape(T.arange(T.prod(T.stack(dims))), dims)
        canvas = T.alloc(constant(-1, dtype="int64"), *T.shape_dims(x))
        owner = apply_node("set_subtensor", (canvas, occurrence, *parts), node.params)
        last = T.eq(apply_node("subtensor", (owner, *parts), node.params), occurrence)
        gsub = T.switch(last, gsub, 0)
    return [gx, unbroadcast(gsub, y)] + [None] * len(parts)


declare(Op("subtensor", "index", _subtensor_infer, _subtensor_impl, _subtensor_grad,
           params=("idx",), doc="x[idx], NumPy basic and advanced indexing; inputs (x, *parts)"))
declare(Op("set_subtensor", "index", _writer_infer("set_subtensor"), _set_impl, _set_grad,
           params=("idx",), doc="a copy of x with x[idx] = y; inputs (x, y, *parts)"))
declare(Op("inc_subtensor", "index", _writer_infer("inc_subtensor"), _inc_impl, _inc_grad,
           params=("idx",),
           doc="a copy of x with y added at x[idx] (repeated indices accumulate, numpy.add.at); "
               "inputs (x, y, *parts)"))


# -- user-facing constructors --------------------------------------------------------------
def subtensor(x, index) -> Node:
    """``x[index]`` with NumPy semantics: ints, slices (bounds may be symbolic int scalars),
    ``None``, ``...``, integer index tensors (several broadcast together) and boolean masks.

    ``x.shape[i]`` with a Python int ``i`` is ``shape_i(x, i)`` (a constant when static).
    """
    x = as_tensor_variable(x)
    if x.op == "shape" and isinstance(index, (int, np.integer)) and not isinstance(
            index, (bool, np.bool_)):
        n = x.type.shape[0]
        if n is not None and not -n <= index < n:
            raise IndexError(f"subtensor: index {index} is out of bounds for the shape of "
                             f"{x.inputs[0]} ({n} dimensions)")
        return shape_i(x.inputs[0], int(index))
    idx, parts = parse_index(x, index)
    return apply_node("subtensor", (x, *parts), (("idx", idx),))


def _writer(name, sub, y) -> Node:
    if not isinstance(sub, Node) or sub.op != "subtensor":
        raise TypeError(f"{name}: the first argument must be a subtensor such as x[idx] (it "
                        f"names both x and the positions to write), got {sub!r}")
    y = as_tensor_variable(y)
    return apply_node(name, (sub.inputs[0], y, *sub.inputs[1:]), sub.params)


def set_subtensor(x, y, inplace=False, tolerate_inplace_aliasing=False) -> Node:
    """A copy of the tensor indexed by ``x`` (= ``a[idx]``) with ``a[idx] = y`` (``y``
    broadcasts). Theano's API: ``T.set_subtensor(a[idx], y)``; ``inplace`` is ignored (the
    optimizer decides). Where advanced indices repeat a position the last write wins (NumPy),
    and only that occurrence of ``y`` receives a gradient."""
    return _writer("set_subtensor", x, y)


def inc_subtensor(x, y, inplace=False, set_instead_of_inc=False,
                  tolerate_inplace_aliasing=False) -> Node:
    """A copy of the tensor indexed by ``x`` (= ``a[idx]``) with ``y`` added at ``a[idx]``;
    repeated advanced indices accumulate (``numpy.add.at``). Theano's API:
    ``T.inc_subtensor(a[idx], y)``."""
    return _writer("set_subtensor" if set_instead_of_inc else "inc_subtensor", x, y)


__all__ = ["subtensor", "set_subtensor", "inc_subtensor", "index_shape", "parse_index"]
