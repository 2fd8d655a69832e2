"""The rule soundness checker (public as ``eggflow.rules.check``).

A rule is checked by instantiating it many times and evaluating both sides with the reference
evaluator. Each trial turns the pattern variables into concrete inputs: dtypes (float32,
float64, and ints/bools where the rule allows them), shapes that broadcast against each other
(scalars, rows, columns, full), values from a *normal* regime (moderate magnitudes, zeros,
small integers) or an *edge* regime (0, -0, +-1, +-inf, nan, huge, tiny, +-1000, ...), all as
the rule's conditions and assumptions allow: ``positive(x)`` draws positive values (and, in the
edge regime, 0: facts hold in exact arithmetic, so a proven-positive value may underflow),
``assumes=("finite",)`` draws no inf/nan/huge values and ignores outputs the left side cannot
compute finitely. ``rules.param`` variables get valid values (axes, dimshuffle patterns, index
tuples) drawn from the instantiated inputs. A left side that does not build or run is skipped
(the e-graph would never hold it); a right side that does not is a counterexample.

The two sides must then have the same type (dtype, ndim, broadcastable dims, and the same size
where both know it) and agree elementwise, where an element passes when

* both are NaN, or equal, or close: ``|R - L| <= rtol * max(|L|, |R|, M)`` with ``M`` the
  magnitude of the terms that produced it (sums and dot products cancel), or
* the right side is at least as close to the *exact* value of the left side (computed with
  Python decimals: exact sums and products, 60 correct digits elsewhere, no overflow) or close
  to it — a stability rule may be more accurate than its left side, or
* (stability rules) the left side is NaN at an infinite input and the right side is the left
  side's limit there.

Fact rules (``rules.fact``) are checked by evaluating the left side: the relation must hold on
every element (NaN excepted; a 0 passes ``positive`` where the exact value is positive).
"""

from __future__ import annotations

import decimal
import math
import zlib
from dataclasses import dataclass, field

import numpy as np

from eggflow.frontend.evaluate import evaluate
from eggflow.frontend.graph import Node, constant, input_variable, toposort
from eggflow.frontend.op import OPS, apply_node
from eggflow.frontend.types import TensorType

from .dsl import ParamVar, Rule, RuleSet

__all__ = ["check", "check_rule", "CheckResult", "RuleResult", "Counterexample"]

FLOATS = ("float32", "float64")
INTS = ("int8", "int32", "int64", "uint8")
INDEXERS = ("subtensor", "set_subtensor", "inc_subtensor")


class _Skip(Exception):
    """This instantiation is not a valid left side (or cannot be sampled): draw another."""


# -- results ---------------------------------------------------------------------------------
@dataclass
class Counterexample:
    """Inputs on which a rule fails, and what each side gave."""

    rule: str
    source: str | None
    inputs: dict  # pattern variable name -> value (arrays; constants as Python numbers)
    params: dict  # rules.param name -> value
    lhs: object  # the left side's value (or type, for a type mismatch)
    rhs: object
    detail: str

    def __str__(self):
        def show(v):
            if isinstance(v, np.ndarray):
                return f"{np.array2string(v, precision=17, threshold=20)} ({v.dtype})"
            return repr(v)

        ins = ", ".join(f"{k}={show(v)}" for k, v in self.inputs.items())
        ps = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return (f"rule {self.rule} ({self.source or 'source unknown'}): {self.detail}\n"
                f"  inputs: {ins}{ps}\n  left:  {show(self.lhs)}\n  right: {show(self.rhs)}")


@dataclass
class RuleResult:
    rule: Rule
    ok: bool
    trials: int  # instantiations evaluated
    counterexample: Counterexample | None = None
    message: str = ""


@dataclass
class CheckResult:
    """``ok`` when every rule passed; ``results`` has one ``RuleResult`` per rule."""

    results: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def failures(self) -> list:
        return [r for r in self.results if not r.ok]

    @property
    def counterexample(self) -> Counterexample | None:
        """The first failing rule's counterexample (None when all passed)."""
        return next((r.counterexample for r in self.failures if r.counterexample), None)

    @property
    def message(self) -> str:
        if self.ok:
            trials = sum(r.trials for r in self.results)
            return f"{len(self.results)} rule(s) passed ({trials} instantiations)"
        return "\n".join(r.message for r in self.failures)

    def __getitem__(self, name: str) -> RuleResult:
        return next(r for r in self.results if r.rule.name == name)

    def __bool__(self):
        return self.ok

    def __str__(self):
        return self.message


def check(rule_or_ruleset, n_trials: int = 60, seed: int = 0) -> CheckResult:
    """Check a Rule, a RuleSet or a list of them by random evaluation of both sides;
    ``n_trials`` well-typed instantiations per rule, reproducible from ``seed``."""
    items = [rule_or_ruleset] if isinstance(rule_or_ruleset, (Rule, RuleSet)) \
        else rule_or_ruleset
    return CheckResult([check_rule(r, n_trials, seed) for r in _flatten(items)])


def _flatten(items):
    for item in items:
        if isinstance(item, (list, tuple)):
            yield from _flatten(item)
        elif isinstance(item, RuleSet):
            yield from item.rules
        elif isinstance(item, Rule):
            yield item
        else:
            raise TypeError(f"check() takes rules or rule sets, got {item!r}")


