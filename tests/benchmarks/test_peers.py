"""The benchmark peers: each available peer's results against eggflow's reference executor,
peers that cannot be imported, and ops without a translation.

PyTensor compiles (Numba or C) once per workload, so the graph peers see few, wide workloads.
"""

import functools
import sys

import numpy as np
import pytest

import eggflow as ef
import eggflow.tensor as T
from eggflow.benchmarks import peers
from eggflow.benchmarks.workloads import Workload
from eggflow.frontend.control import map_index
from eggflow.frontend.evaluate import evaluate
from eggflow.frontend.graph import toposort
from eggflow.frontend.op import OPS

GRAPH_PEERS = ("pytensor", "jax")


def _peer(name):
    peer = peers.PEERS[name]
    ok, why = peer.available()
    if not ok:
        pytest.skip(why)
    return peer


def _check(name, wl, rtol=1e-10, fn=None, peer=None):
    """Run ``wl`` on the peer (prepared here unless ``fn`` is given); each output must match
    the reference executor (dtype, shape, values within rtol; ints and bools exactly)."""
    if fn is None:
        peer = peer or _peer(name)
        fn = peer.prepare(wl)
        assert fn is not None, peer.last_reason
        assert peer.last_reason == ""
    got = fn(*wl.values)
    givens = dict(zip(wl.inputs, wl.values))
    want = evaluate(wl.outputs, givens)
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        what = f"output {k}: {wl.outputs[k]}"
        assert isinstance(g, np.ndarray), what
        assert g.shape == w.shape and g.dtype == w.dtype, (what, g.shape, g.dtype, w.shape,
                                                           w.dtype)
        if w.dtype.kind in "fc":
            np.testing.assert_allclose(g, w, rtol=rtol, atol=0, err_msg=what)
        else:
            np.testing.assert_array_equal(g, w, err_msg=what)
    return got, fn


def _wide():
    """Many ops in one graph: elementwise, reductions, movement, indexing, nnet, blas."""
    x, A, B = T.dvector("x"), T.dmatrix("A"), T.dmatrix("B")
    C, D = T.dtensor3("C"), T.dtensor3("D")
    outs = [
        T.log(1 + T.exp(x)), T.dot(A, B).sum(axis=1), T.nnet.softmax(A), A[1:, 0],
        A.dimshuffle(1, "x", 0), A.dimshuffle("x", 1, 0).dimshuffle(2, 1), A.reshape((-1,)),
        A.reshape((A.shape[0] * A.shape[1], 1)), T.switch(x > 0.5, x, 0),
        T.round(x * 3, "half_away_from_zero"), T.round(x * 3), T.mean(A, axis=0),
        T.max(A, axis=1), T.min(A), T.prod(A, axis=0), T.argmax(A, axis=0), T.argmin(A, axis=1),
        T.logsumexp(A, axis=1), T.nnet.log_softmax(A, axis=0), T.nnet.softmax(A, axis=None),
        T.concatenate([A, B], axis=1), T.arange(A.shape[0]), T.zeros((A.shape[0], 2)),
        T.ones_like(x), A[[0, 2, 1]], A[T.arange(3), T.argmax(A, axis=1)], A[None, ..., 1],
        T.set_subtensor(A[1:, 0], x[:2]), T.inc_subtensor(A[[0, 0, 1]], 1.0),
        x // 0.3, x % 0.3, T.sqr(x) ** 1.5, T.clip(x, 0.2, 0.6), T.cast(x * 10, "int32") // 3,
        T.reciprocal(x), T.sigmoid(x) - T.tanh(x) + T.erf(x), T.expm1(x) * T.log1p(x),
        T.sqrt(x) / T.abs(x - 0.5), T.maximum(x, 0.3) + T.minimum(x, 0.4),
        T.and_(T.ge(x, 0.2), T.lt(x, 0.8)), T.any(T.eq(A, B)), T.all(T.neq(A, B), axis=0),
        T.tensordot(C, D, axes=[[1, 2], [1, 2]]), T.batched_dot(C, D.dimshuffle(0, 2, 1)),
        T.batched_dot(A, B), T.outer(x, x), T.var(A, axis=1), T.stack([x, x * 2], axis=1),
        # the gradient of a join is a split; of a subtensor, an inc_subtensor
        T.grad((T.concatenate([x, T.sqr(x)]) * T.arange(6)).sum() + A[0, 1:].sum(), [x, A])[1],
        T.grad((T.concatenate([x, T.sqr(x)]) * T.arange(6)).sum(), x),
    ]
    rng = np.random.default_rng(0)
    values = [rng.random(3), rng.random((3, 3)), rng.random((3, 3)), rng.random((2, 3, 4)),
              rng.random((2, 3, 4))]
    return Workload("wide", outs, [x, A, B, C, D], values)


