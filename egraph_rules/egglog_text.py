"""Node DAG <-> egglog program text, rules -> egglog rules, serialized JSON -> ``EGraph`` data.

Constructors are derived from the op table: op ``log1p`` is ``(Log1p Tensor)``; an op with
params takes one String per param (``(Sum Tensor String)``, the param's ``repr``); variadic
ops get one constructor per arity (``Alloc_3``). Leaves (inputs, shared variables, array
constants, and nodes the e-graph cannot express) are ``(Leaf "key")``; finite real scalar
constants are ``(Scalar "dtype" value)`` with ``weak:`` marking Python numbers, so patterns can
match on values. The frontend's static types are inserted as facts (tables ``dtype``, ``kind``,
``ndim``, ``sshape`` (fully static shapes), ``bpat`` (which axes are static 1s, e.g. "nb")) so
rule conditions can read them. Everything is inserted as one text
program (fast: nested Python expressions are orders of magnitude slower to insert).
"""

from __future__ import annotations

import ast
import json
import math
from dataclasses import dataclass, field

import numpy as np

from eggflow.frontend.graph import Node, constant, toposort
from eggflow.frontend.op import OPS, apply_node

from .dsl import FACTS, FOLD_DTYPES, ParamVar, Rule
from .egraph import EGraph, ENode

SORT = "Tensor"
RULESET = "main"
FACTS_MARK = ";; facts\n"  # separates declarations + rules (reusable) from the graph's facts
TABLES = f"""(function dtype ({SORT}) String :merge old)
(function kind ({SORT}) String :merge old)
(function ndim ({SORT}) i64 :merge old)
(function sshape ({SORT}) String :merge old)
(function bpat ({SORT}) String :merge old)
(relation orig ({SORT} i64))
""" + "".join(f"(relation {f} ({SORT}))\n" for f in FACTS)


def ctor_name(op: str, arity: int | None = None) -> str:
    camel = "".join(part.capitalize() for part in op.split("_") if part)
    return camel if arity is None else f"{camel}_{arity}"


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _literal_ok(value) -> bool:
    try:
        return ast.literal_eval(repr(value)) == value
    except (ValueError, SyntaxError, TypeError):
        return False


def _f64(v: float) -> str:
    text = repr(float(v))
    return text if any(c in text for c in ".en") else text + ".0"


def _kind(dtype) -> str:
    k = np.dtype(dtype).kind
    return "i" if k == "u" else k


@dataclass
class Encoding:
    """What ``encode`` produced: the program text and the maps needed to read results back."""

    text: str
    nodes: list  # original nodes; node k is bound to $n{k} and to (orig $n{k} k)
    roots: list  # indices in ``nodes`` of the outputs
    leaves: dict = field(default_factory=dict)  # leaf key -> Node
    ctors: dict = field(default_factory=dict)  # constructor -> (op, param names, arity)
    limited: dict = field(default_factory=dict)  # ruleset -> iterations it runs (bounded rules)


def op_signature(op: str, arity: int):
    """(constructor name, param names) for ``op`` applied to ``arity`` inputs."""
    decl = OPS[op]
    name = ctor_name(op, None if decl.nin is not None else arity)
    return name, tuple(sorted(decl.params))


def encodable(node: Node) -> bool:
    decl = OPS.get(node.op)
    if decl is None or decl.family == "control" or node.op in ("constant",):
        return False
    names = tuple(k for k, _ in node.params)
    return names == tuple(sorted(decl.params)) and all(
        isinstance(v, ParamVar) or _literal_ok(v) for _, v in node.params)


def scalar_key(node: Node):
    """(key, value) for a finite real 0-d constant, else None."""
    if node.op != "constant" or node.ndim != 0 or node.dtype[0] == "c":
        return None
    item = node.data.item()
    if isinstance(item, bool):
        item = float(item)
    if not math.isfinite(item) or float(item) != item:
        return None
    return ("weak:" if node.attrs["weak"] else "") + node.dtype, float(item)


class _Declarations:
    def __init__(self):
        self.ctors = {"Leaf": ("leaf", (), 0), "Scalar": ("scalar", (), 0)}
        self.limited = {}  # ruleset name -> iterations, for rules with ``iterations``

    def use(self, node: Node) -> str:
        name, params = op_signature(node.op, len(node.inputs))
        self.ctors.setdefault(name, (node.op, params, len(node.inputs)))
        return name

    def text(self) -> str:
        lines = [f"(datatype {SORT}", "  (Leaf String)", "  (Scalar String f64)"]
        for name, (op, params, arity) in self.ctors.items():
            if op in ("leaf", "scalar"):
                continue
            lines.append(f"  ({name} {' '.join([SORT] * arity + ['String'] * len(params))})")
        rulesets = "".join(f"(ruleset {r})\n" for r in [RULESET, *self.limited])
        return "\n".join(lines) + ")\n" + TABLES + rulesets


