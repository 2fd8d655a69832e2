"""encode -> egglog (no rules) -> read back -> decode gives back the very same graph, for every op.

With no rules every e-class holds exactly the node it was encoded from, and decoding rebuilds
nodes through the hash-consing constructor: the round trip must return the *identical* nodes.
"""

import json

import numpy as np
import pytest

import eggflow.tensor as T
from eggflow.frontend.op import apply, apply_node
from eggflow.egraph_rules.egglog_text import (decode, decode_scalar, encode, read_egraph,
                                               scalar_key)
from eggflow.egraph_rules.saturate import Budget, run_phase
from eggflow.frontend.graph import toposort
from eggflow.frontend.op import OPS

INPROCESS = Budget(isolate=False, iterations=3)


def _every_op_graph():
    x, y = T.dmatrices("x", "y")
    v = T.dvector("v")
    b = T.bmatrix("b")
    i = T.lvector("i")
    t3 = T.dtensor3("t3")
    s = T.dscalar("s")
    outs = [x + y, x - y, x * y, x / y, x // y, x % y, x**y, T.maximum(x, y), T.minimum(x, y),
            x < y, x > y, x <= y, x >= y, T.eq(x, y), T.neq(x, y), b & b, b | b, b ^ b, ~b]
    outs += [getattr(T, f)(x) for f in (
        "neg", "abs", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "sqr",
        "reciprocal", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
        "erf", "sigmoid", "softplus", "floor", "ceil", "sgn", "identity")]
    outs += [T.round(x), T.round(x, "half_away_from_zero"), T.cast(x, "float32"),
             T.switch(x > 0, x, y), T.clip(x, 0.25, 0.75), x.shape, x.shape[0] + 0,
             x.dimshuffle(1, "x", 0), T.alloc(s, 3, x.shape[1]), x.reshape((-1,)),
             T.concatenate([x, y], axis=1), T.arange(x.shape[0]), x.sum(axis=1),
             x.prod(axis=0), x.max(), x.min(axis=1), (x > 0).all(), (x > 0).any(axis=0),
             x.argmax(axis=1), x.argmin(axis=0), T.dot(x, y), T.dot(x, v), T.dot(t3, x),
             T.batched_dot(t3, t3), x[1:, ::2], x[i], x[i, i], T.set_subtensor(x[i], 0.5),
             T.inc_subtensor(x[1:], y[1:]), T.nnet.softmax(x), T.nnet.log_softmax(x),
             T.zeros_like(x), T.ones_like(x),
             T.nnet.logsumexp(x, axis=1), x * 2.5 + np.float32(3) - (x * np.arange(4.0)[:, None])]
    split = [o for o in toposort([T.grad(T.concatenate([v, v]).sum(), v)]) if o.op == "split"]
    outs += split
    outs += [T.jacobian(v**2, v)]  # map_index: an opaque leaf for the e-graph
    ld = apply("load", x)  # the late phase's ops (frontend/kernel.py)
    w = T.dvector("w")
    outs += [apply("kernel", T.exp(ld)), apply("kernel_i", apply("inline", ld) + 1),
             apply_node("kreduce", (T.sqr(ld),), (("axis", (1,)), ("op", "sum")))]
    for name in ("gemm", "gemm_i"):
        outs.append(apply(name, x, s, x, y, 0.5))
    for name in ("gemv", "gemv_i"):
        outs.append(apply(name, v, s, x, w, 1.0))
    for name in ("ger", "ger_i"):
        outs.append(apply(name, x, s, v, w))
    outs += [apply("set_subtensor_i", x, 0.5, i, idx=(("array", 0),)),
             apply("inc_subtensor_i", x, y, idx=(("slice", None, None, None),))]
    return outs


def _round_trip(outputs):
    enc = encode(outputs)
    serialized, record = run_phase(enc.text, list(enc.ctors), INPROCESS, "main")
    eg, seeds = read_egraph(serialized, enc)
    classes = eg.classes()
    assert all(len(c) == 1 for c in classes), "no rules: one e-node per e-class"
    choice = {k: c[0] for k, c in enumerate(classes)}
    return enc, eg, seeds, record, decode(eg, choice, eg.roots)


def test_round_trip_every_op_gives_identical_nodes():
    outputs = _every_op_graph()
    ops = {n.op for n in toposort(outputs)}
    missing = set(OPS) - ops
    assert not missing, f"the round-trip graph lacks {missing}"
    enc, eg, seeds, record, back = _round_trip(outputs)
    assert record.stop_reason == "saturated"
    for a, b in zip(outputs, back):
        assert a is b, (a, b)
    assert len(seeds) == eg.nclasses  # every class of the DAG carries its frontend type
    for _cls, t in seeds.items():
        assert t.dtype is not None


def test_scalar_constants_keep_value_dtype_and_weakness():
    cases = [T.constant(1), T.constant(2.5), T.constant(-3, dtype="int8"),
             T.constant(0.1, dtype="float32"), T.constant(True), T.constant(1e-300),
             T.constant(np.float64(7.0))]
    for c in cases:
        key, value = scalar_key(c)
        assert decode_scalar(key, value) is c
    for c in [T.constant(np.inf), T.constant(np.nan), T.constant(2**60 + 1), T.constant(1j)]:
        assert scalar_key(c) is None  # kept as a leaf instead


def test_type_facts_are_in_the_egraph():
    x = T.tensor("float32", shape=(3, None), name="x")
    enc = encode([T.exp(x)])
    serialized, _ = run_phase(enc.text, list(enc.ctors), INPROCESS, "main")
    ops = {n["op"] for n in json.loads(serialized)["nodes"].values()}
    assert {"dtype", "kind", "ndim"} <= ops
    assert '"float32"' in ops


def test_param_strings_with_quotes_survive():
    x = T.dmatrix("x")
    out = T.cast(x[::-1, 1:], "int8")  # params hold strings and tuples
    enc, eg, seeds, record, back = _round_trip([out])
    assert back[0] is out


@pytest.mark.parametrize("n", [200, 2000])
def test_insertion_is_fast_enough_for_large_dags(n):
    x = T.dvector("x")
    nodes = [x]
    rng = np.random.default_rng(0)
    for k in range(n):
        a, b = nodes[rng.integers(len(nodes))], nodes[rng.integers(len(nodes))]
        nodes.append([T.add, T.mul, lambda p, q: T.tanh(p) - q][k % 3](a, b))
    enc, eg, seeds, record, back = _round_trip([nodes[-1]])
    assert back[0] is nodes[-1]
