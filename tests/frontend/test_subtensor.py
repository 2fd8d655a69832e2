"""subtensor / set_subtensor / inc_subtensor against NumPy indexing (the oracle)."""

import numpy as np
import pytest

import eggflow.tensor as T
from eggflow.frontend.evaluate import EvaluationError, evaluate
from eggflow.frontend.gradcheck import verify_grad
from eggflow.frontend.graph import input_variable, wildcard
from eggflow.frontend.types import TensorType

RNG = np.random.default_rng(1234)
SHAPE = (4, 5, 6)


class Sym:
    """Builds the symbolic side of an index: arrays and scalars become inputs (or constants)."""

    def __init__(self, symbolic):
        self.symbolic, self.feed = symbolic, {}

    def A(self, values, dtype="int64"):  # noqa: N802 - an index array
        array = np.asarray(values, dtype=dtype)
        if not self.symbolic:
            return array
        var = input_variable(TensorType(array.dtype, (None,) * array.ndim), "idx")
        self.feed[var] = array
        return var

    def S(self, value, dtype="int32"):  # noqa: N802 - an integer scalar
        if not self.symbolic:
            return value
        var = input_variable(TensorType(dtype, ()), "s")
        self.feed[var] = np.asarray(value, dtype=dtype)
        return var


class Num:
    """The NumPy side of the same index."""

    @staticmethod
    def A(values, dtype="int64"):  # noqa: N802
        return np.asarray(values, dtype=dtype)

    @staticmethod
    def S(value, dtype="int32"):  # noqa: N802
        return value


MASK = np.array([[True, False, True, True, False, False]] * 5)  # (5, 6)
CASES = {
    "int": lambda s: 1,
    "neg_int": lambda s: -1,
    "int_int": lambda s: (2, -3),
    "slice": lambda s: slice(1, 3),
    "slice_neg_step": lambda s: slice(None, None, -1),
    "slice_neg_step_bounds": lambda s: (slice(3, 0, -2), slice(-1, None, -3)),
    "slice_out_of_range": lambda s: slice(2, 100),
    "slice_empty": lambda s: slice(3, 1),
    "mixed_basic": lambda s: (slice(None), 2, slice(1, None, 2)),
    "newaxis": lambda s: (None, 1, None, slice(None, 2)),
    "ellipsis": lambda s: (Ellipsis, 0),
    "ellipsis_middle": lambda s: (1, Ellipsis, slice(1, 3)),
    "ellipsis_empty": lambda s: (0, 1, Ellipsis, 2),
    "empty_tuple": lambda s: (),
    "sym_int": lambda s: s.S(2),
    "sym_neg_int": lambda s: (slice(None), s.S(-2, "int64")),
    "sym_slice": lambda s: slice(s.S(1), s.S(-1)),
    "sym_slice_step": lambda s: (slice(None), slice(s.S(4), None, s.S(-2, "int8"))),
    "adv_vector": lambda s: s.A([3, 0, 0, -1]),
    "adv_vector_axis1": lambda s: (slice(None), s.A([4, 1])),
    "adv_uint": lambda s: (slice(None), slice(None), s.A([5, 0], "uint8")),
    "adv_matrix": lambda s: s.A([[0, 1], [3, 3], [2, 0]]),
    "adv_two_adjacent": lambda s: (s.A([0, 1, 3]), s.A([4, 4, 0])),
    "adv_two_adjacent_middle": lambda s: (slice(None), s.A([0, 1, 3]), s.A([5, 4, 0])),
    "adv_broadcast": lambda s: (s.A([[0], [2]]), s.A([1, 2, 3])),
    "adv_separated": lambda s: (s.A([0, 1]), slice(None), s.A([5, 4])),
    "adv_int_adjacent": lambda s: (slice(None), 0, s.A([1, 2, 3])),
    "adv_int_separated": lambda s: (0, slice(None), s.A([1, 2, 3])),
    "adv_sym_int_separated": lambda s: (s.A([1, 2, 3]), slice(None), s.S(3)),
    "adv_newaxis_between": lambda s: (s.A([0, 1]), None, s.A([1, 2])),
    "adv_empty_ellipsis_between": lambda s: (slice(None), s.A([0, 1]), Ellipsis, s.A([1, 2])),
    "adv_after_newaxis": lambda s: (None, s.A([1, 0]), slice(1, 3)),
    "adv_separated_late": lambda s: (slice(1, 4), s.A([0, 1]), None, s.A([1, 2])),
    "adv_int_separated_late": lambda s: (None, 1, slice(None), s.A([2, 3, 3])),
    "adv_all_three": lambda s: (s.A([0, 3]), s.A([1, 2]), s.A([5, 0])),
    "mask_1d": lambda s: s.A([True, False, True, True], bool),
    "mask_2d_trailing": lambda s: (slice(None), s.A(MASK, bool)),
    "mask_with_adv": lambda s: (s.A([1, 3]), s.A([True, False, False, True, False], bool)),
    "list_index": lambda s: [0, 2],
}