@functools.cache  # T.grad runs the e-graph (stabilization): build once for both peers
def _logistic_regression():
    """Theano's tutorial: the cost and its gradient (w a shared variable, b an input)."""
    rng = np.random.default_rng(1)
    n, feats = 20, 5
    x, y, b = T.dmatrix("x"), T.dvector("y"), T.dscalar("b")
    w = ef.shared(rng.normal(size=feats), name="w")
    p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))
    xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)
    cost = xent.mean() + 0.01 * (w ** 2).sum()
    gw, gb = T.grad(cost, [w, b])
    values = [rng.normal(size=(n, feats)), rng.integers(0, 2, size=n).astype(float), 0.1]
    return Workload("logreg", [cost, gw, gb, p_1 > 0.5], [x, y, b], values)


def _float32():
    """Python numbers are weak: float32 stays float32 (NumPy 2), ints stay their width."""
    x, i = T.fvector("x"), T.bvector("i")
    outs = [x * 0.1 + 1, T.switch(x > 0.5, x, 2), T.round(x * 7), T.sqr(x).sum(), i * 3 + 1,
            T.exp(i), x / 3]
    values = [np.linspace(-2, 2, 9, dtype=np.float32), np.arange(-4, 5, dtype=np.int8)]
    return Workload("f32", outs, [x, i], values)


def _small():
    """The everyday graphs, in the peers' default modes."""
    x, A, B = T.dvector("x"), T.dmatrix("A"), T.dmatrix("B")
    outs = [T.log(1 + T.exp(x)), T.dot(A, B).sum(axis=1), T.nnet.softmax(A), A[1:, 0],
            A.dimshuffle(1, "x", 0), A.reshape((A.shape[0] * A.shape[1],))]
    rng = np.random.default_rng(2)
    # |x| small: the reference computes log(1 + exp(x)) as written, PyTensor its softplus
    return Workload("small", outs, [x, A, B], [rng.normal(size=4), rng.random((3, 4)),
                                                rng.random((4, 2))])


@pytest.mark.parametrize("name", GRAPH_PEERS)
def test_small_graph_matches_the_reference(name):
    _check(name, _small())


@pytest.mark.parametrize("name", GRAPH_PEERS)
def test_wide_graph_matches_the_reference(name):
    """Every translated op. PyTensor runs it with its Python linker (the ops' NumPy code): the
    translation is what is checked, and Numba would compile ~50 kernels for a minute."""
    peer = _peer(name)
    if name != "pytensor":
        _check(name, _wide(), peer=peer)
        return
    import pytensor
    from pytensor.compile.mode import Mode

    peer = peers.PyTensorPeer(mode=Mode(linker="py", optimizer="fast_compile"))
    with pytensor.config.change_flags(cxx=""):  # no C either (inner graphs would compile it)
        _check(name, _wide(), peer=peer)


@pytest.mark.parametrize("name", GRAPH_PEERS)
def test_logistic_regression_cost_and_gradient(name):
    wl = _logistic_regression()
    (cost, *_), fn = _check(name, wl)
    (w,) = [n for n in toposort(wl.outputs) if n.op == "shared"]
    w.set_value(w.get_value() * 2)  # shared values are read at call time
    (cost2, *_), _ = _check(name, wl, fn=fn)
    assert cost2 != cost


@pytest.mark.parametrize("name", GRAPH_PEERS)
def test_float32_and_weak_constants(name):
    got, _ = _check(name, _float32(), rtol=1e-6)
    assert [g.dtype.name for g in got] == ["float32", "float32", "float32", "float32", "int8",
                                           "float32", "float32"]


