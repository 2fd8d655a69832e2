"""T.nnet: softmax / log_softmax / logsumexp against SciPy, the losses and activations against
NumPy formulas, gradients by finite differences."""

import numpy as np
import pytest
import scipy.special as sp

import eggflow.tensor as T
from eggflow.frontend.evaluate import evaluate
from eggflow.frontend.gradcheck import verify_grad
from eggflow.frontend.graph import input_variable, wildcard
from eggflow.frontend.types import TensorType

RNG = np.random.default_rng(7)
RTOL = {"float32": 1e-5, "float64": 1e-12}


def _input(value, name="x"):
    return input_variable(TensorType(value.dtype, (None,) * value.ndim), name)


def _run(fn, value, **kw):
    x = _input(value)
    return evaluate([fn(x, **kw)], {x: value})[0]


# -- softmax, log_softmax, logsumexp -------------------------------------------------------
SHAPES_AXES = [((5,), -1), ((3, 4), -1), ((3, 4), 0), ((2, 3, 4), 1), ((2, 3, 4), (0, 2)),
               ((2, 3, 4), None), ((4, 1), -1), ((0, 3), -1)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape,axis", SHAPES_AXES)
def test_softmax_family_against_scipy(shape, axis, dtype):
    value = (RNG.standard_normal(shape) * 3).astype(dtype)
    for ours, theirs in [(T.softmax, sp.softmax), (T.log_softmax, sp.log_softmax)]:
        got = _run(ours, value, axis=axis)
        assert got.dtype == np.dtype(dtype) and got.shape == value.shape
        np.testing.assert_allclose(got, theirs(value.astype("float64"), axis=axis),
                                   rtol=RTOL[dtype], atol=RTOL[dtype])
    for keepdims in (False, True):
        got = _run(T.logsumexp, value, axis=axis, keepdims=keepdims)
        expected = sp.logsumexp(value.astype("float64"), axis=axis, keepdims=keepdims)
        assert got.dtype == np.dtype(dtype) and got.shape == np.shape(expected)
        np.testing.assert_allclose(got, expected, rtol=RTOL[dtype], atol=RTOL[dtype])


EXTREME = np.array([
    [1e4, -1e4, 0.0, 1.0],
    [-1e4, -1e4, -1e4, -1e4],
    [1e4, 1e4, 1e4, -np.inf],
    [-np.inf, 0.0, -np.inf, 3.0],
    [-np.inf, -np.inf, -np.inf, -np.inf],  # softmax / log_softmax: nan (0/0), as SciPy
    [np.inf, 0.0, 1.0, 2.0],
])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_stable_on_extreme_inputs(dtype):
    value = EXTREME.astype(dtype)
    ref = EXTREME
    for ours, theirs in [(T.softmax, sp.softmax), (T.log_softmax, sp.log_softmax),
                         (T.logsumexp, sp.logsumexp)]:
        got = _run(ours, value, axis=1)
        with np.errstate(invalid="ignore"):  # SciPy warns on the nan rows
            expected = theirs(ref, axis=1)
        np.testing.assert_allclose(got, expected, rtol=RTOL[dtype], equal_nan=True)
    # the finite rows are finite (no overflow to inf/nan)
    assert np.all(np.isfinite(_run(T.softmax, value, axis=1)[:4]))
    assert np.all(np.isfinite(_run(T.log_softmax, value, axis=1)[:2]))
    np.testing.assert_array_equal(_run(T.logsumexp, value, axis=1)[[4, 5]], [-np.inf, np.inf])
    assert float(_run(T.logsumexp, value[4])) == -np.inf


def test_int_inputs_become_float_and_types():
    for dtype, out in [("int8", "float32"), ("bool", "float32"), ("int32", "float64"),
                       ("int64", "float64"), ("float32", "float32")]:
        x = T.tensor(dtype, shape=(3, None))
        assert T.softmax(x).type == TensorType(out, (3, None))
        assert T.log_softmax(x, axis=0).type == TensorType(out, (3, None))
        assert T.logsumexp(x, axis=1).type == TensorType(out, (3,))
        assert T.logsumexp(x).type == TensorType(out, ())
        assert T.logsumexp(x, axis=0, keepdims=True).type == TensorType(out, (1, None))
    value = np.array([[1, 2, 3], [0, 0, 5]], dtype=np.int32)
    np.testing.assert_allclose(_run(T.softmax, value), sp.softmax(value, axis=-1))
    np.testing.assert_allclose(_run(T.logsumexp, value), sp.logsumexp(value))


def test_axis_errors_and_complex():
    x = T.dmatrix("x")
    for fn in (T.softmax, T.log_softmax, T.logsumexp):
        with pytest.raises(ValueError, match="out of range"):
            fn(x, axis=2)
        with pytest.raises(TypeError, match="complex"):
            fn(T.cmatrix("c"))
    with pytest.raises(ValueError, match="out of range"):
        T.softmax(T.dscalar("s"))


@pytest.mark.parametrize("axis", [-1, 0, (0, 1), None])
def test_verify_grad_softmax_family(axis):
    value = RNG.standard_normal((3, 4))
    verify_grad(lambda x: T.softmax(x, axis=axis), [value])
    verify_grad(lambda x: T.log_softmax(x, axis=axis), [value])
    verify_grad(lambda x: T.logsumexp(x, axis=axis), [value])
    verify_grad(lambda x: T.logsumexp(x, axis=axis, keepdims=True) * x, [value])


def test_verify_grad_float32_and_large_inputs():
    verify_grad(T.softmax, [RNG.standard_normal((2, 5)).astype(np.float32)])
    big = RNG.standard_normal((2, 4)) * 3 + 500.0  # exp would overflow without the shift
    verify_grad(T.log_softmax, [big])
    verify_grad(T.logsumexp, [big])
    verify_grad(T.softmax, [big])


def test_gradients_are_finite_at_extremes():
    x = T.dmatrix("x")
    value = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]])
    for fn in (T.softmax, T.log_softmax):
        g = T.grad(T.sum(fn(x)[:, 0]), x)
        assert np.all(np.isfinite(evaluate([g], {x: value})[0]))
    g = evaluate([T.grad(T.sum(T.logsumexp(x, axis=1)), x)], {x: value})[0]
    np.testing.assert_allclose(g, sp.softmax(value, axis=1))