def check_rule(rule: Rule, n_trials: int = 60, seed: int = 0) -> RuleResult:
    """Check one rule on ``n_trials`` well-typed instantiations (up to 40x as many draws)."""
    rng = np.random.default_rng([seed, zlib.crc32(rule.name.encode())])
    if rule.kind == "fold":
        return _check_fold(rule, n_trials, rng)
    plan = _Plan(rule)
    done, skips = 0, {}
    for _attempt in range(max(n_trials, 1) * 40):
        if done >= n_trials:
            break
        trial = _Trial(plan, rng)
        try:
            failure = trial.run()
        except _Skip as why:
            key = str(why).split(":")[0]
            skips[key] = skips.get(key, 0) + 1
            continue
        done += 1
        if failure is not None:
            return RuleResult(rule, False, done, failure, str(failure))
    if done == 0 and n_trials > 0:
        reasons = "; ".join(f"{k} ({n}x)" for k, n in sorted(skips.items(), key=lambda kv: -kv[1]))
        msg = (f"rule {rule.name} ({rule.source or 'source unknown'}): no well-typed "
               f"instantiation found in {max(n_trials, 1) * 40} draws ({reasons[:400]})")
        return RuleResult(rule, False, 0, None, msg)
    return RuleResult(rule, True, done, None, f"rule {rule.name}: ok ({done} trials)")


def _check_fold(rule: Rule, n_trials: int, rng) -> RuleResult:
    """A folding rule: NumPy's value of the op on two float64 constants (strong or Python
    floats, finite, the divisor nonzero) must equal egglog's f64 arithmetic bit for bit."""
    import operator

    py = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}
    pool = [0.0, -0.0, 1.0, -1.0, 0.1, 1e300, -1e300, 1e-300, 5e-324, 3.0, 1 / 3, 2.5e-8]
    for trial in range(max(n_trials, 1)):
        a, b = (float(pool[k]) if rng.random() < 0.4 else
                float(rng.normal() * 10.0 ** rng.integers(-5, 6))
                for k in rng.integers(len(pool), size=2))
        if rule.rhs == "/" and b == 0:
            continue
        weak = rng.random() < 0.5
        ca, cb = (constant(v) if weak else constant(v, dtype="float64") for v in (a, b))
        node = apply_node(rule.lhs.op, (ca, cb), ())
        with np.errstate(all="ignore"):
            left = np.asarray(evaluate([node], {})[0])
            right = py[rule.rhs](a, b) if not (rule.rhs == "/" and b == 0) else None
        if left.dtype != np.float64 or not (left == right or np.isnan(left) and
                                            np.isnan(right)):
            ce = Counterexample(rule.name, rule.source, {"a": a, "b": b}, {}, left, right,
                                f"folding {rule.lhs.op}({a!r}, {b!r}) gives {right!r}, NumPy "
                                f"gives {left!r} ({left.dtype})")
            return RuleResult(rule, False, trial + 1, ce, str(ce))
    return RuleResult(rule, True, n_trials, None, f"rule {rule.name}: ok ({n_trials} trials)")


# -- what a rule asks of its variables --------------------------------------------------------
class _Plan:
    """The rule's variables and what its conditions say about each."""

    def __init__(self, rule: Rule):
        self.rule = rule
        lhs_nodes = toposort([rule.lhs])
        self.vars = [n for n in lhs_nodes if n.op == "wild"]
        self.consts = {n for n in self.vars if n.type.shape == ()}  # match scalar constants
        self.literals = [n for n in lhs_nodes if n.op == "constant"]
        self.kind, self.ndim, self.fact, self.values, self.groups = {}, {}, {}, {}, []
        self.same_dtype, self.static_vars = [], set()
        for c in rule.when:
            a = c.args
            if c.kind == "dtype_kind":
                self.kind[a[0]] = a[1]
            elif c.kind == "ndim":
                self.ndim[a[0]] = a[1]
            elif c.kind == "fact":
                self.fact[a[1]] = a[0]
            elif c.kind == "value":
                self.values.setdefault(a[0], []).append((a[1], a[2]))
            elif c.kind in ("same_shape", "same_broadcast"):
                self._group(a[0], a[1])
                if c.kind == "same_shape":
                    self.static_vars.update(a[:2])
            elif c.kind == "same_dtype":
                self.same_dtype.append((a[0], a[1]))
            else:
                raise ValueError(f"rule {rule.name}: the checker does not know condition {c}")
        for _ in range(2):  # same_dtype partners share dtype-kind conditions
            for u, w in self.same_dtype:
                for one, other in ((u, w), (w, u)):
                    if one in self.kind and other not in self.kind:
                        self.kind[other] = self.kind[one]
        self.index_vars = {i for n in lhs_nodes if n.op in INDEXERS
                           for i in n.inputs[1 if n.op == "subtensor" else 2:] if i.op == "wild"}
        self.finite = "finite" in rule.assumes

    def _group(self, a, b):
        for g in self.groups:
            if a in g or b in g:
                g.update((a, b))
                return
        self.groups.append({a, b})


