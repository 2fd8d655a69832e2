"""The soundness checker itself: it must catch unsound rules and name a counterexample."""

import numpy as np
import pytest

import eggflow.tensor as T
from eggflow import rules

x, y, z = rules.vars("x y z")


def _fails(rule, needle=""):
    res = rules.check(rule)
    assert not res.ok, f"{rule.name} should have failed"
    assert res.counterexample is not None and rule.name in res.message
    assert needle in res.message, res.message
    return res


def test_wrong_law_is_caught_with_a_counterexample():
    res = _fails(rules.rewrite("bad-sub", x - y, y - x, when=rules.is_float(x)), "values differ")
    ce = res.counterexample
    assert set(ce.inputs) == {"x", "y"}
    assert "inputs:" in str(ce)


def test_wrong_constant_is_caught():
    _fails(rules.rewrite("bad-log1p", T.log(2 + x), T.log1p(x), when=rules.is_float(x)))


def test_type_change_is_caught():
    # int x: x * 1.0 is float64, x is not; the checker draws int inputs when allowed
    _fails(rules.rewrite("untyped-mul-one", x * 1, x), "types differ")


def test_x_minus_x_is_unsound_without_finite_assumption():
    zero = rules.rewrite("sub-self-bad", x - x, T.zeros_like(x), when=rules.is_float(x))
    _fails(zero)  # inf - inf is nan, not 0
    ok = rules.rewrite("sub-self-ok", x - x, T.zeros_like(x), when=rules.is_float(x),
                       assumes=("finite",))
    assert rules.check(ok).ok


def test_exp_log_needs_positivity():
    _fails(rules.rewrite("exp-log-bad", T.exp(T.log(x)), x, when=rules.is_float(x)))


def test_missing_broadcast_condition_is_caught():
    # sum(x + y) = sum(x) + sum(y) is wrong when y broadcasts against x
    _fails(rules.rewrite("sum-add-bad", T.sum(x + y), T.sum(x) + T.sum(y),
                         when=[rules.is_float(x), rules.same_dtype(x, y)]))


def test_stable_rewrite_passes_and_unstable_inverse_fails():
    # a stability rule may be more accurate than its left side (judged in its family)
    good = rules.RuleSet("s", family="stability", rules=[
        rules.rewrite("sp", T.log1p(T.exp(x)), T.softplus(x), when=rules.is_float(x))])
    assert rules.check(good).ok
    # the reverse direction overflows where the left side does not
    bad = rules.RuleSet("s", family="stability", rules=[
        rules.rewrite("sp-rev", T.softplus(x), T.log1p(T.exp(x)), when=rules.is_float(x))])
    res = rules.check(bad)
    assert not res.ok and "sp-rev" in res.message


def test_false_fact_is_caught():
    _fails(rules.fact("tanh-positive", T.tanh(x), "positive"), "fact positive")
    assert rules.check(rules.fact("exp-pos", T.exp(x), "positive")).ok


def test_ruleset_result_lists_each_rule():
    s = rules.RuleSet("mixed", family="algebraic")
    s.add(rules.rewrite("fine", x + 0, x, when=rules.is_float(x)),
          rules.rewrite("wrong", x * 2, x + 2, when=rules.is_float(x)))
    res = rules.check(s)
    assert not res.ok
    assert res["fine"].ok and not res["wrong"].ok
    assert [r.rule.name for r in res.failures] == ["wrong"]


def test_check_is_reproducible():
    r = rules.rewrite("bad-sub2", x - y, y - x, when=rules.is_float(x))
    a, b = rules.check(r, seed=3), rules.check(r, seed=3)
    np.testing.assert_equal(a.counterexample.inputs, b.counterexample.inputs)


def test_check_rejects_non_rules():
    with pytest.raises(TypeError, match="rules or rule sets"):
        rules.check([42])


def test_stability_rule_that_cancels_is_caught():
    # t softplus(-z) + (1 - t) softplus(z) = softplus(z) - t z is an identity, but the right
    # side cancels at t = 1, z = 20 (relative error 3e-8 where the left side is exact)
    t = rules.vars("t")[0]
    r = rules.RuleSet("s", family="stability", rules=[rules.rewrite(
        "xent-cancels", t * T.softplus(-x) + (1 - t) * T.softplus(x), T.softplus(x) - t * x,
        when=[rules.is_float(x), rules.same_dtype(t, x)], assumes=("finite",))])
    res = rules.check(r, n_trials=400)
    assert not res.ok and "xent-cancels" in res.message
