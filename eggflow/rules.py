"""``from eggflow import rules``: the rule DSL (the built-in rules are written with it too).

    x, y = rules.vars("x y")
    r = rules.rewrite("log1p", T.log(1 + x), T.log1p(x))
    s = rules.RuleSet("mine", family="stability"); s.add(r)
    rules.check(s).ok
"""

from .egraph_rules.dsl import (ASSUMPTIONS, FACTS, FAMILIES, Cond, ParamVar, Rule,  # noqa: F401
                               fold,
                               RuleSet, birewrite, const, fact, has_ndim, is_float, is_int,
                               nonneg, nonzero, op, param, positive, rewrite, same_broadcast,
                               same_dtype,
                               same_shape, value, vars)
from .egraph_rules.plugins import PluginError, load  # noqa: F401


def check(rule_or_ruleset, **kwargs):
    """Soundness check by random evaluation of both sides; see egraph_rules/check.py."""
    from .egraph_rules.check import check as _check

    return _check(rule_or_ruleset, **kwargs)


def builtin():
    """family -> RuleSet of the built-in rules."""
    from .egraph_rules.library import builtin as _builtin

    return _builtin()
