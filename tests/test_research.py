"""The research API: rule plugins by every loading route, the checks they pass through, the
`eggflow rules` command, custom cost models and extractors, and looking inside the e-graph
(OptimizationResult.eclass/equivalents/explain/draw/export_json). docs/research.md is the
tutorial for all of it (tests/test_docs.py runs it)."""

import io
import json
import os
import re
import shutil
import subprocess
import sys
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

import eggflow as ef
import eggflow.tensor as T
from eggflow import rules
from eggflow.egraph_rules import plugins
from eggflow.egraph_rules.cost import CostModel, NodeCountCost
from eggflow.egraph_rules.extract import EXTRACTORS, greedy
from eggflow.frontend.graph import toposort
from eggflow.optimize import OptimizerWarning
from eggflow.rules_cli import main as rules_cli

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = str(REPO / "examples" / "plugin_rules.py")

UNSOUND = '''\
import eggflow.tensor as T
from eggflow import rules

x, y = rules.vars("x y")

wrong = rules.RuleSet("wrong", family="algebraic")
# exp(x + y) = exp(x) + exp(y)   (it is not)
wrong.add(rules.rewrite("exp-of-sum", T.exp(x + y), T.exp(x) + T.exp(y),
                        when=rules.is_float(x)))
'''
UNSOUND_LINE = 8  # the line of rules.rewrite above

CAST = '''\
import eggflow.tensor as T
from eggflow import rules

x, = rules.vars("x")
casts = rules.RuleSet("casts", family="algebraic")
casts.add(rules.rewrite("drop-cast", T.cast(x, "float32"), x, when=rules.is_float(x)))
'''

HYPERBOLIC = '''\
import eggflow.tensor as T
from eggflow import rules

x, = rules.vars("x")
# (exp(x) - exp(-x)) / 2 = sinh(x)
SINH = rules.RuleSet("sinh", family="algebraic", rules=[
    rules.rewrite("sinh-via-exp", (T.exp(x) - T.exp(-x)) / 2, T.sinh(x),
                  when=rules.is_float(x))])
'''


def tanh_graph(name="v"):
    v = T.dvector(name)
    return v, 2 * T.sigmoid(2 * v) - 1


def ops(outputs):
    return {n.op for n in toposort(list(outputs)) if n.inputs}


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture
def registries():
    """Plugins register cost models and extractors globally: put the tables back."""
    saved = dict(EXTRACTORS), dict(plugins.COST_MODELS)
    yield
    EXTRACTORS.clear()
    EXTRACTORS.update(saved[0])
    plugins.COST_MODELS.clear()
    plugins.COST_MODELS.update(saved[1])


@pytest.fixture
def config_rules(monkeypatch):
    """Set ef.config.rules for one test (monkeypatch restores it)."""
    monkeypatch.setattr(ef.config, "rules", ef.config.rules)

    def set_rules(*paths):
        ef.config.rules = os.pathsep.join(str(p) for p in paths)

    return set_rules


def fake_entry_points(monkeypatch, *entries):
    """Make plugins.configured() see these (name, value) entry points of group eggflow.rules:
    it asks importlib.metadata.entry_points(group=...) once per process and keeps the answer
    in plugins._CHECKED["entry points"], so both are replaced (and restored after the test)."""
    eps = [metadata.EntryPoint(name, value, "eggflow.rules") for name, value in entries]

    def entry_points(**params):
        if params.get("group") == "eggflow.rules":
            return metadata.EntryPoints(eps)
        return metadata.EntryPoints([])

    monkeypatch.setattr(metadata, "entry_points", entry_points)
    monkeypatch.setitem(plugins._CHECKED, "entry points", list(eps))


def module_name(tmp_path, stem):
    """A module name unique to this test (entry points are cached by their value)."""
    return f"{stem}_{re.sub(r'\\W', '_', tmp_path.name)}"