# -- losses --------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_categorical_crossentropy(dtype):
    p = sp.softmax(RNG.standard_normal((5, 4)), axis=1).astype(dtype)
    y = np.array([0, 3, 3, 1, 2])
    onehot = np.eye(4, dtype=dtype)[y]
    expected = -np.log(p.astype("float64")[np.arange(5), y])
    P, Y = T.tensor(dtype, shape=(None, None), name="p"), T.lvector("y")
    got = evaluate([T.nnet.categorical_crossentropy(P, Y)], {P: p, Y: y})[0]
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, expected, rtol=RTOL[dtype])
    O = T.tensor(dtype, shape=(None, None), name="t")
    got = evaluate([T.categorical_crossentropy(P, O)], {P: p, O: onehot})[0]
    np.testing.assert_allclose(got, expected, rtol=RTOL[dtype])
    soft = sp.softmax(RNG.standard_normal((5, 4)), axis=1).astype(dtype)
    got = evaluate([T.categorical_crossentropy(P, O)], {P: p, O: soft})[0]
    np.testing.assert_allclose(got, -np.sum(soft * np.log(p), axis=1), rtol=RTOL[dtype] * 10)
    v, i = T.dvector("v"), T.iscalar("i")
    assert float(T.categorical_crossentropy(v, i).eval({v: [0.25, 0.75], i: 1})) == \
        pytest.approx(-np.log(0.75))


