"""The optimized-graph disk cache (eggflow/graph_cache.py)."""

import json
import subprocess
import sys
import textwrap

import numpy as np

import eggflow as ef
import eggflow.tensor as T
from eggflow import graph_cache
from eggflow.frontend.graph import constant


def test_a_graph_round_trips_to_the_same_nodes():
    x, y = T.dmatrix("x"), T.fvector("y")
    w = ef.shared(np.ones(3, "f4"), "w")
    outs = [T.exp(x) * 2.5 + constant(np.arange(3.0)), (y + w)[1:] * np.float32(3),
            T.sum(x, axis=1) + constant(7, dtype="int64"), x.dimshuffle(1, "x", 0)]
    data, leaves = graph_cache.encode_graph(outs)
    assert json.loads(json.dumps(data)) == data  # plain data
    again = graph_cache.decode_graph(json.loads(json.dumps(data)), leaves)
    assert again == outs  # hash-consed: the very same nodes
    assert [leaf.name for leaf in leaves] == ["x", "y", "w"]


def test_the_same_program_over_other_types_is_another_entry():
    """Rewrites depend on types (gemv for a vector, gemm for a matrix; integer-only laws), so a
    graph optimized for one dtype or rank must never be reused for another."""
    def entry(x, y):
        return graph_cache.key(graph_cache.encode_graph([x + T.dot(y, x) * 0])[0], [])

    keys = {entry(T.dvector("x"), T.dmatrix("y")), entry(T.lvector("x"), T.lmatrix("y")),
            entry(T.fvector("x"), T.fmatrix("y")), entry(T.dmatrix("x"), T.dmatrix("y")),
            entry(T.tensor("float64", shape=(1, None), name="x"), T.dmatrix("y"))}
    assert len(keys) == 5
    assert entry(T.dvector("a"), T.dmatrix("b")) == entry(T.dvector("x"), T.dmatrix("y"))


def test_a_zero_d_constant_stays_zero_d():
    c = constant(np.array(7))
    data, leaves = graph_cache.encode_graph([c + 1])
    (back,) = graph_cache.decode_graph(data, leaves)
    assert back.inputs[0].type.ndim == 0 and back.type == (c + 1).type


SCRIPT = textwrap.dedent("""
    import sys, numpy as np, eggflow as ef, eggflow.tensor as T
    ef.config.compiledir = sys.argv[1]
    x = T.dvector("x")
    f = ef.function([x], T.log(1 + T.exp(x)) * 2)
    v = f(np.array([0.0, 1000.0]))
    print(f.report.optimization.cached, repr(v.tolist()))
""")


def _run(tmp_path):
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True,
                         text=True, check=True, timeout=300)
    cached, values = out.stdout.split(" ", 1)
    return cached == "True", values


def test_a_second_process_reuses_the_optimized_graph(tmp_path):
    first, v1 = _run(tmp_path)
    second, v2 = _run(tmp_path)
    assert not first and second and v1 == v2
    entries = list((tmp_path / "graphs").rglob("*.json"))
    assert len(entries) == 1
    entries[0].write_text("{ not json")  # a corrupt entry is ignored, then rewritten
    third, v3 = _run(tmp_path)
    assert not third and v3 == v1
    assert json.loads(entries[0].read_text())["graph"]["rows"]


def test_other_settings_or_code_give_other_keys():
    x = T.dvector("x")
    data, _ = graph_cache.encode_graph([T.exp(x)])
    assert graph_cache.key(data, ["a"]) != graph_cache.key(data, ["b"])
    assert len(graph_cache.code_fingerprint()) == 64
