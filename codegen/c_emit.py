"""C source for the kernels of a lowered program (one source per function).

Every kernel reads its operands through (pointer, per-axis strides in elements) pairs, so
views (transposes, broadcasts with stride 0, slices) cost nothing. Per kernel:

- elementwise ``k{n}(nd, shape, ptrs, strides)``: the output and each load; the innermost axis
  has a unit-stride loop (``omp simd``: the compiler vectorises it, transcendentals through
  libmvec) and a strided one; the outer axes are unravelled; OpenMP splits the work above
  ``PARALLEL_MIN`` elements, a plain serial branch below (entering OpenMP costs ~1 us);
- reductions (sum, prod, max, min, all, any) of an inline body over any axis set: the output
  has stride 0 on reduced axes; an innermost reduced axis accumulates in a register (float32
  sums in double), an innermost kept axis accumulates into the output;
- row-wise softmax / log_softmax / logsumexp over one axis: max, then sum of exp, then the
  output, re-evaluating the fused body in each pass;
- BLAS steps: the runtime calls cblas ?gemm / ?gemv / ?ger (scipy-openblas32) directly.

Scalar semantics follow NumPy (codegen.cmath's helpers): NaN-propagating maximum/minimum/sign,
floor division and modulo with NumPy's signs (integer division by zero gives 0), bools stored
as one byte; transcendentals vectorise through glibc's libmvec with NumPy's inf/NaN results.
"""

from __future__ import annotations

import math
import re

import numpy as np

from eggflow.frontend.op import OPS

from . import cmath

PARALLEL_MIN = 1 << 15  # elements; below this a kernel runs serially

CTYPES = {"bool": "uint8_t", "int8": "int8_t", "int16": "int16_t", "int32": "int32_t",
          "int64": "int64_t", "uint8": "uint8_t", "uint16": "uint16_t", "uint32": "uint32_t",
          "uint64": "uint64_t", "float32": "float", "float64": "double"}
MATH_FUNCS = ("exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "sin", "cos",
              "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "erf", "pow", "floor",
              "ceil", "fabs", "rint", "nearbyint", "round", "fmod")
COMPARE = ("lt", "gt", "le", "ge", "eq", "neq")
SPECIAL = {"true_div": "a / b"}  # the op table's C is the float form; cmath.HELPERS the rest
_PRELUDE = r"""
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#define EF_MIN_PAR %(par)d
"""


def prelude() -> str:
    """Includes, the vector-math declarations and the ``ef_`` scalar helpers (codegen.cmath)."""
    return cmath.PRELUDE + _PRELUDE % {"par": PARALLEL_MIN}


def c_supported(dtype) -> bool:
    return dtype in CTYPES


def literal(value, dtype: str) -> str:
    """A C literal of ``value`` in ``dtype`` (floats exact, as C99 hex floats)."""
    v = np.asarray(value).astype(dtype).item()
    if dtype in ("float32", "float64"):
        v = float(v)
        if math.isnan(v):
            text = "NAN"
        elif math.isinf(v):
            text = "INFINITY" if v > 0 else "-INFINITY"
        else:
            text = v.hex()
        return f"(({CTYPES[dtype]}){text})"
    if dtype == "bool":
        return "1" if v else "0"
    if dtype == "uint64":
        return f"((uint64_t){int(v)}ULL)"
    if dtype == "int64" and v == -(2 ** 63):
        return "((int64_t)(-9223372036854775807LL - 1))"
    return f"(({CTYPES[dtype]}){int(v)}LL)"


def _fix_math(expr: str, dtype: str) -> str:
    """float32: the float versions of libm functions (expf, ...), not the double ones."""
    if dtype != "float32":
        return expr
    return re.sub(r"\b(" + "|".join(MATH_FUNCS) + r")\(", r"\1f(", expr)


def scalar_expr(op: str, params: dict, args: list, arg_dtypes: list, out_dtype: str) -> str | None:
    """The C expression of elementwise ``op`` on C expressions ``args``; None if not in C."""
    if out_dtype not in CTYPES or any(d not in CTYPES for d in arg_dtypes):
        return None
    out_c = CTYPES[out_dtype]
    kind = np.dtype(out_dtype).kind
    if op in COMPARE or op in ("and_", "or_", "xor"):
        compute = np.result_type(*arg_dtypes).name
        if op in ("and_", "or_", "xor"):
            compute = out_dtype
    elif op == "switch":
        c, a, b = args
        return f"(({c}) ? ({out_c})({a}) : ({out_c})({b}))"
    elif op == "cast":
        (a,) = args
        return f"({out_c})(({a}) != 0)" if out_dtype == "bool" else f"({out_c})({a})"
    else:
        compute = out_dtype
    if op == "pow" and kind != "f":
        return None  # NumPy raises on negative integer powers: the reference runs it
    fsuffix = compute in ("float64", "float32")
    key = "round_half_away_from_zero" if op == "round" and params.get(
        "mode") == "half_away_from_zero" else op
    helper = cmath.helper(key, compute)
    if helper is not None:
        template = helper
    elif op == "round":
        template = "rint(a)" if fsuffix else "a"
    elif op == "sgn":
        template = "((a > 0) - (a < 0))"
    elif op == "abs":
        template = "fabs(a)" if fsuffix else "(a < 0 ? -a : a)"
    elif op == "invert" and out_dtype == "bool":
        template = "!a"
    elif op in ("add", "mul") and out_dtype == "bool":
        template = "(a || b)" if op == "add" else "(a && b)"
    elif op in SPECIAL:
        template = SPECIAL[op]
    else:
        template = OPS[op].extra.get("c")
        if template is None:
            return None
        if not fsuffix and re.search(r"\b(" + "|".join(MATH_FUNCS) + r")\(", template):
            return None  # math functions of ints give floats; the type rules never ask this
    template = _fix_math(template, compute)
    names = ("a", "b", "c")
    cast = CTYPES[compute]
    expr = re.sub(r"\b([abc])\b",
                  lambda m: f"(({cast})({args[names.index(m.group(1))]}))"
                  if names.index(m.group(1)) < len(args) else m.group(1), template)
    if op in COMPARE or out_dtype == "bool":
        return f"(uint8_t)(({expr}) != 0)"
    return f"({out_c})({expr})"
