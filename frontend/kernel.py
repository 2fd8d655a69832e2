"""Ops the late optimization phase introduces: fused kernels, BLAS update forms, inplace forms.

They are ordinary op-table entries (type rule, NumPy semantics, gradient), so the e-graph
encoding, the soundness checker, the reference executor and codegen read them like any other:

- ``load(x)``: inside a kernel's body, read ``x`` elementwise (with broadcasting); the value
  is ``x``. ``kernel(body)``: compute the elementwise expression ``body`` in one loop and
  materialise it; the value is ``body``. ``inline(s)``: compute ``s`` right here, inside the
  consuming kernel. So ``load(kernel(s)) == inline(s)`` is the fusion law: reading a kernel's
  result is the same as recomputing its body inline. (``inline`` keeps the consumer's choice
  in an e-class of its own: were it ``s`` itself, a producer kernel and its consumers would
  share one choice, and a materialised value could never be read by the others.)
- ``kreduce(body, op, axis)``: the reduction (or row-wise softmax / log_softmax / logsumexp)
  ``op`` of the inline expression ``body``, in one kernel (producers fused into the reduction).
- ``gemm(z, alpha, x, y, beta) = beta*z + alpha*dot(x, y)`` (BLAS ?gemm), ``gemv`` (matrix x
  vector form), ``ger(a, alpha, x, y) = a + alpha*outer(x, y)``.
- Inplace forms (``kernel_i``, ``gemm_i``, ``gemv_i``, ``ger_i``, ``inc_subtensor_i``,
  ``set_subtensor_i``): same value, but the generated code may overwrite an input buffer.
  ``extra["destroy"]`` names it: an input index, or ``"load"`` (a kernel may write over any of
  its loads with the output's shape and dtype). The destroy handler (codegen.lower) accepts
  the choice only where that is legal, else runs the out-of-place form.

The reference executor runs every one of them out of place (they are values, not effects).
"""

from __future__ import annotations

import numpy as np

from .op import OPS, Op, broadcast_shapes, declare, result_dtype
from .types import TensorType

REDUCIBLE = ("sum", "prod", "max", "min", "all", "any", "argmax", "argmin",
             "softmax", "log_softmax", "logsumexp")  # the ops kreduce may stand for


def _same(inputs, **_):
    return inputs[0].type


def _identity(x, **_):
    return x


def _pass_grad(node, g):
    return [g]


declare(Op("load", "kernel", _same, _identity, _pass_grad, nin=1,
           doc="inside a kernel: read the input elementwise (value: the input)"))
declare(Op("inline", "kernel", _same, _identity, _pass_grad, nin=1,
           doc="inside a kernel: compute the (inline) body here (value: the body)"))
declare(Op("kernel", "kernel", _same, _identity, _pass_grad, nin=1,
           doc="a fused elementwise loop computing its inline body (value: the body)"))
declare(Op("kernel_i", "kernel", _same, _identity, _pass_grad, nin=1,
           doc="kernel that may write its result over a load of the same type",
           extra={"destroy": "load", "inplace_of": "kernel"}))


def _kreduce_infer(inputs, op, axis):
    if op not in REDUCIBLE:
        raise ValueError(f"kreduce: op must be one of {REDUCIBLE}, got {op!r}")
    return OPS[op].infer(tuple(inputs), axis=axis)


def _kreduce_impl(s, op, axis):
    return np.asarray(OPS[op].impl(s, axis=axis))


def _kreduce_grad(node, g):
    from .op import apply_node

    inner = apply_node(node.attrs["op"], node.inputs, (("axis", node.attrs["axis"]),))
    return OPS[inner.op].grad(inner, g)


declare(Op("kreduce", "kernel", _kreduce_infer, _kreduce_impl, _kreduce_grad, nin=1,
           params=("axis", "op"),
           doc="a reduction (or row-wise softmax/logsumexp) with its elementwise producers fused"))


# -- BLAS update forms -------------------------------------------------------------------------
def _blas_infer(name, ndims):
    """beta*z + alpha*dot(x, y) (gemm, gemv) or a + alpha*outer(x, y) (ger): NumPy promotion
    over all inputs, z (a) broadcast to the product's shape."""
    def infer(inputs, **_):
        for x, nd in zip(inputs, ndims):
            if x.ndim is not None and x.ndim != nd:
                raise TypeError(f"{name}: expected {ndims} dimensions, got "
                                f"{[i.ndim for i in inputs]}")
        dtype = result_dtype(*inputs)
        if dtype is not None and np.dtype(dtype).kind not in "fc":
            raise TypeError(f"{name} computes in floats, got {dtype}")
        x, y = inputs[2], inputs[3]
        if x.type.shape is None or y.type.shape is None or inputs[0].type.shape is None:
            return TensorType(dtype, None)
        if name == "ger":
            prod = (x.type.shape[0], y.type.shape[0])
        else:
            da, db = x.type.shape[-1], y.type.shape[0]
            if da is not None and db is not None and da != db:
                raise ValueError(f"{name}: inner sizes differ ({da} and {db})")
            prod = x.type.shape[:1] + y.type.shape[1:]
        return TensorType(dtype, broadcast_shapes(inputs[0].type.shape, prod, what=name))
    return infer


def _gemm_impl(z, alpha, x, y, beta):
    return beta * z + alpha * np.dot(x, y)


def _ger_impl(a, alpha, x, y):
    return a + alpha * np.outer(x, y)


def _blas_grad(node, g):
    """The gradient of the formula the op stands for (beta*z + alpha*dot(x, y), ...)."""
    from . import tensor as T

    ins = node.inputs
    value = (ins[4] * ins[0] + ins[1] * T.dot(ins[2], ins[3]) if len(ins) == 5
             else ins[0] + ins[1] * T.outer(ins[2], ins[3]))
    return T.grad(T.sum(value * g), list(ins), disconnected_inputs="ignore")


for _name, _nd, _impl, _grad, _doc in (
        ("gemm", (2, 0, 2, 2, 0), _gemm_impl, _blas_grad, "beta*z + alpha*dot(x, y), matrices"),
        ("gemv", (1, 0, 2, 1, 0), _gemm_impl, _blas_grad, "beta*z + alpha*dot(a, x), a matrix"),
        ("ger", (2, 0, 1, 1), _ger_impl, _blas_grad, "a + alpha*outer(x, y)")):
    declare(Op(_name, "blas", _blas_infer(_name, _nd), _impl, _grad, nin=len(_nd), doc=_doc))
    declare(Op(_name + "_i", "blas", _blas_infer(_name, _nd), _impl, _grad, nin=len(_nd),
               doc=_doc + " (may overwrite its first input)",
               extra={"destroy": 0, "inplace_of": _name}))


# -- inplace forms of the indexing writers ---------------------------------------------------
for _name in ("set_subtensor", "inc_subtensor"):
    _op = OPS[_name]
    declare(Op(_name + "_i", _op.family, _op.infer, _op.impl, _op.grad, params=_op.params,
               nin=_op.nin, doc=_op.doc + " (may overwrite x)",
               extra={"destroy": 0, "inplace_of": _name}))

INPLACE = {name: op.extra["inplace_of"] for name, op in OPS.items() if "inplace_of" in op.extra}

__all__: list = []