def test_numpy_peer_runs_the_hand_written_version():
    x = T.dvector("x")
    wl = Workload("sp", [T.log(1 + T.exp(x))], [x], [np.linspace(-3, 3, 7)],
                  numpy=lambda v: [np.log1p(np.exp(v))])
    peer = peers.PEERS["numpy"]
    assert peer.available()[0]
    np.testing.assert_allclose(peer.prepare(wl)(*wl.values)[0],
                               evaluate(wl.outputs, {x: wl.values[0]})[0], rtol=1e-14)
    wl.numpy = None
    assert peer.prepare(wl) is None and peer.last_reason == "no hand-written NumPy version"


def test_numexpr_peer_evaluates_the_expressions():
    x, y = T.dvector("x"), T.dvector("y")
    outs = [T.log(1 + T.exp(x)), T.switch(x > y, x * y, 0)]
    values = [np.linspace(-3, 3, 7), np.linspace(1, -1, 7)]
    wl = Workload("ne", outs, [x, y], values,
                  numexpr=["log(1 + exp(x))", "where(x > y, x * y, 0.0)"])
    _check("numexpr", wl, rtol=1e-14)
    peer = peers.PEERS["numexpr"]
    wl.numexpr = None
    assert peer.prepare(wl) is None and peer.last_reason == "no numexpr expression"


@pytest.mark.parametrize("name", ["numexpr", "pytensor", "jax"])
def test_missing_peer_is_unavailable_with_reason(name, monkeypatch):
    monkeypatch.setitem(sys.modules, name, None)  # `import name` now raises ImportError
    peer = peers.PEERS[name]
    ok, why = peer.available()
    assert not ok and why.startswith(f"{name} is not installed: ")
    x = T.dvector("x")
    wl = Workload("exp", [T.exp(x)], [x], [np.ones(2)], numexpr=["exp(x)"])
    assert peer.prepare(wl) is None and peer.last_reason == why
    assert peers.versions()[name] is None


@pytest.mark.parametrize("name", GRAPH_PEERS)
def test_untranslated_op_is_named(name, monkeypatch):
    peer = _peer(name)
    label = {"pytensor": "PyTensor", "jax": "JAX"}[name]
    x, i = T.dvector("x"), T.lscalar("i")
    loop = map_index(i, x[i] * 2, x.shape[0])
    wl = Workload("loop", [loop + 1], [x], [np.ones(3)])
    assert peer.prepare(wl) is None
    assert peer.last_reason == f"op 'map_index' has no {label} translation"
    monkeypatch.delitem(peers.TRANSLATIONS, "exp")
    wl = Workload("exp", [T.exp(x)], [x], [np.ones(3)])
    assert peer.prepare(wl) is None and peer.last_reason == f"op 'exp' has no {label} translation"


@pytest.mark.parametrize("name", GRAPH_PEERS)
def test_input_missing_from_the_workload(name):
    peer = _peer(name)
    x, y = T.dvector("x"), T.dvector("y")
    wl = Workload("xy", [x + y], [x], [np.ones(2)])
    assert peer.prepare(wl) is None and "input y" in peer.last_reason


def test_jax_needs_static_shapes():
    """A boolean mask computed from the data has no static size: not runnable under jax.jit."""
    peer = _peer("jax")
    x = T.dvector("x")
    wl = Workload("mask", [x[x > 0]], [x], [np.array([1.0, -1.0, 2.0])])
    assert peer.prepare(wl) is None
    assert peer.last_reason.startswith("JAX could not run the graph: NonConcreteBooleanIndex")


def test_every_op_is_translated_or_listed():
    assert set(peers.TRANSLATIONS) | set(peers.UNTRANSLATED) == set(OPS)
    assert not set(peers.TRANSLATIONS) & set(peers.UNTRANSLATED)


def test_versions_name_every_peer():
    v = peers.versions()
    assert set(v) == {"numpy", "numexpr", "pytensor", "jax"}
    assert v["numpy"] == np.__version__
