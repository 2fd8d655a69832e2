"""Elementwise ops against NumPy: values, output dtypes (NumPy 2 promotion, Python numbers weak,
Theano's float32 for float functions of small ints), static shapes, broadcasting, gradients,
wildcard inputs and build/run-time errors."""

import numpy as np
import pytest
import scipy.special

import eggflow.tensor as T
from eggflow.frontend.evaluate import EvaluationError, evaluate
from eggflow.frontend.gradcheck import verify_grad
from eggflow.frontend.graph import wildcard

DTYPES = ["bool", "int8", "uint8", "int32", "int64", "float32", "float64", "complex128"]
# (left shape, right shape): row + col, scalar + matrix, rank-extending, size-1 axes, ...
PATTERNS = [((3, 4), (3, 4)), ((1, 4), (3, 1)), ((), (2, 3)), ((1, 1, 4), (3, 1)),
            ((2, 3, 4), (4,)), ((2, 1, 3), (1, 4, 1)), ((5,), ())]


def _rng(*key):
    return np.random.default_rng(abs(hash(key)) % 2**32)


def _sample(dtype, shape, lo=-3.0, hi=3.0, rng=None, nonzero=False):
    """Random values of ``dtype`` in [lo, hi] (ints rounded inward, unsigned clipped at 0)."""
    rng = rng or np.random.default_rng(0)
    kind = np.dtype(dtype).kind
    if kind == "b":
        out = rng.random(shape) > 0.5
        return np.ones(shape, bool) if nonzero else out
    if kind in "iu":
        lo_i, hi_i = int(np.ceil(lo)), int(np.floor(hi))
        if kind == "u":
            lo_i = max(lo_i, 0)
        out = rng.integers(lo_i, hi_i + 1, shape)
        if nonzero:
            out = np.where(out == 0, hi_i if hi_i != 0 else lo_i, out)
        return out.astype(dtype)
    out = rng.uniform(lo, hi, shape)
    if nonzero:
        out = np.where(np.abs(out) < 0.3, 0.5, out)
    if kind == "c":
        out = out + 1j * rng.uniform(lo, hi, shape)
    return out.astype(dtype)


def _var(dtype, shape, name):
    """A typed input for values of ``shape``: size-1 axes broadcastable, the others unknown."""
    return T.tensor(dtype, shape=tuple(1 if d == 1 else None for d in shape), name=name)


def _reference(fn, *args):
    """NumPy's result; a float16 result is recomputed in float32 (Theano: exp(int8) is
    float32)."""
    with np.errstate(all="ignore"):
        out = np.asarray(fn(*args))
        if out.dtype == np.float16:
            out = np.asarray(fn(*(a.astype(np.float32) if isinstance(a, np.ndarray) else a
                                  for a in args)))
    return out


def _check(out, expected, feed):
    """Evaluate ``out`` and compare value, dtype and static shape with ``expected``."""
    with np.errstate(all="ignore"):
        got = evaluate([out], feed)[0]
    assert out.dtype == expected.dtype.name, (out, out.dtype, expected.dtype)
    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
    assert got.shape == expected.shape
    assert out.ndim == expected.ndim
    assert all(s is None or s == d for s, d in zip(out.type.shape, got.shape)), out.type
    if expected.dtype.kind in "fc":
        rtol = 1e-6 if expected.dtype in (np.float32, np.complex64) else 1e-13
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol)
    else:
        np.testing.assert_array_equal(got, expected)


def _numpy_refuses(fn, *args):
    """The exception type NumPy raises for these operand dtypes, or None."""
    try:
        _reference(fn, *args)
    except (TypeError, OverflowError) as exc:
        return type(exc)
    return None


# -- binary ops ----------------------------------------------------------------------------
BINARY = {  # name: (NumPy oracle, operand domain for the right input)
    "add": (np.add, {}), "sub": (np.subtract, {}), "mul": (np.multiply, {}),
    "true_div": (np.true_divide, {"nonzero": True}),
    "int_div": (np.floor_divide, {"nonzero": True}), "mod": (np.mod, {"nonzero": True}),
    "pow": (np.power, {"lo": 0, "hi": 3}), "maximum": (np.maximum, {}),
    "minimum": (np.minimum, {}), "lt": (np.less, {}), "gt": (np.greater, {}),
    "le": (np.less_equal, {}), "ge": (np.greater_equal, {}), "eq": (np.equal, {}),
    "neq": (np.not_equal, {}), "and_": (np.bitwise_and, {}), "or_": (np.bitwise_or, {}),
    "xor": (np.bitwise_xor, {}),
}
LEFT_DOMAIN = {"pow": {"lo": 0.5, "hi": 3}}


