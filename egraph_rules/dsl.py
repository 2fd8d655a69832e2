"""The rule DSL (public as ``eggflow.rules``): rewrite rules written with the frontend's ops.

    x, y = rules.vars("x y")
    r = rules.rewrite("log1p", T.log(1 + x), T.log1p(x))       # log(1+x) = log1p(x)
    s = rules.RuleSet("my_rules", family="stability"); s.add(r)

Patterns are ordinary frontend graphs over *pattern variables* (wildcard-typed nodes), so a
rule reads like model code. A Python number in a pattern matches a scalar constant of that
value (any dtype); an op's param can be a ``rules.param`` to match any value. Conditions
(``when=``) are facts about pattern variables kept in the e-graph — dtype kind, ndim, static
shape equality, and facts derived by rules such as "positive" — never "this e-class has no X".
Assumptions a rule relies on (``assumes=("finite",)``) are declared, so a mode can exclude them.
This module is plain Python: compiling rules to egglog is egraph_rules/egglog_text.py's job.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from eggflow.frontend.graph import Node, as_tensor_variable, wildcard

FAMILIES = ("algebraic", "stability", "layout", "fusion", "inplace")
# relations rules may derive and conditions may test; ``top`` holds for every node of the graph
# entering the late phase (materialised tensors, as opposed to the inline bodies of kernels)
FACTS = ("positive", "nonneg", "nonzero", "top")
ASSUMPTIONS = ("finite",)
_counter = itertools.count()


class ParamVar:
    """A pattern variable standing for an op parameter (``axis``, ``pattern``, ...)."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self):
        return f"?{self.name}"


def vars(names: str, dtype=None, ndim=None) -> tuple:  # noqa: A001 - DESIGN's public name
    """Pattern variables, one per name in ``names`` (``"x y"`` or ``"x, y"``): always a tuple.
    ``dtype``/``ndim`` narrow the variables' static type (the type rules use it); conditions
    on the matched e-class are written with ``when=``."""
    shape = None if ndim is None else (None,) * ndim
    return tuple(wildcard(n, dtype, shape) for n in names.replace(",", " ").split())


def param(name: str) -> ParamVar:
    """A pattern variable for an op parameter: ``T.sum`` cannot take it, so build such patterns
    with ``rules.op('sum', x, axis=rules.param('a'))``."""
    return ParamVar(name)


def op(name: str, *inputs, **params) -> Node:
    """Build a pattern node of op ``name`` directly (params may be ``ParamVar``s)."""
    from eggflow.frontend.op import apply_node

    inputs = tuple(as_tensor_variable(i) for i in inputs)
    params = tuple(sorted(params.items()))
    try:
        return apply_node(name, inputs, params)
    except (TypeError, ValueError, IndexError, KeyError):
        if not any(isinstance(v, ParamVar) for _, v in params):
            raise
    # the type depends on a param variable's value: unknown here (the e-graph knows it)
    from eggflow.frontend.graph import intern
    from eggflow.frontend.types import TensorType

    return intern(name, inputs, params, lambda: TensorType(None, None))


@dataclass(frozen=True)
class Cond:
    """A condition on pattern variables: ``kind`` is one of
    dtype_kind (x, kinds) | ndim (x, n) | same_shape (x, y) | same_broadcast (x, y) |
    same_dtype (x, y) |
    fact (relation, x) |
    value (c, op, number) — c a pattern constant variable."""

    kind: str
    args: tuple

    def __repr__(self):
        return f"{self.kind}{self.args}"


def is_float(x) -> Cond:
    return Cond("dtype_kind", (x, "f"))


def is_int(x) -> Cond:
    return Cond("dtype_kind", (x, "i"))


def has_ndim(x, n: int) -> Cond:
    return Cond("ndim", (x, int(n)))


def same_shape(x, y) -> Cond:
    """Both have the same fully static shape."""
    return Cond("same_shape", (x, y))


def same_broadcast(x, y) -> Cond:
    """Same ndim and the same static-1 (broadcastable) axes: with eggflow's strict
    broadcasting (only static-1 axes broadcast) x and y then have the same shape at run time,
    so ``x + y`` does not broadcast either operand."""
    return Cond("same_broadcast", (x, y))


