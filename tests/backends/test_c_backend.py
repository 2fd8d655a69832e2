"""The C backend (backends/c_backend.py) against the reference executor (FAST_COMPILE).

Every compiled function costs a C compile (~0.1-0.3 s per kernel, cached on disk under
``config.compiledir``), so the elementwise op suite is ONE function: for every output dtype,
``switch(eq(sel, k), op_k(x, y, z), ...)`` computes op ``k`` (an (op, input dtype) pair) on
the segment where ``sel == k``; each segment holds every pair of special values of that dtype
plus random values. The reference runs the same graph op by op with NumPy, and each segment is
compared on its own.

Modes: ``C`` is the e-graph optimizer with its late phase (fusion, BLAS forms, inplace) and
generated C; ``C_UNFUSED`` lowers the unoptimized graph op by op (one kernel per op);
``C_GREEDY`` is the Theano-style greedy fusion baseline.
"""

from __future__ import annotations


import numpy as np
import pytest

import eggflow as ef
import eggflow.tensor as T
from eggflow.backends.c_backend import CBackendWarning, CThunk, compiler_available
from eggflow.frontend.graph import toposort
from eggflow.frontend.op import OPS, apply
from opsuite import (assert_all_same, assert_same, call, elementwise_cases, mismatches,
                     sample, selector_chains)

pytestmark = pytest.mark.skipif(not compiler_available(), reason="no C compiler")

C = ef.Mode(backend="c")
C_UNFUSED = ef.Mode(backend="c", optimizer=None)
C_GREEDY = ef.Mode(backend="c", fusion="greedy")
REF = "FAST_COMPILE"

DTYPES = ("float64", "float32", "int64", "int32", "int8", "uint8", "bool")
KERNEL_OPS = ("kernel", "kernel_i")


# -- helpers -----------------------------------------------------------------------------------
def c_function(inputs, outputs, mode=C, **kwargs):
    """``ef.function`` that must really run generated C (not a fallback to the reference)."""
    f = ef.function(inputs, outputs, mode=mode, **kwargs)
    assert isinstance(f._thunk, CThunk), f"{mode}: the function does not run on the C backend"
    return f


def graph_ops(f) -> list:
    return [n.op for n in toposort(f.optimized_outputs)]


def kinds(f) -> list:
    return [s.kind for s in f._thunk.program.steps]


# -- 1. elementwise ops: every op of the op table at every dtype --------------------------------
REFUSED = {"float64": {"and_", "or_", "xor", "invert"}, "float32": {"and_", "or_", "xor", "invert"},
           "bool": {"sub", "neg", "sgn"}}


def strided(a):
    """The same values as a non-contiguous view (stride 2): the kernels' strided loop."""
    return np.repeat(a, 2)[::2]


@pytest.fixture(scope="module")
def elementwise_suite():
    """ONE compiled function for every (op, dtype) pair: one chain per output dtype, so the
    whole table costs a handful of kernels. Segment k (``sel == k``) of every input holds the
    sample of op k's dtype."""
    rng = np.random.default_rng(0)
    inputs, cases, samples, refused = [], [], {}, {}
    for dt in DTYPES:
        ins, found, refused[dt] = elementwise_cases(dt)
        inputs += ins
        cases += [(dt, label, node) for label, node in found]
        samples[dt] = sample(dt, rng)
    m = max(v[0].size for v in samples.values())
    samples = {dt: [np.resize(v, m) for v in vals] for dt, vals in samples.items()}
    feed = [np.tile(v, len(cases)) for dt in DTYPES for v in samples[dt]]
    sel = T.tensor("int16", shape=(None,), name="sel")
    feed.append(np.repeat(np.arange(len(cases), dtype=np.int16), m))
    outs, groups = selector_chains([(label, node) for _, label, node in cases], sel)
    f = c_function(inputs + [sel], outs, on_unused_input="ignore")
    want = call(ef.function(inputs + [sel], outs, mode=REF, on_unused_input="ignore"), *feed)
    got = {"contiguous": call(f, *feed), "strided": call(f, *[strided(a) for a in feed])}
    return {"f": f, "cases": cases, "refused": refused, "samples": samples, "sel": feed[-1],
            "groups": groups, "outs": outs, "got": got, "want": want}


def test_elementwise_suite_runs_in_c(elementwise_suite):
    suite = elementwise_suite
    # each chain (one per output dtype) is ONE fused kernel: every op of the table ran in C
    assert kinds(suite["f"]) == ["ew"] * len(suite["outs"]), kinds(suite["f"])
    names = {node.op for _, _, node in suite["cases"]}
    assert names == {n for n, op in OPS.items() if op.family == "elemwise"}


