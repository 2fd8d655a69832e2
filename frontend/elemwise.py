"""Elementwise ops: arithmetic, comparisons, logic, math functions, switch, clip, cast.

Each op is one row: name, NumPy function, gradient, and (for codegen) a C expression over
``a``, ``b``, ``c``. Output dtypes are NumPy 2's (the ufunc's own type resolution, Python
numbers weak), except that float16 results become float32 as in Theano.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import scipy.special

from .graph import Node
from .op import Op, apply, broadcast_shapes, declare, result_dtype, upgrade_to_float
from .types import TensorType


def _T():
    from . import tensor

    return tensor


def _ufunc_dtype(ufunc, inputs) -> str | None:
    if any(i.dtype is None for i in inputs):
        return None
    args = []
    for i in inputs:
        weak = i.op == "constant" and i.attrs["weak"]
        args.append(type(i.attrs["value"].array.item()) if weak else np.dtype(i.dtype))
    if all(isinstance(a, type) for a in args):  # all Python numbers: use their default dtypes
        args = [np.dtype(i.dtype) for i in inputs]
    try:
        *loop, dtype = ufunc.resolve_dtypes((*args, None))
    except (TypeError, np._core._exceptions._UFuncNoLoopError) as exc:  # noqa: SLF001
        raise TypeError(f"{ufunc.__name__} is not defined for dtypes "
                        f"{', '.join(str(i.dtype) for i in inputs)}") from exc
    if ufunc not in _COMPARISONS:  # NumPy compares out-of-range Python ints correctly
        _check_weak_ints(ufunc.__name__, inputs, loop)
    return "float32" if dtype == np.float16 else dtype.name


_COMPARISONS = (np.less, np.greater, np.less_equal, np.greater_equal, np.equal, np.not_equal)


def _check_weak_ints(what, inputs, dtypes) -> None:
    """NumPy 2 refuses a Python int that does not fit the dtype it is promoted to
    (``int8_array * 300`` raises OverflowError); say so when the graph is built."""
    for i, dt in zip(inputs, dtypes):
        if i.op == "constant" and i.attrs["weak"] and np.dtype(dt).kind in "iu":
            value, info = int(i.attrs["value"].array), np.iinfo(dt)
            if not info.min <= value <= info.max:
                raise OverflowError(
                    f"{what}: the Python integer {value} does not fit {np.dtype(dt).name}, the "
                    f"dtype of the other operand (NumPy 2 promotion); make it a constant of a "
                    f"wider dtype or cast the other operand")


def _no_float16(fn):
    """Theano computes float functions of small ints (exp of int8) in float32; NumPy would
    compute them in float16 and the evaluator's cast to float32 would not restore the digits."""
    def impl(*args, **params):
        out = fn(*args, **params)
        if getattr(out, "dtype", None) == np.float16:
            out = fn(*(a if isinstance(a, (int, float, complex)) else np.asarray(a, np.float32)
                       for a in args), **params)
        return out

    impl.__name__ = getattr(fn, "__name__", "impl")
    return impl


def _infer(name, dtype_rule, inputs, **params):
    shape = broadcast_shapes(*(i.type.shape for i in inputs), what=name)
    return TensorType(dtype_rule(inputs, **params), shape)


def unbroadcast(g: Node, x: Node) -> Node:
    """Sum ``g`` over the axes along which ``x`` was broadcast, giving ``x``'s shape."""
    T = _T()
    if g.ndim is None or x.ndim is None:
        return g
    lead = g.ndim - x.ndim
    kept = [i for i, d in enumerate(x.type.shape) if d == 1 and g.type.shape[lead + i] != 1]
    axes = list(range(lead)) + [lead + i for i in kept]
    if not axes:
        return g
    g = T.sum(g, axis=axes)
    if kept:
        it = iter(range(g.ndim))
        g = T.dimshuffle(g, *("x" if i in kept else next(it) for i in range(x.ndim)))
    return g


def _declare(name, impl, grad, dtype_rule, c=None, nin=None, doc="", params=()):
    def grad_fn(node, g):
        grads = grad(*node.inputs, node, g, **node.attrs)
        return [None if gi is None else unbroadcast(_T().as_tensor_variable(gi), x)
                for gi, x in zip(grads, node.inputs)]

    declare(Op(name, "elemwise", partial(_infer, name, dtype_rule), _no_float16(impl),
               grad_fn if grad else None, params=params, nin=nin, doc=doc, extra={"c": c}))


