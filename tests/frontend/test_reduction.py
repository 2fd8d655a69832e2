"""Reductions against NumPy: values, dtypes, static shapes, keepdims, axes, gradients, errors."""

import numpy as np
import pytest

import eggflow.tensor as T
from eggflow.frontend.gradcheck import verify_grad
from eggflow.frontend.graph import wildcard

DTYPES = ["bool", "int8", "uint8", "int32", "int64", "float32", "float64"]
AXES = [None, 0, -1, 1, (0, 2), (2, 0), (-1, -3), ()]
SHAPE = (2, 3, 4)


def _value(dtype, shape=SHAPE, seed=0):
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return rng.random(shape) > 0.4
    if np.dtype(dtype).kind in "iu":
        return rng.integers(0, 4, shape).astype(dtype)
    return rng.uniform(-2, 2, shape).astype(dtype)


def _check(out, expected, inputs):
    got = out.eval(inputs)
    expected = np.asarray(expected)
    assert got.dtype == expected.dtype, (out, got.dtype, expected.dtype)
    assert got.shape == expected.shape
    if out.type.shape is not None:
        assert all(s is None or s == d for s, d in zip(out.type.shape, got.shape))
        assert out.ndim == got.ndim
    assert out.dtype == expected.dtype.name
    rtol = 1e-5 if expected.dtype in (np.float32, np.complex64) else 1e-12
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol)


NUMPY = {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min, "all": np.all,
         "any": np.any, "mean": np.mean, "var": np.var, "std": np.std}


@pytest.mark.parametrize("name", list(NUMPY))
@pytest.mark.parametrize("dtype", DTYPES)
def test_reduction_matches_numpy(name, dtype):
    value = _value(dtype)
    for static in (False, True):  # unknown sizes (symbolic n) and static sizes
        x = T.tensor(dtype, shape=SHAPE if static else (None,) * 3, name="x")
        for axis in AXES:
            for keepdims in (False, True):
                out = getattr(T, name)(x, axis=axis, keepdims=keepdims)
                with np.errstate(all="ignore"):
                    expected = NUMPY[name](value, axis=axis, keepdims=keepdims)
                _check(out, expected, {x: value})


@pytest.mark.parametrize("name", ["sum", "prod", "max", "min", "all", "any", "mean", "var",
                                  "std"])
def test_node_methods(name):
    x = T.fmatrix("x")
    value = _value("float32", (3, 5))
    method = getattr(x, name)
    _check(method(), NUMPY[name](value), {x: value})
    _check(method(axis=1, keepdims=True), NUMPY[name](value, axis=1, keepdims=True), {x: value})


def test_dtype_rules_and_options():
    assert T.sum(T.bvector()).dtype == "int64"
    assert T.prod(T.tensor("uint8", shape=(None,))).dtype == "uint64"
    assert T.prod(T.bvector()).dtype == "int64"
    assert T.max(T.bvector()).dtype == "int8"
    assert T.mean(T.ivector()).dtype == "float64"
    assert T.mean(T.fvector()).dtype == "float32"
    assert T.var(T.fvector()).dtype == "float32"
    assert T.std(T.bvector()).dtype == "float64"
    assert T.argmax(T.fvector()).dtype == "int64"
    assert T.all(T.fvector()).dtype == "bool"
    x = T.bvector("x")
    v = np.array([100, 100, 3], dtype="int8")
    assert T.sum(x, dtype="int8").dtype == "int8"
    assert T.sum(x).eval({x: v}) == 203  # int64 accumulation, no wrap-around
    m = T.mean(x, dtype="float32")
    assert m.dtype == "float32" and m.eval({x: v}) == pytest.approx(203 / 3, rel=1e-6)
    # the size of an array (Node.size) is the product of its shape
    y = T.dmatrix("y")
    assert y.size.eval({y: np.zeros((3, 7))}) == 21


def test_complex_mean_var():
    x = T.tensor("complex128", shape=(None, None), name="z")
    rng = np.random.default_rng(1)
    v = rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4))
    _check(T.mean(x, 0), np.mean(v, 0), {x: v})
    _check(T.var(x, 1, ddof=1), np.var(v, 1, ddof=1), {x: v})


def test_empty_axis_is_identity():
    x = T.bmatrix("x")
    v = _value("int8", (2, 3))
    for name in ("sum", "prod", "max", "min", "all", "any", "mean"):
        _check(getattr(T, name)(x, axis=()), NUMPY[name](v, axis=()), {x: v})
    assert T.max(x, axis=()) is x  # no node at all


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize("dtype", ["bool", "int8", "int64", "float32", "float64"])
def test_argmax_argmin(name, dtype):
    fn = getattr(np, name)
    value = _value(dtype)
    x = T.tensor(dtype, shape=(None,) * 3, name="x")
    for axis in (None, 0, 1, -1):
        for keepdims in (False, True):
            out = getattr(T, name)(x, axis=axis, keepdims=keepdims)
            _check(out, fn(value, axis=axis, keepdims=keepdims), {x: value})
    # a tuple of axes: those axes moved last, merged, and the index taken in the merged axis
    for axis in ((0, 2), (2, 0), (1, 2), (0, 1, 2)):
        axes = sorted(a % 3 for a in axis)
        kept = [a for a in range(3) if a not in axes]
        merged = np.transpose(value, kept + axes).reshape([value.shape[a] for a in kept] + [-1])
        expected = fn(merged, axis=-1)
        _check(getattr(T, name)(x, axis=axis), expected, {x: value})
        _check(getattr(T, name)(x, axis=axis, keepdims=True),
               np.expand_dims(expected, tuple(axes)), {x: value})
    method = getattr(x, name)
    _check(method(axis=1), fn(value, axis=1), {x: value})


