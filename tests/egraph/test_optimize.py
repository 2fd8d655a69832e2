"""The optimizer end to end: budgets, the guarded worker, integration with function and modes,
and optimized-vs-unoptimized agreement on random expression DAGs."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eggflow as ef
import eggflow.tensor as T
from eggflow import rules
from eggflow.frontend.evaluate import evaluate
from eggflow.frontend.graph import toposort


def test_import_does_not_load_egglog():
    code = "import sys, eggflow, eggflow.tensor; print('egglog' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_optimize_returns_outputs_list_and_report():
    x = T.dvector("x")
    y = T.log(1 + T.exp(x))
    res = ef.optimize(y)
    assert isinstance(res.outputs, list) and len(res.outputs) == 1
    rep = res.report
    assert [p.name for p in rep.phases] == ["main"]
    p = rep.phases[0]
    assert p.iterations >= 1 and p.eclasses > 0 and p.enodes > 0 and p.stop_reason
    assert rep.cost_after <= rep.cost_before
    assert "phase" in str(rep) and "main" in str(rep)
    xv = np.array([-3.0, 0.0, 2.0])
    np.testing.assert_allclose(evaluate(res.outputs, {x: xv})[0], np.logaddexp(0, xv))


def test_budget_hit_is_reported_not_raised():
    x = T.dvector("x")
    terms = [T.exp(x * k) for k in range(1, 30)]
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    res = ef.optimize(total, budget={"iterations": 1})
    assert res.report.phases[0].stop_reason == "iteration budget"
    xv = np.linspace(-1, 1, 5)
    np.testing.assert_allclose(evaluate(res.outputs, {x: xv})[0], evaluate([total], {x: xv})[0])


def test_explosive_rules_leave_the_process_alive():
    a, b, c = rules.vars("a b c")
    explosive = rules.RuleSet("ac", "algebraic", [
        rules.rewrite("comm", a + b, b + a),
        rules.rewrite("assoc", (a + b) + c, a + (b + c)),
        rules.rewrite("assoc-rev", a + (b + c), (a + b) + c)])
    xs = [T.dscalar(f"x{k}") for k in range(50)]
    total = xs[0]
    for v in xs[1:]:
        total = total + v
    res = ef.optimize(total, rules=[explosive], budget={"enodes": 50_000, "seconds": 5})
    stop = res.report.phases[0].stop_reason if res.report.phases else res.report.fallback
    assert stop in ("e-node budget", "time budget", "iteration budget") or "worker" in stop
    vals = {v: float(k) for k, v in enumerate(xs)}
    assert float(evaluate(res.outputs, vals)[0]) == sum(range(50))


def test_thousand_node_graph_within_default_budget():
    rng = np.random.default_rng(1)
    x = T.dvector("x")
    nodes = [x]
    for k in range(1000):
        a, b = nodes[rng.integers(len(nodes))], nodes[-1]
        make = [T.add, T.mul, lambda p, q: T.tanh(p) - q, lambda p, q: T.exp(p) * q][k % 4]
        nodes.append(make(a, b))
    res = ef.optimize(nodes[-1])
    assert res.report.fallback is None
    assert res.report.phases[0].stop_reason in ("saturated", "iteration budget", "e-node budget",
                                                "time budget")


def test_function_modes_use_the_optimizer():
    x = T.dvector("x")
    f = ef.function([x], T.log(1 + T.exp(x)))
    assert f.report.optimization is not None
    assert f.report.phases[0].name == "main"
    assert "softplus" in {n.op for n in toposort(f.optimized_outputs)}
    np.testing.assert_allclose(f([1000.0, -1000.0, 0.0]), [1000.0, 0.0, np.log(2)])
    g = ef.function([x], T.log(1 + T.exp(x)), mode="FAST_COMPILE")
    assert g.report.optimization is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert np.isinf(g([1000.0])[0])


def test_debugmode_compares_and_names_the_output():
    x = T.dvector("x")
    f = ef.function([x], [T.exp(x) - 1, x * 2], mode="DebugMode")
    out = f([1e-10, 1.0])
    np.testing.assert_allclose(out[0], np.expm1([1e-10, 1.0]))
    y = rules.vars("y")[0]
    bad = rules.RuleSet("bad", "algebraic", [rules.rewrite("wrong", T.exp(y), y, subsume=True)])
    mode = ef.Mode(rules=[bad], check_types=True, compare=True, name="DebugMode")
    g = ef.function([x], [x * 2, T.exp(x)], mode=mode)
    with pytest.raises(ef.DebugModeError, match="output 1"):
        g([1.0, 2.0])


def test_excluding_finite_and_families():
    x = T.dvector("x")
    res = ef.optimize(T.log(1 + T.exp(x)), excluding=["stability"])
    assert "softplus" not in {n.op for n in toposort(res.outputs)}


# -- optimized == unoptimized on random DAGs ---------------------------------------------------
UNARY = [T.exp, T.tanh, T.neg, T.sqr, T.sigmoid, T.softplus, lambda v: T.log(1 + T.exp(v)),
         lambda v: T.exp(v) - 1, lambda v: v * 1, lambda v: v + 0, lambda v: v**2,
         lambda v: T.log(T.exp(v)), lambda v: T.sqrt(v**2), lambda v: 1 / (1 + T.exp(-v)),
         lambda v: T.exp(v) / (1 + T.exp(v)), lambda v: v - v, lambda v: v * 0 + 2.5,
         lambda v: T.sum(v) * v, lambda v: T.log(1 - T.sigmoid(v)), lambda v: (v + v) * 0.5,
         lambda v: T.exp(T.log(T.exp(v)))]
BINARY = [T.add, T.sub, T.mul, T.maximum, lambda a, b: a * T.exp(b) + a * b,
          lambda a, b: T.log(T.exp(a) + T.exp(b)), lambda a, b: T.exp(a) * T.exp(b),
          lambda a, b: a / (1 + b * b), lambda a, b: (-a) * (-b) - b * (-a)]


@st.composite
def dags(draw):
    x, y = T.dvector("x"), T.dvector("y")
    nodes = [x, y]
    for _ in range(draw(st.integers(1, 150))):  # up to ~200 nodes with the composite forms
        if draw(st.booleans()):
            f = draw(st.sampled_from(UNARY))
            nodes.append(f(nodes[draw(st.integers(0, len(nodes) - 1))]))
        else:
            f = draw(st.sampled_from(BINARY))
            a = nodes[draw(st.integers(0, len(nodes) - 1))]
            b = nodes[draw(st.integers(0, len(nodes) - 1))]
            nodes.append(f(a, b))
    return x, y, nodes[-1].sum()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dags())
def test_optimized_matches_unoptimized_on_random_dags(case):
    x, y, out = case
    res = ef.optimize(out)
    rng = np.random.default_rng(0)
    feed = {x: rng.uniform(-1, 1, 4), y: rng.uniform(-1, 1, 4)}
    with np.errstate(all="ignore"):
        want = evaluate([out], feed)[0]
        got = evaluate(res.outputs, feed)[0]
    if np.isfinite(want):  # stability rewrites remove cancellation the unoptimized form has:
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-12)  # ~1e-9 differences


def test_export_json_is_egraph_serialize_with_costs(tmp_path):
    import json

    x = T.dvector("x")
    res = ef.optimize(T.log(1 + T.exp(x)) * 2)
    data = json.load(open(res.export_json(tmp_path / "eg.json")))
    nodes = data["nodes"]
    assert data["root_eclasses"] and all(any(n["eclass"] == r for n in nodes.values())
                                         for r in data["root_eclasses"])
    for nid, nd in nodes.items():
        assert {"op", "children", "eclass", "cost"} <= set(nd)
        assert all(c in nodes for c in nd["children"]), (nid, nd)
    ops = {nd["op"]: nd["cost"] for nd in nodes.values()}
    assert ops["Softplus"] < 1e30 and ops["Log1p"] == 1e30  # log1p(exp) is subsumed


def test_script_without_main_guard_is_optimized(tmp_path):
    """The e-graph worker is a plain subprocess: a user's script without
    ``if __name__ == '__main__'`` is not re-run in it (multiprocessing's spawn would)."""
    script = tmp_path / "model.py"
    script.write_text(
        "import warnings\nwarnings.simplefilter('error')\n"
        "import eggflow as ef, eggflow.tensor as T\n"
        "x = T.dvector('x')\n"
        "f = ef.function([x], T.log(1 + T.exp(x)))\n"
        "print('RUN', f.report.optimization.fallback, float(f([1000.0])[0]))\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("RUN") == 1 and "RUN None 1000.0" in out.stdout


def test_bad_optimizer_arguments_are_clear_errors():
    x = T.dvector("x")
    with pytest.raises(ValueError, match="unknown extractor 'fastest'.*greedy"):
        ef.optimize(T.exp(x), extractor="fastest")
    with pytest.raises(ValueError, match=r"unknown budget field\(s\) \['iters'\]"):
        ef.optimize(T.exp(x), budget={"iters": 3})
    with pytest.raises(ValueError, match="unknown rules entry 'speed'"):
        ef.optimize(T.exp(x), rules=["speed"])


def test_same_graph_and_settings_hit_the_cache():
    x = T.dvector("x")
    out = T.log(1 + T.exp(x)) * 3
    first = ef.optimize(out)
    again = ef.optimize(T.log(1 + T.exp(x)) * 3)  # rebuilt: the same hash-consed nodes
    assert again.report.cached and not first.report.cached
    assert again.outputs == first.outputs and "cached" in str(again.report)
    other = ef.optimize(out, excluding=["stability"])  # other settings: computed anew
    assert not other.report.cached and "softplus" not in {n.op for n in toposort(other.outputs)}