def _ufunc_rule(ufunc):
    return lambda inputs, **_: _ufunc_dtype(ufunc, inputs)


def _float_rule(inputs, **_):
    return upgrade_to_float(result_dtype(*inputs))


def _same_rule(inputs, **_):
    return result_dtype(*inputs)


def _real_float_rule(inputs, **_):
    dtype = _float_rule(inputs)
    if dtype is not None and np.dtype(dtype).kind == "c":  # like NumPy's logaddexp
        raise TypeError(f"softplus is not defined for complex dtype {dtype}")
    return dtype


def _zero(*xs, **_params):
    """Gradient rows for piecewise-constant functions: zeros (connected, but flat)."""
    *inputs, _node, _g = xs
    return [_T().zeros_like(x) for x in inputs]


# -- binary arithmetic ---------------------------------------------------------------------
def _pow_grad(x, y, out, g):
    T = _T()
    safe_x = T.switch(T.eq(x, 0), 1, x)  # d/dy x**y = x**y log x, taken as 0 where x == 0
    return [g * y * x ** (y - 1), g * out * T.log(safe_x)]


BINARY = [
    # name, ufunc, grad(x, y, out, g), C expression
    ("add", np.add, lambda x, y, o, g: [g, g], "a + b"),
    ("sub", np.subtract, lambda x, y, o, g: [g, -g], "a - b"),
    ("mul", np.multiply, lambda x, y, o, g: [g * y, g * x], "a * b"),
    ("true_div", np.true_divide, lambda x, y, o, g: [g / y, -g * o / y], "a / b"),
    ("int_div", np.floor_divide, _zero, "floor(a / b)"),
    ("mod", np.mod, lambda x, y, o, g: [g, -g * _T().int_div(x, y)], "fmod_floor(a, b)"),
    ("pow", np.power, _pow_grad, "pow(a, b)"),
    ("maximum", np.maximum, lambda x, y, o, g: [_T().switch(x >= y, g, 0),
                                                _T().switch(x >= y, 0, g)], "fmax(a, b)"),
    ("minimum", np.minimum, lambda x, y, o, g: [_T().switch(x <= y, g, 0),
                                                _T().switch(x <= y, 0, g)], "fmin(a, b)"),
    ("lt", np.less, None, "a < b"),
    ("gt", np.greater, None, "a > b"),
    ("le", np.less_equal, None, "a <= b"),
    ("ge", np.greater_equal, None, "a >= b"),
    ("eq", np.equal, None, "a == b"),
    ("neq", np.not_equal, None, "a != b"),
    ("and_", np.bitwise_and, None, "a & b"),
    ("or_", np.bitwise_or, None, "a | b"),
    ("xor", np.bitwise_xor, None, "a ^ b"),
]
for _name, _uf, _grad, _c in BINARY:
    _declare(_name, _uf, _grad, _ufunc_rule(_uf), _c, nin=2, doc=f"elementwise {_uf.__name__}")


# -- unary math ----------------------------------------------------------------------------
def _softplus(x):
    return np.logaddexp(np.zeros((), dtype=np.result_type(x)), x)


def _reciprocal(x):
    return np.true_divide(1, x)  # not np.reciprocal: that gives 1 // x for ints


LN2, LN10 = math.log(2.0), math.log(10.0)
TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)