def encode(outputs, rules=(), facts=()) -> Encoding:
    """The program text declaring the sorts and constructors, binding every node of the DAG
    (``$n{k}``), and stating its known type facts; ``rules`` are compiled after it. ``facts``:
    relations asserted for every node (the late phase marks the graph's tensors ``top``)."""
    decls = _Declarations()
    for op, decl in OPS.items():  # every fixed-arity op, so any rule can name any op
        if decl.nin is not None and decl.family != "control":
            decls.ctors.setdefault(*_entry(op, decl.nin))
    order = toposort(outputs)
    index = {n: k for k, n in enumerate(order)}
    leaves, body = {}, []
    for k, node in enumerate(order):
        key = scalar_key(node)
        if key is not None:
            expr = f"(Scalar {_quote(key[0])} {_f64(key[1])})"
        elif not node.inputs or not encodable(node):
            leaf = f"k{k}"
            leaves[leaf] = node
            expr = f"(Leaf {_quote(leaf)})"
        else:
            ctor = decls.use(node)
            args = [f"$n{index[i]}" for i in node.inputs]
            args += [_quote(repr(v)) for _, v in node.params]
            expr = f"({ctor} {' '.join(args)})"
        body.append(f"(let $n{k} {expr})\n(orig $n{k} {k})\n")
        body.extend(f"({f} $n{k})\n" for f in facts)
        body.append(_type_facts(f"$n{k}", node))
    compiled = [compile_rule(r, decls) for r in rules]
    compiled += propagation_rules(decls)
    text = decls.text() + "".join(compiled) + FACTS_MARK + "".join(body)
    return Encoding(text, order, [index[o] for o in outputs], leaves, decls.ctors,
                    dict(decls.limited))


def _entry(op, arity):
    name, params = op_signature(op, arity)
    return name, (op, params, arity)


def _type_facts(var: str, node: Node) -> str:
    t = node.type
    if t.dtype is None or t.shape is None:
        return ""
    facts = (f"(set (dtype {var}) {_quote(t.dtype)})\n(set (kind {var}) {_quote(_kind(t.dtype))})\n"
             f"(set (ndim {var}) {t.ndim})\n")
    facts += f"(set (bpat {var}) {_quote(''.join('b' if d == 1 else 'n' for d in t.shape))})\n"
    if all(d is not None for d in t.shape):
        facts += f"(set (sshape {var}) {_quote(','.join(map(str, t.shape)))})\n"
    return facts


# -- rules -----------------------------------------------------------------------------------
class _Pattern:
    """Compiles the two sides of a rule, sharing variable names."""

    def __init__(self, rule: Rule, decls: _Declarations):
        self.rule, self.decls, self.fresh, self.queries = rule, decls, 0, []
        self.const_vars = {}

    def var(self, node: Node) -> str:
        return "v_" + "".join(c if c.isalnum() else "_" for c in (node.name or "x")) + \
            f"_{node.attrs['uid']}"

    def side(self, node: Node, lhs: bool) -> str:
        if node.op == "wild":
            name = self.var(node)
            if node.type.shape == () and lhs and node not in self.const_vars:
                self.const_vars[node] = (f"{name}_dt", f"{name}_val")
                dt, val = self.const_vars[node]
                self.queries.append(f"(= {name} (Scalar {dt} {val}))")
            return name
        if node.op == "constant":
            key = scalar_key(node)
            if key is None:
                raise ValueError(f"rule {self.rule.name}: only finite real scalar constants can "
                                 f"appear in patterns, got {node}")
            dtype, value = key
            if lhs and dtype.startswith("weak:"):
                # any *weak* constant of this value (int or float): a strong one of another
                # dtype would change the result's dtype (float32 x + float64 1.0 is float64)
                self.fresh += 1
                self.queries.append(f'(= (count-matches dt_{self.fresh} "weak:") 1)')
                return f"(Scalar dt_{self.fresh} {_f64(value)})"
            return f"(Scalar {_quote(dtype)} {_f64(value)})"
        if not encodable(node):
            raise ValueError(f"rule {self.rule.name}: op {node.op} cannot appear in a pattern")
        ctor = self.decls.use(node)
        args = [self.side(i, lhs) for i in node.inputs]
        args += [f"p_{v.name}" if isinstance(v, ParamVar) else _quote(repr(v))
                 for _, v in node.params]
        return f"({ctor} {' '.join(args)})"

    def condition(self, cond) -> str:
        a = cond.args
        if cond.kind == "dtype_kind":
            return f"(= (kind {self.var(a[0])}) {_quote(a[1])})"
        if cond.kind == "ndim":
            return f"(= (ndim {self.var(a[0])}) {a[1]})"
        if cond.kind == "same_shape":
            return f"(= (sshape {self.var(a[0])}) (sshape {self.var(a[1])}))"
        if cond.kind == "same_broadcast":
            return f"(= (bpat {self.var(a[0])}) (bpat {self.var(a[1])}))"
        if cond.kind == "same_dtype":
            return f"(= (dtype {self.var(a[0])}) (dtype {self.var(a[1])}))"
        if cond.kind == "fact":
            return f"({a[0]} {self.var(a[1])})"
        if cond.kind == "value":
            if a[0] not in self.const_vars:
                raise ValueError(f"rule {self.rule.name}: value() needs a rules.const variable "
                                 "that the left side binds")
            cmp = {"==": "=", "!=": "!="}.get(a[1], a[1])
            return f"({cmp} {self.const_vars[a[0]][1]} {_f64(a[2])})"
        raise ValueError(f"rule {self.rule.name}: unknown condition {cond}")


