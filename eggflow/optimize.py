"""``eggflow.optimize``: the e-graph pipeline — encode, saturate (main phase), extract, decode.

    encode(outputs, rules) -> run_phase(text, budget) -> read_egraph -> infer_types
        -> extractor(cost model) -> decode -> OptimizationResult(.outputs, .report)

Every stage returns plain data; a failure of the optimizer itself (egglog missing, the
worker dying on a blow-up) falls back to the unoptimized graph with a warning, never an error.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import replace

from .frontend.graph import as_tensor_variable, toposort
from .egraph_rules.report import OptimizationReport, OptimizationResult


class OptimizerWarning(UserWarning):
    """The optimizer could not run and the unoptimized graph is used."""


def graph_cost(outputs, cost_model) -> float:
    """The cost of a frontend graph under ``cost_model`` (each node paid once)."""
    total = 0.0
    for node in toposort(outputs):
        if node.inputs and node.op != "map_index":
            total += cost_model.cost(node.op, [i.type for i in node.inputs], node.type)
    return total


def optimize(outputs, rules=None, cost=None, extractor=None, budget=None, excluding=()):
    """Optimize ``outputs`` (a variable or a list) with the e-graph; see DESIGN.md.

    rules: None/'default', family names, RuleSets, Rules, plugin paths (a list mixes them);
    excluding: rule names, families or assumptions ('finite') to leave out;
    cost: a CostModel (default: the CPU model); extractor: a name in EXTRACTORS or a callable;
    budget: a Budget or a dict of its fields (iterations, enodes, seconds, match_limit, isolate).
    """
    from .egraph_rules.cost import CostModel
    from .egraph_rules.egglog_text import decode, encode, read_egraph
    from .egraph_rules.extract import DEFAULT_EXTRACTOR, EXTRACTORS
    from .egraph_rules.library import resolve
    from .egraph_rules.saturate import Budget, WorkerDied, run_phase
    from .egraph_rules.types import compatible, infer_types

    single = not isinstance(outputs, (list, tuple))
    outs = [as_tensor_variable(o) for o in ([outputs] if single else outputs)]
    cost_model = cost if cost is not None else CostModel()
    name = extractor or DEFAULT_EXTRACTOR
    if isinstance(name, str) and name not in EXTRACTORS:
        raise ValueError(f"unknown extractor {name!r}: expected one of {sorted(EXTRACTORS)} or "
                         "a callable (egraph, roots, cost_model, class_types, node_ok) -> choice")
    if not isinstance(name, str) and not callable(name):
        raise TypeError(f"extractor must be a name or a callable, got {name!r}")
    extract_fn = EXTRACTORS[name] if isinstance(name, str) else name
    budget = Budget.of(budget)
    ruleset = resolve(rules, excluding)
    key = (tuple(outs), tuple(ruleset.rules), cost, name, budget)  # nodes are hash-consed
    hit = _CACHE.get(key)
    if hit is not None:  # the same graph under the same settings: the same result
        _CACHE[key] = _CACHE.pop(key)  # most recently used last
        return replace(hit, report=replace(hit.report, cached=True))
    report = OptimizationReport(cost_before=graph_cost(outs, cost_model),
                                extractor=name if isinstance(name, str) else repr(name))

    def fallback(reason):
        report.fallback = reason
        report.cost_after = report.cost_before
        warnings.warn(f"eggflow: optimization skipped, using the unoptimized graph: {reason}",
                      OptimizerWarning, stacklevel=3)
        return OptimizationResult(outs, report)

    started = time.perf_counter()
    enc = encode(outs, ruleset.rules)
    report.seconds["encode"] = time.perf_counter() - started
    try:
        serialized, record = run_phase(enc.text, list(enc.ctors), budget, "main", enc.limited)
    except WorkerDied as exc:
        return fallback(str(exc))
    except ImportError as exc:
        return fallback(f"egglog is not available ({exc})")
    report.phases.append(record)
    report.rules_fired = dict(record.rules_fired)
    report.seconds["main"] = record.seconds

    started = time.perf_counter()
    egraph, seeds = read_egraph(serialized, enc)
    record.eclasses = egraph.nclasses
    class_types, node_ok = infer_types(egraph, seeds)
    selection = extract_fn(egraph, egraph.roots, cost_model, class_types, node_ok)
    report.extract_seconds = time.perf_counter() - started
    report.seconds["extract"] = report.extract_seconds
    started = time.perf_counter()
    new = decode(egraph, selection, egraph.roots)
    report.seconds["decode"] = time.perf_counter() - started
    bad = [o for o, n in zip(outs, new) if not compatible(o.type, n.type)]
    if bad:  # a rule changed a type: never hand that to the user
        return fallback(f"extraction changed the type of {bad[0]} (a rule is not type-exact)")
    report.cost_after = graph_cost(new, cost_model)
    result = OptimizationResult(new, report, egraph, serialized,
                                (cost_model, class_types, node_ok))
    _CACHE[key] = result
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    return result


# optimize() results by (outputs, rules, cost model, extractor, budget): T.grad stabilizes the
# same cost once per call (grad(cost, w); grad(cost, b)), and scripts rebuild the same functions
CACHE_SIZE = 64
_CACHE: dict = {}