_COMPARE = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal,
            "==": np.equal, "!=": np.not_equal}


class _Trial:
    """One instantiation of a rule: inputs, params, both sides built and compared."""

    def __init__(self, plan: _Plan, rng):
        self.plan, self.rng, self.rule = plan, rng, plan.rule
        self.regime = "edge" if rng.random() < 0.35 else "normal"
        self.env, self.feed, self.params, self.shown = {}, {}, {}, {}
        self.out_of_range = False  # an exact value left the decimal range (exp(1e300))

    # -- inputs ----------------------------------------------------------------------------
    def _dtype(self, var, common):
        p, rng = self.plan, self.rng
        if var.type.dtype is not None:
            return var.type.dtype
        if var in p.index_vars:
            return str(rng.choice(["int64", "int32"]))
        want = p.kind.get(var)
        if want == "f":
            return common if common in FLOATS else str(rng.choice(FLOATS))
        if want == "i":
            return common if common in INTS else str(rng.choice(INTS))
        if want == "b":
            return "bool"
        if want == "c":
            return str(rng.choice(["complex64", "complex128"]))
        return common

    def _pool_dtype(self):
        return str(self.rng.choice(["float64", "float32", "int32", "int64", "int8", "bool"],
                                   p=[0.38, 0.38, 0.06, 0.06, 0.06, 0.06]))

    def _shapes(self):
        p, rng = self.plan, self.rng
        forced = [p.ndim.get(v, v.type.ndim) for v in p.vars]
        top = max([n for n in forced if n is not None] + [0])
        base_ndim = max(top, int(rng.choice(4, p=[0.15, 0.3, 0.35, 0.2])))
        if rng.random() < 0.3:
            base = (int(rng.integers(2, 5)),) * base_ndim  # square: dot chains build
        else:
            base = tuple(int(s) for s in rng.integers(2, 5, base_ndim))
        mode = rng.choice(["same", "broadcast", "free"], p=[0.4, 0.4, 0.2])
        shapes = {}
        for var, nd in zip(p.vars, forced):
            if var in p.consts:
                continue
            if var in p.index_vars:
                shapes[var] = () if nd in (None, 0) and rng.random() < 0.7 else (2,) * (nd or 1)
                continue
            if mode == "same":
                nd = base_ndim if nd is None else nd
                shape = base[base_ndim - nd:] if nd <= base_ndim else (3,) * nd
            elif mode == "broadcast":
                nd = int(rng.integers(0, base_ndim + 1)) if nd is None else nd
                shape = base[base_ndim - nd:] if nd <= base_ndim else (3,) * nd
                shape = tuple(1 if rng.random() < 0.3 else s for s in shape)
            else:
                nd = int(rng.integers(0, 4)) if nd is None else nd
                shape = tuple(int(s) for s in rng.integers(1, 4, nd))
            shapes[var] = shape
        for group in p.groups:
            first = next(iter(group))
            for var in group:
                if var in shapes and len(shapes[var]) != len(shapes[first]):
                    raise _Skip("same_shape: conflicting ndims")
                shapes[var] = shapes[first]
        return shapes

    def _static(self, var, shape):
        if var in self.plan.static_vars or var in self.plan.index_vars:
            return shape  # same_shape compares fully static shapes
        if any(var in g for g in self.plan.groups):  # same_broadcast: same static-1 axes
            return tuple(1 if s == 1 else None for s in shape)
        return tuple(s if s == 1 or self.rng.random() < 0.6 else None for s in shape)

    def _inputs(self):
        p, rng = self.plan, self.rng
        common = self._pool_dtype() if rng.random() < 0.5 else None
        shapes = self._shapes()
        for var in p.vars:
            if var in p.consts:
                self.env[var] = self._constant(var)
                continue
            dtype = next((self.env[o].dtype for a, b in p.same_dtype for v, o in ((a, b), (b, a))
                          if v is var and o in self.env and o not in p.consts), None) \
                or self._dtype(var, common) or self._pool_dtype()
            shape = shapes[var]
            domain = "index" if var in p.index_vars else p.fact.get(var)
            value = _values(rng, dtype, shape, domain, self.regime, p.finite)
            node = input_variable(TensorType(dtype, self._static(var, shape)), var.name)
            self.env[var] = node
            self.feed[node] = value
            self.shown[var.name or "?"] = value
        consts = {}
        for lit in p.literals:  # a Python number in a pattern matches any *weak* constant
            if not lit.attrs["weak"]:
                continue
            v = lit.data.item()
            integral = float(v) == int(v) if math.isfinite(v) else False
            consts[lit] = constant(int(v) if integral and rng.random() < 0.5 else float(v))
        return consts

    def _constant(self, var) -> Node:
        """A scalar constant for a rules.const variable, weak or of some dtype."""
        p, rng = self.plan, self.rng
        pool = [0, 1, -1, 2, -2, 3, 10, -7, 0.5, -0.5, 0.1, 2.5, -3.25, 1e-3, 1e3,
                float(rng.normal() * 10)]
        if self.regime == "edge":
            pool += [1e30, -1e30, 1e-30, 1e300, -1e300, 1e-300]
        want = p.kind.get(var)
        fact = p.fact.get(var)
        ok = []
        for v in pool:
            if want == "i" and float(v) != int(v):
                continue
            if fact == "positive" and not v > 0 or fact == "nonneg" and not v >= 0 or \
                    fact == "nonzero" and v == 0:
                continue
            if all(_COMPARE[cmp](v, num) for cmp, num in p.values.get(var, ())):
                ok.append(v)
        if not ok:
            raise _Skip(f"no constant value satisfies the conditions on {var}")
        v = ok[int(rng.integers(len(ok)))]
        integral = float(v) == int(v) and abs(v) < 2**62
        if rng.random() < 0.5:  # weak: a Python number
            if want == "i" or (want != "f" and integral and rng.random() < 0.5):
                c = constant(int(v))
            else:
                c = constant(float(v))
        else:
            dtypes = (["int8", "int32", "int64"] if integral else []) if want != "f" else []
            dtypes += [] if want == "i" else list(FLOATS)
            if not dtypes:
                raise _Skip("no dtype for the constant")
            dt = str(rng.choice(dtypes))
            try:
                c = constant(int(v) if dt.startswith("int") else float(v), dtype=dt)
            except TypeError as exc:
                raise _Skip(f"constant {v} does not fit {dt}") from exc
        self.shown[var.name or "c"] = c.data.item() if c.attrs["weak"] else c.data
        return c

    # -- params ----------------------------------------------------------------------------
    def _param(self, op, name, pv: ParamVar, inputs):
        if pv.name in self.params:
            return self.params[pv.name]
        value = self._sample_param(op, name, inputs)
        self.params[pv.name] = value
        return value

    def _sample_param(self, op, name, inputs):
        rng, x = self.rng, inputs[0]
        nd = x.ndim
        if name == "axis":
            if op in ("argmax", "argmin"):
                if not nd:
                    raise _Skip("argmax of a scalar")
                return (int(rng.integers(nd)),)
            if not nd:
                return ()
            k = int(rng.integers(1, nd + 1))
            return tuple(sorted(int(a) for a in rng.choice(nd, k, replace=False)))
        if name == "pattern":
            kept = [a for a in range(nd) if not (x.type.shape[a] == 1 and rng.random() < 0.4)]
            pattern = [int(a) for a in rng.permutation(kept)]
            for _ in range(int(rng.choice(3, p=[0.5, 0.35, 0.15]))):
                pattern.insert(int(rng.integers(len(pattern) + 1)), "x")
            return tuple(pattern)
        if name == "idx":
            parts = inputs[1 if op == "subtensor" else 2:]
            return self._index(x, parts)
        if name == "i":
            if not nd:
                raise _Skip("shape_i of a scalar")
            return int(rng.integers(nd))
        if name == "dtype":
            return str(rng.choice(["float32", "float64", "int32", "int64"]))
        if name == "mode":
            return str(rng.choice(["half_to_even", "half_away_from_zero"]))
        raise _Skip(f"cannot sample param {name} of {op}")

    def _index(self, x: Node, parts) -> tuple:
        rng = self.rng
        shape = np.shape(self._run([x])[0])
        entries, axis = [], 0
        for j, part in enumerate(parts):
            kind = np.dtype(part.dtype).kind
            if kind in "iu":
                entries.append(("int", ("in", j)) if part.ndim == 0 else ("array", j))
                axis += 1
            elif kind == "b" and part.ndim:
                entries.append(("mask", j))
                axis += part.ndim
            else:
                raise _Skip("index part is not an integer or boolean tensor")
        free = len(shape) - axis
        if free < 0:
            raise _Skip("too many index parts")
        for _ in range(int(rng.integers(0 if entries else 1, free + 1)) if free else 0):
            size = shape[axis]
            if rng.random() < 0.5 and size:
                entries.append(("int", int(rng.integers(-size, size))))
            else:
                lo = None if rng.random() < 0.5 else int(rng.integers(-size, size + 1))
                hi = None if rng.random() < 0.5 else int(rng.integers(-size, size + 1))
                step = None if rng.random() < 0.6 else int(rng.choice([-2, -1, 2]))
                entries.append(("slice", lo, hi, step))
            axis += 1
        if not entries:
            raise _Skip("nothing to index")
        return tuple(entries)

    # -- building and running --------------------------------------------------------------
    def _build(self, root: Node, consts: dict) -> Node:
        memo = {}
        for node in toposort([root]):
            if node in self.env:
                memo[node] = self.env[node]
            elif node.op == "constant":
                memo[node] = consts.get(node, node)
            elif not node.inputs:
                memo[node] = node
            else:
                inputs = tuple(memo[i] for i in node.inputs)
                params = tuple((k, self._param(node.op, k, v, inputs) if isinstance(v, ParamVar)
                                else v) for k, v in node.params)
                memo[node] = apply_node(node.op, inputs, params)
        return memo[root]

    def _run(self, nodes):
        with np.errstate(all="ignore"):
            return evaluate(nodes, {n: self.feed[n] for n in self.feed})

    def run(self):
        """None when the sides agree on this instantiation, else a Counterexample."""
        consts = self._inputs()
        try:
            lhs = self._build(self.rule.lhs, consts)
        except (TypeError, ValueError, IndexError, KeyError, OverflowError) as exc:
            raise _Skip(f"left side does not build: {exc}") from exc
        try:
            lval = self._run([lhs])[0]
        except Exception as exc:  # noqa: BLE001 - any failure: not a valid instance
            raise _Skip(f"left side does not run: {exc}") from exc
        if self.rule.kind == "fact":
            return self._check_fact(lhs, np.asarray(lval))
        try:
            rhs = self._build(self.rule.rhs, {})
        except Exception as exc:  # noqa: BLE001
            return self._fail(lval, None, f"the right side does not build on inputs where the "
                              f"left side does: {type(exc).__name__}: {exc}")
        if not _same_type(lhs.type, rhs.type):
            return self._fail(lhs.type, rhs.type, f"types differ: left {lhs.type}, right "
                              f"{rhs.type}")
        try:
            rval = self._run([rhs])[0]
        except Exception as exc:  # noqa: BLE001
            return self._fail(lval, None, f"the right side fails at run time where the left "
                              f"side runs: {type(exc).__name__}: {exc}")
        return self._compare(lhs, rhs, np.asarray(lval), np.asarray(rval))

    def _fail(self, lval, rval, detail):
        return Counterexample(self.rule.name, self.rule.source, dict(self.shown),
                              dict(self.params), lval, rval, detail)

    # -- comparing -------------------------------------------------------------------------
    def _compare(self, lhs, rhs, L, R):
        if L.shape != R.shape:
            return self._fail(L, R, f"run-time shapes differ: left {L.shape}, right {R.shape}")
        kind = L.dtype.kind
        if kind not in "fc":
            if np.array_equal(L, R):
                return None
            bad = np.argwhere(L != R)
            return self._fail(L, R, f"values differ at index {tuple(bad[0])}")
        if kind == "c":
            L, R = np.concatenate([L.real, L.imag]), np.concatenate([R.real, R.imag])
        rtol = 256 * float(np.finfo(L.dtype).eps)
        Lf, Rf = L.astype(np.float64), R.astype(np.float64)
        with np.errstate(all="ignore"):
            same = (np.isnan(Lf) & np.isnan(Rf)) | (Lf == Rf)
            if self.plan.finite:
                same |= ~np.isfinite(Lf)  # the rule assumes finite values: not its case
            bad = ~same
            worse = self._less_accurate(lhs, Lf, Rf, rtol) \
                if self.rule.family == "stability" and kind == "f" else np.zeros(bad.shape, bool)
            if not (bad | worse).any():
                return None
            if kind != "f":
                M = np.zeros_like(Lf)
            elif self.rule.family == "stability":  # must not cancel more than its left side
                M = _magnitude(lhs, self)
            else:
                M = np.maximum(_magnitude(lhs, self), _magnitude(rhs, self))
            M = np.where(np.isfinite(M), M, 0)
            scale = np.maximum(np.maximum(np.abs(Lf), np.abs(Rf)), M)
            tiny = 4 * float(np.finfo(L.dtype).tiny)  # subnormal results: absolute noise
            close = np.isfinite(Lf) & np.isfinite(Rf) & (np.abs(Rf - Lf) <= rtol * scale + tiny)
            bad &= ~close
            if not (bad | worse).any():
                return None
            E = _exact(lhs, self, limit=False) if kind == "f" else None
            if E is not None:
                bad &= ~_better(Lf, Rf, E, M, rtol)
            if self.out_of_range and self.rule.family == "stability":
                # astronomically large inputs (exp(1e300)): no exact value to judge by; a
                # stability rule may give a finite value where the left side overflows
                bad &= ~(~np.isfinite(Lf) & np.isfinite(Rf) & ~np.isfinite(E if E is not None
                                                                          else Lf))
            if bad.any() and E is not None and self.rule.family == "stability" and \
                    any(np.isinf(v).any() for v in self.feed.values() if v.dtype.kind == "f"):
                lim = _exact(lhs, self, limit=True)
                if lim is not None:
                    bad &= ~(np.isnan(Lf) & np.isfinite(Rf) & (np.abs(Rf - lim) <= rtol *
                                                             np.maximum(np.abs(lim), 1)))
        if not (bad | worse).any():
            return None
        bad |= worse
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        ex = "" if E is None else f", exact {E[at]!r}"
        return self._fail(L, R, f"values differ at index {at}: left {Lf[at]!r}, right "
                          f"{Rf[at]!r}{ex}")

    def _less_accurate(self, lhs, Lf, Rf, rtol):
        """Where a stability rule's right side is clearly less accurate than its left side
        (against the exact value): the point of such a rule is to be at least as good. This
        catches cancellation the rewrite introduces (softplus(z) - t z at t = 1, z = 20)."""
        E = _exact(lhs, self, limit=False)
        if E is None:
            return np.zeros(Lf.shape, bool)
        tiny = 4 * float(np.finfo(np.float64).tiny)
        err_l, err_r = np.abs(Lf - E), np.abs(Rf - E)
        return np.isfinite(E) & np.isfinite(Lf) & np.isfinite(Rf) & (
            err_r > 8 * err_l + rtol * np.abs(E) + tiny)

    def _check_fact(self, lhs, V):
        relation = self.rule.rhs
        if V.dtype.kind not in "fiub":
            return None
        with np.errstate(all="ignore"):
            Vf = V.astype(np.float64)
            holds = {"positive": Vf > 0, "nonneg": Vf >= 0, "nonzero": Vf != 0}[relation]
            bad = ~holds & ~np.isnan(Vf)
            if not bad.any():
                return None
            for limit in (False, True):  # at an infinite input, the limit's sign counts
                E = _exact(lhs, self, limit=limit, as_float=False) if V.dtype.kind == "f" \
                    else None
                if E is not None:  # an underflowed 0 is fine where the exact value holds
                    test = {"positive": lambda e: e > 0, "nonneg": lambda e: e >= 0,
                            "nonzero": lambda e: e != 0}[relation]
                    exact = np.frompyfunc(lambda e, t=test: not e.is_nan() and t(e), 1, 1)(E)
                    bad &= ~((Vf == 0) & np.asarray(exact, dtype=bool))
            if self.out_of_range:  # exp(-1e300): the exact value is out of decimal range too
                bad &= ~(Vf == 0)
        if not bad.any():
            return None
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        return self._fail(V, relation, f"fact {relation} does not hold at index {at}: value "
                          f"{Vf[at]!r}")


