"""The dot family against NumPy: dot (every ndim pair), tensordot, batched_dot, outer, ``@``;
dtypes, static shapes, gradients and size errors at build and run time."""

import numpy as np
import pytest

import eggflow.tensor as T
from eggflow.frontend.evaluate import EvaluationError
from eggflow.frontend.gradcheck import verify_grad
from eggflow.frontend.graph import wildcard


def _value(dtype, shape, seed=0):
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return rng.random(shape) > 0.5
    if np.dtype(dtype).kind in "iu":
        return rng.integers(-3, 4, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _check(out, expected, inputs):
    got = out.eval(inputs)
    expected = np.asarray(expected)
    assert got.dtype == expected.dtype and out.dtype == expected.dtype.name, (got.dtype,
                                                                              expected.dtype)
    assert got.shape == expected.shape and out.ndim == expected.ndim
    assert all(s is None or s == d for s, d in zip(out.type.shape, got.shape)), (out.type, got)
    tol = 1e-5 if expected.dtype in (np.float32, np.complex64) else 1e-12
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)


def _var(dtype, ndim, name):
    return T.tensor(dtype, shape=(None,) * ndim, name=name)


# shapes for each ndim of a (a's last axis = 3) and of b (b's "inner" axis = 3)
A_SHAPES = {0: (), 1: (3,), 2: (2, 3), 3: (4, 2, 3)}
B_SHAPES = {0: (), 1: (3,), 2: (3, 5), 3: (2, 3, 5)}


@pytest.mark.parametrize("dtypes", [("float64", "float64"), ("float32", "float32"),
                                    ("int8", "int8"), ("int32", "float32"),
                                    ("bool", "int64"), ("float32", "float64")])
@pytest.mark.parametrize("nda", [0, 1, 2, 3])
@pytest.mark.parametrize("ndb", [0, 1, 2, 3])
def test_dot_matches_numpy(dtypes, nda, ndb):
    da, db = dtypes
    va, vb = _value(da, A_SHAPES[nda], 1), _value(db, B_SHAPES[ndb], 2)
    a, b = _var(da, nda, "a"), _var(db, ndb, "b")
    _check(T.dot(a, b), np.dot(va, vb), {a: va, b: vb})
    # static shapes give a static result shape
    sa = T.tensor(da, shape=A_SHAPES[nda], name="sa")
    sb = T.tensor(db, shape=B_SHAPES[ndb], name="sb")
    out = T.dot(sa, sb)
    assert out.type.shape == np.dot(va, vb).shape
    _check(out, np.dot(va, vb), {sa: va, sb: vb})


def test_dot_ops_and_matmul():
    a, b = T.dmatrix("a"), T.dmatrix("b")
    v = T.dvector("v")
    assert T.dot(a, b).op == "dot" and T.dot(a, v).op == "dot" and T.dot(v, v).op == "dot"
    assert T.dot(T.dtensor3(), b).op == "tensordot"
    assert T.dot(a, 2.0).op == "mul"
    va, vb, vv = _value("float64", (2, 3)), _value("float64", (3, 4), 1), _value("float64", (3,))
    _check(a @ b, va @ vb, {a: va, b: vb})
    _check(v @ b, vv @ vb, {v: vv, b: vb})
    _check(a @ v, va @ vv, {a: va, v: vv})
    _check(v @ v, vv @ vv, {v: vv})
    _check(a.dot(b), va @ vb, {a: va, b: vb})
    _check(T.constant(vv) @ b, vv @ vb, {b: vb})
    f32 = T.fvector("f")
    assert T.dot(f32, f32).dtype == "float32"
    assert T.dot(f32, 2.0).dtype == "float32"  # a Python number stays weak


def test_dot_size_errors():
    a = T.tensor("float64", shape=(2, 3), name="a")
    b = T.tensor("float64", shape=(4, 5), name="b")
    with pytest.raises(ValueError, match="inner sizes differ"):
        T.dot(a, b)
    with pytest.raises(ValueError, match="inner sizes differ"):
        T.dot(T.tensor("float64", shape=(7, 2, 3)), T.tensor("float64", shape=(1, 4, 5)))
    with pytest.raises(ValueError, match="inner sizes differ"):
        T.dot(T.tensor("float64", shape=(3,)), T.tensor("float64", shape=(4,)))
    x, y = T.dmatrix("x"), T.dmatrix("y")
    with pytest.raises(EvaluationError, match="dot"):
        T.dot(x, y).eval({x: np.zeros((2, 3)), y: np.zeros((4, 5))})
    x3 = T.dtensor3("x3")
    with pytest.raises(EvaluationError, match="tensordot"):
        T.dot(x3, y).eval({x3: np.zeros((2, 2, 3)), y: np.zeros((4, 5))})