def _binary_case(name, ldtype, rdtype, lshape, rshape):
    fn, rdom = BINARY[name]
    rng = _rng(name, ldtype, rdtype, lshape, rshape)
    a = _sample(ldtype, lshape, rng=rng, **LEFT_DOMAIN.get(name, {}))
    b = _sample(rdtype, rshape, rng=rng, **rdom)
    x, y = _var(ldtype, lshape, "x"), _var(rdtype, rshape, "y")
    refused = _numpy_refuses(fn, a, b)
    if refused:
        with pytest.raises(refused):
            getattr(T, name)(x, y)
        return
    _check(getattr(T, name)(x, y), _reference(fn, a, b), {x: a, y: b})


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(BINARY))
def test_binary_same_dtype(name, dtype):
    _binary_case(name, dtype, dtype, (2, 3), (2, 3))


@pytest.mark.parametrize("shapes", PATTERNS, ids=str)
@pytest.mark.parametrize("name", list(BINARY))
def test_binary_broadcasting(name, shapes):
    dtype = "int32" if name in ("and_", "or_", "xor") else "float64"
    _binary_case(name, dtype, dtype, *shapes)


MIXED = [("int8", "float32"), ("int32", "float32"), ("uint8", "int8"), ("bool", "float64"),
         ("int64", "complex128"), ("bool", "int8"), ("int32", "int64"), ("float32", "float64"),
         ("uint8", "float32"), ("int16", "uint8")]


@pytest.mark.parametrize("dtypes", MIXED, ids="-".join)
@pytest.mark.parametrize("name", ["add", "mul", "true_div", "pow", "maximum", "lt", "and_",
                                  "mod"])
def test_binary_mixed_dtypes(name, dtypes):
    _binary_case(name, *dtypes, (1, 4), (3, 1))


# Python numbers are weak (NumPy 2): they take the array's dtype when they fit.
WEAK = [("float32", 0.1), ("float32", 2), ("int32", 3), ("int8", 3), ("int8", 300),
        ("uint8", -1), ("int32", 0.5), ("int8", 1.5), ("float32", 1j), ("bool", 2),
        ("bool", 1.5), ("int64", 2**40), ("float64", True), ("uint8", 255)]


@pytest.mark.parametrize("case", WEAK, ids=str)
@pytest.mark.parametrize("name", ["add", "mul", "true_div", "maximum", "lt", "eq", "and_"])
@pytest.mark.parametrize("side", ["left", "right"])
def test_binary_python_number(name, case, side):
    dtype, number = case
    fn = BINARY[name][0]
    a = _sample(dtype, (4,), lo=1, hi=3, rng=_rng(name, case))
    x = _var(dtype, (4,), "x")
    args, sym = ((a, number), (x, number)) if side == "right" else ((number, a), (number, x))
    refused = _numpy_refuses(fn, *args)
    if refused:
        with pytest.raises(refused):
            getattr(T, name)(*sym)
        return
    _check(getattr(T, name)(*sym), _reference(fn, *args), {x: a})


def test_weak_promotion_examples():
    assert (T.fvector() * 0.1).dtype == "float32"
    assert (0.1 * T.fvector()).dtype == "float32"
    assert (T.ivector() + 3).dtype == "int32"
    assert (T.bvector() + 3).dtype == "int8"
    assert (T.ivector() * 0.5).dtype == "float64"  # NumPy: int array * float -> float64
    assert (T.fvector() * np.float64(0.1)).dtype == "float64"  # NumPy scalars are strong
    assert (T.fvector() * T.constant(0.1, dtype="float64")).dtype == "float64"
    assert (T.fvector() * 1j).dtype == "complex64"
    assert T.add(2, 3).dtype == "int64" and T.add(2, 0.5).dtype == "float64"
    with pytest.raises(OverflowError, match="300 does not fit int8"):
        T.bvector() * 300  # NumPy 2 raises OverflowError for int8_array * 300 too
    with pytest.raises(OverflowError, match="does not fit int8"):
        T.switch(T.bvector() > 0, T.bvector(), 300)
    b = T.bvector("b")
    value = np.array([1, -2, 3], np.int8)
    np.testing.assert_array_equal((b < 300).eval({b: value}), [True, True, True])
    np.testing.assert_array_equal(T.clip(b, 0, 300).eval({b: value}), np.clip(value, 0, 300))