# -- loading routes ----------------------------------------------------------------------------
def test_rules_load_returns_the_rulesets_without_checking(tmp_path):
    (example,) = rules.load(EXAMPLE)
    assert example.name == "example" and example.family == "algebraic"
    assert [r.name for r in example] == ["tanh-via-sigmoid", "exp-times-exp"]
    assert example.rules[0].source.startswith(EXAMPLE + ":")
    (wrong,) = rules.load(write(tmp_path, "unsound.py", UNSOUND))  # not checked: loads
    assert [r.name for r in wrong] == ["exp-of-sum"]
    with pytest.raises(rules.PluginError, match="exp-of-sum"):
        rules.load(tmp_path / "unsound.py", check=True)


def test_loose_rules_form_one_set_named_after_the_file(tmp_path):
    path = write(tmp_path, "loose_rules.py", (
        "import eggflow.tensor as T\nfrom eggflow import rules\n\nx, = rules.vars('x')\n"
        "R = rules.rewrite('sinh-via-exp', (T.exp(x) - T.exp(-x)) / 2, T.sinh(x),\n"
        "                  when=rules.is_float(x))\n"))
    (rs,) = rules.load(path)
    assert rs.name == "loose_rules" and [r.name for r in rs] == ["sinh-via-exp"]


def test_mode_route_changes_the_extracted_graph(registries):
    v, out = tanh_graph()
    f = ef.function([v], out, mode=ef.Mode(rules=["default", EXAMPLE]))
    assert f.report.rules_fired["tanh-via-sigmoid"] == 1
    assert "tanh" in ops(f.optimized_outputs) and "sigmoid" not in ops(f.optimized_outputs)
    x = np.linspace(-3, 3, 7)
    np.testing.assert_allclose(f(x), np.tanh(x), rtol=1e-12, atol=1e-15)
    # without the plugin the built-in rules keep the sigmoid form
    plain = ef.optimize(out)
    assert "sigmoid" in ops(plain.outputs) and "tanh-via-sigmoid" not in plain.report.rules_fired


def test_optimize_route_with_a_ruleset_object_and_a_path(tmp_path):
    path = write(tmp_path, "hyper.py", HYPERBOLIC)
    v = T.dvector("v")
    out = (T.exp(v) - T.exp(-v)) / 2
    (rs,) = rules.load(path)
    for spec in (["default", str(path)], ["default", rs]):
        res = ef.optimize(out, rules=spec)
        assert [o.op for o in res.outputs] == ["sinh"], spec


def test_config_rules_route(tmp_path, config_rules):
    hyper = write(tmp_path, "hyper.py", HYPERBOLIC)
    config_rules(EXAMPLE, hyper)  # two files, separated by os.pathsep
    v, out = tanh_graph()
    a = T.dvector("a")
    res = ef.optimize([out, (T.exp(a) - T.exp(-a)) / 2])  # rules=None: "default"
    assert res.report.rules_fired["tanh-via-sigmoid"] == 1
    assert res.report.rules_fired["sinh-via-exp"] == 1
    assert [o.op for o in res.outputs] == ["tanh", "sinh"]
    f = ef.function([v], out, mode="FAST_COMPILE")  # no optimizer: config.rules has no say
    assert "sigmoid" in ops(f.optimized_outputs)


def test_eggflow_rules_environment_variable_is_read_at_import():
    code = ("import eggflow as ef, eggflow.tensor as T\n"
            "v = T.dvector('v')\n"
            "res = ef.optimize(2 * T.sigmoid(2 * v) - 1)\n"
            "print(ef.config.rules, [o.op for o in res.outputs])\n")
    env = dict(os.environ, EGGFLOW_RULES=EXAMPLE)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"{EXAMPLE} ['tanh']"


def test_entry_point_naming_a_ruleset(tmp_path, monkeypatch):
    mod = module_name(tmp_path, "ep_ruleset")
    write(tmp_path, f"{mod}.py", HYPERBOLIC)
    monkeypatch.syspath_prepend(str(tmp_path))
    fake_entry_points(monkeypatch, ("sinh", f"{mod}:SINH"))
    (found,) = plugins.configured()
    assert found.name == "sinh"
    a = T.dvector("a")
    res = ef.optimize((T.exp(a) - T.exp(-a)) / 2)
    assert [o.op for o in res.outputs] == ["sinh"]