def test_categorical_crossentropy_errors_and_grad():
    p = T.dmatrix("p")
    with pytest.raises(ValueError, match="one dimension less"):
        T.categorical_crossentropy(p, T.lmatrix("y"))
    with pytest.raises(ValueError, match="shape of the predicted"):
        T.categorical_crossentropy(p, T.dvector("t"))
    with pytest.raises(ValueError, match="matrix of distributions"):
        T.categorical_crossentropy(T.dtensor3("p3"), T.lmatrix("y"))
    pv = sp.softmax(RNG.standard_normal((4, 3)), axis=1)
    y = np.array([2, 0, 2, 1])
    verify_grad(lambda q: T.categorical_crossentropy(q, y), [pv])
    verify_grad(lambda q, t: T.categorical_crossentropy(q, t), [pv, np.eye(3)[y]])
    # the usual pairing: crossentropy of a softmax, gradient softmax - onehot
    x, yy = T.dmatrix("x"), T.lvector("y")
    cost = T.mean(T.categorical_crossentropy(T.nnet.softmax(x), yy))
    xv = RNG.standard_normal((4, 3))
    g = evaluate([T.grad(cost, x)], {x: xv, yy: y})[0]
    np.testing.assert_allclose(g, (sp.softmax(xv, axis=1) - np.eye(3)[y]) / 4, rtol=1e-10)


def test_binary_crossentropy():
    out = RNG.uniform(0.05, 0.95, (3, 4))
    tgt = RNG.uniform(0, 1, (3, 4))
    expected = -(tgt * np.log(out) + (1 - tgt) * np.log(1 - out))
    o, t = T.dmatrices("o", "t")
    np.testing.assert_allclose(evaluate([T.nnet.binary_crossentropy(o, t)], {o: out, t: tgt})[0],
                               expected, rtol=1e-12)
    verify_grad(T.binary_crossentropy, [out, tgt])
    f = T.fvector("f")
    assert T.binary_crossentropy(f, 1.0).dtype == "float32"


def test_sigmoid_binary_crossentropy_is_stable():
    logits = np.array([-1e4, -30.0, -1.0, 0.0, 2.5, 40.0, 1e4])
    tgt = np.array([0.0, 1.0, 0.3, 1.0, 0.0, 0.0, 1.0])
    expected = -(tgt * sp.log_expit(logits) + (1 - tgt) * sp.log_expit(-logits))
    x, t = T.dvectors("x", "t")
    got = evaluate([T.nnet.sigmoid_binary_crossentropy(x, t)], {x: logits, t: tgt})[0]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    mid = RNG.standard_normal(5)
    verify_grad(T.sigmoid_binary_crossentropy, [mid, RNG.uniform(0, 1, 5)])
    naive = T.binary_crossentropy(T.sigmoid(x), t)
    np.testing.assert_allclose(evaluate([naive], {x: mid, t: tgt[:5]})[0],
                               evaluate([T.sigmoid_binary_crossentropy(x, t)],
                                        {x: mid, t: tgt[:5]})[0], rtol=1e-10)


# -- activations ---------------------------------------------------------------------------
def test_activations_against_numpy():
    value = np.array([-1e4, -3.0, -0.7, 0.0, 0.4, 2.6, 3.0, 1e4])
    x = T.dvector("x")
    cases = [
        (T.nnet.sigmoid, sp.expit(value)),
        (T.nnet.softplus, np.logaddexp(0, value)),
        (T.nnet.relu, np.maximum(value, 0)),
        (T.nnet.hard_sigmoid, np.clip(0.2 * value + 0.5, 0, 1)),
        (T.nnet.ultra_fast_sigmoid, sp.expit(value)),
        (T.nnet.elu, np.where(value > 0, value, np.expm1(np.minimum(value, 0)))),
        (lambda v: T.nnet.elu(v, 0.5), np.where(value > 0, value, 0.5 * np.expm1(
            np.minimum(value, 0)))),
        (T.nnet.selu, 1.0507009873554805 * np.where(value > 0, value, 1.6732632423543772 * np.expm1(
            np.minimum(value, 0)))),
    ]
    for fn, expected in cases:
        np.testing.assert_allclose(evaluate([fn(x)], {x: value})[0], expected, rtol=1e-12)
    f = T.fvector("f")
    for fn in (T.hard_sigmoid, T.elu, T.selu, T.ultra_fast_sigmoid):
        assert fn(f).dtype == "float32"
    m, b = T.dmatrix("m"), T.dvector("b")
    mv, bv = RNG.standard_normal((3, 4)), RNG.standard_normal(4)
    np.testing.assert_allclose(evaluate([T.nnet.softmax_with_bias(m, b)], {m: mv, b: bv})[0],
                               sp.softmax(mv + bv, axis=1), rtol=1e-12)