# -- unary ops -----------------------------------------------------------------------------
def _softplus(x):
    return np.logaddexp(0, x)


UNARY = {  # name: (NumPy/SciPy oracle, domain)
    "neg": (np.negative, {}), "abs": (np.absolute, {}), "exp": (np.exp, {}),
    "exp2": (np.exp2, {}), "expm1": (np.expm1, {}), "log": (np.log, {"lo": 0.1}),
    "log2": (np.log2, {"lo": 0.1}), "log10": (np.log10, {"lo": 0.1}),
    "log1p": (np.log1p, {"lo": -0.5}), "sqrt": (np.sqrt, {"lo": 0.1}),
    "sqr": (np.square, {}), "reciprocal": (lambda x: np.true_divide(1.0, x), {"nonzero": True}),
    "sin": (np.sin, {}), "cos": (np.cos, {}), "tan": (np.tan, {"lo": -1.2, "hi": 1.2}),
    "arcsin": (np.arcsin, {"lo": -0.9, "hi": 0.9}), "arccos": (np.arccos, {"lo": -0.9, "hi": 0.9}),
    "arctan": (np.arctan, {}), "sinh": (np.sinh, {}), "cosh": (np.cosh, {}),
    "tanh": (np.tanh, {}), "erf": (scipy.special.erf, {}), "sigmoid": (scipy.special.expit, {}),
    "softplus": (_softplus, {}), "floor": (np.floor, {}), "ceil": (np.ceil, {}),
    "sgn": (np.sign, {}), "invert": (np.invert, {}), "identity": (np.copy, {}),
}
# Theano: a float function of an int gives float32 for bool/int8/uint8/int16, else float64.
THEANO_FLOAT = {"bool": "float32", "int8": "float32", "uint8": "float32", "int16": "float32",
                "int32": "float64", "int64": "float64"}


def _unary_reference(name, a):
    fn = UNARY[name][0]
    if name in ("reciprocal", "softplus") and a.dtype.kind in "biu":  # Theano's upgrade rule
        return _reference(fn, a.astype(THEANO_FLOAT[a.dtype.name]))
    return _reference(fn, a)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary(name, dtype):
    fn, domain = UNARY[name]
    a = _sample(dtype, (2, 3), rng=_rng(name, dtype), **domain)
    x = _var(dtype, (2, 3), "x")
    refused = _numpy_refuses(fn, a)
    if refused or (name == "softplus" and dtype == "complex128"):  # logaddexp: real only
        with pytest.raises(TypeError):
            getattr(T, name)(x)
        return
    _check(getattr(T, name)(x), _unary_reference(name, a), {x: a})


@pytest.mark.parametrize("shape", [(), (1,), (1, 3), (2, 1, 4), (4, 1)], ids=str)
@pytest.mark.parametrize("name", ["exp", "neg", "sigmoid", "floor"])
def test_unary_shapes(name, shape):
    a = _sample("float32", shape, rng=_rng(name, shape))
    x = _var("float32", shape, "x")
    out = getattr(T, name)(x)
    assert out.type.shape == x.type.shape
    _check(out, _unary_reference(name, a), {x: a})


@pytest.mark.parametrize("dtype", ["bool", "int8", "uint8", "int16"])
@pytest.mark.parametrize("name", ["exp", "log1p", "sqrt", "sin", "erf", "sigmoid", "softplus",
                                  "reciprocal"])
def test_float_of_small_int_is_float32(name, dtype):
    """Theano's exception: float32, not NumPy's float16 — and computed in float32 precision."""
    a = _sample(dtype, (5,), lo=1, hi=7, rng=_rng(name, dtype), nonzero=True)
    x = _var(dtype, (5,), "x")
    out = getattr(T, name)(x)
    assert out.dtype == "float32"
    got = out.eval({x: a})
    expected = UNARY[name][0](a.astype(np.float32))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_reciprocal_of_ints_is_a_true_division():
    i = T.ivector("i")
    out = T.reciprocal(i)
    assert out.dtype == "float64"
    np.testing.assert_allclose(out.eval({i: np.array([2, -4, 8], np.int32)}), [0.5, -0.25, 0.125])