def _same_type(a: TensorType, b: TensorType) -> bool:
    """Same dtype and ndim, the same broadcastable dims, equal sizes where both are known."""
    if a.dtype != b.dtype or a.ndim != b.ndim:
        return False
    return all(x == y or (x != 1 and y != 1 and (x is None or y is None))
               for x, y in zip(a.shape, b.shape))


def _better(Lf, Rf, E, M, rtol):
    """Elements where the right side is close to the exact value E, or at least as close as a
    finite left side."""
    with np.errstate(all="ignore"):
        err_r = np.abs(Rf - E)
        close = np.isfinite(Rf) & (err_r <= rtol * np.maximum(np.abs(E), M))
        no_worse = np.isfinite(Rf) & np.isfinite(Lf) & (err_r <= np.abs(Lf - E))
        finite = np.isfinite(E) & (close | no_worse)
        return finite | (np.isnan(E) & np.isnan(Rf)) | (np.isinf(E) & (Rf == E))


# -- sampling values -------------------------------------------------------------------------
def _values(rng, dtype, shape, domain, regime, finite):
    n = int(np.prod(shape, dtype=np.int64))
    kind = np.dtype(dtype).kind
    if domain == "index":
        v = rng.integers(-2, 2, n)
    elif kind == "b":
        v = rng.random(n) < 0.5
        if domain == "positive" or domain == "nonzero":
            v[:] = True
    elif kind in "iu":
        v = _ints(rng, dtype, n, domain, regime)
    elif kind == "f":
        v = _floats(rng, dtype, n, domain, regime, finite)
    else:  # complex
        v = _floats(rng, "float64", n, None, regime, finite) + \
            1j * _floats(rng, "float64", n, None, regime, finite)
    return np.asarray(v).astype(dtype).reshape(shape)