def test_verify_grad_activations():
    value = np.array([-2.0, -0.5, 0.3, 1.7, 4.0])  # away from the kinks of relu / hard_sigmoid
    for fn in (T.nnet.hard_sigmoid, T.nnet.elu, T.nnet.selu, T.nnet.relu, T.nnet.sigmoid,
               T.nnet.softplus):
        verify_grad(fn, [value])
    verify_grad(T.softmax_with_bias, [RNG.standard_normal((3, 4)), RNG.standard_normal(4)])
    x = T.dvector("x")
    g = evaluate([T.grad(T.sum(T.elu(x)), x)], {x: np.array([-1e4, 1e4])})[0]
    np.testing.assert_array_equal(g, [0.0, 1.0])  # no inf * 0 from the unused branch


# -- namespace and wildcards ---------------------------------------------------------------
NNET_NAMES = ["sigmoid", "softplus", "softmax", "log_softmax", "logsumexp", "relu",
              "categorical_crossentropy", "binary_crossentropy", "sigmoid_binary_crossentropy",
              "hard_sigmoid", "ultra_fast_sigmoid", "elu", "selu", "softmax_with_bias",
              "logsoftmax"]


def test_namespace():
    import eggflow.frontend.tensor as FT

    for name in NNET_NAMES:
        assert getattr(T.nnet, name) is getattr(T, name) is getattr(FT.nnet, name), name


def test_wildcard_inputs():
    w = wildcard("w")
    f = wildcard("f", dtype="float32", shape=(None, 3))
    i = wildcard("i", dtype="int64")
    for fn in (T.softmax, T.log_softmax):
        assert fn(w).type.shape is None and fn(w).dtype is None
        assert fn(f).type == TensorType("float32", (None, 3))
        assert fn(w, axis=None).type.shape is None
    assert T.logsumexp(w).type == TensorType(None, ())
    assert T.logsumexp(w, axis=1).type.shape is None
    assert T.logsumexp(f, axis=1).type == TensorType("float32", (None,))
    for out in [T.categorical_crossentropy(w, i), T.categorical_crossentropy(w, w),
                T.categorical_crossentropy(f, wildcard("j", shape=(None,))),
                T.binary_crossentropy(w, w), T.sigmoid_binary_crossentropy(w, w),
                T.hard_sigmoid(w), T.elu(w), T.selu(w), T.softmax_with_bias(w, w)]:
        assert out.dtype is None or out.dtype == "float32"
    assert T.categorical_crossentropy(f, wildcard("j", shape=(None,))).type.shape == (None,)
    # a pattern's node (negative axis, as built on an unknown ndim) re-typed on a real input
    from eggflow.frontend.graph import replace

    pattern = T.logsumexp(w, axis=-1) + T.softmax(w).sum()
    assert T.logsumexp(w, axis=-1).attrs["axis"] == (-1,)
    m = T.dmatrix("m")
    (concrete,) = replace([pattern], {w: m})
    assert concrete.type == TensorType("float64", (None,))
    mv = RNG.standard_normal((2, 3))
    np.testing.assert_allclose(evaluate([concrete], {m: mv})[0],
                               sp.logsumexp(mv, axis=-1) + 2, rtol=1e-12)
    g = T.grad(concrete.sum(), m)
    np.testing.assert_allclose(evaluate([g], {m: mv})[0], sp.softmax(mv, axis=-1), rtol=1e-12,
                               atol=1e-12)
    # a wildcard-typed graph evaluates once given values
    value = RNG.standard_normal((2, 3))
    np.testing.assert_allclose(evaluate([T.softmax(w)], {w: value})[0],
                               sp.softmax(value, axis=-1))
    np.testing.assert_allclose(evaluate([T.logsumexp(w, axis=1)], {w: value})[0],
                               sp.logsumexp(value, axis=-1))