# -- round, cast ---------------------------------------------------------------------------
def _round_half_away(x):
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


HALVES = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.4999, -3.7, 2.2, 0.0])


@pytest.mark.parametrize("dtype", ["float32", "float64", "int8", "int32", "bool"])
@pytest.mark.parametrize("mode", ["half_to_even", "half_away_from_zero"])
def test_round(mode, dtype):
    a = HALVES.astype(dtype) if dtype != "bool" else HALVES > 0
    x = _var(dtype, a.shape, "x")
    out = T.round(x, mode) if mode != "half_to_even" else T.round(x)
    if a.dtype.kind in "biu":  # ints are already integral: rounding keeps value and dtype
        _check(out, a.copy(), {x: a})
        return
    expected = _reference(np.rint, a)
    if mode == "half_away_from_zero":
        expected = _round_half_away(a.astype(expected.dtype))
    _check(out, expected, {x: a})


def test_round_bad_mode():
    with pytest.raises(ValueError, match="half_to_even"):
        T.round(T.dvector(), "up")


CASTS = [("float64", "float32"), ("float32", "float64"), ("float64", "int32"),
         ("int32", "float32"), ("int64", "int8"), ("bool", "float64"), ("float64", "bool"),
         ("int8", "uint8"), ("float64", "complex128"), ("int32", "int64")]


@pytest.mark.parametrize("pair", CASTS, ids="->".join)
def test_cast(pair):
    src, dst = pair
    a = _sample(src, (2, 3), lo=-5, hi=5, rng=_rng(pair))
    x = _var(src, (2, 3), "x")
    out = T.cast(x, dst)
    assert out.op == "cast" and out.type.shape == x.type.shape
    _check(out, a.astype(dst), {x: a})
    assert x.astype(dst) is out


def test_cast_spellings_and_noop():
    x = T.fmatrix("x")
    assert T.cast(x, "float32") is x
    assert T.cast(x, np.float64) is T.cast(x, "float64")
    assert T.cast(2.5, "int32").dtype == "int32"
    with pytest.raises(TypeError, match="not supported"):
        T.cast(x, "float16")


# -- switch, clip, relu --------------------------------------------------------------------
SWITCH = [("bool", "float64", "float64", (3, 4), (3, 4), (3, 4)),
          ("bool", "float32", "float32", (3, 1), (1, 4), ()),
          ("int8", "int32", "float32", (1, 4), (3, 1), (3, 4)),
          ("bool", "int8", "uint8", (2, 1, 3), (4, 1), (3,)),
          ("int32", "float64", "complex128", (), (2, 2), (2, 2))]


@pytest.mark.parametrize("case", SWITCH, ids=str)
@pytest.mark.parametrize("fn", [T.switch, T.where])
def test_switch(fn, case):
    cdt, adt, bdt, cs, as_, bs = case
    rng = _rng(case)
    c, a, b = _sample(cdt, cs, rng=rng), _sample(adt, as_, rng=rng), _sample(bdt, bs, rng=rng)
    vc, va, vb = _var(cdt, cs, "c"), _var(adt, as_, "a"), _var(bdt, bs, "b")
    _check(fn(vc, va, vb), np.asarray(np.where(c, a, b)), {vc: c, va: a, vb: b})


def test_switch_with_python_numbers():
    c, x = T.tensor("bool", shape=(None,), name="c"), T.fvector("x")
    cv, xv = np.array([True, False, True]), np.array([1.5, 2.5, 3.5], np.float32)
    _check(T.switch(c, x, 0), np.where(cv, xv, 0), {c: cv, x: xv})
    _check(T.switch(c, 0.5, x), np.where(cv, 0.5, xv), {c: cv, x: xv})
    _check(T.switch(c, 1, 2.5), np.asarray(np.where(cv, 1, 2.5)), {c: cv})