def compile_rule(rule: Rule, decls: _Declarations | None = None) -> str:
    """One egglog rule (text) for a DSL rule."""
    decls = decls or _Declarations()
    p = _Pattern(rule, decls)
    lhs = p.side(rule.lhs, lhs=True)
    conds = p.queries + [p.condition(c) for c in rule.when]
    name = _quote(rule.name)
    ruleset = RULESET
    if rule.iterations is not None:
        ruleset = f"first{rule.iterations}"
        decls.limited[ruleset] = rule.iterations
    if rule.kind == "fold":  # (Op (Scalar dt a) (Scalar dt b)) -> (Scalar dt (op a b))
        (a_dt, a_val), (b_dt, b_val) = p.const_vars.values()
        guard = f" (!= {b_val} 0.0)" if rule.rhs == "/" else ""
        return "".join(
            f"(rewrite {lhs} (Scalar {a_dt} ({rule.rhs} {a_val} {b_val})) :when "
            f"({' '.join(p.queries)} (= {a_dt} {_quote(dt)}) (= {a_dt} {b_dt}){guard}) "
            f":subsume :ruleset {ruleset} "
            f":name {_quote(rule.name + ('' if k == 0 else '-weak'))})\n"
            for k, dt in enumerate(FOLD_DTYPES))
    if rule.kind == "fact":
        query = " ".join([f"(= root__ {lhs})"] + conds)
        return f"(rule ({query}) (({rule.rhs} root__)) :ruleset {ruleset} :name {name})\n"
    rhs = p.side(rule.rhs, lhs=False)
    when = f" :when ({' '.join(conds)})" if conds else ""
    sub = " :subsume" if rule.subsume else ""
    return f"(rewrite {lhs} {rhs}{when}{sub} :ruleset {ruleset} :name {name})\n"


