"""Every registered benchmark workload at its quick size: it builds, and eggflow, the NumPy peer,
the reference and the numexpr text (if any) all compute the same thing. The stability suite's
references are checked against Python's decimal, and its naive graphs must run accurately in
FAST_RUN."""

import decimal
import functools

try:
    import numexpr
except ImportError:  # the bench extra is not installed: the numexpr texts are not checked
    numexpr = None
import numpy as np
import pytest

import eggflow as ef
from eggflow.benchmarks import workloads as W

RTOL = 1e-6
NAMES = W.names()
STABLE = W.names(tags=["stability"])
KNOWN = {"seeds", "logreg_train", "mlp_train", "softmax_xent", "layernorm", "attention",
         "matrix_chain_3", "matrix_chain_4", "matrix_chain_6", "stable_logsumexp",
         "stable_softplus", "stable_sigmoid_xent", "elementwise_chain", "random_dag",
         "random_dag_10k"}


@functools.cache
def quick(name):
    spec = W.get(name)
    return spec.build(spec.sizes["quick"], 0)


def assert_close(got, want, stable=False):
    """Relative agreement; outside the stability suite, also absolutely to 1e-12 of the largest
    value (summation order may differ); inside it, down to subnormals (atol 1e-300)."""
    got, want = np.asarray(got), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape
    atol = 1e-300 if stable else 1e-12 * np.max(np.abs(want), initial=0.0)
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=RTOL, atol=atol)


def test_registry():
    assert KNOWN <= set(NAMES)
    assert set(STABLE) == {"stable_logsumexp", "stable_softplus", "stable_sigmoid_xent"}
    for name in NAMES:
        spec = W.get(name)
        assert spec.doc and {"quick", "full"} <= set(spec.sizes) and spec.tags


@pytest.mark.parametrize("name", NAMES)
def test_workload(name):
    spec, wl = W.get(name), quick(name)
    assert (wl.name, wl.tags) == (name, spec.tags)
    assert len(wl.inputs) == len(wl.values) and wl.outputs
    peer, ref = wl.numpy(*wl.values), wl.reference(*wl.values)
    assert len(peer) == len(ref) == len(wl.outputs)
    stable = name in STABLE
    for p, r in zip(peer, ref):
        assert np.asarray(r).dtype == np.float64 and np.isfinite(r).all()
        assert_close(p, r, stable)
    if wl.numexpr and numexpr is not None:
        env = {v.name: x for v, x in zip(wl.inputs, wl.values)}
        assert len(wl.numexpr) == len(wl.outputs)
        for text, r in zip(wl.numexpr, ref):
            assert_close(numexpr.evaluate(text, local_dict=env), r, stable)
    if stable:  # the naive graph overflows unoptimized (test_stability_fast_run runs it)
        with np.errstate(all="ignore"):
            got = ef.function(wl.inputs, wl.outputs, mode="FAST_COMPILE")(*wl.values)
        assert not all(np.isfinite(g).all() for g in got)
        return
    got = ef.function(wl.inputs, wl.outputs, mode="FAST_COMPILE")(*wl.values)
    for g, p, r in zip(got, peer, ref):
        assert np.asarray(g).dtype == np.asarray(p).dtype
        assert_close(g, p)
        assert_close(g, r)


STABILITY_CASES = [pytest.param(name, strict, id=f"{name}-{'rel' if strict else 'abs'}")
                   for name in STABLE for strict in (False, True)]


@pytest.mark.parametrize("name, strict", STABILITY_CASES)
def test_stability_fast_run(name, strict):
    """FAST_RUN rewrites the naive formulas: finite, accurate to 1e-12 absolutely ("abs") and,
    down to subnormals, to 1e-6 relatively ("rel")."""
    wl = quick(name)
    got = ef.function(wl.inputs, wl.outputs, mode="FAST_RUN")(*wl.values)
    for g, r in zip(got, wl.reference(*wl.values)):
        assert np.isfinite(g).all()
        if strict:
            assert_close(g, r, stable=True)
        else:
            np.testing.assert_allclose(g, r, rtol=RTOL, atol=1e-12)


# -- the stability references against Python's decimal -----------------------------------------
D = decimal.Decimal


def d_softplus(x):
    """log(1 + exp(x)): a series where 1 + exp(x) would round to 1."""
    t = D(float(x)).exp()
    return t - t * t / 2 if t < D("1e-25") else (1 + t).ln()


EXACT = {
    "stable_softplus": lambda x: [d_softplus(v) for v in x],
    "stable_logsumexp": lambda x: [sum(D(float(v)).exp() for v in row).ln() for row in x],
    "stable_sigmoid_xent": lambda z, y: [D(float(b)) * d_softplus(-a)
                                         + (1 - D(float(b))) * d_softplus(a)
                                         for a, b in zip(z, y)],
}


@pytest.mark.parametrize("name", STABLE)
def test_stability_reference_is_exact(name):
    """The float64 references are within a few ulps of a 60-digit computation."""
    wl = quick(name)
    with decimal.localcontext(prec=60):
        exact = np.array([float(v) for v in EXACT[name](*wl.values)])
    (ref,) = wl.reference(*wl.values)
    np.testing.assert_allclose(ref, exact, rtol=1e-13, atol=1e-300)