CLIP = [("float64", (3, 4), 0, 1.0), ("float32", (2, 5), -0.5, 0.5), ("int8", (6,), 0, 300),
        ("int32", (4,), -1, 2), ("float64", (2, 3), "lo_row", "hi_scalar")]


@pytest.mark.parametrize("case", CLIP, ids=str)
def test_clip(case):
    dtype, shape, lo, hi = case
    a = _sample(dtype, shape, rng=_rng(case))
    x = _var(dtype, shape, "x")
    feed = {x: a}
    if lo == "lo_row":  # symbolic bounds, broadcast
        lo_v, hi_v = np.array([[-1.0, 0.0, -0.5]]), np.array(0.7)
        lo, hi = _var("float64", (1, 3), "lo"), T.dscalar("hi")
        feed.update({lo: lo_v, hi: hi_v})
        expected = np.clip(a, lo_v, hi_v)
    else:
        expected = np.clip(a, lo, hi)
    _check(T.clip(x, lo, hi), np.asarray(expected), feed)
    if isinstance(lo, (int, float)):
        assert x.clip(lo, hi) is T.clip(x, lo, hi)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int8", "int32"])
def test_relu(dtype):
    a = _sample(dtype, (3, 4), rng=_rng("relu", dtype))
    x = _var(dtype, (3, 4), "x")
    _check(T.relu(x), np.maximum(a, 0), {x: a})
    if dtype.startswith("float"):
        _check(T.relu(x, alpha=0.1), np.where(a > 0, a, 0.1 * a).astype(dtype), {x: a})


# -- aliases and operators -----------------------------------------------------------------
def test_theano_aliases():
    assert T.where is T.switch and T.sign is T.sgn and T.inv is T.reciprocal
    assert T.abs_ is T.abs and T.true_divide is T.true_div and T.floor_div is T.int_div
    assert T.power is T.pow and T.bitwise_and is T.and_ and T.bitwise_or is T.or_
    assert T.bitwise_xor is T.xor and T.bitwise_not is T.invert
    x = T.dvector("x")
    assert T.inv(x) is T.reciprocal(x) and T.abs_(x) is T.abs(x) and T.sign(x) is T.sgn(x)