def _ints(rng, dtype, n, domain, regime):
    info = np.iinfo(dtype)
    lo = 0 if info.min == 0 or domain in ("nonneg", "positive") else -5
    if regime == "edge":
        pool = [v for v in (info.min, info.min + 1, -1, 0, 1, 2, info.max - 1, info.max)
                if v >= lo or v >= 0]
        v = np.array([pool[k] for k in rng.integers(len(pool), size=n)], dtype=np.int64)
    else:
        v = rng.integers(lo, 6, n)
    if domain == "positive" or domain == "nonzero":
        v = np.where(v == 0, 1, v)
    if domain in ("positive", "nonneg"):
        v = np.where(v < 0, 1, v)
    return v.astype(dtype)


_EDGE = {"float64": (1e300, 1e-300, 5e-324), "float32": (3e38, 1e-38, 1e-45)}


def _floats(rng, dtype, n, domain, regime, finite):
    if regime == "normal":
        v = 10 ** rng.uniform(-3, 1.5, n) * rng.choice([-1.0, 1.0], n)
        r = rng.random(n)
        v = np.where(r < 0.08, 0.0, v)
        v = np.where((r >= 0.08) & (r < 0.18), rng.integers(-3, 4, n).astype(float), v)
        if domain in ("positive", "nonzero"):
            v = np.where(v == 0, 10 ** rng.uniform(-3, 1, n), v)
    else:
        huge, tiny, sub = _EDGE[dtype]
        pool = [0.0, -0.0, 1.0, -1.0, 0.5, -2.0, 20.0, -20.0, 100.0, -100.0, 1000.0, -1000.0,
                tiny, -tiny, sub, -sub]
        if not finite:
            pool += [huge, -huge, np.inf, -np.inf, np.nan, np.inf, -np.inf, np.nan]
        picks = np.array([pool[k] for k in rng.integers(len(pool), size=n)])
        moderate = 10 ** rng.uniform(-3, 1.5, n) * rng.choice([-1.0, 1.0], n)
        v = np.where(rng.random(n) < 0.7, picks, moderate)
    if domain in ("positive", "nonneg"):
        v = np.abs(v)  # an edge 0 stays: a positive value may underflow
    return v