UNARY = [
    # name, NumPy function, dtype rule (None: the ufunc's), grad(x, out, g), C expression
    ("neg", np.negative, None, lambda x, o, g: [-g], "-a"),
    ("abs", np.absolute, None, lambda x, o, g: [g * _T().sgn(x)], "fabs(a)"),
    ("exp", np.exp, None, lambda x, o, g: [g * o], "exp(a)"),
    ("exp2", np.exp2, None, lambda x, o, g: [g * o * LN2], "exp2(a)"),
    ("expm1", np.expm1, None, lambda x, o, g: [g * (o + 1)], "expm1(a)"),
    ("log", np.log, None, lambda x, o, g: [g / x], "log(a)"),
    ("log2", np.log2, None, lambda x, o, g: [g / (x * LN2)], "log2(a)"),
    ("log10", np.log10, None, lambda x, o, g: [g / (x * LN10)], "log10(a)"),
    ("log1p", np.log1p, None, lambda x, o, g: [g / (1 + x)], "log1p(a)"),
    ("sqrt", np.sqrt, None, lambda x, o, g: [g * 0.5 / o], "sqrt(a)"),
    ("sqr", np.square, None, lambda x, o, g: [g * 2 * x], "a * a"),
    ("reciprocal", _reciprocal, _float_rule, lambda x, o, g: [-g * o * o], "1 / a"),
    ("sin", np.sin, None, lambda x, o, g: [g * _T().cos(x)], "sin(a)"),
    ("cos", np.cos, None, lambda x, o, g: [-g * _T().sin(x)], "cos(a)"),
    ("tan", np.tan, None, lambda x, o, g: [g * (1 + o * o)], "tan(a)"),
    ("arcsin", np.arcsin, None, lambda x, o, g: [g / _T().sqrt(1 - x * x)], "asin(a)"),
    ("arccos", np.arccos, None, lambda x, o, g: [-g / _T().sqrt(1 - x * x)], "acos(a)"),
    ("arctan", np.arctan, None, lambda x, o, g: [g / (1 + x * x)], "atan(a)"),
    ("sinh", np.sinh, None, lambda x, o, g: [g * _T().cosh(x)], "sinh(a)"),
    ("cosh", np.cosh, None, lambda x, o, g: [g * _T().sinh(x)], "cosh(a)"),
    ("tanh", np.tanh, None, lambda x, o, g: [g * (1 - o * o)], "tanh(a)"),
    ("erf", scipy.special.erf, None,
     lambda x, o, g: [g * TWO_OVER_SQRT_PI * _T().exp(-x * x)], "erf(a)"),
    ("sigmoid", scipy.special.expit, None, lambda x, o, g: [g * o * (1 - o)],
     "1 / (1 + exp(-a))"),
    ("softplus", _softplus, _real_float_rule, lambda x, o, g: [g * _T().sigmoid(x)],
     "(a > 0 ? a + log1p(exp(-a)) : log1p(exp(a)))"),
    ("floor", np.floor, None, _zero, "floor(a)"),
    ("ceil", np.ceil, None, _zero, "ceil(a)"),
    ("sgn", np.sign, None, _zero, "(a > 0) - (a < 0)"),
    ("invert", np.invert, None, None, "~a"),
    ("identity", lambda x: np.array(x, copy=True), _same_rule, lambda x, o, g: [g], "a"),
]
for _name, _fn, _rule, _grad, _c in UNARY:
    _declare(_name, _fn, _grad, _rule or _ufunc_rule(_fn), _c, nin=1,
             doc=f"elementwise {getattr(_fn, '__name__', _name)}")


# x's type filled with 0 or 1: what x * 0 and x - x become for finite x (T.zeros_like uses it)
for _name, _fn, _c in (("zeros_like", np.zeros_like, "0"), ("ones_like", np.ones_like, "1")):
    _declare(_name, _fn, _zero, _same_rule, _c, nin=1, doc=f"{_name[:-5]}s of the input's type")


# -- ops with params or three inputs -------------------------------------------------------
def _round_dtype(inputs, **_):
    dtype = inputs[0].dtype
    if dtype is not None and np.dtype(dtype).kind == "c":
        raise TypeError("round is not defined for complex inputs")
    return dtype  # rounding keeps the dtype (ints are already integral)


def _round_impl(x, mode):
    if np.result_type(x).kind in "biu":
        return x
    if mode == "half_to_even":
        return np.rint(x)
    return np.where(x >= 0, np.floor(x + 0.5), np.ceil(x - 0.5)).astype(np.result_type(x))


_declare("round", _round_impl, _zero, _round_dtype,
         "rint(a)", nin=1, params=("mode",), doc="round, mode half_to_even or half_away_from_zero")


def _cast_impl(x, dtype):
    return np.asarray(x).astype(dtype)