@pytest.mark.parametrize("dt", DTYPES)
def test_elementwise_ops_match_reference(elementwise_suite, dt):
    suite = elementwise_suite
    assert set(suite["refused"][dt]) == REFUSED.get(dt, set()), "a new op? extend this test"
    vals, sel = suite["samples"][dt], suite["sel"]
    m = vals[0].size
    failures = []
    for layout, got in suite["got"].items():
        for g, w, ops in zip(got, suite["want"], suite["groups"]):
            assert g.dtype == w.dtype and g.shape == w.shape, (ops[0][1], g.dtype, w.dtype)
            for k, label, node in ops:
                if suite["cases"][k][0] != dt:
                    continue
                a, b = g[k * m: (k + 1) * m], w[k * m: (k + 1) * m]
                assert (sel[k * m: (k + 1) * m] == k).all()
                bad = mismatches(a, b)
                if b.dtype.kind == "f" and node.op != "clip":  # signed zeros too (clip's
                    # +-0 ties with array bounds differ from NumPy by design: codegen/cmath.py)
                    bad |= (a == 0) & (b == 0) & (np.signbit(a) != np.signbit(b))
                if bad.any():
                    idx = np.flatnonzero(bad)[:4]
                    args = [vals["xyzr".index(i.name)] for i in node.inputs]
                    failures.append(
                        f"{label} at {dt} -> {node.dtype} ({layout}): {int(bad.sum())} of "
                        f"{bad.size} differ; inputs -> got vs want: " + "; ".join(
                            f"{tuple(v[i].item() for v in args)} -> {a[i]!r} vs {b[i]!r}"
                            for i in idx))
    assert not failures, "\n".join(failures)


# one op per output, lowered unfused (one kernel per op): the ops whose C differs by dtype
UNFUSED = {"float64": ("mod", "maximum", "sgn", "softplus"), "float32": ("int_div", "exp"),
           "int64": ("mod",), "int32": ("sqrt",), "int8": ("int_div", "abs"),
           "uint8": ("neg",), "bool": ("invert",)}


def test_elementwise_ops_unfused_match_reference():
    inputs, outs, labels, feed = [], [], [], []
    rng = np.random.default_rng(7)
    for dt, names in UNFUSED.items():
        ins, cases, _ = elementwise_cases(dt)
        inputs += ins[:3]
        feed += sample(dt, rng)[:3]
        found = dict(cases)
        outs += [found[n] for n in names]
        labels += [f"{n} at {dt}" for n in names]
    f = c_function(inputs, outs, mode=C_UNFUSED, on_unused_input="ignore")
    assert kinds(f) == ["ew"] * len(outs)
    want = call(ef.function(inputs, outs, mode=REF, on_unused_input="ignore"), *feed)
    assert_all_same(call(f, *feed), want, labels)
    assert_all_same(call(f, *[strided(a) for a in feed]), want, labels)


def test_integer_pow():
    """No C integer power: the kernel's body runs on the reference evaluator, inside the
    compiled function, with the same results (non-negative exponents: NumPy raises on
    negative integer powers)."""
    inputs, outs, feed = [], [], []
    rng = np.random.default_rng(3)
    for dt in ("int64", "int32", "int8", "uint8", "bool"):
        x, p = T.tensor(dt, shape=(None,)), T.tensor(dt, shape=(None,))
        inputs += [x, p]
        outs += [x**p, T.exp(x) + 1]  # exp: a C kernel in the same function
        xv = sample(dt, rng)[0]
        feed += [xv, (np.abs(xv.astype(np.int64)) % 5).astype(dt)]
    f = c_function(inputs, outs)
    assert_all_same(call(f, *feed), call(ef.function(inputs, outs, mode=REF), *feed),
                    [str(o) for o in outs])


# -- reductions --------------------------------------------------------------------------------
AXES = [None, (), 0, 1, 2, (0, 1), (0, 2), (1, 2)]  # every axis set of a 3-d tensor
# every axis set for these; the others (whose C differs only in the combine step) over axis
# sets that reduce the innermost axis (accumulate in a register) and keep it (accumulate into
# the output): each reduction kernel compiles on its own
FULL = ("sum", "max", "all", "argmax")
SOME = {"prod": (None, 1, (0, 2)), "min": (None, 0, (1, 2)), "any": (None, 1, (0, 2)),
        "argmin": (None, 0, (1, 2)), "mean": (None, (0, 1), 2)}


def reductions_of(X):
    outs, labels = [], []
    for name in FULL + tuple(SOME):
        for axis in SOME.get(name, AXES):
            if name.startswith("arg") and axis == ():
                continue  # argmax over no axis is refused by the type rule
            arg = T.gt(X, 0) if name in ("all", "any") else X  # of floats: see below
            outs.append(getattr(T, name)(arg, axis=axis))
            labels.append(f"{name}(axis={axis})")
    return outs, labels


def reduction_data():
    rng = np.random.default_rng(5)
    base = rng.standard_normal((4, 6, 5))
    base[1, 2, 3] = np.nan
    base[2, 0, 1] = np.inf
    base[3, 4, 0] = -np.inf
    base[0, 3, :] = 0.0
    return base