# -- magnitudes: the scale of rounding errors -------------------------------------------------
_DATA_ALL = ("dot", "tensordot", "batched_dot", "join")  # every input is data
_DATA_FIRST = ("dimshuffle", "subtensor", "reshape", "alloc", "sum", "prod", "max", "min")
_PASS = ("neg", "abs", "identity", "cast", "clip", "round")


def _magnitude(root: Node, trial: _Trial):
    """An elementwise bound of the terms that produced ``root``'s value (|a| + |b| for sums,
    |A| |B| for dot products, ...): the scale of the rounding error each element may carry,
    so that reordered sums and products are compared fairly."""
    nodes = toposort([root])
    values = dict(zip(nodes, trial._run(nodes)))
    mag = {}
    with np.errstate(all="ignore"):
        for n in nodes:
            val = np.asarray(values[n])
            v = np.abs(val).astype(np.float64)
            if not n.inputs or val.dtype.kind != "f":
                mag[n] = v
                continue
            ms = [mag[i] for i in n.inputs]
            u = [np.abs(np.asarray(values[i])).astype(np.float64) for i in n.inputs]
            op = n.op
            if op in ("add", "sub"):
                m = ms[0] + ms[1]
            elif op == "mul":
                m = ms[0] * ms[1]
            elif op == "true_div":
                m = ms[0] / u[1] + v * ms[1] / u[1]
            elif op in _PASS:
                m = ms[0]
            elif op in ("maximum", "minimum"):
                m = np.maximum(ms[0], ms[1])
            elif op == "switch":
                m = np.where(np.asarray(values[n.inputs[0]], dtype=bool), ms[1], ms[2])
            elif op in _DATA_ALL:
                m = OPS[op].impl(*ms, **n.attrs)
            elif op in _DATA_FIRST:
                m = OPS[op].impl(ms[0], *(values[i] for i in n.inputs[1:]), **n.attrs)
            elif op in ("softmax", "log_softmax", "logsumexp"):
                top = np.max(np.where(np.isfinite(ms[0]), ms[0], 0), initial=0)
                m = np.maximum(v, v * top) if op == "softmax" else np.maximum(v, top)
            elif op == "exp":  # an absolute error d in u is a relative error d in exp(u)
                m = v * np.maximum(1, ms[0])
            elif len(ms) == 1:  # f(u): the relative error of u carries over (log: absolutely)
                ratio = np.minimum(np.where(ms[0] == 0, 1, ms[0] / u[0]), 1e16)
                m = np.maximum(v, ratio) if op in ("log", "log1p") else v * np.maximum(1, ratio)
            else:
                m = v
            m = np.abs(np.asarray(m, dtype=np.float64))
            mag[n] = np.broadcast_to(m, val.shape) if m.shape != val.shape else m
    return mag[root]


