"""The op table: every op is declared once, here or in a family module, as an ``Op``.

An ``Op`` holds everything each stage needs: the type rule (``infer``), the NumPy reference
implementation (``impl``), the gradient (``grad``), its family (elemwise, reduce, shape,
index, blas, nnet, alloc, leaf) and the names of its params. Later stages (e-graph encoding,
cost, codegen) read the same records; a C/CUDA template goes in ``extra``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .graph import Node, as_tensor_variable, intern

FAMILIES = ("leaf", "elemwise", "reduce", "shape", "index", "blas", "nnet", "alloc", "control",
            "kernel")


@dataclass(frozen=True)
class Op:
    """One op declaration.

    infer(inputs: tuple[Node], **params) -> TensorType   (must accept wildcard types)
    impl(*arrays, **params) -> ndarray                      (NumPy reference semantics)
    grad(node: Node, gout: Node) -> list[Node | None]       (None: no gradient to that input)
    """

    name: str
    family: str
    infer: Callable
    impl: Callable | None
    grad: Callable | None = None
    params: tuple = ()
    nin: int | None = None  # number of inputs; None = variadic
    doc: str = ""
    extra: dict = field(default_factory=dict)  # later stages' data (C template, cost hints, ...)

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"op {self.name}: unknown family {self.family!r}")


OPS: dict[str, Op] = {}


def declare(op: Op) -> Op:
    if op.name in OPS:
        raise ValueError(f"op {op.name!r} is declared twice")
    OPS[op.name] = op
    return op


def _freeze(value):
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def apply(op: str, *inputs, **params) -> Node:
    """Build (or find) the node ``op(*inputs, **params)``; numbers become constants."""
    inputs = tuple(as_tensor_variable(i) for i in inputs)
    return apply_node(op, inputs, tuple(sorted((k, _freeze(v)) for k, v in params.items())))


def apply_node(op: str, inputs: tuple, params: tuple) -> Node:
    decl = OPS.get(op)
    if decl is None:
        raise KeyError(f"unknown op {op!r}")
    if decl.nin is not None and len(inputs) != decl.nin:
        raise TypeError(f"{op} takes {decl.nin} inputs, got {len(inputs)}")
    return intern(op, inputs, params, lambda: decl.infer(inputs, **dict(params)))


# -- dtype rules (shared by the family modules) --------------------------------------------
def _promotion_arg(node: Node):
    if node.op == "constant" and node.attrs["weak"]:
        return type(node.attrs["value"].array.item())(0)  # a Python scalar: NumPy-2 weak
    return np.dtype(node.dtype)


def result_dtype(*nodes: Node) -> str | None:
    """NumPy 2 promotion of the inputs' dtypes; Python-number constants are weak."""
    if any(n.dtype is None for n in nodes):
        return None
    return np.result_type(*map(_promotion_arg, nodes)).name


_FLOAT_OF = {"b": "float32", "i1": "float32", "u1": "float32", "i2": "float32", "u2": "float32"}


def upgrade_to_float(dtype: str | None) -> str | None:
    """Theano's rule for float-valued functions of ints: small ints -> float32, else float64."""
    if dtype is None:
        return None
    dt = np.dtype(dtype)
    if dt.kind in "fc":
        return dtype
    return _FLOAT_OF.get(dt.kind if dt.kind == "b" else dt.str[1:], "float64")


def broadcast_shapes(*shapes, what="elementwise op") -> tuple | None:
    """Static NumPy broadcasting with unknown dims (None). Raises on a certain mismatch."""
    if any(s is None for s in shapes):
        return None
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for axis in range(ndim):
        dims = [s[axis - ndim + len(s)] for s in shapes if axis - ndim + len(s) >= 0]
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise ValueError(f"{what}: shapes {', '.join(map(str, shapes))} cannot be broadcast "
                             f"together (sizes {sorted(known)} on aligned axis {axis})")
        if known:
            out.append(known.pop())
        elif None in dims:
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


def normalize_axis(axis, ndim: int | None, what: str) -> tuple | None:
    """``axis`` (None, int or sequence) -> sorted tuple of non-negative axes (None = all)."""
    if axis is None:
        return None if ndim is None else tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    if ndim is None:
        return tuple(sorted(int(a) for a in axes))
    out = []
    for a in axes:
        if not isinstance(a, (int, np.integer)) or not -ndim <= a < ndim:
            raise ValueError(f"{what}: axis {a} is out of range for a {ndim}-d tensor")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{what}: repeated axis in {axis}")
    return tuple(sorted(out))


def static_int(node: Node):
    """The int value of a 0-d integer constant node, else None (a dynamic value)."""
    if node.op == "constant" and node.ndim == 0:
        return int(node.attrs["value"].array)
    return None