@pytest.mark.parametrize("layout", ["contiguous", "transposed", "sliced"])
def test_reductions_over_every_axis_set(layout):
    x = T.dtensor3("x")
    X = {"contiguous": x, "transposed": x.dimshuffle(2, 0, 1), "sliced": x[:, ::2]}[layout]
    outs, labels = reductions_of(X)
    f = c_function([x], outs)  # the kernels read views through strides: one C source for all
    assert kinds(f).count("reduce") >= 3 * 7 + 3 * 3  # sum, max, all; prod, min, any (+ mean)
    ref = ef.function([x], outs, mode=REF)
    base = reduction_data()
    arguments = {"C order": base, "negative strides": base[::-1, :, ::-1],
                 "broadcast (stride 0)": np.broadcast_to(base[:, 2:3, :], base.shape),
                 "Fortran order": np.asfortranarray(base)}
    for name, a in arguments.items():
        assert_all_same(call(f, a), call(ref, a), [f"{lab} {layout}, {name}" for lab in labels])


def test_reductions_of_broadcast_operands():
    """A fused reduction over operands broadcast in the graph (static-1 axes)."""
    c = T.tensor("float64", shape=(None, 1, None), name="c")
    r = T.tensor("float64", shape=(1, None, 1), name="r")
    outs = [T.sum(c * r, axis=a) for a in AXES[:5]] + [T.max(c - r, axis=(0, 2)),
                                                        T.mean(T.exp(c + r), axis=1)]
    f = c_function([c, r], outs)
    rng = np.random.default_rng(6)
    cv, rv = rng.standard_normal((3, 1, 4)), rng.standard_normal((1, 5, 1))
    want = call(ef.function([c, r], outs, mode=REF), cv, rv)
    assert_all_same(call(f, cv, rv), want, [str(o) for o in outs])


def test_reductions_other_dtypes():
    xf = T.ftensor3("xf")
    xi = T.tensor("int8", shape=(None, None, None), name="xi")
    xu = T.tensor("uint8", shape=(None, None, None), name="xu")
    xl = T.ltensor3("xl")
    xb = T.tensor("bool", shape=(None, None, None), name="xb")
    outs = [T.sum(xf, axis=1), T.prod(xf, axis=(0, 2)), T.max(xf), T.mean(xf, axis=0),
            T.min(xf, axis=2), T.sum(xi, axis=1), T.sum(xi), T.max(xu, axis=(0, 1)),
            T.min(xl), T.prod(xl, axis=2), T.all(xb, axis=1), T.any(xb), T.sum(xb, axis=0),
            T.argmax(xi, axis=2), T.argmin(xf, axis=0)]
    labels = [str(o) for o in outs]
    rng = np.random.default_rng(8)
    shape = (3, 5, 4)
    feed = [rng.uniform(0.5, 1.5, shape).astype(np.float32),
            rng.integers(-128, 128, shape).astype(np.int8),
            rng.integers(0, 256, shape).astype(np.uint8),
            rng.integers(-3, 4, shape).astype(np.int64), rng.integers(0, 2, shape).astype(bool)]
    feed[4][0] = True  # an all-True slab
    inputs = [xf, xi, xu, xl, xb]
    want = call(ef.function(inputs, outs, mode=REF), *feed)
    assert_all_same(call(c_function(inputs, outs), *feed), want, labels)


def test_all_any_of_non_bool_values():
    x, i = T.dmatrix("x"), T.lmatrix("i")
    outs = [T.all(x, axis=1), T.any(x, axis=1), T.all(i, axis=1), T.any(i, axis=1)]
    xv = np.array([[0.5, 1.0], [0.0, 0.25], [np.nan, 2.0]])
    iv = np.array([[256, 1], [0, 512], [3, 1]])
    want = [[True, False, True], [True, True, True], [True, False, True], [True, True, True]]
    assert [o.tolist() for o in ef.function([x, i], outs, mode=REF)(xv, iv)] == want
    got = c_function([x, i], outs)(xv, iv)
    assert [o.tolist() for o in got] == want


# -- softmax, log_softmax, logsumexp -----------------------------------------------------------
def test_rowwise_softmax_family():
    x3 = T.dtensor3("x3")
    xf = T.fmatrix("xf")
    outs, labels = [], []
    for X, axes in ((x3, (0, 1, -1)), (xf, (0, -1))):
        for ax in axes:
            for name in ("softmax", "log_softmax", "logsumexp"):
                outs.append(getattr(T.nnet, name)(X, axis=ax))
                labels.append(f"{name}({X.name}, axis={ax})")
    rng = np.random.default_rng(9)
    a = rng.standard_normal((3, 4, 5))
    a[0, 1, 2] = 1000.0  # exp overflows without the max shift
    a[1, 2, :] = -np.inf  # an all -inf row (axis -1)
    a[:, 0, 4] = -np.inf  # an all -inf row (axis 0)
    a[2, :, 1] = -np.inf  # an all -inf row (axis 1)
    a[2, 3, 3] = np.inf
    a[0, 3, 0] = np.nan
    m = a[0].astype(np.float32)
    f = c_function([x3, xf], outs)
    assert kinds(f).count("rowwise") == len(outs)
    want = call(ef.function([x3, xf], outs, mode=REF), a, m)
    assert_all_same(call(f, a, m), want, labels)
    assert_all_same(call(f, a.transpose(1, 0, 2).copy().transpose(1, 0, 2), m.T.copy().T), want,
                    [lab + " (non-contiguous)" for lab in labels])
    assert_all_same(call(c_function([x3, xf], outs, mode=C_UNFUSED), a, m), want, labels)