_declare("cast", _cast_impl, lambda x, o, g, dtype: [g], lambda inputs, dtype: dtype,
         "(T)a", nin=1, params=("dtype",), doc="convert to another dtype")


def _switch_rule(inputs, **_):
    dtype = result_dtype(inputs[1], inputs[2])
    if dtype is not None:  # numpy.where refuses int8 vs 300 too
        _check_weak_ints("switch", inputs[1:], (dtype, dtype))
    return dtype


_declare("switch", lambda c, a, b: np.where(c, a, b),
         lambda c, a, b, o, g: [None, _T().switch(c, g, 0), _T().switch(c, 0, g)],
         _switch_rule, "a ? b : c", nin=3, doc="elementwise if-then-else (numpy.where)")


def _clip_grad(x, lo, hi, o, g):
    T = _T()
    inside = T.and_(x >= lo, x <= hi)
    return [T.switch(inside, g, 0), T.switch(x < lo, g, 0), T.switch(x > hi, g, 0)]


_declare("clip", np.clip, _clip_grad, lambda inputs, **_: result_dtype(*inputs),
         "fmin(fmax(a, b), c)", nin=3, doc="clip to [lo, hi]")


# -- user-facing constructors --------------------------------------------------------------
def _binary(name):
    def f(a, b):
        return apply(name, a, b)

    f.__name__ = name
    f.__doc__ = f"Elementwise {name} with NumPy broadcasting."
    return f


def _unary(name):
    def f(a):
        return apply(name, a)

    f.__name__ = name
    f.__doc__ = f"Elementwise {name}."
    return f


add, sub, mul, true_div, int_div, mod, pow = map(_binary, ["add", "sub", "mul", "true_div",
                                                            "int_div", "mod", "pow"])
maximum, minimum, lt, gt, le, ge, eq, neq = map(_binary, ["maximum", "minimum", "lt", "gt",
                                                          "le", "ge", "eq", "neq"])
and_, or_, xor = map(_binary, ["and_", "or_", "xor"])
(neg, abs, exp, exp2, expm1, log, log2, log10, log1p, sqrt, sqr, reciprocal, sin, cos, tan,
 arcsin, arccos, arctan, sinh, cosh, tanh, erf, sigmoid, softplus, floor, ceil, sgn, invert,
 identity) = map(_unary, [row[0] for row in UNARY])


def switch(cond, a, b):
    """``numpy.where(cond, a, b)`` elementwise, with broadcasting."""
    return apply("switch", cond, a, b)


def clip(x, lo, hi):
    """Clip ``x`` to ``[lo, hi]`` elementwise."""
    return apply("clip", x, lo, hi)


def round(x, mode="half_to_even"):  # noqa: A001 - Theano's name
    """Round to the nearest integer; ``mode`` 'half_to_even' (NumPy) or 'half_away_from_zero'."""
    if mode not in ("half_to_even", "half_away_from_zero"):
        raise ValueError("round: mode must be 'half_to_even' or 'half_away_from_zero', "
                         f"got {mode!r}")
    return apply("round", x, mode=mode)


def cast(x, dtype):
    """Convert ``x`` to ``dtype`` (no-op if it already has it)."""
    from .graph import as_tensor_variable
    from .types import as_dtype

    x, dtype = as_tensor_variable(x), as_dtype(dtype)
    return x if x.dtype == dtype else apply("cast", x, dtype=dtype)


def relu(x, alpha=0):
    """Rectified linear unit ``max(x, 0)`` (leaky with ``alpha``)."""
    if alpha == 0:
        return maximum(x, 0)
    return switch(gt(x, 0), x, mul(alpha, x))


# Theano spellings
where, sign, inv, abs_, true_divide, floor_div, power = switch, sgn, reciprocal, abs, \
    true_div, int_div, pow
bitwise_and, bitwise_or, bitwise_xor, bitwise_not = and_, or_, xor, invert


__all__ = [row[0] for row in BINARY] + [row[0] for row in UNARY] + [
    "pow", "switch", "clip", "round", "cast", "relu", "where", "sign", "inv", "abs_",
    "true_divide", "floor_div", "power", "bitwise_and", "bitwise_or", "bitwise_xor",
    "bitwise_not", "unbroadcast"]
