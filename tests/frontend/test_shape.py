"""Shape and movement ops against NumPy: reshape, flatten, squeeze, expand_dims, concatenate,
stack, split, arange (values, dtypes, static shapes, gradients, errors)."""

import numpy as np
import pytest

import eggflow.tensor as T
from eggflow.frontend.evaluate import EvaluationError, evaluate
from eggflow.frontend.gradcheck import verify_grad
from eggflow.frontend.graph import wildcard

DTYPES = ["bool", "int8", "int32", "int64", "float32", "float64"]


def _value(dtype, shape, seed=0):
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return rng.random(shape) > 0.5
    if np.dtype(dtype).kind in "iu":
        return rng.integers(-50, 50, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _check(out, expected, inputs):
    got = out.eval(inputs)
    expected = np.asarray(expected)
    assert got.dtype == expected.dtype and out.dtype == expected.dtype.name
    assert got.shape == expected.shape
    assert out.ndim == expected.ndim
    assert all(s is None or s == d for s, d in zip(out.type.shape, got.shape)), (out.type, got)
    np.testing.assert_array_equal(got, expected)


def _var(dtype, ndim, name="x"):
    return T.tensor(dtype, shape=(None,) * ndim, name=name)


# -- reshape --------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_reshape_matches_numpy(dtype):
    v = _value(dtype, (2, 3, 4))
    x = _var(dtype, 3)
    for shape in [(24,), (6, 4), (4, -1), (-1, 3, 2), (2, 1, 12), (1, 24, 1), -1, 24]:
        _check(T.reshape(x, shape), v.reshape(shape), {x: v})
        _check(x.reshape(shape), v.reshape(shape), {x: v})
    _check(x.reshape(4, 6), v.reshape(4, 6), {x: v})
    _check(x.reshape(np.array([3, 8])), v.reshape(3, 8), {x: v})
    _check(x.reshape(T.constant(np.array([8, 3]))), v.reshape(8, 3), {x: v})


def test_reshape_symbolic_dims():
    x = T.dtensor3("x")
    v = _value("float64", (2, 3, 4))
    n = T.iscalar("n")
    out = T.reshape(x, (T.shape_i(x, 0), -1))
    _check(out, v.reshape(2, -1), {x: v})
    out = T.reshape(x, (n, 4, n * 0 + 3))
    assert out.type.shape == (None, 4, None)
    _check(out, v.reshape(2, 4, 3), {x: v, n: 2})
    y = T.dmatrix("y")
    out = T.reshape(x, y.shape)  # another variable's shape vector
    _check(out, v.reshape(6, 4), {x: v, y: np.zeros((6, 4))})
    assert out.ndim == 2


def test_reshape_symbolic_vector_by_subtensor():
    if not hasattr(T, "subtensor"):
        pytest.skip("needs subtensor (frontend/subtensor.py)")
    x = T.dtensor3("x")
    v = _value("float64", (2, 3, 4))
    s = T.lvector("s")
    out = T.reshape(x, s, ndim=2)
    assert out.ndim == 2
    _check(out, v.reshape(4, 6), {x: v, s: np.array([4, 6])})
    _check(T.reshape(x, (x.shape[0], -1)), v.reshape(2, 12), {x: v})


def test_reshape_static_shapes():
    x = T.tensor("float64", shape=(2, 6), name="x")
    out = T.reshape(x, (3, -1))
    assert out.type.shape == (3, 4)
    assert out is T.reshape(x, (3, 4))  # the -1 is resolved: one canonical node
    assert T.reshape(x, (2, 6)) is x
    assert T.reshape(_var("float64", 2), (1, -1)).type.shape == (1, None)
    assert T.reshape(x, (1, 12, 1)).broadcastable == (True, False, True)


def test_reshape_errors():
    x = T.tensor("float64", shape=(2, 6), name="x")
    with pytest.raises(ValueError, match="cannot reshape"):
        T.reshape(x, (5, 2))
    with pytest.raises(ValueError, match="cannot reshape"):
        T.reshape(x, (5, -1))
    with pytest.raises(ValueError, match="at most one -1"):
        T.reshape(x, (-1, -1))
    with pytest.raises(ValueError, match="at most one -1"):
        T.reshape(x, (-2, 6))
    with pytest.raises(TypeError, match="integer"):
        T.reshape(x, (2.0, 6))
    with pytest.raises(TypeError, match="integer"):
        T.reshape(x, (T.dscalar(), 6))
    with pytest.raises(ValueError, match="ndim"):
        T.reshape(x, (3, 4), ndim=3)
    with pytest.raises(TypeError, match="ndim"):
        T.reshape(x, T.lvector("s"))
    y = T.dmatrix("y")
    with pytest.raises(EvaluationError, match="cannot reshape"):
        T.reshape(y, (5, -1)).eval({y: np.zeros((2, 6))})
    with pytest.raises(EvaluationError, match="cannot reshape"):
        T.reshape(y, (5, 3)).eval({y: np.zeros((2, 6))})


def test_reshape_gradient():
    v = _value("float64", (2, 3, 4))
    verify_grad(lambda x: T.reshape(x, (4, -1)) ** 2, [v])
    verify_grad(lambda x: T.reshape(x, (T.shape_i(x, 2), 6)), [v])
    verify_grad(lambda x: T.reshape(x, (24,)), [v.astype("float32")])


# -- flatten --------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["bool", "int32", "float32"])
def test_flatten(dtype):
    v = _value(dtype, (2, 3, 4, 5))
    x = _var(dtype, 4)
    for ndim in (1, 2, 3, 4):
        _check(T.flatten(x, ndim), v.reshape(v.shape[: ndim - 1] + (-1,)), {x: v})
    _check(x.flatten(), v.ravel(), {x: v})
    s = T.tensor(dtype, shape=(2, 3, 4))
    assert T.flatten(s, 2).type.shape == (2, 12)
    empty = _var(dtype, 2)  # a zero-size axis: the merged size is computed, not -1
    ve = np.zeros((0, 3), dtype)
    _check(T.flatten(empty, 2), ve.reshape(0, 3), {empty: ve})
    _check(T.flatten(T.dimshuffle(empty, 1, 0), 1), ve.T.ravel(), {empty: ve})
    sc = T.dscalar("s")
    _check(T.flatten(sc), np.array([2.5]), {sc: 2.5})


def test_flatten_errors_and_gradient():
    x = T.dmatrix("x")
    with pytest.raises(ValueError, match="ndim"):
        T.flatten(x, 3)
    with pytest.raises(ValueError, match="ndim"):
        T.flatten(x, 0)
    verify_grad(lambda x: T.flatten(x, 2), [_value("float64", (2, 3, 4))])
    verify_grad(lambda x: T.flatten(x), [_value("float64", (3, 2))])


# -- squeeze, expand_dims -------------------------------------------------------------------
def test_squeeze():
    v = _value("float32", (1, 3, 1, 2))
    x = T.tensor("float32", shape=(1, None, 1, None), name="x")
    _check(T.squeeze(x), v.squeeze(), {x: v})
    _check(x.squeeze(), v.squeeze(), {x: v})
    _check(T.squeeze(x, 2), v.squeeze(2), {x: v})
    _check(T.squeeze(x, (-4,)), v.squeeze(0), {x: v})
    y = _var("float32", 4)  # sizes unknown: nothing is statically 1
    _check(T.squeeze(y), v, {y: v})
    _check(T.squeeze(y, (0, 2)), v.squeeze((0, 2)), {y: v})  # checked at run time
    with pytest.raises(EvaluationError, match="cannot drop axis 1"):
        T.squeeze(y, 1).eval({y: v})
    with pytest.raises(ValueError, match="size is 3"):
        T.squeeze(T.tensor("float32", shape=(1, 3)), 1)
    with pytest.raises(ValueError, match="out of range"):
        T.squeeze(x, 4)
    verify_grad(lambda a: T.squeeze(a, 0) * 2, [_value("float64", (1, 3))])


def test_expand_dims():
    v = _value("int32", (3, 2))
    x = _var("int32", 2)
    for axis in (0, 1, 2, -1, -3, (0, 3), (-1, 0), (1, 2)):
        out = T.expand_dims(x, axis)
        _check(out, np.expand_dims(v, axis), {x: v})
        axes = (axis,) if isinstance(axis, int) else axis
        assert all(out.broadcastable[a] for a in axes)
    with pytest.raises(ValueError, match="out of range"):
        T.expand_dims(x, 3)
    with pytest.raises(ValueError, match="repeated"):
        T.expand_dims(x, (0, 0))
    verify_grad(lambda a: T.expand_dims(a, (0, 2)) * 3, [_value("float64", (3, 2))])


# -- concatenate, stack, split --------------------------------------------------------------
@pytest.mark.parametrize("dtypes", [("float64", "float64"), ("int8", "float32"),
                                    ("bool", "int32"), ("int8", "int64", "int32")])
def test_concatenate(dtypes):
    shapes = [(2, 3, 4), (2, 1, 4), (2, 5, 4)]
    values = [_value(d, s, k) for k, (d, s) in enumerate(zip(dtypes, shapes))]
    xs = [_var(d, 3, f"x{k}") for k, d in enumerate(dtypes)]
    for axis in (1, -2):
        _check(T.concatenate(xs, axis=axis), np.concatenate(values, axis=axis),
               dict(zip(xs, values)))
    vals0 = [v[:, :1] for v in values]
    _check(T.join(0, *xs), np.concatenate(vals0, 0), dict(zip(xs, vals0)))


def test_concatenate_static_shapes_and_errors():
    a = T.tensor("float64", shape=(2, 3), name="a")
    b = T.tensor("float64", shape=(2, 4), name="b")
    c = T.tensor("float64", shape=(None, None), name="c")
    assert T.concatenate([a, b], axis=1).type.shape == (2, 7)
    assert T.concatenate([a, c], axis=1).type.shape == (2, None)
    assert T.concatenate([a, c], axis=0).type.shape == (None, 3)
    assert T.concatenate([a]) is a
    with pytest.raises(ValueError, match="differ on axis 1"):
        T.concatenate([a, b], axis=0)
    with pytest.raises(ValueError, match="same number of dimensions"):
        T.concatenate([a, T.dvector()])
    with pytest.raises(ValueError, match="out of range"):
        T.concatenate([a, b], axis=2)
    with pytest.raises(ValueError, match="0-d"):
        T.concatenate([T.dscalar(), T.dscalar()])
    with pytest.raises(ValueError, match="at least one"):
        T.concatenate([])
    with pytest.raises(TypeError, match="list"):
        T.concatenate(a)
    d = T.dmatrix("d")
    with pytest.raises(EvaluationError):
        T.concatenate([c, d]).eval({c: np.zeros((2, 3)), d: np.zeros((2, 4))})


def test_concatenate_gradient():
    values = [_value("float64", (2, k, 3), k) for k in (1, 3, 2)]
    verify_grad(lambda a, b, c: T.concatenate([a, b * b, c], axis=1), values)
    verify_grad(lambda a, b: T.concatenate([a, b], axis=-1),
                [_value("float64", (3, 2)), _value("float64", (3, 4))])
    # second order: the gradient's split op has a gradient too
    verify_grad(lambda a: T.grad(T.sum(T.concatenate([a, a * a]) ** 2), a),
                [_value("float64", (3,))])


def test_split():
    v = _value("float64", (2, 9))
    x = T.dmatrix("x")
    parts = T.split(x, [2, 3, 4], 3, axis=1)
    expected = np.split(v, [2, 5], axis=1)
    for p, e in zip(parts, expected):
        _check(p, e, {x: v})
    n = T.lscalar("n")
    parts = T.split(x, [n, 9 - n], 2, axis=-1)
    assert parts[0].type.shape == (None, None)
    for p, e in zip(parts, np.split(v, [4], axis=1)):
        _check(p, e, {x: v, n: 4})
    with pytest.raises(EvaluationError, match="do not add up"):
        T.split(x, [2, 3], 2, axis=1)[0].eval({x: v})
    with pytest.raises(ValueError, match="do not add up"):
        T.split(T.tensor("float64", shape=(2, 9)), [2, 3], 2, axis=1)
    with pytest.raises(ValueError, match="ndim"):
        T.split(x, [2, 3, 4], 2, axis=1)
    verify_grad(lambda a: T.split(a, [1, 2], 2, axis=0)[1], [_value("float64", (3, 2))])


@pytest.mark.parametrize("dtype", ["bool", "int8", "float32", "float64"])
def test_stack(dtype):
    values = [_value(dtype, (3, 2), k) for k in range(3)]
    xs = [_var(dtype, 2, f"x{k}") for k in range(3)]
    for axis in (0, 1, 2, -1, -3):
        _check(T.stack(xs, axis=axis), np.stack(values, axis=axis), dict(zip(xs, values)))
    _check(T.stack(xs, 1), np.stack(values, 1), dict(zip(xs, values)))
    _check(T.stack(*xs), np.stack(values), dict(zip(xs, values)))
    s = T.dscalar("s")
    _check(T.stack([s, 2 * s, 1.5]), np.array([3.0, 6.0, 1.5]), {s: 3.0})
    assert T.stack([s, s]).type.shape == (2,)
    with pytest.raises(ValueError, match="out of range"):
        T.stack(xs, axis=3)
    with pytest.raises(ValueError, match="same"):
        T.stack([xs[0], T.dvector()])


def test_stack_gradient():
    verify_grad(lambda a, b: T.stack([a, b * 2], axis=1),
                [_value("float64", (3, 2)), _value("float64", (3, 2), 1)])
    verify_grad(lambda a, b: T.stack([a, b, a * b]), [np.array(0.5), np.array(-1.5)])


# -- arange ---------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [(5,), (2, 9), (9, 2, -2), (0, 1, 0.1), (-1.5, 2.25, 0.5),
                                  (3, 3), (5, 0), (0.5, 4), (True, 4)])