def _x(value, static=True):
    shape = value.shape if static else (None,) * value.ndim
    return input_variable(TensorType(value.dtype, shape), "x")


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("mode", ["constant", "symbolic", "unknown_shape"])
def test_index_forms_against_numpy(name, mode):
    value = RNG.standard_normal(SHAPE)
    expected = value[CASES[name](Num)]
    sym = Sym(symbolic=mode != "constant")
    x = _x(value, static=mode != "unknown_shape")
    out = x[CASES[name](sym)]
    got = evaluate([out], {x: value, **sym.feed})[0]
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == expected.dtype
    # the static type follows NumPy: right ndim, and every static size is the true one
    assert out.ndim == expected.ndim, (out.type, expected.shape)
    for static, true in zip(out.type.shape, expected.shape):
        assert static in (None, true), (out.type, expected.shape)


def test_static_sizes():
    x = T.tensor("float64", shape=(4, 5, 6))
    assert x[1:3].type.shape == (2, 5, 6)
    assert x[::-1, 1, ::2].type.shape == (4, 3)
    assert x[None, ..., None].type.shape == (1, 4, 5, 6, 1)
    assert x[[0, 1, 1]].type.shape == (3, 5, 6)
    assert x[:, [[0], [1]], [1, 2, 3]].type.shape == (4, 2, 3)
    assert x[[0, 1], :, [1, 2]].type.shape == (2, 5)
    assert x[np.ones((4, 5), bool)].type.shape == (20, 6)
    assert x[:, MASK].type.shape == (4, int(MASK.sum()))
    i = T.lscalar("i")
    assert x[i:].type.shape == (None, 5, 6)
    assert x[:, i].type.shape == (4, 6)
    v = T.lvector("v")
    assert x[v].type.shape == (None, 5, 6)
    row = T.row("r")
    assert row[:, 1:].type.shape == (1, None)
    assert x[...].type.shape == (4, 5, 6)


def test_list_of_symbolic_scalars_is_an_index_vector():
    x, i, j = T.dmatrix("x"), T.lscalar("i"), T.iscalar("j")
    out = x[[i, j, 0], 1:]
    assert out.type.shape == (3, None)
    value = RNG.standard_normal((4, 3))
    np.testing.assert_array_equal(out.eval({x: value, i: 3, j: -1}), value[[3, -1, 0], 1:])


def test_dtypes_are_kept():
    for dtype in ["bool", "int8", "int32", "int64", "float32", "float64"]:
        value = (RNG.standard_normal((3, 4)) * 3).astype(dtype)
        x = T.tensor(dtype, shape=(None, None), name="x")
        for idx in [(1,), (slice(None, None, -1), 2), ([2, 0], [1, 1])]:
            got = x[idx].eval({x: value})
            assert got.dtype == np.dtype(dtype)
            np.testing.assert_array_equal(got, value[idx])


def test_hash_consing():
    x, i = T.dmatrix("x"), T.lscalar("i")
    assert x[1:3] is x[1:3]
    assert x[i, ::2] is x[i, ::2]
    assert x[[0, 1]] is x[np.array([0, 1])]
    assert x[0] is x[T.constant(0)]


