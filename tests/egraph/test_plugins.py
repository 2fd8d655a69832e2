"""rules.load: a plain Python rule file, written with the public DSL, used by a Mode."""

import numpy as np
import pytest

import eggflow as ef
import eggflow.tensor as T
from eggflow import rules

PLUGIN = '''
import eggflow.tensor as T
from eggflow import rules

x, = rules.vars("x")
# 2 sigmoid(2x) - 1 = tanh(x)
MINE = rules.RuleSet("mine", family="algebraic", rules=[
    rules.rewrite("tanh-via-sigmoid", 2 * T.sigmoid(2 * x) - 1, T.tanh(x),
                  when=rules.is_float(x)),
])
'''


def test_load_and_use_a_rule_file(tmp_path):
    path = tmp_path / "my_rules.py"
    path.write_text(PLUGIN)
    (rs,) = rules.load(path)
    assert rs.name == "mine" and [r.name for r in rs] == ["tanh-via-sigmoid"]
    assert rs.rules[0].source.startswith(str(path))
    assert rules.check(rs).ok
    v = T.dvector("v")
    f = ef.function([v], 2 * T.sigmoid(2 * v) - 1, mode=ef.Mode(rules=["default", str(path)]))
    assert f.report.rules_fired["tanh-via-sigmoid"] == 1
    assert [n.op for n in f.optimized_outputs] == ["tanh"]
    np.testing.assert_allclose(f(np.array([0.0, 1.0])), np.tanh([0.0, 1.0]))


def test_load_errors_name_the_file_and_line(tmp_path):
    with pytest.raises(rules.PluginError, match="does not exist"):
        rules.load(tmp_path / "missing.py")
    bad = tmp_path / "bad.py"
    bad.write_text("from eggflow import rules\nx, = rules.vars('x')\nrules.rewrite('r', x, x)\n")
    with pytest.raises(rules.PluginError, match=r"bad\.py:3: ValueError: rule r: the left side"):
        rules.load(bad)
    empty = tmp_path / "empty.py"
    empty.write_text("A = 1\n")
    with pytest.raises(rules.PluginError, match="defines no RuleSet"):
        rules.load(empty)