def same_dtype(x, y) -> Cond:
    """Both have the same dtype."""
    return Cond("same_dtype", (x, y))


def positive(x) -> Cond:
    """x > 0 everywhere, proven by fact rules (see ``fact``)."""
    return Cond("fact", ("positive", x))


def nonneg(x) -> Cond:
    return Cond("fact", ("nonneg", x))


def nonzero(x) -> Cond:
    return Cond("fact", ("nonzero", x))


def top(x) -> Cond:
    """x is a materialised tensor of the graph entering the late phase (not a kernel's inline
    body): fusion rules start kernels only there."""
    return Cond("fact", ("top", x))


def const(name: str) -> Node:
    """A pattern variable matching only scalar constants, for ``value`` conditions."""
    return wildcard(name, None, ())


def value(c: Node, cmp: str, number: float) -> Cond:
    """The scalar constant ``c`` compares to ``number`` (cmp one of > >= < <= == !=)."""
    if cmp not in (">", ">=", "<", "<=", "==", "!="):
        raise ValueError(f"value(): unknown comparison {cmp!r}")
    return Cond("value", (c, cmp, float(number)))


@dataclass(frozen=True)
class Rule:
    """``lhs => rhs`` (kind 'rewrite'), ``lhs => fact(root)`` (kind 'fact', rhs the relation)
    or constant folding (kind 'fold', rhs the egglog operator)."""

    name: str
    lhs: Node
    rhs: object  # Node for rewrites, the relation name for facts
    when: tuple = ()
    assumes: tuple = ()
    subsume: bool = False  # hide the lhs node from later matching and extraction
    law: str = ""  # one line: the law the rule states
    kind: str = "rewrite"
    family: str | None = None  # set by the RuleSet the rule joins
    source: str | None = None  # file:line where the rule was written (plugins)
    iterations: int | None = None  # run only in the first N iterations of a phase (growth bound)

    def variables(self, side: Node) -> set:
        from eggflow.frontend.graph import toposort

        found = set()
        for n in toposort([side]):
            if n.op == "wild":
                found.add(n)
            found.update(v for _, v in n.params if isinstance(v, ParamVar))
        return found

    def __repr__(self):
        return f"<rule {self.name}: {self.lhs} => {self.rhs}>"


def _source() -> str | None:
    import inspect

    for frame in inspect.stack()[2:6]:
        if not frame.filename.endswith("dsl.py"):
            return f"{frame.filename}:{frame.lineno}"
    return None


def _check(rule: Rule) -> Rule:
    if not rule.name or not isinstance(rule.name, str):
        raise ValueError(f"a rule needs a name, got {rule.name!r}")
    const_fact = rule.kind == "fact" and rule.lhs.op == "wild" and rule.lhs.type.shape == ()
    if not isinstance(rule.lhs, Node) or rule.lhs.op in ("wild", "constant") and not const_fact:
        raise ValueError(f"rule {rule.name}: the left side must be an op applied to something, "
                         f"got {rule.lhs!r}")
    if rule.iterations is not None and (not isinstance(rule.iterations, int)
                                        or rule.iterations < 1):
        raise ValueError(f"rule {rule.name}: iterations must be a positive int or None, "
                         f"got {rule.iterations!r}")
    for a in rule.assumes:
        if a not in ASSUMPTIONS:
            raise ValueError(f"rule {rule.name}: unknown assumption {a!r}; known: {ASSUMPTIONS}")
    if rule.kind == "rewrite":
        missing = rule.variables(rule.rhs) - rule.variables(rule.lhs)
        if missing:
            raise ValueError(f"rule {rule.name}: the right side uses {sorted(map(repr, missing))}"
                             " which the left side does not bind")
    bound = rule.variables(rule.lhs)
    for c in rule.when:
        for a in c.args:
            if isinstance(a, Node) and a.op == "wild" and a not in bound:
                raise ValueError(f"rule {rule.name}: condition {c} uses {a}, which the left "
                                 "side does not bind")
    return rule