def test_shape_indexing():
    x = T.tensor("float64", shape=(3, None), name="x")
    first = x.shape[0]
    assert first.op == "constant" and int(first.data) == 3
    second = x.shape[1]
    assert second.op == "shape_i" and second.attrs["i"] == 1
    assert x.shape[-1] is second
    assert T.shape(x)[1] is second
    with pytest.raises(IndexError, match="out of bounds"):
        x.shape[2]
    value = np.zeros((3, 7))
    assert int(second.eval({x: value})) == 7
    np.testing.assert_array_equal(x.shape[1:].eval({x: value}), [7])
    i = T.lscalar("i")
    assert int(x.shape[i].eval({x: value, i: 1})) == 7


def test_build_time_errors():
    x = T.tensor("float64", shape=(4, 5), name="x")
    with pytest.raises(IndexError, match="out of bounds for axis 0 with size 4"):
        x[4]
    with pytest.raises(IndexError, match="out of bounds for axis 1 with size 5"):
        x[0, -6]
    with pytest.raises(IndexError, match="out of bounds"):
        x[[0, 7]]
    with pytest.raises(IndexError, match="too many indices"):
        x[0, 1, 2]
    with pytest.raises(IndexError, match="too many indices"):
        x[:, :, None, 0]
    with pytest.raises(IndexError, match="single ellipsis"):
        x[..., 0, ...]
    with pytest.raises(TypeError, match="integers"):
        x[1.0]
    with pytest.raises(TypeError, match="integer"):
        x[T.dscalar("f")]
    with pytest.raises(TypeError, match="integer"):
        x[T.dvector("fv")]
    with pytest.raises(TypeError, match="integer"):
        x[0.5:2]
    with pytest.raises(TypeError, match="integer scalar"):
        x[T.lvector("v"):]
    with pytest.raises(TypeError, match="boolean"):
        x[True]
    with pytest.raises(TypeError, match="boolean scalar"):
        x[T.scalar("b", dtype="bool")]
    with pytest.raises(TypeError, match="integers or booleans"):
        x[[0.5, 1.0]]
    with pytest.raises(TypeError, match="must be integers"):
        x["a"]
    with pytest.raises(ValueError, match="step cannot be zero"):
        x[::0]
    with pytest.raises(IndexError, match="does not match"):
        x[np.ones((4, 4), bool)]
    with pytest.raises(IndexError, match="broadcast"):
        x[[0, 1], [0, 1, 2]]


def test_run_time_index_error_names_the_node():
    x, i = T.dvector("x"), T.lscalar("i")
    with pytest.raises(EvaluationError, match="subtensor.*IndexError"):
        x[i].eval({x: np.zeros(3), i: 5})
    v = T.lvector("v")
    with pytest.raises(EvaluationError, match="IndexError"):
        x[v].eval({x: np.zeros(3), v: np.array([0, 3])})


def test_subtensor_of_0d_and_basic_views_do_not_leak():
    s = T.dscalar("s")
    assert s[None].type.shape == (1,)
    np.testing.assert_array_equal(s[None].eval({s: 2.0}), [2.0])
    assert float(s[()].eval({s: 2.5})) == 2.5


# -- set_subtensor / inc_subtensor ----------------------------------------------------------
WRITE_CASES = [
    # (index on the numpy side, y shape)
    ((1,), (5, 6)),
    ((1,), (6,)),  # y broadcasts
    ((slice(None, None, -2), 3), (2, 1)),
    ((Ellipsis, 0), (1, 5)),
    ((np.array([0, 2, 0, 0]),), (4, 5, 6)),  # repeated rows
    ((np.array([0, 2, 0]),), (1, 6)),
    ((slice(None), np.array([1, 1]), np.array([2, 2])), (4, 2)),  # repeated positions
    ((np.array([0, 1]), slice(None), np.array([5, 5])), (2, 5)),  # separated -> first
    ((np.array([3, 3]), None, slice(1, 3)), (2, 1, 2, 6)),
    ((slice(None), MASK), ()),
    ((np.array([True, False, True, True]),), (5, 6)),
]