@pytest.mark.parametrize("nda,ndb", [(1, 1), (2, 1), (1, 2), (2, 2), (3, 1), (1, 3), (3, 2),
                                     (2, 3), (3, 3), (0, 2), (2, 0)])
def test_dot_gradient(nda, ndb):
    va, vb = _value("float64", A_SHAPES[nda], 1), _value("float64", B_SHAPES[ndb], 2)
    verify_grad(T.dot, [va, vb])
    if (nda, ndb) == (2, 2):
        verify_grad(T.dot, [va.astype("float32"), vb.astype("float32")])
        verify_grad(lambda a, b: T.dot(a, b.T), [va, va + 1])
        # broadcastable (row) inputs
        verify_grad(T.dot, [va[:1], vb])


# -- tensordot ------------------------------------------------------------------------------
TENSORDOT_CASES = [
    ((2, 3, 4), (3, 4, 5), 2),
    ((2, 3, 4), (4, 5), 1),
    ((2, 3), (4, 5), 0),
    ((2, 3, 4), (4, 3, 5), ([1, 2], [1, 0])),
    ((2, 3, 4), (4, 2, 5), ([2, 0], [0, 1])),
    ((2, 3, 4), (5, 3), ([-2], [-1])),
    ((3, 4), (4, 3), ([0, 1], [1, 0])),
    ((4,), (4,), 1),
    ((3, 4), (2,), ([], [])),
    ((2, 3, 4), (2, 3, 4), ([0, 1, 2], [0, 1, 2])),
    ((2, 3, 4), (4, 2), (2, 0)),
]


@pytest.mark.parametrize("sa,sb,axes", TENSORDOT_CASES)
@pytest.mark.parametrize("dtypes", [("float64", "float64"), ("int32", "float32"),
                                    ("int8", "int8")])
def test_tensordot_matches_numpy(sa, sb, axes, dtypes):
    va, vb = _value(dtypes[0], sa, 1), _value(dtypes[1], sb, 2)
    a, b = _var(dtypes[0], len(sa), "a"), _var(dtypes[1], len(sb), "b")
    _check(T.tensordot(a, b, axes), np.tensordot(va, vb, axes), {a: va, b: vb})
    sta, stb = T.tensor(dtypes[0], shape=sa), T.tensor(dtypes[1], shape=sb)
    assert T.tensordot(sta, stb, axes).type.shape == np.tensordot(va, vb, axes).shape


@pytest.mark.parametrize("sa,sb,axes", TENSORDOT_CASES)
def test_tensordot_gradient(sa, sb, axes):
    verify_grad(lambda a, b: T.tensordot(a, b, axes),
                [_value("float64", sa, 1), _value("float64", sb, 2)])


def test_tensordot_errors():
    a = T.tensor("float64", shape=(2, 3, 4), name="a")
    b = T.tensor("float64", shape=(3, 5), name="b")
    with pytest.raises(ValueError, match="inner sizes differ"):
        T.tensordot(a, b, 1)
    with pytest.raises(ValueError, match="out of range"):
        T.tensordot(a, b, 3)
    with pytest.raises(ValueError, match="out of range"):
        T.tensordot(a, b, ([3], [0]))
    with pytest.raises(ValueError, match="pair"):
        T.tensordot(a, b, ([1, 2], [0]))
    with pytest.raises(ValueError, match="repeated"):
        T.tensordot(a, T.dmatrix(), ([1, 1], [0, 1]))
    with pytest.raises(ValueError, match="int or a pair"):
        T.tensordot(a, b, "x")
    x, y = T.dtensor3("x"), T.dmatrix("y")
    with pytest.raises(EvaluationError, match="tensordot"):
        T.tensordot(x, y, ([1], [0])).eval({x: np.zeros((2, 3, 4)), y: np.zeros((4, 5))})