def rewrite(name, lhs, rhs, when=(), assumes=(), subsume=False, law="",
            iterations=None) -> Rule:
    """``lhs`` can be replaced by ``rhs`` (both stay in the e-graph; the cost model picks).
    ``subsume``: hide ``lhs`` from extraction and later matching once ``rhs`` exists (for
    rewrites that are always better); ``iterations``: run the rule only in the first N
    iterations of its phase (for expanding rules, whose repeated use grows the e-graph)."""
    when = (when,) if isinstance(when, Cond) else tuple(when)
    return _check(Rule(name, as_tensor_variable(lhs), as_tensor_variable(rhs), when,
                       tuple(assumes), subsume, law, source=_source(), iterations=iterations))


def birewrite(name, a, b, when=(), assumes=(), law="", iterations=(None, None)) -> list:
    """``a = b`` both ways: two rules, ``name`` and ``name-rev``; ``iterations`` bounds each
    direction (see ``rewrite``)."""
    return [rewrite(name, a, b, when, assumes, law=law, iterations=iterations[0]),
            rewrite(f"{name}-rev", b, a, when, assumes, law=law, iterations=iterations[1])]


def fact(name, lhs, relation, when=(), law="") -> Rule:
    """Derive ``relation`` (one of FACTS) for every e-class matching ``lhs``."""
    if relation not in FACTS:
        raise ValueError(f"fact rule {name}: unknown relation {relation!r}; known: {FACTS}")
    when = (when,) if isinstance(when, Cond) else tuple(when)
    return _check(Rule(name, as_tensor_variable(lhs), relation, when, (), False, law, "fact",
                       source=_source()))


FOLDS = {"add": "+", "sub": "-", "mul": "*", "true_div": "/"}  # op -> egglog f64 operator
FOLD_DTYPES = ("float64", "weak:float64")  # exact in egglog's f64; other dtypes are not folded


def fold(name, op_name: str, law="") -> Rule:
    """Constant folding: ``op_name`` of two scalar constants of one dtype (float64, or Python
    floats) becomes the constant it computes (egglog's f64 arithmetic, which is NumPy's)."""
    if op_name not in FOLDS:
        raise ValueError(f"fold rule {name}: op must be one of {sorted(FOLDS)}, got {op_name!r}")
    a, b = const("a"), const("b")
    return _check(Rule(name, op(op_name, a, b), FOLDS[op_name], (), (), True, law, "fold",
                       source=_source()))


@dataclass
class RuleSet:
    """A named group of rules joining one phase's ``family``; ``a + b`` composes."""

    name: str
    family: str = "algebraic"
    rules: list = field(default_factory=list)

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"RuleSet {self.name}: family must be one of {FAMILIES}, "
                             f"got {self.family!r}")
        rules, self.rules = self.rules, []
        self.add(*rules)

    def add(self, *rules) -> "RuleSet":
        for r in rules:
            if isinstance(r, (list, tuple)):
                self.add(*r)
                continue
            if not isinstance(r, Rule):
                raise TypeError(f"RuleSet.add takes rules, got {r!r}")
            if any(q.name == r.name for q in self.rules):
                raise ValueError(f"RuleSet {self.name}: two rules are named {r.name!r}")
            fam = r.family or self.family
            self.rules.append(Rule(**{**r.__dict__, "family": fam}))
        return self

    def __iter__(self):
        return iter(self.rules)

    def __len__(self):
        return len(self.rules)

    def __add__(self, other: "RuleSet") -> "RuleSet":
        out = RuleSet(f"{self.name}+{other.name}", self.family)
        out.rules = list(self.rules) + [r for r in other.rules
                                        if all(r.name != q.name for q in self.rules)]
        return out

    def without(self, names) -> "RuleSet":
        """The rules whose name, family and assumptions are not in ``names``."""
        names = set(names)
        out = RuleSet(self.name, self.family)
        out.rules = [r for r in self.rules if r.name not in names and r.family not in names
                     and not names & set(r.assumes)]
        return out

    def __repr__(self):
        return f"<RuleSet {self.name} ({self.family}): {len(self.rules)} rules>"