@pytest.mark.parametrize("case", range(len(WRITE_CASES)))
@pytest.mark.parametrize("symbolic_index", [False, True])
def test_set_and_inc_against_numpy(case, symbolic_index):
    index, yshape = WRITE_CASES[case]
    xv = RNG.standard_normal(SHAPE)
    yv = RNG.standard_normal(yshape)
    x = T.tensor("float64", shape=(None,) * 3, name="x")
    y = T.tensor("float64", shape=yshape, name="y")
    feed = {x: xv, y: yv}
    sym_index = []
    for item in index:
        if symbolic_index and isinstance(item, np.ndarray):
            var = input_variable(TensorType(item.dtype, (None,) * item.ndim), "i")
            feed[var] = item
            item = var
        sym_index.append(item)
    sub = x[tuple(sym_index)]
    xcopy = xv.copy()
    set_v, inc_v = evaluate([T.set_subtensor(sub, y), T.inc_subtensor(sub, y)], feed)
    expected_set = xv.copy()
    expected_set[index] = yv
    expected_inc = xv.copy()
    np.add.at(expected_inc, index, yv)
    np.testing.assert_allclose(set_v, expected_set, rtol=0, atol=0)
    np.testing.assert_allclose(inc_v, expected_inc, rtol=1e-12)
    np.testing.assert_array_equal(xv, xcopy)  # the inputs are never modified
    assert T.set_subtensor(sub, y).type == x.type


def test_set_inc_scalars_dtypes_and_keywords():
    x = T.ivector("x")
    xv = np.arange(5, dtype=np.int32)
    out = T.set_subtensor(x[1:3], 7, inplace=True, tolerate_inplace_aliasing=True)
    got = out.eval({x: xv})
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, [0, 7, 7, 3, 4])
    got = T.inc_subtensor(x[[0, 0, 4]], 2, inplace=True).eval({x: xv})
    np.testing.assert_array_equal(got, [4, 1, 2, 3, 6])
    # set casts like NumPy assignment; inc must add within x's kind (numpy.add.at)
    np.testing.assert_array_equal(T.set_subtensor(x[0], 2.7).eval({x: xv}), [2, 1, 2, 3, 4])
    with pytest.raises(TypeError, match="cannot add"):
        T.inc_subtensor(x[0], T.dscalar("d"))
    f = T.fvector("f")
    got = T.inc_subtensor(f[1:], 0.5).eval({f: np.ones(3, np.float32)})
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, [1, 1.5, 1.5])
    b = T.tensor("bool", shape=(None,), name="b")
    got = T.set_subtensor(b[[0, 2]], True).eval({b: np.zeros(3, bool)})
    np.testing.assert_array_equal(got, [True, False, True])
    got = T.inc_subtensor(x[1:3], T.constant(np.array([1, 2], dtype=np.int8)))
    np.testing.assert_array_equal(got.eval({x: xv}), [0, 2, 4, 3, 4])
    assert T.inc_subtensor(x[1:3], 1, set_instead_of_inc=True) is T.set_subtensor(x[1:3], 1)


def test_inc_on_a_transposed_view_and_mixed_precision():
    rng = np.random.default_rng(7)  # its own values: the shared RNG's depend on test order
    x = T.fmatrix("x")
    xv = rng.standard_normal((3, 4)).astype(np.float32)
    y = T.dvector("y")
    yv = rng.standard_normal(3)
    out = T.inc_subtensor(x.T[[1, 1, 3]], y)  # the input of the op is a transposed view
    got = evaluate([out], {x: xv, y: yv})[0]
    expected = xv.T.copy()
    np.add.at(expected, [1, 1, 3], yv.astype(np.float32))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_set_inc_errors():
    x = T.dmatrix("x")
    with pytest.raises(TypeError, match="must be a subtensor"):
        T.set_subtensor(x, 1.0)
    with pytest.raises(TypeError, match="must be a subtensor"):
        T.inc_subtensor(x + 1, 1.0)
    with pytest.raises(TypeError, match="must be a subtensor"):
        T.set_subtensor(x.shape[0], 1)  # x.shape[0] is shape_i, not a subtensor
    with pytest.raises(ValueError, match="cannot write the 2-d value"):
        T.set_subtensor(x[0], T.dmatrix("y"))
    s = T.tensor("float64", shape=(4, 5), name="s")
    with pytest.raises(ValueError, match="does not broadcast"):
        T.inc_subtensor(s[1:3], T.tensor("float64", shape=(3, 5)))
    with pytest.raises(ValueError, match="does not broadcast"):
        T.set_subtensor(s[:, 0], T.tensor("float64", shape=(5,)))
    with pytest.raises(EvaluationError, match="broadcast"):
        T.set_subtensor(x[0], T.constant(np.ones(4))).eval({x: np.zeros((2, 3))})