# -- the exact value of a side: Python decimals ----------------------------------------------
_CTX = decimal.Context(prec=480, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN, traps=[])
_EXACT = decimal.Context(prec=decimal.MAX_PREC, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN,
                         traps=[])  # + - * are exact under it; everything else uses _CTX
_D = decimal.Decimal
_NAN = _D("NaN")


class _Unavailable(Exception):
    pass


def _u(fn):
    return np.frompyfunc(fn, 1, 1)


def _b(fn):
    return np.frompyfunc(fn, 2, 1)


def _expm1(x):
    if abs(x) < _D("1e-100"):
        return _CTX.add(x, _CTX.multiply(_CTX.multiply(x, x), _D("0.5")))
    return _CTX.subtract(x.exp(_CTX), 1)


def _tanh(x):
    if abs(x) < _D("1e-20"):
        return x
    e = (2 * x).exp(_CTX)
    return _CTX.divide(e - 1, e + 1) if e.is_finite() else _D(1)


def _add(a, b):
    """a + b, exactly unless their magnitudes are too far apart to hold in memory (1 + 1e-10^15
    would need 10^15 digits): then rounded to 60 digits."""
    if a.is_finite() and b.is_finite() and (not a or not b or
                                            abs(a.adjusted() - b.adjusted()) > 4000):
        return _CTX.add(a, b)  # (an underflowed 0 can carry an exponent of -10^18)
    return a + b


def _log1p(v):
    if abs(v) < _D("1e-100"):
        return _CTX.subtract(v, _CTX.multiply(_CTX.multiply(v, v), _D("0.5")))
    return _CTX.add(1, v).ln(_CTX)


def _maxd(a, b):
    return _NAN if a.is_nan() or b.is_nan() else (a if a >= b else b)


def _mind(a, b):
    return _NAN if a.is_nan() or b.is_nan() else (a if a <= b else b)


def _reduce(fn, x, axis):
    x = np.asarray(x, dtype=object)
    for a in sorted(range(x.ndim) if axis is None else axis, reverse=True):
        x = _b(fn).reduce(x, axis=a)
    return x


def _keep(r, x, axis):
    return np.expand_dims(r, tuple(range(np.ndim(x))) if axis is None else axis)