# -- dot and the BLAS forms --------------------------------------------------------------------
@pytest.mark.parametrize("dt", ["float64", "float32"])
def test_dot_every_ndim_pair_and_layout(dt):
    A, B = T.tensor(dt, shape=(None, None), name="A"), T.tensor(dt, shape=(None, None), name="B")
    u, v = T.tensor(dt, shape=(None,), name="u"), T.tensor(dt, shape=(None,), name="v")
    outs = [T.dot(A, B), T.dot(A.T, B), T.dot(A, B.T), T.dot(A.T, B.T),  # matrix x matrix
            T.dot(A, v), T.dot(A.T, u),  # matrix x vector
            T.dot(u, A), T.dot(v, A.T),  # vector x matrix
            T.dot(u, v),  # vector x vector
            T.dot(A[:, ::2], B[::2]), T.dot(A[::-1].T, v[::-1]), T.dot(A[1:, 1:], B[1:, :1])]
    rng = np.random.default_rng(10)
    feed = [rng.standard_normal((6, 6)).astype(dt), rng.standard_normal((6, 6)).astype(dt),
            rng.standard_normal(6).astype(dt), rng.standard_normal(6).astype(dt)]
    want = call(ef.function([A, B, u, v], outs, mode=REF), *feed)
    rtol = 1e-12 if dt == "float64" else 1e-4
    for mode in (C, C_UNFUSED):
        f = c_function([A, B, u, v], outs, mode=mode)
        assert "blas" in kinds(f)
        assert_all_same(call(f, *feed), want, [str(o) for o in outs], rtol)
        fortran = [np.asfortranarray(a) for a in feed[:2]] + feed[2:]
        assert_all_same(call(f, *fortran), want, [f"{o} (Fortran order)" for o in outs], rtol)


def test_integer_dot_falls_back_to_numpy():
    A, B = T.lmatrices("A", "B")
    v = T.ivector("v")
    outs = [T.dot(A, B) + 1, T.dot(A.T, v) * 2, T.dot(v, v)]
    f = c_function([A, B, v], outs)
    dots = [s for s in f._thunk.program.steps if s.node.op == "dot"]
    assert dots and all(s.kind == "numpy" for s in dots)
    rng = np.random.default_rng(11)
    feed = [rng.integers(-9, 9, (3, 3)), rng.integers(-9, 9, (3, 3)),
            rng.integers(-9, 9, 3).astype(np.int32)]
    assert_all_same(f(*feed), ef.function([A, B, v], outs, mode=REF)(*feed),
                    [str(o) for o in outs])


def test_dot_with_empty_inner_dimension_is_zero():
    A, B = T.dmatrices("A", "B")
    v = T.dvector("v")
    f = c_function([A, B, v], [T.dot(A, B), T.dot(A, v)])
    for _ in range(5):
        junk = [np.full(12, np.nan) for _ in range(64)] + [np.full(3, np.nan) for _ in range(64)]
        del junk  # NumPy's small-buffer cache now hands out NaN-filled memory
        mm, mv = f(np.ones((3, 0)), np.ones((0, 4)), np.ones(0))
        np.testing.assert_array_equal(mm, np.zeros((3, 4)))
        np.testing.assert_array_equal(mv, np.zeros(3))


def test_gemm_forms_from_the_optimizer():
    x, y, z = T.dmatrices("x", "y", "z")
    W, h, g = T.dmatrices("W", "h", "g")
    lr = T.dscalar("lr")
    a, p = T.dvectors("a", "p")
    rng = np.random.default_rng(12)
    cases = [
        ([x, y, z], z + 0.5 * T.dot(x, y), ("gemm", "gemm_i"),
         [rng.standard_normal((3, 4)), rng.standard_normal((4, 5)), rng.standard_normal((3, 5))]),
        ([W, h, g, lr], W - lr * T.dot(h.T, g), ("gemm", "gemm_i"),
         [rng.standard_normal((4, 3)), rng.standard_normal((6, 4)), rng.standard_normal((6, 3)),
          0.1]),
        ([x, a, p], p + T.dot(x, a), ("gemv", "gemv_i"),
         [rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal(3)]),
        ([x, y, z], T.dot(x, y) - z, ("gemm", "gemm_i"),  # beta = -1
         [rng.standard_normal((3, 4)), rng.standard_normal((4, 5)), rng.standard_normal((3, 5))]),
        ([x, a, p], T.dot(x, a) - p, ("gemv", "gemv_i"),
         [rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal(3)]),
    ]
    for ins, out, forms, feed in cases:
        f = c_function(ins, out)
        assert set(forms) & set(graph_ops(f)), (out, graph_ops(f))
        assert "blas" in kinds(f)
        assert_same(f(*feed), ef.function(ins, out, mode=REF)(*feed), str(out))
        # Fortran-order matrices: BLAS reads them through its trans flags
        feed2 = [np.asfortranarray(v) if np.ndim(v) == 2 else v for v in feed]
        assert_same(f(*feed2), ef.function(ins, out, mode=REF)(*feed2), f"{out} (Fortran)")


