"""An example rule plugin: `eggflow rules check examples/plugin_rules.py`, then
`Mode(rules=["default", "examples/plugin_rules.py"])` (or EGGFLOW_RULES=examples/plugin_rules.py).

A plugin is a plain Python file using the public DSL. Each RuleSet names its family: the phase
it joins ("algebraic"/"stability": the main phase; "layout"/"fusion"/"inplace": the late phase).
"""

import eggflow.tensor as T
from eggflow import rules

x, y = rules.vars("x y")

mine = rules.RuleSet("example", family="algebraic")
# 2 sigmoid(2x) - 1 = tanh(x)
mine.add(rules.rewrite("tanh-via-sigmoid", 2 * T.sigmoid(2 * x) - 1, T.tanh(x),
                       when=rules.is_float(x)))
# exp(x) * exp(y) = exp(x + y): one transcendental instead of two
mine.add(rules.rewrite("exp-times-exp", T.exp(x) * T.exp(y), T.exp(x + y),
                       when=[rules.is_float(x), rules.same_dtype(x, y)]))


class SquareCost:
    """A toy cost model (Mode(cost="square")): every op costs 1, except exp and tanh, 10."""

    def cost(self, op, input_types, output_type):
        return 0.0 if op == "leaf" else 10.0 if op in ("exp", "tanh") else 1.0


COST_MODELS = {"square": SquareCost}