# -- gradients -----------------------------------------------------------------------------
GRAD_INDICES = [
    (1, slice(None, None, -2)),
    (slice(1, None), -1),
    (Ellipsis, None, 2),
    (np.array([0, 0, 2]),),  # repeated rows: gradients accumulate
    (slice(None), np.array([[1, 1], [0, 3]])),
    (np.array([0, 2]), slice(None), np.array([3, 3])),  # separated
    (np.array([[True, False, True, True], [False, False, True, False], [True] * 4]),),
]
REPEATED = (3, 4)  # the cases that write some position twice


@pytest.mark.parametrize("case", range(len(GRAD_INDICES)))
def test_verify_grad_subtensor(case):
    index = GRAD_INDICES[case]
    verify_grad(lambda x: x[index] ** 2, [RNG.standard_normal((3, 4, 5))])


@pytest.mark.parametrize("case", range(len(GRAD_INDICES)))
def test_verify_grad_set_and_inc(case):
    index = GRAD_INDICES[case]
    xv = RNG.standard_normal((3, 4, 5))
    shape = xv[index].shape
    yv = RNG.standard_normal(shape)
    if case in REPEATED:  # set: the last write wins, so y's gradient (Theano's) is for
        verify_grad(lambda x: T.set_subtensor(x[index], yv) ** 2, [xv])  # unique positions
    else:
        verify_grad(lambda x, y: T.set_subtensor(x[index], y) ** 2, [xv, yv])
    verify_grad(lambda x, y: T.inc_subtensor(x[index], y) ** 2, [xv, yv])
    # y broadcast along the leading axes and along a declared-broadcastable (size 1) axis
    ylast = RNG.standard_normal((1,) + shape[-1:]) if shape else RNG.standard_normal(())
    verify_grad(lambda x, y: T.inc_subtensor(x[index], y) * x, [xv, ylast])
    if case not in REPEATED:
        verify_grad(lambda x, y: T.set_subtensor(x[index], y) * x, [xv, ylast])


def test_verify_grad_float32():
    xv = RNG.standard_normal((4, 3)).astype(np.float32)
    verify_grad(lambda x: T.inc_subtensor(x[[0, 0]], x[1:3] * 2) ** 2, [xv])


def test_grad_with_symbolic_indices():
    x, idx, i = T.dmatrix("x"), T.lvector("idx"), T.lscalar("i")
    cost = T.sum(x[idx, i:] ** 2)
    gx = T.grad(cost, x)
    xv, iv = RNG.standard_normal((4, 5)), np.array([3, 0, 3])
    expected = np.zeros_like(xv)
    np.add.at(expected, (iv, slice(2, None)), 2 * xv[iv, 2:])
    np.testing.assert_allclose(evaluate([gx], {x: xv, idx: iv, i: 2})[0], expected)
    y = T.dvector("y")
    cost = T.sum(T.set_subtensor(x[idx[:1], i], y) * x)
    gx, gy = T.grad(cost, [x, y])
    gxv, gyv = evaluate([gx, gy], {x: xv, idx: iv, i: 2, y: np.array([5.0])})
    expected = xv.copy()
    expected[3, 2] = 5.0  # d/dx of set(x)*x: set(x) + x * (1 outside the written position)
    expected_gx = expected + np.where(np.arange(20).reshape(4, 5) == 17, 0, xv)
    np.testing.assert_allclose(gxv, expected_gx)
    np.testing.assert_allclose(gyv, [xv[3, 2]])