def test_errors():
    x = T.dmatrix("x")
    for fn in (T.sum, T.prod, T.max, T.mean, T.var, T.argmax, T.all):
        with pytest.raises(ValueError, match="out of range"):
            fn(x, axis=2)
        with pytest.raises(ValueError, match="out of range"):
            fn(x, axis=(0, -3))
    with pytest.raises(ValueError, match="repeated"):
        T.sum(x, axis=(0, 0))
    with pytest.raises(ValueError, match="repeated"):
        T.max(x, axis=(1, -1))
    with pytest.raises(ValueError, match="empty"):
        T.argmax(x, axis=())
    empty = T.dvector("e")
    with pytest.raises(ValueError, match="max"):
        T.max(empty).eval({empty: np.zeros(0)})


# -- gradients ------------------------------------------------------------------------------
def _distinct(shape, seed=0, dtype="float64"):
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    return (rng.permutation(n).reshape(shape) / n + 0.5).astype(dtype)  # no ties, no zeros


@pytest.mark.parametrize("name", ["sum", "prod", "max", "min", "mean", "var", "std"])
def test_gradients(name):
    value = _distinct((2, 3, 4))
    for axis in (None, 1, -1, (0, 2)):
        for keepdims in (False, True):
            verify_grad(lambda x: getattr(T, name)(x, axis=axis, keepdims=keepdims), [value])  # noqa: B023
    if name in ("var", "std"):
        verify_grad(lambda x: getattr(T, name)(x, axis=0, ddof=1), [value])
    verify_grad(lambda x: getattr(T, name)(x, axis=1), [value.astype("float32")])


def test_mean_gradient_on_unknown_shape_is_g_over_n():
    x = T.dmatrix("x")
    g = T.grad(T.mean(x, axis=0).sum() * 3.0, x)
    np.testing.assert_allclose(g.eval({x: np.zeros((4, 2))}), np.full((4, 2), 0.75))


def _prod_grad_oracle(value, axis):
    """d prod(value, axis) / d value by the definition: the product of the others."""
    out = np.empty_like(value)
    for idx in np.ndindex(*value.shape):
        line = list(idx)
        line[axis] = slice(None)
        others = np.delete(value[tuple(line)], idx[axis])
        out[idx] = np.prod(others)
    return out


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_prod_gradient_with_zeros_is_exact(axis):
    rng = np.random.default_rng(3)
    value = rng.uniform(0.5, 2.0, (3, 4, 5))
    value[0, 1, 2] = 0.0  # lines through it along every axis have exactly one zero
    value[2, 0, 1] = value[2, 0, 3] = value[2, 2, 1] = 0.0  # two zeros in some lines
    value[1, 3, :] = 0.0  # many zeros on one line
    x = T.dtensor3("x")
    weights = rng.uniform(0.5, 1.5, np.delete(value.shape, axis % 3))
    cost = T.sum(T.prod(x, axis=axis) * weights)
    got = T.grad(cost, x).eval({x: value})
    expected = _prod_grad_oracle(value, axis % 3) * np.expand_dims(weights, axis)
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=0)
    # all axes at once: a single zero leaves one non-zero gradient entry
    value = rng.uniform(0.5, 2.0, (2, 3))
    value[1, 2] = 0.0
    m = T.dmatrix("m")
    got = T.grad(T.prod(m), m).eval({m: value})
    expected = np.zeros_like(value)
    expected[1, 2] = np.prod(np.delete(value.ravel(), 5))
    np.testing.assert_allclose(got, expected, rtol=1e-13)
    value[0, 0] = 0.0
    np.testing.assert_array_equal(T.grad(T.prod(m), m).eval({m: value}), np.zeros_like(value))


def test_max_gradient_goes_to_every_tie():
    x = T.dmatrix("x")
    value = np.array([[1.0, 3.0, 3.0], [2.0, 0.0, -1.0]])
    g = T.grad(T.sum(T.max(x, axis=1) * np.array([2.0, 5.0])), x).eval({x: value})
    np.testing.assert_array_equal(g, [[0, 2, 2], [5, 0, 0]])
    g = T.grad(T.min(x), x).eval({x: value})
    np.testing.assert_array_equal(g, [[0, 0, 0], [0, 0, 1]])


def test_wildcards_build():
    w = wildcard("x")  # dtype and ndim unknown
    for name in ("sum", "prod", "max", "min", "all", "any", "mean", "var", "std", "argmax",
                 "argmin"):
        out = getattr(T, name)(w)
        assert out.ndim == 0
    assert T.mean(w, axis=1).type.shape is None
    with pytest.raises(TypeError, match="number of dimensions"):
        T.var(w, axis=1)
    assert T.sum(w, axis=1).type.shape is None
    assert T.max(w, axis=(0, 1)).dtype is None
    assert T.all(w, axis=0).dtype == "bool"
    assert T.argmax(w, axis=1).dtype == "int64"
    with pytest.raises(TypeError, match="keepdims"):
        T.sum(w, axis=0, keepdims=True)
    m = wildcard("m", shape=(None, None))  # dtype unknown, ndim known
    for name in ("sum", "prod", "max", "min", "mean", "var", "std", "argmax"):
        out = getattr(T, name)(m, axis=1, keepdims=True)
        assert out.ndim == 2 and out.dtype == ("int64" if name == "argmax" else None)
    assert T.argmax(m, axis=(0, 1)).ndim == 0
    assert T.var(wildcard("f", dtype="float32", shape=(None, 3)), axis=0).dtype == "float32"