def test_python_operators():
    x, y = T.dvectors("x", "y")
    i, j = T.ivectors("i", "j")
    cases = [(x + y, "add", (x, y)), (x - y, "sub", (x, y)), (x * y, "mul", (x, y)),
             (x / y, "true_div", (x, y)), (x // y, "int_div", (x, y)), (x % y, "mod", (x, y)),
             (x ** y, "pow", (x, y)), (-x, "neg", (x,)), (abs(x), "abs", (x,)),
             (x < y, "lt", (x, y)), (x <= y, "le", (x, y)), (x > y, "gt", (x, y)),
             (x >= y, "ge", (x, y)), (i & j, "and_", (i, j)), (i | j, "or_", (i, j)),
             (i ^ j, "xor", (i, j)), (~i, "invert", (i,))]
    for node, op, inputs in cases:
        assert node.op == op and node.inputs == inputs
    assert +x is x
    two = T.constant(2)
    for node, op in [(2 - x, "sub"), (2 / x, "true_div"), (2 ** x, "pow"), (2 // x, "int_div"),
                     (2 % x, "mod"), (2 + x, "add"), (2 * x, "mul"), (2 & i, "and_"),
                     (2 | i, "or_"), (2 ^ i, "xor")]:
        assert node.op == op and node.inputs[0] is two
    xv = np.array([0.5, 1.5, 2.0])
    np.testing.assert_allclose((2 - x).eval({x: xv}), 2 - xv)
    np.testing.assert_allclose((2 ** x).eval({x: xv}), 2**xv)
    np.testing.assert_allclose((2 / x).eval({x: xv}), 2 / xv)


def test_node_equality_is_identity():
    x, y = T.dvector("x"), T.dvector("x")
    assert (x == y) is False and (x == x) is True and (x != y) is True
    assert len({x, y, x}) == 2  # nodes are dictionary keys
    assert T.eq(x, y).op == "eq"
    xv, yv = np.array([1.0, 2.0]), np.array([1.0, 3.0])
    np.testing.assert_array_equal(T.eq(x, y).eval({x: xv, y: yv}), [True, False])
    np.testing.assert_array_equal(T.neq(x, y).eval({x: xv, y: yv}), [False, True])
    with pytest.raises(TypeError, match="truth value"):
        bool(x < y)


def test_hash_consing():
    x = T.dmatrix("x")
    assert T.exp(x) is T.exp(x)
    assert x + 1 is x + 1
    assert (x + 1).inputs[1] is not (x + 1.0).inputs[1]  # int64 vs float64 constants
    assert T.constant(2.0) is T.constant(2.0)
    assert T.constant(np.arange(3.0)) is T.constant(np.arange(3.0))
    assert T.constant(2.0) is not T.constant(2.0, dtype="float64")  # weak vs strong
    assert T.constant(2) is not T.constant(2.0)
    assert T.round(x) is T.round(x, "half_to_even")
    assert T.round(x, "half_away_from_zero") is not T.round(x)
    assert T.cast(x, "int32") is T.cast(x, "int32")
    assert T.switch(x > 0, x, 0) is T.switch(x > 0, x, 0)
    assert T.dmatrix("x") is not x  # inputs are unique even when names repeat
    assert T.exp(T.dmatrix("x")) is not T.exp(x)


# -- gradients -----------------------------------------------------------------------------
def _pos(shape, lo=0.5, hi=2.0, dtype="float64", seed=0):
    return np.random.default_rng(seed).uniform(lo, hi, shape).astype(dtype)


def _signed(shape, seed=1):
    """Values in ±[0.3, 2]: away from 0 (sign, abs) and from each other's ties."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.3, 2.0, shape) * rng.choice([-1, 1], shape)


UNARY_GRAD_DOMAIN = {
    "log": (0.1, 2), "log2": (0.1, 2), "log10": (0.1, 2), "log1p": (-0.5, 2),
    "sqrt": (0.1, 2), "reciprocal": (0.3, 2), "arcsin": (-0.9, 0.9), "arccos": (-0.9, 0.9),
    "tan": (-1.2, 1.2), "floor": (0.1, 0.9), "ceil": (0.1, 0.9),
}


@pytest.mark.parametrize("name", [n for n in UNARY if n != "invert"])
def test_unary_grad(name):
    lo, hi = UNARY_GRAD_DOMAIN.get(name, (-2, 2))
    point = np.random.default_rng(3).uniform(lo, hi, (2, 3))
    if name in ("abs", "sgn"):
        point = _signed((2, 3))
    if name in ("floor", "ceil"):
        point = point + np.array([[-2], [1]])  # away from the integers
    verify_grad(getattr(T, name), [point])


BINARY_GRAD = ["add", "sub", "mul", "true_div", "int_div", "mod", "pow", "maximum", "minimum"]


def _binary_point(name, lshape, rshape):
    rng = np.random.default_rng(7)
    if name == "pow":
        return [rng.uniform(0.5, 2, lshape), rng.uniform(-1.5, 1.5, rshape)]
    if name in ("int_div", "mod"):  # x / y at least 0.05 away from integers: no jump
        x = 0.5 * (rng.integers(-4, 5, lshape) + rng.uniform(0.2, 0.8, lshape))
        return [x, rng.choice([-1.0, -0.5, 0.5, 1.0, 2.0], rshape)]
    return [rng.uniform(-2, 2, lshape), _signed(rshape) if name == "true_div"
            else rng.uniform(-2, 2, rshape)]


@pytest.mark.parametrize("shapes", [((2, 3), (2, 3)), ((1, 4), (3, 1)), ((), (2, 3)),
                                    ((2, 3), ()), ((1, 1, 4), (3, 1)), ((2, 3), (3,))], ids=str)
@pytest.mark.parametrize("name", BINARY_GRAD)
def test_binary_grad(name, shapes):
    point = _binary_point(name, *shapes)
    if name in ("maximum", "minimum"):
        a, b = np.broadcast_arrays(*point)
        if np.min(np.abs(a - b)) < 1e-3:
            pytest.skip("tie in random data")
    verify_grad(getattr(T, name), point)


def test_binary_grad_with_python_numbers():
    x = _pos((2, 3))
    verify_grad(lambda v: v**3, [x])
    verify_grad(lambda v: 2.0**v, [x])
    verify_grad(lambda v: 1.5 / v, [x])
    verify_grad(lambda v: 3 - v * 2, [x])
    verify_grad(lambda v: T.maximum(v, 1.1) + T.minimum(1.3, v), [x])


def test_broadcast_gradient_is_summed_back():
    """d/dr sum(r + c) for a row r (1, 4) and a column c (3, 1): each gets the sizes of the
    other's axis, summed."""
    r, c = T.drow("r"), T.dcol("c")
    s = T.dscalar("s")
    cost = T.sum((r + c) * s)
    gr, gc, gs = T.grad(cost, [r, c, s])
    assert gr.type.shape == (1, None) and gc.type.shape == (None, 1) and gs.ndim == 0
    rv, cv = np.arange(4.0).reshape(1, 4), np.arange(3.0).reshape(3, 1)
    vr, vc, vs = evaluate([gr, gc, gs], {r: rv, c: cv, s: 2.0})
    np.testing.assert_allclose(vr, np.full((1, 4), 3 * 2.0))
    np.testing.assert_allclose(vc, np.full((3, 1), 4 * 2.0))
    np.testing.assert_allclose(vs, np.sum(rv + cv))


def test_switch_clip_relu_grad():
    rng = np.random.default_rng(5)
    x, y = _signed((3, 4), seed=2), rng.uniform(-2, 2, (3, 4))
    verify_grad(lambda a, b: T.switch(a > 0, a * b, b), [x, y])
    verify_grad(lambda a: T.switch(a > 0, a, 0), [x])
    verify_grad(lambda a, b: T.switch(a > 0, a, b), [x, rng.uniform(-2, 2, (1, 4))])
    clip_x = np.array([[-1.7, -0.2, 0.3, 1.4], [0.9, -0.8, 1.9, -1.2]])  # away from the bounds
    verify_grad(lambda a: T.clip(a, -0.5, 1.0), [clip_x])
    lo, hi = np.array([[-0.5, -1.0, 0.0, 1.0]]), np.array(1.2)
    verify_grad(lambda a, l, h: T.clip(a, l, h), [clip_x, lo, hi])
    verify_grad(T.relu, [x])
    verify_grad(lambda a: T.relu(a, alpha=0.2), [x])
    verify_grad(lambda a: T.cast(a, "float64") * 3, [x.astype(np.float32)])


@pytest.mark.parametrize("name", ["exp", "tanh", "sigmoid", "softplus", "log", "sqrt"])
def test_grad_float32(name):
    verify_grad(getattr(T, name), [_pos((2, 3), dtype="float32")])
    verify_grad(lambda a, b: getattr(T, name)(a * b + 0.5),
                [_pos((1, 3), dtype="float32"), _pos((2, 1), dtype="float32", seed=1)])


def test_grad_dtypes_follow_inputs():
    x, r = T.fmatrix("x"), T.frow("r")
    gx, gr = T.grad(T.sum(T.exp(x * r) * 0.5), [x, r])
    assert gx.dtype == gr.dtype == "float32"
    assert gr.type.shape == (1, None)


def test_integer_inputs_get_no_gradient():
    x, i = T.dvector("x"), T.ivector("i")
    cost = T.sum(x * i + T.exp(i))
    with pytest.raises(TypeError, match="integer"):
        T.grad(cost, i)
    gx = T.grad(cost, x)
    np.testing.assert_allclose(gx.eval({x: np.ones(3), i: np.array([1, 2, 3], np.int32)}),
                               [1, 2, 3])
    with pytest.raises(TypeError, match="integer"):
        T.grad(T.sum(i * 2), x)  # an integer cost is not differentiable


# -- errors --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["and_", "or_", "xor"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "complex128"])
def test_bitwise_refuses_floats(name, dtype):
    x, i = _var(dtype, (3,), "x"), T.ivector("i")
    for args in ((x, i), (i, x), (x, x), (i, 1.5)):
        with pytest.raises(TypeError, match="not defined for dtypes"):
            getattr(T, name)(*args)


def test_invert_neg_sub_refusals():
    with pytest.raises(TypeError, match="invert"):
        ~T.fvector()
    b = T.tensor("bool", shape=(None,))
    with pytest.raises(TypeError, match="negative"):
        -b
    with pytest.raises(TypeError, match="subtract"):
        b - b
    with pytest.raises(TypeError):
        T.int_div(T.cvector(), T.cvector())
    with pytest.raises(TypeError, match="floor"):
        T.floor(T.cvector())


def test_comparisons_accept_floats_and_give_bool():
    for dtype in ("float32", "float64", "int8", "complex128"):
        x = _var(dtype, (3,), "x")
        for fn in (T.lt, T.gt, T.le, T.ge, T.eq, T.neq):
            assert fn(x, x).dtype == "bool" and fn(x, 0.5).dtype == "bool"


def test_runtime_broadcast_of_non_broadcastable_axis():
    x, y = T.dmatrix("x"), T.dmatrix("y")
    with pytest.raises(EvaluationError, match=r"y.*axis 0.*broadcastable") as info:
        evaluate([x + y], {x: np.ones((3, 4)), y: np.ones((1, 4))})
    assert isinstance(info.value, ValueError)
    r = T.drow("r")  # declared broadcastable: fine
    np.testing.assert_allclose(evaluate([x + r], {x: np.ones((3, 4)), r: np.ones((1, 4))})[0],
                               np.full((3, 4), 2.0))
    with pytest.raises(EvaluationError, match=r"add\(x, y\)"):
        evaluate([x + y], {x: np.ones((3, 4)), y: np.ones((5, 4))})


def test_static_incompatible_shapes():
    a = T.tensor("float64", shape=(3, None), name="a")
    b = T.tensor("float64", shape=(4, None), name="b")
    with pytest.raises(ValueError, match="cannot be broadcast"):
        a + b
    with pytest.raises(ValueError, match="cannot be broadcast"):
        T.switch(T.tensor("bool", shape=(2,)), T.tensor("float64", shape=(3,)), 0)
    with pytest.raises(ValueError, match="cannot be broadcast"):
        T.clip(a, b, 1.0)
    assert (a + T.tensor("float64", shape=(None, 5))).type.shape == (3, 5)
    assert (a + T.tensor("float64", shape=(1, 1, 1))).type.shape == (1, 3, None)


@pytest.mark.parametrize("shapes,expected", [
    (((1, None), (None, 1)), (None, None)), (((), (None, None)), (None, None)),
    (((1, 1, 4), (3, 1)), (1, 3, 4)), (((2, 1, 3), (1, 4, 1)), (2, 4, 3)),
    (((1,), (1,)), (1,)), (((1, 5), (None,)), (1, 5))], ids=str)
def test_static_shape_inference(shapes, expected):
    x, y = (T.tensor("float64", shape=s) for s in shapes)
    assert (x * y).type.shape == expected
    assert T.switch(x > 0, y, 0).type.shape == expected
    assert T.clip(x, y, 1).type.shape == expected


# -- wildcards -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(BINARY) + list(UNARY) + ["switch", "clip", "round",
                                                                "round_away", "cast", "relu",
                                                                "relu_alpha"])