def test_lookup_table_update_theano_faq():
    """grad with respect to a subtensor, then inc_subtensor on it (repeated rows)."""
    table = T.dmatrix("table")
    idx = T.lvector("idx")
    target = T.dmatrix("target")
    subset = table[idx]
    cost = T.sum((subset - target) ** 2)
    g = T.grad(cost, subset)
    lr = 0.1
    updated = T.inc_subtensor(subset, -lr * g)
    set_updated = T.set_subtensor(subset, subset - lr * g)
    tv = RNG.standard_normal((6, 3))
    iv = np.array([1, 4, 1, 5])
    gv = RNG.standard_normal((4, 3))
    new, new_set, gval = evaluate([updated, set_updated, g], {table: tv, idx: iv, target: gv})
    np.testing.assert_allclose(gval, 2 * (tv[iv] - gv))
    oracle = tv.copy()
    np.add.at(oracle, iv, -lr * 2 * (tv[iv] - gv))
    np.testing.assert_allclose(new, oracle, rtol=1e-12)
    oracle_set = tv.copy()
    oracle_set[iv] = tv[iv] - lr * 2 * (tv[iv] - gv)  # last write wins, like NumPy
    np.testing.assert_allclose(new_set, oracle_set, rtol=1e-12)
    # the gradient with respect to the whole table accumulates the repeated row
    gt = T.grad(cost, table)
    expected = np.zeros_like(tv)
    np.add.at(expected, iv, 2 * (tv[iv] - gv))
    np.testing.assert_allclose(evaluate([gt], {table: tv, idx: iv, target: gv})[0], expected)


# -- wildcards -----------------------------------------------------------------------------
def test_wildcard_inputs():
    x = wildcard("x")  # dtype and ndim unknown
    i = wildcard("i", dtype="int64", shape=())
    v = wildcard("v", dtype="int64")  # ndim unknown: an index array
    m = wildcard("m", dtype="bool", shape=(None,))
    y = wildcard("y")
    for out in [x[0], x[1:3], x[i], x[i:], x[v], x[..., 0], x[None], x[m], x[:, v, 0]]:
        assert out.type.shape is None and out.dtype is None
    f = wildcard("f", dtype="float32", shape=(None, None))
    assert f[i].type == TensorType("float32", (None,))
    assert f[v].type.shape is None
    assert f[wildcard("j")].dtype == "float32"
    assert f[wildcard("k", shape=())].type.shape == (None,)
    for writer in (T.set_subtensor, T.inc_subtensor):
        out = writer(x[i, 1:], y)
        assert out.type.shape is None
        assert writer(f[v], y).type == f.type
        assert writer(f[i], wildcard("z", dtype="float64", shape=(None,))).dtype == "float32"
    # a wildcard-typed graph still evaluates (the ellipsis is kept for the unknown ndim)
    value = RNG.standard_normal((2, 3, 4))
    np.testing.assert_array_equal(evaluate([x[..., 1]], {x: value})[0], value[..., 1])
    np.testing.assert_array_equal(evaluate([x[1, ..., None]], {x: value})[0],
                                  value[1, ..., None])


def test_set_subtensor_gradient_with_repeated_indices_goes_to_the_last_write():
    import eggflow as ef

    y, w = T.dmatrix("y"), T.dmatrix("w")
    m = T.dmatrix("m")
    i = T.lvector("i")
    out = T.set_subtensor(m[i], y)
    gm, gy = T.grad(T.sum(out * w), [m, y])
    f = ef.function([m, y, i, w], [out, gm, gy])
    rng = np.random.default_rng(3)
    mv, yv, wv = rng.normal(size=(4, 2)), rng.normal(size=(5, 2)), rng.normal(size=(4, 2))
    iv = np.array([1, 3, 1, 0, 3])
    o, a, b = f(mv, yv, iv, wv)
    expected = mv.copy()
    expected[iv] = yv
    np.testing.assert_array_equal(o, expected)
    eps = 1e-6
    numeric = np.zeros_like(yv)
    for k in np.ndindex(*yv.shape):
        d = np.zeros_like(yv)
        d[k] = eps
        up, down = mv.copy(), mv.copy()
        up[iv], down[iv] = yv + d, yv - d
        numeric[k] = ((up * wv).sum() - (down * wv).sum()) / (2 * eps)
    np.testing.assert_allclose(b, numeric, atol=1e-8)
    assert np.all(b[[0, 1]] == 0)  # overwritten by the later writes to rows 1 and 3
    mask = np.ones(4, bool)
    mask[iv] = False
    np.testing.assert_array_equal(a[mask], wv[mask])
    np.testing.assert_array_equal(a[~mask], 0)