def test_arange_constant(args):
    out = T.arange(*args)
    expected = np.arange(*args)
    if expected.dtype.kind in "iu":
        expected = expected.astype("int64")
    assert out.type.shape == expected.shape  # static length
    _check(out, expected, {})


def test_arange_symbolic_and_dtypes():
    n = T.iscalar("n")
    out = T.arange(n)
    assert out.dtype == "int64" and out.type.shape == (None,)
    _check(out, np.arange(7), {n: 7})
    start, stop = T.bscalar("a"), T.lscalar("b")
    _check(T.arange(start, stop, 3), np.arange(2, 20, 3), {start: 2, stop: 20})
    f = T.fscalar("f")
    out = T.arange(f, 3.0)
    assert out.dtype == "float64"  # config.floatX is float64
    np.testing.assert_allclose(out.eval({f: 0.5}), np.arange(0.5, 3.0))
    d = T.dscalar("d")
    assert T.arange(d, dtype="float32").dtype == "float32"
    assert T.arange(5, dtype="int8").dtype == "int8"
    _check(T.arange(d, dtype="int32"), np.arange(4.5, dtype="int32"), {d: 4.5})
    # unsigned: NumPy keeps uint64
    assert T.arange(T.constant(np.uint64(4))).dtype == "uint64"


