"""The graph: one immutable, hash-consed node class.

A ``Node`` is ``(op, inputs, params, type)``. Building the same op on the same inputs with the
same params returns the *same object*, so common subexpressions are shared from the start and
walks over the graph (encoding, evaluation, grad) can key dictionaries by node.

Leaves are nodes too: ``input`` (a named function input, unique per constructor call),
``constant`` (hash-consed by value), ``shared`` (a ``SharedVariable`` holding storage) and
``wild`` (a rule-pattern variable whose type may leave dtype and ndim open).

``==`` keeps Python identity, as in Theano (nodes are dictionary keys); use ``T.eq`` for the
elementwise comparison.
"""

from __future__ import annotations

import itertools
import warnings
import weakref

import numpy as np

from .types import WILD, TensorType, as_dtype

_uid = itertools.count()
_TABLE: "weakref.WeakValueDictionary" = weakref.WeakValueDictionary()


def _T():
    from . import tensor  # late import: the op modules import this one

    return tensor


class Node:
    """A symbolic tensor: the output of ``op`` applied to ``inputs`` (Theano's Variable)."""

    __slots__ = ("op", "inputs", "params", "type", "name", "attrs", "__weakref__")

    def __init__(self, op: str, inputs: tuple, params: tuple, type: TensorType, name=None):
        self.op, self.inputs, self.params, self.type = op, inputs, params, type
        self.attrs = dict(params)
        self.name = name  # annotation only: not part of the node's identity

    # -- type facts ---------------------------------------------------------------------
    dtype = property(lambda self: self.type.dtype)
    ndim = property(lambda self: self.type.ndim)
    broadcastable = property(lambda self: self.type.broadcastable)

    def is_leaf(self) -> bool:
        return not self.inputs and self.op in LEAF_OPS

    @property
    def data(self):
        """The value of a constant node (Theano's ``Constant.data``)."""
        if self.op != "constant":
            raise AttributeError(f"only constants have .data; this is a {self.op} node")
        return self.attrs["value"].array

    value = data

    def __repr__(self):
        if self.name:
            return self.name
        if self.op == "constant":
            return repr(self.attrs["value"])
        if self.op in LEAF_OPS:
            return f"<{self.op} {self.type}>"
        params = "".join(f", {k}={v!r}" for k, v in self.params)
        return f"{self.op}({', '.join(map(repr, self.inputs))}{params})"

    __str__ = __repr__

    def __bool__(self):
        raise TypeError("a symbolic variable has no truth value; use T.switch / T.and_ / T.or_ "
                        "to build conditions, and evaluate the graph with eggflow.function")

    def __iter__(self):
        raise TypeError("a symbolic variable cannot be iterated; index it (x[i]) instead")

    def __len__(self):
        raise TypeError("len() of a symbolic variable is unknown; use x.shape[0]")

    # -- operators (Theano spelling) ----------------------------------------------------
    def __add__(self, o): return _T().add(self, o)
    def __radd__(self, o): return _T().add(o, self)
    def __sub__(self, o): return _T().sub(self, o)
    def __rsub__(self, o): return _T().sub(o, self)
    def __mul__(self, o): return _T().mul(self, o)
    def __rmul__(self, o): return _T().mul(o, self)
    def __truediv__(self, o): return _T().true_div(self, o)
    def __rtruediv__(self, o): return _T().true_div(o, self)
    def __floordiv__(self, o): return _T().int_div(self, o)
    def __rfloordiv__(self, o): return _T().int_div(o, self)
    def __mod__(self, o): return _T().mod(self, o)
    def __rmod__(self, o): return _T().mod(o, self)
    def __pow__(self, o): return _T().pow(self, o)
    def __rpow__(self, o): return _T().pow(o, self)
    def __matmul__(self, o): return _T().dot(self, o)
    def __rmatmul__(self, o): return _T().dot(o, self)
    def __neg__(self): return _T().neg(self)
    def __pos__(self): return self
    def __abs__(self): return _T().abs(self)
    def __lt__(self, o): return _T().lt(self, o)
    def __le__(self, o): return _T().le(self, o)
    def __gt__(self, o): return _T().gt(self, o)
    def __ge__(self, o): return _T().ge(self, o)
    def __and__(self, o): return _T().and_(self, o)
    def __rand__(self, o): return _T().and_(o, self)
    def __or__(self, o): return _T().or_(self, o)
    def __ror__(self, o): return _T().or_(o, self)
    def __xor__(self, o): return _T().xor(self, o)
    def __rxor__(self, o): return _T().xor(o, self)
    def __invert__(self): return _T().invert(self)
    def __getitem__(self, idx): return _T().subtensor(self, idx)
    __hash__ = object.__hash__
    __eq__ = object.__eq__
    __array_ufunc__ = None  # ndarray * node defers to Node.__rmul__ instead of an object array

    # -- methods ------------------------------------------------------------------------
    T = property(lambda self: _T().transpose(self))
    shape = property(lambda self: _T().shape(self))
    size = property(lambda self: _T().prod(_T().shape(self)))

    def sum(self, axis=None, keepdims=False, dtype=None):
        return _T().sum(self, axis=axis, keepdims=keepdims, dtype=dtype)

    def mean(self, axis=None, keepdims=False):
        return _T().mean(self, axis=axis, keepdims=keepdims)

    def prod(self, axis=None, keepdims=False):
        return _T().prod(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        return _T().max(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return _T().min(self, axis=axis, keepdims=keepdims)

    def argmax(self, axis=None, keepdims=False):
        return _T().argmax(self, axis=axis, keepdims=keepdims)

    def argmin(self, axis=None, keepdims=False):
        return _T().argmin(self, axis=axis, keepdims=keepdims)

    def var(self, axis=None, ddof=0, keepdims=False):
        return _T().var(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def std(self, axis=None, ddof=0, keepdims=False):
        return _T().std(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def all(self, axis=None, keepdims=False):
        return _T().all(self, axis=axis, keepdims=keepdims)

    def any(self, axis=None, keepdims=False):
        return _T().any(self, axis=axis, keepdims=keepdims)

    def dimshuffle(self, *pattern):
        return _T().dimshuffle(self, *pattern)

    def reshape(self, *shape, ndim=None):
        return _T().reshape(self, shape[0] if len(shape) == 1 else shape, ndim=ndim)

    def flatten(self, ndim=1):
        return _T().flatten(self, ndim)

    def transpose(self, *axes):
        return _T().transpose(self, *axes)

    def squeeze(self, axis=None):
        return _T().squeeze(self, axis)

    def astype(self, dtype):
        return _T().cast(self, dtype)

    def dot(self, other):
        return _T().dot(self, other)

    def clip(self, lo, hi):
        return _T().clip(self, lo, hi)

    def copy(self, name=None):
        out = _T().identity(self)
        if name:
            out.name = name
        return out

    def eval(self, inputs_to_values=None):
        """Evaluate with the reference evaluator: ``(x + 1).eval({x: 2.0})``."""
        from .evaluate import evaluate

        return evaluate([self], inputs_to_values or {})[0]


Variable = Node
LEAF_OPS = frozenset({"input", "constant", "shared", "wild"})


class ConstValue:
    """A constant's value, hashable by content, for hash-consing and op params."""

    __slots__ = ("array", "_key")

    def __init__(self, array: np.ndarray):
        self.array = array
        array.setflags(write=False)
        self._key = (array.dtype.str, array.shape, array.tobytes())

    def __hash__(self):
        return hash(self._key)

    def __eq__(self, other):
        return isinstance(other, ConstValue) and self._key == other._key

    def __repr__(self):
        a = self.array
        return repr(a.item()) if a.ndim == 0 else f"array{a.shape}"


def intern(op: str, inputs: tuple, params: tuple, make_type) -> Node:
    """Return the unique node (op, inputs, params), creating it with ``make_type()`` if new."""
    key = (op, inputs, params)
    node = _TABLE.get(key)
    if node is None:
        node = Node(op, inputs, params, make_type())
        _TABLE[key] = node
    return node


# -- leaves -------------------------------------------------------------------------------
def input_variable(type: TensorType, name: str | None = None) -> Node:
    """A fresh function input (unique even when the name repeats)."""
    return Node("input", (), (("uid", next(_uid)),), type, name)


def wildcard(name: str, dtype=None, shape=None) -> Node:
    """A rule-pattern variable. ``dtype``/``shape`` may be None (any)."""
    return Node("wild", (), (("uid", next(_uid)),), TensorType(dtype, shape), name)


def constant(value, dtype=None, name=None, weak=None) -> Node:
    """A constant node. Python scalars without a dtype are *weak* (NumPy 2 promotion: they take
    the other operand's dtype, so ``fvector * 0.1`` stays float32)."""
    if isinstance(value, Node):
        raise TypeError(f"constant() needs a value, got the symbolic variable {value}")
    if weak is None:
        weak = dtype is None and type(value) in (int, float, complex)
    array = np.asarray(value)
    if array.dtype == object or array.dtype.kind in "USVM":
        raise TypeError(f"cannot make a tensor constant from {value!r} (dtype {array.dtype})")
    if dtype is not None:
        array = _cast_constant(array, value, as_dtype(dtype))
    array = np.array(array, dtype=as_dtype(array.dtype), copy=True)
    params = (("value", ConstValue(array)), ("weak", bool(weak)))
    node = intern("constant", (), params, lambda: TensorType(array.dtype, array.shape))
    if name and not node.name:
        node.name = name
    return node


def _cast_constant(array: np.ndarray, value, dtype: str) -> np.ndarray:
    """``value`` as ``dtype``, refusing casts that change it (300 -> int8, 0.5 -> int32,
    1e40 -> float32 inf, 1j -> float64); float rounding (0.1 as float32) is allowed."""
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # ComplexWarning: checked below
            cast = array.astype(dtype)
    except (OverflowError, TypeError, ValueError) as exc:
        raise TypeError(f"constant {value!r} does not fit dtype {dtype}: {exc}") from exc
    if array.dtype.kind in "fc" and np.can_cast(array.dtype, dtype, "same_kind"):
        ok = np.array_equal(np.isfinite(cast), np.isfinite(array))  # rounded, not overflowed
    else:
        ok = np.array_equal(cast, array, equal_nan=cast.dtype.kind in "fc")
    if not ok:
        raise TypeError(f"constant {value!r} does not fit dtype {dtype} without loss")
    return cast


def as_tensor_variable(x, name=None, ndim=None, dtype=None) -> Node:
    """A node for ``x``: nodes pass through; numbers, lists and arrays become constants."""
    node = x if isinstance(x, Node) else constant(x, dtype=dtype, name=name)
    if ndim is not None and node.ndim is not None and node.ndim != ndim:
        raise TypeError(f"expected a {ndim}-d tensor, got {node} of type {node.type}")
    return node


def is_device_array(value) -> bool:
    """Whether ``value`` is an array in GPU memory (pycuda's ``GPUArray``: it has ``gpudata``
    and ``get()``, which copies it to a NumPy array)."""
    return hasattr(value, "gpudata") and hasattr(value, "get")


class SharedVariable(Node):
    """A variable with storage that persists across calls (``eggflow.shared``).

    Its static type fixes only dtype and ndim (sizes are dynamic, so ``set_value`` may change a
    length), except dims declared broadcastable, which must stay 1.

    The value lives in host memory until a function on the CUDA backend uses the variable
    (``place_on_device``); from then on it stays in GPU memory across calls and updates:
    ``get_value()`` returns a NumPy copy (``return_internal_type=True``: the ``GPUArray``
    itself) and ``set_value`` uploads host values.
    """

    __slots__ = ("_value", "_upload")

    def __init__(self, value: np.ndarray, name=None, broadcastable=None):
        if broadcastable is None:
            broadcastable = (False,) * value.ndim
        if len(broadcastable) != value.ndim:
            raise ValueError(f"broadcastable={broadcastable} does not match a {value.ndim}-d value")
        shape = tuple(1 if b else None for b in broadcastable)
        super().__init__("shared", (), (("uid", next(_uid)),), TensorType(value.dtype, shape), name)
        self.type.check_value(value, f"shared variable {name or ''}".strip())
        self._value = value
        self._upload = None  # host array -> device array, once the value lives on a GPU

    @property
    def on_device(self) -> bool:
        return self._upload is not None

    def place_on_device(self, upload) -> None:
        """Keep the value in GPU memory from now on; ``upload`` copies a host array there."""
        if not is_device_array(self._value):
            self._value = upload(self._value)
        self._upload = upload

    def get_value(self, borrow=False, return_internal_type=False):
        """The value as a NumPy array (a copy unless ``borrow``). A value in GPU memory is
        copied to the host, unless ``return_internal_type`` asks for the device array itself
        (then ``borrow=False`` gives a device copy)."""
        value = self._value
        if is_device_array(value):
            if return_internal_type:
                return value if borrow else value.copy()
            return value.get()
        return value if borrow else value.copy()

    def set_value(self, value, borrow=False):
        """Replace the value (checked and cast like an argument, never with loss). A device
        array is kept on the device when the variable lives there (copied to the host when
        not); a host value of a variable on the device is uploaded."""
        if is_device_array(value):
            if not self.on_device:
                self._value = self.filter(value.get(), copy=False)
                return
            what = f"shared variable {self.name or '<unnamed>'}"
            if value.dtype != self.dtype:
                raise TypeError(f"{what} holds {self.dtype}; got a device array of dtype "
                                f"{value.dtype} (cast it on the device first)")
            self.type.check_value(value, what)
            self._value = value if borrow else value.copy()
            return
        host = self.filter(value, copy=not borrow)
        self._value = self._upload(host) if self.on_device else host

    def filter(self, value, copy=True) -> np.ndarray:
        """Convert ``value`` to this variable's dtype/ndim (cast only without loss)."""
        what = f"shared variable {self.name or '<unnamed>'}"
        array = np.asarray(value)
        if array.dtype != self.dtype:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a lossy cast is refused below
                cast = array.astype(self.dtype)
            lossless = np.can_cast(array.dtype, self.dtype, "same_kind") or np.array_equal(
                cast, array, equal_nan=True)
            if not lossless:
                raise TypeError(f"{what} holds {self.dtype}; the value of dtype {array.dtype} "
                                "cannot be cast to it without loss")
            array, copy = cast, False
        self.type.check_value(array, what)
        return array.copy() if copy else array

    def __repr__(self):
        return self.name or f"<shared {self.type}>"

    __str__ = __repr__


def shared(value, name=None, borrow=False, broadcastable=None, **kwargs) -> SharedVariable:
    """``theano.shared``: a variable whose value lives across function calls. With
    ``config.device = 'cuda'`` and a usable GPU the value is placed on the device at once
    (else when a CUDA function first uses it)."""
    if kwargs:
        raise TypeError(f"shared() got unexpected keyword arguments {sorted(kwargs)}")
    if isinstance(value, Node):
        raise TypeError("shared() needs a value (array, list or number), got a symbolic variable")
    array = np.asarray(value)
    if array.dtype == object or array.dtype.kind in "USVM":
        raise TypeError(f"shared() cannot hold {value!r} (dtype {array.dtype})")
    array = array.astype(as_dtype(array.dtype), copy=not borrow)
    var = SharedVariable(array, name, broadcastable)
    from .config import config

    if config.device == "cuda":  # Theano's device=cuda: the value starts on the GPU
        from eggflow.backends import cuda_backend

        if cuda_backend.available()[0]:
            var.place_on_device(cuda_backend.to_device)
    return var


# -- walks --------------------------------------------------------------------------------
def toposort(outputs) -> list[Node]:
    """All nodes reachable from ``outputs``, inputs before users (iterative DFS)."""
    order, seen = [], set()
    for root in outputs:
        stack = [(root, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
                continue
            if node in seen:
                continue
            seen.add(node)
            stack.append((node, True))
            stack.extend((i, False) for i in reversed(node.inputs) if i not in seen)
    return order


def leaves(outputs, ops=("input", "shared", "wild")) -> list[Node]:
    return [n for n in toposort(outputs) if n.op in ops and not n.inputs]


def replace(outputs, mapping: dict) -> list[Node]:
    """Rebuild ``outputs`` with the nodes of ``mapping`` substituted (types re-inferred)."""
    from .op import apply_node

    new = dict(mapping)
    for node in toposort(outputs):
        if node in new or not node.inputs:
            continue
        inputs = tuple(new.get(i, i) for i in node.inputs)
        if inputs != node.inputs:
            new[node] = apply_node(node.op, inputs, node.params)
    return [new.get(o, o) for o in outputs]


__all__ = ["Node", "Variable", "SharedVariable", "constant", "as_tensor_variable", "shared",
           "input_variable", "wildcard", "toposort", "leaves", "replace", "WILD"]