def propagation_rules(decls: _Declarations) -> list:
    """Type facts for e-classes that rewrites create: float-preserving elementwise ops keep
    dtype/kind/ndim of same-typed operands; 2-d dots of 2-d operands are 2-d."""
    out = []
    keep = ("neg", "abs", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt",
            "sqr", "reciprocal", "sin", "cos", "tan", "tanh", "sinh", "cosh", "arcsin", "arccos",
            "arctan", "erf", "sigmoid", "softplus", "identity")
    binary = ("add", "sub", "mul", "true_div", "pow", "maximum", "minimum")
    for op in keep:
        c = ctor_name(op)
        out.append(f"(rule ((= e ({c} x)) (= (kind x) \"f\") (= (dtype x) d) (= (ndim x) n)) "
                   f"((set (kind e) \"f\") (set (dtype e) d) (set (ndim e) n)) :ruleset {RULESET}"
                   f" :name \"type-{op}\")\n")
    for op in binary:  # same float dtype: that dtype, the larger ndim (broadcasting)
        c = ctor_name(op)
        out.append(f"(rule ((= e ({c} x y)) (= (kind x) \"f\") (= (dtype x) d) (= (dtype y) d) "
                   f"(= (ndim x) n) (= (ndim y) m)) ((set (kind e) \"f\") (set (dtype e) d) "
                   f"(set (ndim e) (max n m))) :ruleset {RULESET} :name \"type-{op}\")\n")
        for k, args in enumerate(("x (Scalar dt v)", "(Scalar dt v) x")):  # Python numbers
            out.append(f"(rule ((= e ({c} {args})) (= (count-matches dt \"weak:\") 1) "
                       f"(= (kind x) \"f\") (= (dtype x) d) (= (ndim x) n)) "
                       f"((set (kind e) \"f\") (set (dtype e) d) (set (ndim e) n)) "
                       f":ruleset {RULESET} :name \"type-{op}-weak{k}\")\n")
    for op in keep:  # the broadcast pattern (which axes are static 1s) of new e-classes
        out.append(f"(rule ((= e ({ctor_name(op)} x)) (= (bpat x) p)) ((set (bpat e) p)) "
                   f":ruleset {RULESET} :name \"bpat-{op}\")\n")
    for op in binary:
        out.append(f"(rule ((= e ({ctor_name(op)} x y)) (= (bpat x) p) (= (bpat y) p)) "
                   f"((set (bpat e) p)) :ruleset {RULESET} :name \"bpat-{op}\")\n")
    out.append(f"(rule ((= e (Dot x y)) (= (dtype x) d) (= (dtype y) d) (= (kind x) k) "
               f"(= (ndim x) 2) (= (ndim y) 2)) ((set (kind e) k) (set (dtype e) d) "
               f"(set (ndim e) 2)) :ruleset {RULESET} :name \"type-dot\")\n")
    return out


# -- reading results back ----------------------------------------------------------------------
def _literal(text: str):
    if text.startswith('"'):
        return json.loads(text)
    return float(text)


def read_egraph(serialized: str, enc: Encoding):
    """egglog's serialized JSON -> (EGraph, seeds: class -> TensorType, root classes)."""
    data = json.loads(serialized)["nodes"]
    classes: dict[str, int] = {}
    nodes, orig, ids = [], {}, []
    for nid, nd in data.items():
        if nd["op"] == "orig":
            tensor_id, k = nd["children"]
            orig[int(data[k]["op"])] = data[tensor_id]["eclass"]
            continue
        info = enc.ctors.get(nd["op"])
        if info is None or nd.get("subsumed"):
            continue
        op, names, arity = info
        ids.append(nid)
        kids = nd["children"]
        cls = classes.setdefault(nd["eclass"], len(classes))
        if op == "leaf":
            node = enc.leaves[_literal(data[kids[0]]["op"])]
            nodes.append(ENode("leaf", (("node", node),), (), cls))
        elif op == "scalar":
            key, value = _literal(data[kids[0]]["op"]), _literal(data[kids[1]]["op"])
            nodes.append(ENode("leaf", (("node", decode_scalar(key, value)),), (), cls))
        else:
            children = tuple(classes.setdefault(data[c]["eclass"], len(classes))
                             for c in kids[:arity])
            params = tuple((n, ast.literal_eval(_literal(data[c]["op"])))
                           for n, c in zip(names, kids[arity:]))
            nodes.append(ENode(op, params, children, cls))
    seeds = {}
    for k, cls_name in orig.items():
        seeds[classes[cls_name]] = enc.nodes[k].type
    roots = [classes[orig[k]] for k in enc.roots]
    names = [None] * len(classes)
    for name, i in classes.items():
        names[i] = name
    origin = {k: classes[c] for k, c in orig.items()}
    return EGraph(nodes, len(classes), roots, names, ids, origin), seeds


def decode_scalar(key: str, value: float) -> Node:
    weak = key.startswith("weak:")
    dtype = key[5:] if weak else key
    kind = np.dtype(dtype).kind
    py = bool(value) if kind == "b" else int(value) if kind in "iu" else float(value)
    return constant(py) if weak and kind != "b" else constant(py, dtype=dtype)


def decode(eg: EGraph, choice: dict, roots, built: dict | None = None) -> list:
    """The chosen e-nodes (class -> node index) as frontend nodes, outputs in ``roots`` order;
    ``built`` (if given) receives every decoded class -> node."""
    built = {} if built is None else built
    for root in roots:
        stack = [(root, False)]
        while stack:
            cls, ready = stack.pop()
            if cls in built:
                continue
            enode = eg.nodes[choice[cls]]
            if enode.op == "leaf":
                built[cls] = enode.params[0][1]
            elif ready:
                inputs = tuple(built[c] for c in enode.children)
                built[cls] = apply_node(enode.op, inputs, enode.params)
            else:
                stack.append((cls, True))
                stack.extend((c, False) for c in enode.children if c not in built)
    return [built[r] for r in roots]