def test_arange_floatx(monkeypatch):
    from eggflow.frontend.config import config

    monkeypatch.setattr(config, "floatX", "float32")
    assert T.arange(0.0, 1.0, 0.25).dtype == "float32"
    assert T.arange(T.fscalar(), 2).dtype == "float32"
    assert T.arange(T.dscalar()).dtype == "float64"
    assert T.arange(4).dtype == "int64"


def test_arange_errors_and_gradient():
    with pytest.raises(ValueError, match="step"):
        T.arange(0, 5, 0)
    with pytest.raises(TypeError, match="scalar"):
        T.arange(T.dvector())
    with pytest.raises(TypeError, match="real"):
        T.arange(T.constant(1j))
    # out[i] = start + i * step: d/dstart = 1, d/dstep = i (the length stays 5 near the point)
    verify_grad(lambda a, s: T.arange(a, 5.0, s) ** 2, [np.array(0.3), np.array(1.1)])
    a, s = T.dscalars("a", "s")
    out = T.arange(a, 5.0, s)
    ga, gs = T.grad(T.sum(out), [a, s])
    assert evaluate([ga, gs], {a: 0.3, s: 1.1}) == [5.0, 10.0]


# -- wildcards ------------------------------------------------------------------------------
def test_shape_ops_build_on_wildcards():
    w = wildcard("x")  # unknown dtype and ndim
    assert T.reshape(w, (2, -1)).type.shape == (2, None)
    assert T.reshape(w, (T.iscalar(), 3)).ndim == 2
    assert T.flatten(w).ndim == 1
    assert T.concatenate([w, w], axis=1).type.shape is None
    assert T.arange(wildcard("n", shape=())).type.shape == (None,)
    m = wildcard("m", shape=(None, 1, None))  # known ndim, unknown dtype
    assert T.squeeze(m).ndim == 2
    assert T.expand_dims(m, 0).ndim == 4
    assert T.flatten(m, 2).ndim == 2
    assert T.stack([m, m], axis=-1).ndim == 4
    assert T.concatenate([m, m], axis=-1).dtype is None
    assert len(T.split(m, [1, 2], 2, axis=0)) == 2
    with pytest.raises(TypeError, match="unknown"):
        T.squeeze(w)