def test_wildcard_inputs(name):
    a, b, c = wildcard("a"), wildcard("b"), wildcard("c", dtype="float32")
    builders = {"switch": lambda: T.switch(a, b, c), "clip": lambda: T.clip(a, b, 1.0),
                "round": lambda: T.round(a), "cast": lambda: T.cast(a, "int32"),
                "round_away": lambda: T.round(a, "half_away_from_zero"),
                "relu": lambda: T.relu(a), "relu_alpha": lambda: T.relu(a, alpha=0.1)}
    if name in builders:
        out = builders[name]()
    elif name in BINARY:
        out = getattr(T, name)(a, b)
        bitwise = name in ("and_", "or_", "xor")
        typed = getattr(T, name)(wildcard("c", "int8") if bitwise else c,
                                 T.bmatrix() if bitwise else T.fmatrix())
        assert typed.type.shape is None
    else:
        out = getattr(T, name)(a)
    assert out.type.shape is None
    assert out.dtype == ("int32" if name == "cast" else None)


def test_wildcard_with_known_parts():
    x = wildcard("x", dtype="float32", shape=(None, 1))
    assert (x + T.frow()).type.shape == (None, None) and (x + T.frow()).dtype == "float32"
    assert (x * 0.5).dtype == "float32"
    assert T.exp(wildcard("y", dtype="int8")).dtype == "float32"
    assert T.lt(wildcard("z"), 1).dtype is None