def test_blas_ops_directly():
    """gemm/gemv/ger (and the inplace forms) as ops of the unoptimized graph: alpha/beta,
    transposed and strided operands, a broadcast z."""
    x, y, z = T.dmatrices("x", "y", "z")
    zr = T.drow("zr")
    u, w = T.dvectors("u", "w")
    s = T.dscalar("s")
    xf, yf = T.fmatrices("xf", "yf")
    uf = T.fvector("uf")
    outs = [apply("gemm", z, s, x, y, 0.5), apply("gemm_i", z, -1.0, x.T, y.T, 2.0),
            apply("gemm", zr, s, x[:, ::2], y[::2], 1.0), apply("gemv", u, s, x, w, 0.25),
            apply("gemv_i", w, 1.5, x.T, u, 1.0), apply("ger", z, s, u, w),
            apply("ger_i", z.T, 2.0, w, u[::-1]), apply("gemm", xf, 0.5, xf, yf, 1.0),
            apply("gemv", uf, 2.0, yf.T, uf, 0.5), apply("ger", xf, -1.0, uf, uf)]
    rng = np.random.default_rng(13)
    n = 4
    feed = [rng.standard_normal((n, n)) for _ in range(3)] + [rng.standard_normal((1, n))] + [
        rng.standard_normal(n), rng.standard_normal(n), 0.7] + [
        rng.standard_normal((n, n)).astype(np.float32) for _ in range(2)] + [
        rng.standard_normal(n).astype(np.float32)]
    inputs = [x, y, z, zr, u, w, s, xf, yf, uf]
    f = c_function(inputs, outs, mode=C_UNFUSED)
    assert kinds(f).count("blas") == len(outs)
    zv = feed[2].copy()
    want = ef.function(inputs, outs, mode=REF)(*feed)
    got = f(*feed)
    np.testing.assert_array_equal(feed[2], zv)  # gemm_i / ger_i never write into an input
    for g_, w_, o in zip(got, want, outs):
        assert_same(g_, w_, str(o), rtol=1e-12 if w_.dtype == np.float64 else 1e-5)


# -- indexing, shape ops, allocation: NumPy steps inside a compiled function -------------------
def test_indexing_and_shape_ops_inside_c_functions():
    x, y = T.dmatrices("x", "y")
    i = T.lvector("i")
    s = T.dscalar("s")
    t = x * 2  # a fresh buffer read by several steps: inplace would be tempting
    outs = [x[1:, ::2] * 2, x[i] + 1, x[i, i] * y[0, 0], T.set_subtensor(x[i], 0.5) * 2,
            T.inc_subtensor(x[1:], y[1:]) + x, T.set_subtensor(t[1:], 0.0), t,
            T.inc_subtensor(t[::2], 1.0) - t, t[::-1] + t,
            x.reshape((-1,)) * y.reshape((-1,)), x.dimshuffle(1, "x", 0) + 1,
            T.concatenate([x, y], axis=1) * 3, T.concatenate([x, T.exp(y)], axis=0),
            T.alloc(s, 3, x.shape[1]) + x[:3], T.arange(x.shape[0]) * 2 + 1,
            T.exp(x)[::2].dimshuffle(1, 0) - 1]
    f = c_function([x, y, i, s], outs)
    rng = np.random.default_rng(14)
    feed = [rng.standard_normal((4, 5)), rng.standard_normal((4, 5)), np.array([2, 0, 2]), 1.5]
    copies = [np.copy(a) for a in feed]
    ref = ef.function([x, y, i, s], outs, mode=REF)
    labels = [str(o) for o in outs]
    for _ in range(2):
        assert_all_same(f(*feed), ref(*feed), labels)
    for a, c in zip(feed, copies):
        np.testing.assert_array_equal(a, c)


# -- 2. broadcasting rules ---------------------------------------------------------------------
NOT_BROADCASTABLE = "does not declare that axis broadcastable"


@pytest.mark.parametrize("mode", [C, C_UNFUSED], ids=["fused", "unfused"])
def test_runtime_size_one_axis_must_be_declared(mode):
    x, y = T.dmatrices("x", "y")
    for out in (x + y, T.exp(x) * T.sin(y) + 1):
        f = c_function([x, y], out, mode=mode)
        with pytest.raises(ValueError, match=NOT_BROADCASTABLE):
            f(np.ones((1, 3)), np.ones((2, 3)))
        with pytest.raises(ValueError, match=NOT_BROADCASTABLE):
            f(np.ones((2, 3)), np.ones((2, 1)))
        f(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match=NOT_BROADCASTABLE):
        ef.function([x, y], x + y, mode=REF)(np.ones((1, 3)), np.ones((2, 3)))
    # declared broadcastable axes do broadcast
    r, c = T.drow("r"), T.dcol("c")
    g = c_function([x, r, c], T.exp(x) * r + c, mode=mode)
    xv, rv, cv = np.ones((2, 3)), np.arange(3.0)[None], np.arange(2.0)[:, None]
    assert_same(g(xv, rv, cv), np.exp(xv) * rv + cv, "row/col broadcast")