def test_entry_point_naming_a_module_registers_its_cost_models(tmp_path, monkeypatch,
                                                               registries):
    mod = module_name(tmp_path, "ep_module")
    write(tmp_path, f"{mod}.py", Path(EXAMPLE).read_text())
    monkeypatch.syspath_prepend(str(tmp_path))
    fake_entry_points(monkeypatch, ("example", mod))
    plugins.COST_MODELS.pop("square", None)
    v, out = tanh_graph()
    res = ef.optimize(out)
    assert [o.op for o in res.outputs] == ["tanh"]
    assert "square" in plugins.COST_MODELS  # the module's COST_MODELS were registered
    # under that cost model (tanh 10, others 1) the sigmoid form is cheaper
    assert [o.op for o in ef.optimize(out, cost="square").outputs] == ["sub"]


def test_entry_point_naming_a_list_of_rulesets(tmp_path, monkeypatch):
    mod = module_name(tmp_path, "ep_list")
    write(tmp_path, f"{mod}.py", HYPERBOLIC + "ALL = [SINH]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    fake_entry_points(monkeypatch, ("all", f"{mod}:ALL"))
    assert [rs.name for rs in plugins.configured()] == ["sinh"]


def test_unsound_entry_point_is_refused(tmp_path, monkeypatch):
    mod = module_name(tmp_path, "ep_unsound")
    path = write(tmp_path, f"{mod}.py", UNSOUND)
    monkeypatch.syspath_prepend(str(tmp_path))
    fake_entry_points(monkeypatch, ("wrong", f"{mod}:wrong"))
    for _ in range(2):  # never cached as checked: it raises every time
        with pytest.raises(rules.PluginError) as info:
            ef.optimize(T.exp(T.dvector("a")))
        message = str(info.value)
        assert f"{path}:{UNSOUND_LINE}" in message and "'exp-of-sum'" in message
        assert "failed the soundness check" in message and "inputs:" in message


def test_entry_point_that_fails_to_import(monkeypatch):
    fake_entry_points(monkeypatch, ("gone", "no_such_module_for_eggflow_rules:RULES"))
    with pytest.raises(rules.PluginError, match=r"entry point gone \(no_such_module_for_eggflow"
                                                r"_rules:RULES\).*failed to import"):
        ef.optimize(T.exp(T.dvector("a")))


# -- unsound, ill-typed and broken plugins ------------------------------------------------------
def test_unsound_rule_is_caught_with_a_counterexample(tmp_path):
    path = write(tmp_path, "unsound.py", UNSOUND)
    result = rules.check(rules.load(path))
    assert not result.ok
    cex = result.counterexample
    assert cex.rule == "exp-of-sum" and cex.source == f"{path}:{UNSOUND_LINE}"
    assert sorted(cex.inputs) == ["x", "y"]
    x, y = (np.asarray(cex.inputs[k], np.float64) for k in "xy")
    lhs, rhs = np.asarray(cex.lhs, np.float64), np.asarray(cex.rhs, np.float64)
    assert not np.allclose(lhs, rhs)  # the two sides really differ there
    np.testing.assert_allclose(lhs, np.exp(x + y), rtol=1e-5)  # and the left side is exp(x+y)
    assert "values differ" in result.results[0].message


def test_unsound_rule_file_is_refused_by_mode_and_config(tmp_path, config_rules):
    path = write(tmp_path, "unsound.py", UNSOUND)
    v = T.dvector("v")
    where = f"{path}:{UNSOUND_LINE}: rule 'exp-of-sum'"
    with pytest.raises(rules.PluginError) as info:
        ef.function([v], T.exp(v + v), mode=ef.Mode(rules=["default", str(path)]))
    assert str(info.value).startswith(where)
    assert "failed the soundness check and is not used" in str(info.value)
    config_rules(path)
    for _ in range(2):  # not cached as checked: refused each time
        with pytest.raises(rules.PluginError) as info:
            ef.optimize(T.exp(v + v))
        assert str(info.value).startswith(where)


def test_plugin_that_fails_to_import_names_file_and_line(tmp_path):
    path = write(tmp_path, "imports.py", "from eggflow import rules\n\nimport no_such_mod_xyz\n")
    with pytest.raises(rules.PluginError,
                       match=rf"{re.escape(str(path))}:3: ModuleNotFoundError: .*no_such_mod_xyz"):
        rules.load(path)
    with pytest.raises(rules.PluginError, match=rf"{re.escape(str(path))}:3"):
        ef.optimize(T.exp(T.dvector("a")), rules=["default", str(path)])


@pytest.mark.parametrize("pattern, error", [
    ('rules.op("exp", x, y)', r"TypeError: exp takes 1 inputs, got 2"),
    ('rules.op("no_such_op", x)', r"KeyError: .*unknown op 'no_such_op'"),
    ("T.exp(x, y)", r"TypeError"),
])
def test_malformed_pattern_names_file_and_line(tmp_path, pattern, error):
    path = write(tmp_path, "malformed.py", (
        "import eggflow.tensor as T\nfrom eggflow import rules\n\nx, y = rules.vars('x y')\n"
        "R = rules.RuleSet('r', family='algebraic')\n"
        f"R.add(rules.rewrite('bad', {pattern}, x))\n"))
    with pytest.raises(rules.PluginError, match=rf"{re.escape(str(path))}:6: {error}"):
        rules.load(path)


def test_rule_changing_the_type_is_reported(tmp_path):
    path = write(tmp_path, "casts.py", CAST)
    result = rules.check(rules.load(path))
    assert not result.ok and "types differ" in result.results[0].message
    assert "float32" in result.results[0].message and "float64" in result.results[0].message
    with pytest.raises(rules.PluginError, match=rf"{re.escape(str(path))}:6: rule 'drop-cast'.*"
                                                "types differ"):
        ef.optimize(T.cast(T.dvector("v"), "float32"), rules=["default", str(path)])
    out = io.StringIO()
    from eggflow.rules_cli import check_files

    assert check_files([str(path)], out=out, workloads=["seeds"]) == 1
    row = next(line for line in out.getvalue().splitlines() if "drop-cast" in line)
    cells = [c.strip() for c in row.split("│")[1:-1]]
    assert cells[:5] == ["drop-cast", "algebraic", "yes", "NO", "-"]


# -- the command line ---------------------------------------------------------------------------
def table_rows(text, rule):
    return [[c.strip() for c in line.split("│")[1:-1]] for line in text.splitlines()
            if line.startswith("│ " + rule + " ")]


def test_rules_check_exit_status(tmp_path, capsys):
    assert rules_cli(["check", EXAMPLE, "-w", "seeds"]) == 0
    out = capsys.readouterr().out
    for name in ("tanh-via-sigmoid", "exp-times-exp"):
        (row,) = table_rows(out, name)
        assert row[1:5] == ["algebraic", "yes", "ok", "ok"]
    (row,) = table_rows(out, "tanh-via-sigmoid")
    assert row[6] == "2 sigmoid(2x) - 1 = tanh(x)"  # the law: the comment above the rule

    path = write(tmp_path, "unsound.py", UNSOUND)
    assert rules_cli(["check", str(path), "-w", "seeds"]) == 1
    out = capsys.readouterr().out
    (row,) = table_rows(out, "exp-of-sum")
    assert row[1:5] == ["algebraic", "yes", "ok", "NO"]
    assert "values differ" in out and "inputs:" in out

    broken = write(tmp_path, "broken.py", "from eggflow import rules\nrules.nope()\n")
    assert rules_cli(["check", str(broken), "-w", "seeds"]) == 1
    out = capsys.readouterr().out
    (row,) = table_rows(out, "-")
    assert row[:3] == ["-", "-", "no"] and "AttributeError" in out  # does not parse


def test_rules_check_reports_where_a_rule_fires(tmp_path, capsys):
    path = write(tmp_path, "squares.py", (
        "import eggflow.tensor as T\nfrom eggflow import rules\n\nx, = rules.vars('x')\n"
        "S = rules.RuleSet('s', family='algebraic', rules=[\n"
        "    # x * x = sqr(x), again\n"
        "    rules.rewrite('mul-self-again', x * x, T.sqr(x), when=rules.is_float(x))])\n"))
    # elementwise_chain computes a * a, c * c and b * b; seeds has no product of a term by itself
    assert rules_cli(["check", str(path), "-w", "seeds", "-w", "elementwise_chain"]) == 0
    (row,) = table_rows(capsys.readouterr().out, "mul-self-again")
    assert row[5] == "elementwise_chain" and row[6] == "x * x = sqr(x), again"


def test_console_script_exit_status(tmp_path):
    path = write(tmp_path, "unsound.py", UNSOUND)
    script = [sys.executable, "-c", "import sys; from eggflow.cli import main; "
                                    "sys.exit(main())"]
    ok = subprocess.run(script + ["rules", "check", EXAMPLE, "-w", "seeds"],
                        capture_output=True, text=True, cwd=REPO, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = subprocess.run(script + ["rules", "check", str(path), "-w", "seeds"],
                         capture_output=True, text=True, cwd=REPO, timeout=120)
    assert bad.returncode == 1 and "exp-of-sum" in bad.stdout


def test_rules_list_shows_families_and_laws(capsys):
    assert rules_cli(["list"]) == 0
    out = capsys.readouterr().out
    for family in ("algebraic", "stability", "layout", "fusion", "inplace"):
        assert re.search(rf"built-in {family}: \d+ rules", out), family
    (row,) = table_rows(out, "log1p")
    assert row[1] == "log(1 + x) = log1p(x): exact near 0"
    (row,) = table_rows(out, "softplus")
    assert row[1].startswith("log(1 + exp(x)) = softplus(x)")
    assert any(r[2] == "finite" for r in table_rows(out, "sub-self"))
    assert rules_cli(["list", EXAMPLE]) == 0
    out = capsys.readouterr().out
    assert f"{EXAMPLE}: example (algebraic): 2 rules" in out.replace("\n", "")
    (row,) = table_rows(out, "exp-times-exp")
    assert row[1].startswith("exp(x) * exp(y) = exp(x + y)")


# -- cost models and extractors -----------------------------------------------------------------
class TanhIsSlow:
    """The CPU cost model, except that tanh costs 100 times as much."""

    def __init__(self):
        self.cpu = CostModel()
        self.seen = set()

    def cost(self, op, input_types, output_type):
        self.seen.add(op)
        price = self.cpu.cost(op, input_types, output_type)
        return 100 * price if op == "tanh" else price


def test_custom_cost_model_changes_the_extraction():
    v, out = tanh_graph()
    cpu = ef.optimize(out, rules=["default", EXAMPLE])
    model = TanhIsSlow()
    slow = ef.optimize(out, rules=["default", EXAMPLE], cost=model)
    assert ops(cpu.outputs) == {"tanh"}
    assert "tanh" not in ops(slow.outputs) and "sigmoid" in ops(slow.outputs)
    assert slow.report.rules_fired["tanh-via-sigmoid"] == 1  # fired, not chosen
    assert {"tanh", "sigmoid", "sub"} <= model.seen  # it priced both forms
    # a Mode takes it too
    f = ef.function([v], out, mode=ef.Mode(rules=["default", EXAMPLE], cost=TanhIsSlow()))
    assert "tanh" not in ops(f.optimized_outputs)


def test_plugin_cost_model_by_name(registries):
    v, out = tanh_graph()
    f = ef.function([v], out, mode=ef.Mode(rules=["default", EXAMPLE], cost="square"))
    assert "tanh" not in ops(f.optimized_outputs)
    assert plugins.COST_MODELS["square"].__name__ == "SquareCost"


def test_cpu_cost_model_and_node_count_differ_on_a_matrix_chain():
    a = T.tensor("float64", shape=(100, 2))
    b = T.tensor("float64", shape=(2, 100))
    c = T.tensor("float64", shape=(100, 2))
    out = T.dot(T.dot(a, b), c)  # 100x100 intermediate; a . (b . c) has a 2x2 one
    cpu = ef.optimize(out)
    (new,) = cpu.outputs
    assert new.op == "dot" and new.inputs[0] is a and new.inputs[1].op == "dot"
    assert cpu.report.cost_after < cpu.report.cost_before / 2
    nodes = ef.optimize(out, cost=NodeCountCost())
    assert nodes.report.cost_after == nodes.report.cost_before == 2  # either order: two dots


def test_custom_extractor_is_called_and_its_choice_is_used(registries):
    calls = []

    def counting(egraph, roots, cost_model, class_types, node_ok):
        calls.append((len(egraph.nodes), tuple(roots)))
        return greedy(egraph, roots, cost_model, class_types, node_ok)

    def without_tanh(egraph, roots, cost_model, class_types, node_ok):
        allowed = [ok and n.op != "tanh" for ok, n in zip(node_ok, egraph.nodes)]
        return greedy(egraph, roots, cost_model, class_types, allowed)

    v, out = tanh_graph()
    res = ef.optimize(out, rules=["default", EXAMPLE], extractor=counting)
    assert len(calls) == 1 and calls[0][0] == len(res.egraph.nodes)
    assert list(calls[0][1]) == list(res.egraph.roots)
    assert ops(res.outputs) == {"tanh"}
    masked = ef.optimize(out, rules=["default", EXAMPLE], extractor=without_tanh)
    assert "tanh" not in ops(masked.outputs)
    # registered by name, as a plugin's EXTRACTORS does
    EXTRACTORS["test-counting"] = counting
    f = ef.function([v], out, mode=ef.Mode(rules=["default", EXAMPLE],
                                            extractor="test-counting"))
    assert len(calls) == 2 and "tanh" in ops(f.optimized_outputs)


def test_plugin_extractors_table_registers_names(tmp_path, registries):
    path = write(tmp_path, "with_extractor.py", HYPERBOLIC + (
        "from eggflow.egraph_rules.extract import tree\n"
        "EXTRACTORS = {'my-tree': tree}\n"))
    rules.load(path)
    assert EXTRACTORS["my-tree"].__name__ == "tree"
    bad = write(tmp_path, "bad_extractor.py", HYPERBOLIC + "EXTRACTORS = {'x': 3}\n")
    with pytest.raises(rules.PluginError, match=r"EXTRACTORS\['x'\] is not callable"):
        rules.load(bad)


def test_extractor_that_fails_falls_back_with_a_warning():
    def failing(egraph, roots, cost_model, class_types, node_ok):
        raise ValueError("no choice")

    v = T.dvector("v")
    out = T.log(1 + T.exp(v))
    with pytest.warns(OptimizerWarning, match="extraction failed: no choice"):
        res = ef.optimize(out, extractor=failing)
    assert res.outputs == [out] and "no choice" in res.report.fallback


# -- looking inside -----------------------------------------------------------------------------
def test_eclass_of_the_rewritten_root():
    v, out = tanh_graph()
    res = ef.optimize(out, rules=["default", EXAMPLE])
    (new,) = res.outputs
    assert new.op == "tanh"
    assert res.eclass(out) == res.eclass(new)
    assert res.eclass(v) != res.eclass(out)
    assert res.eclass(v) == res.eclass(new.inputs[0])
    with pytest.raises(KeyError, match="not a node of this optimization"):
        res.eclass(T.dvector("elsewhere"))


def test_equivalents_are_sorted_by_cost_and_hold_both_forms():
    v, out = tanh_graph()
    res = ef.optimize(out, rules=["default", EXAMPLE])
    found = res.equivalents(out, k=10)
    costs = [c for c, _ in found]
    assert costs == sorted(costs) and len(found) >= 2
    texts = [str(e) for _, e in found]
    assert texts[0] == "tanh(v)"
    assert any("sigmoid" in t for t in texts)
    assert len(res.equivalents(out, k=1)) == 1


def test_explain_names_the_rules_in_order():
    x = T.dvector("x")
    lhs = T.log(1 + T.exp(x))
    res = ef.optimize(lhs)
    steps = res.explain(lhs, T.nnet.softplus(x))
    assert [name for name, _ in steps] == ["log1p", "softplus"]
    assert steps[0][1] == "log(1 + x) = log1p(x): exact near 0"
    assert res.explain(lhs, lhs) == []
    with pytest.raises(ValueError, match="do not prove"):
        res.explain(lhs, T.exp(x))


def test_explain_a_plugin_rule():
    v, out = tanh_graph()
    res = ef.optimize(out, rules=["default", EXAMPLE])
    steps = res.explain(out, T.tanh(v))
    assert [name for name, _ in steps] == ["tanh-via-sigmoid"]
    assert steps[0][1] == "2 sigmoid(2x) - 1 = tanh(x)"


def test_draw_writes_a_picture_or_dot_source(tmp_path):
    v, out = tanh_graph()
    res = ef.optimize(out, rules=["default", EXAMPLE])
    dot = res.draw(out, k=2, outfile=str(tmp_path / "eg.dot"))  # DOT source: no graphviz needed
    text = Path(dot).read_text()
    assert dot.endswith(".dot") and f"cluster_c{res.eclass(out)}" in text
    for op in ("tanh", "sub", "sigmoid"):  # the root's two forms, and the sigmoid 2 steps down
        assert f"label={op}," in text, op
    near = Path(res.draw(out, k=1, outfile=str(tmp_path / "near.dot"))).read_text()
    assert "label=tanh," in near and "label=sigmoid," not in near
    with warnings.catch_warnings():  # without graphviz's dot: a warning and a .dot file
        warnings.simplefilter("ignore", UserWarning)
        picture = res.draw(out, k=2, outfile=str(tmp_path / "eg.svg"))
    assert picture.endswith(".svg" if shutil.which("dot") else ".dot")
    assert Path(picture).stat().st_size > 0


def test_export_json_is_egraph_serialize(tmp_path):
    v, out = tanh_graph()
    res = ef.optimize(out, rules=["default", EXAMPLE])
    path = tmp_path / "eg.json"
    assert res.export_json(path) == str(path)
    data = json.loads(path.read_text())
    assert set(data) >= {"nodes", "root_eclasses", "class_data"}
    nodes = data["nodes"]
    for nid, node in nodes.items():
        assert {"op", "children", "eclass", "cost"} <= set(node), nid
        assert all(c in nodes for c in node["children"]), nid
        assert node["cost"] >= 0
    classes = {node["eclass"] for node in nodes.values()}
    assert data["root_eclasses"] and set(data["root_eclasses"]) <= classes
    root_ops = {n["op"] for n in nodes.values() if n["eclass"] == data["root_eclasses"][0]}
    assert root_ops == {"Tanh", "Sub"}  # both forms of the root, with their costs
    tanh = next(n for n in nodes.values() if n["op"] == "Tanh")
    sub = next(n for n in nodes.values() if n["op"] == "Sub")
    assert 0 < tanh["cost"] and 0 < sub["cost"]


# -- library bugs found while writing these tests ------------------------------------------------
def test_rules_check_on_random_dag():
    assert rules_cli(["check", EXAMPLE, "-w", "random_dag"]) == 0


def test_rules_list_keeps_brackets_in_laws(capsys):
    rules_cli(["list"])
    (row,) = table_rows(capsys.readouterr().out, "lift-index-abs")
    assert row[1].startswith("f(x)[idx] = f(x[idx])")


def test_law_of_a_two_line_comment():
    from eggflow.egraph_rules.library import law_of

    (rule,) = [r for r in rules.builtin()["algebraic"] if r.name == "shape-i-neg"]
    assert law_of(rule).startswith("shape_i(f(x), i) = shape_i(x, i)")


def test_harness_config_takes_a_plugin_cost_name(registries):
    from eggflow.benchmarks.harness import Config

    rules.load(EXAMPLE)  # registers "square"
    assert type(Config("sq", cost="square").mode().cost).__name__ == "SquareCost"