def _softmax(x, axis):
    e = _u(lambda v: v.exp(_CTX))(x)
    return _b(_CTX.divide)(e, _keep(np.sum(e, axis=axis), x, axis))


def _cast(x, dtype):
    kind = np.dtype(dtype).kind
    if kind != "f":
        raise _Unavailable
    return _u(lambda v: _D(float(np.asarray(float(v), dtype=dtype))))(x)


_DEC = {
    "add": _b(_add), "sub": _b(lambda a, b: _add(a, -b)), "mul": np.multiply,
    "neg": np.negative, "abs": np.abs,
    "true_div": _b(_CTX.divide), "pow": _b(_CTX.power),
    "exp": _u(lambda v: v.exp(_CTX)), "log": _u(lambda v: v.ln(_CTX)),
    "log1p": _u(_log1p), "expm1": _u(_expm1),
    "sqrt": _u(lambda v: v.sqrt(_CTX)), "sqr": lambda x: np.multiply(x, x),
    "reciprocal": _u(lambda v: _CTX.divide(1, v)),
    "sigmoid": _u(lambda v: _CTX.divide(1, _CTX.add(1, (-v).exp(_CTX)))),
    "softplus": _u(lambda v: _log1p(v.exp(_CTX))),
    "tanh": _u(_tanh), "identity": lambda x: x,
    "maximum": _b(_maxd), "minimum": _b(_mind),
    "sum": lambda x, axis: _reduce(_add, x, axis),
    "prod": lambda x, axis: np.prod(np.asarray(x, dtype=object), axis=axis),
    "max": lambda x, axis: _reduce(_maxd, x, axis),
    "min": lambda x, axis: _reduce(_mind, x, axis),
    "dot": lambda a, b: np.dot(np.asarray(a, dtype=object), np.asarray(b, dtype=object)),
    "softmax": _softmax,
    "log_softmax": lambda x, axis: _u(lambda v: v.ln(_CTX))(_softmax(x, axis)),
    "logsumexp": lambda x, axis: _u(lambda v: v.ln(_CTX))(
        np.sum(_u(lambda v: v.exp(_CTX))(x), axis=axis)),
    "cast": _cast,
    "switch": lambda c, a, b: np.where(np.asarray(c, dtype=bool), a, b),
}
_DEC_MOVE = ("dimshuffle", "subtensor", "reshape", "alloc", "join")
_DEC_CMP = {"eq": np.equal, "neq": np.not_equal, "lt": np.less, "gt": np.greater,
            "le": np.less_equal, "ge": np.greater_equal}


def _to_dec(value, limit):
    a = np.asarray(value)
    if a.dtype.kind not in "fiu":
        return a
    out = np.empty(a.shape, dtype=object)
    for i, v in np.ndenumerate(a):
        if limit and np.isinf(v):
            out[i] = _D("1e15") if v > 0 else _D("-1e15")  # the limit: a huge finite value
        else:
            out[i] = _D(float(v))
    return out


def _exact(root: Node, trial: _Trial, limit: bool, as_float: bool = True):
    """``root``'s value in exact arithmetic (a float64 array, or Decimals if not ``as_float``),
    or None if an op has no exact implementation here. Where a value leaves the decimal range
    (exp(1e300)) it becomes 0 or +-inf and ``trial.out_of_range`` is set. ``limit``: infinite
    inputs replaced by +-1e15 (limits)."""
    vals = {}
    for ctx in (_CTX, _EXACT):
        ctx.clear_flags()
    try:
        with decimal.localcontext(_EXACT):
            for n in toposort([root]):
                if n in trial.feed:  # index parts stay integer arrays
                    index = any(trial.env.get(v) is n for v in trial.plan.index_vars)
                    vals[n] = trial.feed[n] if index else _to_dec(trial.feed[n], limit)
                    if limit and any(trial.env.get(v) is n for v, f in trial.plan.fact.items()
                                     if f == "positive"):  # a drawn 0 is an underflowed > 0
                        vals[n] = _u(lambda v: _D("1e-400") if v == 0 else v)(vals[n])
                elif n.op == "constant":
                    vals[n] = _to_dec(n.data, False)
                elif n.op in _DEC:
                    vals[n] = _DEC[n.op](*(vals[i] for i in n.inputs), **n.attrs)
                elif n.op in _DEC_MOVE:
                    vals[n] = OPS[n.op].impl(*(vals[i] for i in n.inputs), **n.attrs)
                elif n.op in _DEC_CMP:
                    vals[n] = np.asarray(_DEC_CMP[n.op](*(vals[i] for i in n.inputs)), bool)
                else:
                    return None
            if any(ctx.flags[sig] for ctx in (_CTX, _EXACT)
                   for sig in (decimal.Overflow, decimal.Underflow)):
                trial.out_of_range = True  # some value rounded to 0 or +-inf
            out = np.asarray(vals[root], dtype=object)
            if not as_float:
                return out
            return np.vectorize(float, otypes=[np.float64])(out) if out.size else \
                np.zeros(out.shape)
    except (_Unavailable, TypeError, ValueError, ArithmeticError, IndexError,
            AttributeError, MemoryError):
        return None