@pytest.mark.parametrize("mode", [C, C_UNFUSED], ids=["fused", "unfused"])
def test_shape_mismatch_error_names_op_and_shapes(mode):
    x, y = T.dmatrices("x", "y")
    for out, op in ((x + y, "add"), (T.exp(x) * T.sin(y), "mul")):
        f = c_function([x, y], out, mode=mode)
        with pytest.raises(ValueError, match=op) as info:
            f(np.ones((2, 2)), np.ones((2, 3)))
        assert "(2, 2)" in str(info.value) and "(2, 3)" in str(info.value), str(info.value)
    f = c_function([x, y], T.sum(x * y, axis=1), mode=mode)
    with pytest.raises(ValueError, match="mul") as info:
        f(np.ones((2, 2)), np.ones((2, 3)))
    assert "(2, 2)" in str(info.value) and "(2, 3)" in str(info.value), str(info.value)


def test_fused_reduction_refuses_undeclared_broadcast():
    x, y = T.dmatrices("x", "y")
    for out in (T.sum(x * y, axis=1), T.sum(T.exp(x + y)), T.nnet.softmax(x + y),
                T.max(x - y, axis=0)):
        f = c_function([x, y], out)
        with pytest.raises(ValueError, match=NOT_BROADCASTABLE):
            f(np.ones((1, 3)), np.ones((2, 3)))


# -- 3. e-graph fusion is real -----------------------------------------------------------------
def w1(x):
    return T.exp(-x**2 / 2) * T.sin(3 * x) + T.log1p(x * x)


def kernel_nodes(f) -> list:
    return [n for n in toposort(f.optimized_outputs) if n.op in KERNEL_OPS]


def test_w1_fuses_into_one_kernel():
    x = T.dvector("x")
    f = c_function([x], w1(x))
    phases = [p.name for p in f.report.optimization.phases]
    assert "late" in phases, phases
    assert f.report.optimization.rules_fired.get("fuse", 0) > 0, f.report.rules_fired
    assert len(kernel_nodes(f)) == 1
    # every elementwise op sits inside the kernel's body (reached only through it)
    (kernel,) = kernel_nodes(f)
    body = set(toposort([kernel.inputs[0]]))
    outside = [n for n in toposort(f.optimized_outputs)
               if n not in body and n.op in OPS and OPS[n.op].family == "elemwise"]
    assert not outside, outside
    steps = f._thunk.program.steps
    assert [s.kind for s in steps] == ["ew"], [s.kind for s in steps]

    greedy = c_function([x], w1(x), mode=C_GREEDY)
    counts = {"egraph": len(kernel_nodes(f)), "greedy": len(kernel_nodes(greedy))}
    print(f"\nW1 kernels: {counts}; C steps: egraph {kinds(f)}, greedy {kinds(greedy)}")
    assert counts["egraph"] <= counts["greedy"]
    xv = np.linspace(-5, 5, 100_001)  # above the OpenMP threshold
    want = call(ef.function([x], w1(x), mode=REF), xv)
    assert_same(call(f, xv), want, "W1 egraph")
    assert_same(call(greedy, xv), want, "W1 greedy")
    assert_same(call(f, xv[::3]), want[::3], "W1 egraph, strided")


def test_reduction_absorbs_its_producer():
    x = T.dvector("x")
    f = c_function([x], T.sum(T.exp(x - T.max(x))))
    ops = graph_ops(f)
    assert not set(KERNEL_OPS) & set(ops), ops  # no separate elementwise kernel
    (outer,) = f.optimized_outputs
    assert outer.op == "kreduce" and outer.attrs["op"] == "sum"
    body_ops = {n.op for n in toposort([outer.inputs[0]])}
    assert {"exp", "sub", "load"} <= body_ops, body_ops
    assert kinds(f) == ["reduce", "reduce"]
    xv = np.array([1.0, 1000.0, -3.0, np.log(2.0)])
    assert_same(call(f, xv), call(ef.function([x], T.sum(T.exp(x - T.max(x))), mode=REF), xv),
                "sum(exp(x - max(x)))")


def test_mean_absorbs_its_producer():
    x = T.dvector("x")
    f = c_function([x], T.mean(x**2))
    vector_kernels = [n for n in kernel_nodes(f) if n.ndim > 0]  # (the 0-d kernel divides)
    assert not vector_kernels, vector_kernels
    reduces = [n for n in toposort(f.optimized_outputs) if n.op == "kreduce"]
    assert len(reduces) == 1 and "sqr" in {n.op for n in toposort([reduces[0].inputs[0]])}