# -- batched_dot, outer ---------------------------------------------------------------------
BATCHED = [((5, 2, 3), (5, 3, 4), "bnk,bkm->bnm"), ((5, 3), (5, 3), "bk,bk->b"),
           ((5, 2, 3), (5, 3), "bnk,bk->bn"), ((5, 3), (5, 3, 4), "bk,bkm->bm"),
           ((5,), (5, 3, 4), "b,bkm->bkm"), ((5, 2, 3), (5,), "bnk,b->bnk")]


@pytest.mark.parametrize("sa,sb,spec", BATCHED)
@pytest.mark.parametrize("dtypes", [("float64", "float64"), ("float32", "float32"),
                                    ("int32", "int8")])
def test_batched_dot_matches_numpy(sa, sb, spec, dtypes):
    va, vb = _value(dtypes[0], sa, 1), _value(dtypes[1], sb, 2)
    a, b = _var(dtypes[0], len(sa), "a"), _var(dtypes[1], len(sb), "b")
    expected = np.einsum(spec, va, vb).astype(np.result_type(va, vb))
    _check(T.batched_dot(a, b), expected, {a: va, b: vb})
    sta, stb = T.tensor(dtypes[0], shape=sa), T.tensor(dtypes[1], shape=sb)
    assert T.batched_dot(sta, stb).type.shape == expected.shape


@pytest.mark.parametrize("sa,sb,spec", BATCHED)
def test_batched_dot_gradient(sa, sb, spec):
    verify_grad(T.batched_dot, [_value("float64", sa, 1), _value("float64", sb, 2)])


def test_batched_dot_errors():
    with pytest.raises(ValueError, match="inner sizes differ"):
        T.batched_dot(T.tensor("float64", shape=(5, 2, 3)), T.tensor("float64", shape=(5, 4, 3)))
    with pytest.raises(ValueError, match="batch"):
        T.batched_dot(T.tensor("float64", shape=(5, 3)), T.tensor("float64", shape=(4, 3)))
    with pytest.raises(TypeError, match="batch axis"):
        T.batched_dot(T.dscalar(), T.dmatrix())
    with pytest.raises(TypeError, match="more than 3"):
        T.batched_dot(T.dtensor4(), T.dtensor3())
    a, b = T.dtensor3("a"), T.dtensor3("b")
    with pytest.raises(EvaluationError, match="batch sizes differ"):
        T.batched_dot(a, b).eval({a: np.zeros((5, 2, 3)), b: np.zeros((4, 3, 2))})
    with pytest.raises(EvaluationError, match="inner sizes differ"):
        T.batched_dot(a, b).eval({a: np.zeros((5, 2, 3)), b: np.zeros((5, 4, 2))})


def test_outer():
    x, y = T.dvector("x"), T.fvector("y")
    vx, vy = _value("float64", (3,)), _value("float32", (4,), 1)
    _check(T.outer(x, y), np.outer(vx, vy), {x: vx, y: vy})
    m = T.imatrix("m")
    vm = _value("int32", (2, 3))
    _check(T.outer(m, y), np.outer(vm, vy), {m: vm, y: vy})  # flattened, as NumPy/Theano
    verify_grad(T.outer, [vx, vx[:2] + 1])


def test_blas_builds_on_wildcards():
    w, v = wildcard("x"), wildcard("y")  # unknown dtype and ndim
    assert T.dot(w, v).op == "dot" and T.dot(w, v).type.shape is None
    assert T.tensordot(w, v, ([0], [1])).type.shape is None
    assert T.batched_dot(w, v).type.shape is None
    m = wildcard("m", shape=(None, None))
    n = wildcard("n", shape=(None, None, None))
    assert T.dot(m, m).ndim == 2 and T.dot(m, m).dtype is None
    assert T.dot(n, m).ndim == 3
    assert T.tensordot(n, m, 1).ndim == 3
    assert T.batched_dot(n, n).ndim == 3
    assert T.outer(w, v).ndim == 2
    assert T.dot(wildcard("f", dtype="float32", shape=(3, None)), m).type.shape == (3, None)
    with pytest.raises(TypeError, match="ndim"):
        T.tensordot(w, v, 1)