def test_mean_of_square_values():
    x = T.dvector("x")
    f = c_function([x], T.mean(x**2))
    assert "reduce" in kinds(f)
    xv = np.linspace(-3, 3, 1001)
    assert_same(f(xv), np.mean(xv**2), "mean(x**2)")


# -- 4. inplace legality -----------------------------------------------------------------------
def test_inputs_are_never_modified():
    x, y = T.dvectors("x", "y")
    m = T.dmatrix("m")
    cases = [([x], (x + 1) * 2), ([x], T.exp(x) + x), ([x], [x * 2, (x * 2 + 1) * 3]),
             ([x, y], (x + 1) * y), ([m], m.T * 2 + m), ([m, x], T.dot(m, x) + x)]
    rng = np.random.default_rng(15)
    for ins, out in cases:
        f = c_function(ins, out)
        ref = ef.function(ins, out, mode=REF)
        args = [rng.standard_normal((5, 5)) if i.ndim == 2 else rng.standard_normal(5)
                for i in ins]
        copies = [a.copy() for a in args]
        want = ref(*copies)
        for _ in range(3):
            got = f(*args)
            for a, c in zip(args, copies):
                np.testing.assert_array_equal(a, c, err_msg=f"{out} modified its input")
            assert_all_same(got if isinstance(got, list) else [got],
                            want if isinstance(want, list) else [want], [str(out)] * 2)


def test_same_array_passed_twice():
    x, y = T.dvectors("x", "y")
    for out in ((x + 1) * y, T.exp(x) - y * 2, T.sum(x * y)):
        f = c_function([x, y], out)
        a = np.linspace(-1, 1, 7)
        c = a.copy()
        got = f(a, a)
        np.testing.assert_array_equal(a, c)
        assert_same(got, ef.function([x, y], out, mode=REF)(c, c.copy()), str(out))


def test_output_that_is_an_input():
    x = T.dvector("x")
    f = c_function([x], [x, x + 1, x * 2])
    a = np.arange(3.0)
    out_x, out_1, out_2 = f(a)
    assert out_x is not a and not np.shares_memory(out_x, a)
    out_x[...] = -7
    out_1[...] = -7
    np.testing.assert_array_equal(a, [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(f(a)[1], [1.0, 2.0, 3.0])


def test_results_of_calls_are_distinct_and_stable():
    x = T.dvector("x")
    for outs in ([(x + 1) * 2], [T.exp(x) + x, T.sum(x)], [x * 2, (x * 2 + 1) * 3]):
        f = c_function([x], outs)
        r1 = f(np.arange(4.0))
        keep = [np.copy(r) for r in r1]
        r2 = f(np.arange(4.0) + 10)
        for a, b, k in zip(r1, r2, keep):
            assert a is not b and not np.shares_memory(a, b)
            np.testing.assert_array_equal(a, k)  # the later call did not write into it
        assert not any(np.shares_memory(a, b) for a in r1 for b in r1 if a is not b)


def logistic_regression(mode, steps=5):
    rng = np.random.default_rng(16)
    n, feats = 20, 6
    D = (rng.standard_normal((n, feats)), rng.integers(0, 2, n).astype(np.float64))
    x, y = T.dmatrix("x"), T.dvector("y")
    w = ef.shared(rng.standard_normal(feats), "w")
    b = ef.shared(0.0, "b")
    p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))
    xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)
    cost = xent.mean() + 0.01 * (w**2).sum()
    gw, gb = T.grad(cost, [w, b])
    train = ef.function([x, y], [p_1 > 0.5, xent],
                        updates=[(w, w - 0.1 * gw), (b, b - 0.1 * gb)], mode=mode)
    history = []
    for _ in range(steps):
        pred, err = train(*D)
        history.append((pred, err, w.get_value(), b.get_value()))
    return train, history


def test_shared_updates_match_reference():
    train, got = logistic_regression(C)
    assert isinstance(train._thunk, CThunk)
    _, want = logistic_regression(REF)
    for k, (g, w) in enumerate(zip(got, want)):
        assert_all_same(g, w, [f"step {k}: {what}" for what in ("prediction", "xent", "w", "b")],
                        rtol=1e-10)


def test_failing_call_leaves_shared_values_unchanged():
    W = ef.shared(np.ones((3, 4)), "W")
    b = ef.shared(np.zeros(4), "b")
    v = ef.shared(np.arange(4.0), "v")
    h, g = T.dmatrices("h", "g")
    lr = T.dscalar("lr")
    f = c_function([h, g, lr], T.sum(W),
                   updates=[(b, b - lr * g.sum(axis=0)), (v, v * 2 + 1),
                            (W, W - lr * T.dot(h.T, g))])
    f(np.ones((2, 3)), np.ones((2, 4)), 0.5)
    before = [s.get_value() for s in (W, b, v)]
    for bad in [(np.ones((2, 3)), np.ones((5, 4)), 0.5),  # dot(h.T, g): inner sizes differ
                (np.ones((2, 3)), np.ones((2, 5)), 0.5)]:  # b - lr*sum(g): (4,) vs (5,)
        with pytest.raises(ValueError):
            f(*bad)
        for s, old in zip((W, b, v), before):
            np.testing.assert_array_equal(s.get_value(), old, err_msg=s.name)


def test_updates_write_into_shared_storage_as_theano_borrow_allows():
    """Theano's contract: get_value() is a copy; get_value(borrow=True) may be the storage,
    which later calls may change (updates are written into it where that is legal)."""
    w = ef.shared(np.arange(4.0), "w")
    W = ef.shared(np.ones((3, 3)), "W")
    g = T.dvector("g")
    h = T.dmatrix("h")
    f = c_function([g, h], T.sum(w), updates=[(w, w - 0.1 * g), (W, W - 0.5 * T.dot(h.T, h))])
    copies = [w.get_value(), W.get_value()]
    held = [w.get_value(borrow=True), W.get_value(borrow=True)]
    f(np.ones(4), np.ones((2, 3)))
    np.testing.assert_array_equal(copies[0], np.arange(4.0))  # copies never change
    np.testing.assert_array_equal(copies[1], np.ones((3, 3)))
    np.testing.assert_allclose(w.get_value(), np.arange(4.0) - 0.1)
    np.testing.assert_allclose(W.get_value(), np.ones((3, 3)) - 0.5 * np.ones((3, 3)) * 2)
    assert w.get_value(borrow=True) is held[0]  # written in place: no new buffer per call


def test_outputs_and_updates_see_old_shared_values():
    w = ef.shared(np.arange(4.0), "w")
    v = ef.shared(np.zeros(4), "v")
    u = ef.shared(np.zeros(4), "u")
    f = c_function([], [w, v + 0], updates=[(w, w * 10 - 1), (v, w), (u, v + w)])
    out_w, out_v = f()
    np.testing.assert_array_equal(out_w, [0.0, 1.0, 2.0, 3.0])
    np.testing.assert_array_equal(out_v, [0.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(w.get_value(), [-1.0, 9.0, 19.0, 29.0])
    np.testing.assert_array_equal(v.get_value(), [0.0, 1.0, 2.0, 3.0])
    np.testing.assert_array_equal(u.get_value(), [0.0, 1.0, 2.0, 3.0])


def test_views_of_shared_values_updated_in_place_see_old_values():
    w = ef.shared(np.arange(4.0), "w")
    v = ef.shared(np.zeros(4), "v")
    f = c_function([], w[::2], updates=[(w, w * 10), (v, w[::-1])])
    np.testing.assert_array_equal(f(), [0.0, 2.0])
    np.testing.assert_array_equal(w.get_value(), [0.0, 10.0, 20.0, 30.0])
    np.testing.assert_array_equal(v.get_value(), [3.0, 2.0, 1.0, 0.0])


def test_update_of_a_shared_variable_not_read_by_the_graph():
    w = ef.shared(np.arange(3.0), "w")
    v = ef.shared(np.zeros(3), "v")
    f = ef.function([], [], updates=[(w, w * 2), (v, w + 1)], mode=C)
    f()
    np.testing.assert_array_equal(v.get_value(), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(w.get_value(), [0.0, 2.0, 4.0])


# -- 5. fallback when the module does not compile ----------------------------------------------
def test_compile_failure_falls_back_with_a_warning(monkeypatch):
    from eggflow.backends import c_compile

    def refuse(*args, **kwargs):
        raise c_compile.CompileError("simulated compiler failure")

    monkeypatch.setattr(c_compile, "load_module", refuse)
    x, y = T.dvectors("x", "y")
    outs = [w1(x) * y, T.sum(T.exp(x))]
    with pytest.warns(CBackendWarning, match="simulated compiler failure"):
        f = ef.function([x, y], outs, mode=C)
    assert not isinstance(f._thunk, CThunk)
    xv, yv = np.linspace(-2, 2, 9), np.linspace(0, 1, 9)
    assert_all_same(f(xv, yv), ef.function([x, y], outs, mode=REF)(xv, yv), ["w1*y", "sum"])


# -- 6. trust_input ----------------------------------------------------------------------------
def test_trust_input_gives_right_results():
    x, y = T.dvectors("x", "y")
    m = T.dmatrix("m")
    b = ef.shared(np.arange(3.0), "b")
    cases = [([x], w1(x)),  # one kernel: the straight-line call path
             ([x, y], [x * y + 1, T.sum(x)]),
             ([m, x], T.dot(m, x) + b)]
    rng = np.random.default_rng(17)
    for ins, out in cases:
        f = c_function(ins, out)
        f.trust_input = True
        args = [rng.standard_normal((3, 3)) if i.ndim == 2 else rng.standard_normal(3)
                for i in ins]
        want = ef.function(ins, out, mode=REF)(*args)
        for a in (args, [a[::-1] for a in args]):  # contiguous, then views
            want = ef.function(ins, out, mode=REF)(*a)
            got = f(*a)
            assert_all_same(got if isinstance(got, list) else [got],
                            want if isinstance(want, list) else [want], [str(out)] * 2)

