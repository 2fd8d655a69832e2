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


def optimize(outputs, rules=None, cost=None, extractor=None, budget=None, excluding=(),
             fusion=None, late_budget=None, disk_cache=False):
    """Optimize ``outputs`` (a variable or a list) with the e-graph; see DESIGN.md.

    rules: None/'default', family names, RuleSets, Rules, plugin paths (a list mixes them);
    excluding: rule names, families or assumptions ('finite') to leave out;
    cost: a cost model object, or a name ('cpu' default, 'nodes', or a plugin's);
    extractor: a name in EXTRACTORS (plugins may add some) or a callable;
    budget: a Budget or a dict of its fields (iterations, enodes, seconds, match_limit, isolate).
    fusion: None (only the main phase: algebra and stability), 'egraph' (then the late phase:
        the extracted graph re-enters a fresh e-graph where the layout, fusion and inplace
        families run; the result holds fused kernels, as codegen wants it) or 'greedy' (the
        late phase without fusion rules, then Theano-style maximal fusion: the baseline);
    late_budget: the late phase's Budget (default: 8 iterations, 200k e-nodes, 5 s).
    disk_cache: reuse (and store) the optimized graph in ``config.compiledir`` across
        processes (``function`` does; a result read from disk has no ``.egraph`` to inspect).
    """
    from .egraph_rules.cost import CostModel
    from .egraph_rules.extract import DEFAULT_EXTRACTOR, EXTRACTORS
    from .egraph_rules.library import LATE_FAMILIES, resolve
    from .egraph_rules.saturate import Budget

    single = not isinstance(outputs, (list, tuple))
    outs = [as_tensor_variable(o) for o in ([outputs] if single else outputs)]
    ruleset = resolve(rules, excluding)  # first: plugin files may register cost models
    if isinstance(cost, str):
        from .egraph_rules.cost import named

        cost = named(cost)
    cost_model = cost if cost is not None else CostModel()
    name = extractor or DEFAULT_EXTRACTOR
    if isinstance(name, str) and name not in EXTRACTORS:
        raise ValueError(f"unknown extractor {name!r}: expected one of {sorted(EXTRACTORS)} or "
                         "a callable (egraph, roots, cost_model, class_types, node_ok) -> choice")
    if not isinstance(name, str) and not callable(name):
        raise TypeError(f"extractor must be a name or a callable, got {name!r}")
    if fusion not in FUSION:
        raise ValueError(f"fusion must be one of {FUSION}, got {fusion!r}")
    extract_fn = EXTRACTORS[name] if isinstance(name, str) else name
    budget = Budget.of(budget)
    late_budget = Budget.of(late_budget or LATE_BUDGET)
    main_rules = tuple(r for r in ruleset.rules if r.family not in LATE_FAMILIES)
    late_rules = tuple(r for r in ruleset.rules if r.family in LATE_FAMILIES
                       and (fusion == "egraph" or r.family != "fusion"))
    key = (tuple(outs), main_rules, late_rules if fusion else (), cost, name, budget, fusion,
           late_budget)  # nodes are hash-consed
    hit = _CACHE.get(key)
    if hit is not None:  # the same graph under the same settings: the same result
        _CACHE[key] = _CACHE.pop(key)  # most recently used last
        return replace(hit, report=replace(hit.report, cached=True))
    disk_key = _disk_key(outs, main_rules, late_rules if fusion else (), cost, name, budget,
                         fusion, late_budget) if disk_cache else None
    if disk_key is not None:
        from . import graph_cache

        stored = graph_cache.load(disk_key[0])
        if stored is not None:
            try:
                new = graph_cache.decode_graph(stored["graph"], disk_key[1])
            except (KeyError, IndexError, TypeError, ValueError, SyntaxError):
                new = None
            if new is not None:
                from .egraph_rules.saturate import PhaseRecord

                fields = dict(stored["report"])
                fields["phases"] = [PhaseRecord(**p) for p in fields["phases"]]
                report = OptimizationReport(**fields)
                report.cached = True
                result = OptimizationResult(new, report)
                _CACHE[key] = result
                return result
    report = OptimizationReport(cost_before=graph_cost(outs, cost_model),
                                extractor=name if isinstance(name, str) else repr(name))

    def fallback(reason, result=None):
        report.fallback = reason
        warnings.warn(f"eggflow: optimization skipped, using the unoptimized graph: {reason}",
                      OptimizerWarning, stacklevel=3)
        if result is not None:  # the late phase failed: keep the main phase's result
            return result
        report.cost_after = report.cost_before
        return OptimizationResult(outs, report)

    phase = _phase(outs, main_rules, budget, "main", cost_model, extract_fn, report)
    if isinstance(phase, str):
        return fallback(phase)
    new, egraph, serialized, costing, classes, selection = phase
    report.cost_after = graph_cost(new, cost_model)
    result = OptimizationResult(new, report, egraph, serialized, costing, classes, selection,
                                main_rules)
    if fusion:
        from .egraph_rules.extract import kernel_aware

        late = _phase(new, late_rules, late_budget, "late", cost_model, kernel_aware, report)
        if isinstance(late, str):
            return fallback(f"late phase: {late}", result)
        new = late[0]
        if fusion == "greedy":
            from .codegen.fuse import greedy_fusion

            started = time.perf_counter()
            new = greedy_fusion(new)
            report.seconds["greedy_fusion"] = time.perf_counter() - started
        result = replace(result, outputs=new)
    if disk_key is not None and report.fallback is None:
        _store(disk_key, result)
    _CACHE[key] = result
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    return result


FUSION = (None, "egraph", "greedy")


def _disk_key(outs, main_rules, late_rules, cost, extractor, budget, fusion, late_budget):
    """(key, leaves) of the optimized-graph disk cache (eggflow.graph_cache), or None where a
    setting cannot be written as data (a custom cost model or extractor, opaque params)."""
    from dataclasses import asdict

    from . import graph_cache
    from .egraph_rules.cost import CostModel

    builtin = ("tree", "greedy", "greedy+ls", "ilp", "kernel-aware")  # plugins' code may change
    if extractor not in builtin or (cost is not None and type(cost) is not CostModel):
        return None
    try:
        data, leaves = graph_cache.encode_graph(outs)
    except (ValueError, SyntaxError, TypeError):
        return None
    rules = [[r.name, r.family, str(r.lhs), str(r.rhs), repr(r.when), list(r.assumes),
              r.iterations, r.subsume] for r in main_rules + late_rules]
    settings = [rules, None if cost is None else [repr(cost.c), cost.unknown_dim], extractor,
                asdict(budget), fusion, asdict(late_budget)]
    return graph_cache.key(data, settings), leaves


def _store(disk_key, result) -> None:
    from dataclasses import asdict

    from . import graph_cache

    try:
        data, _ = graph_cache.encode_graph(result.outputs, list(disk_key[1]))
    except (KeyError, ValueError, SyntaxError, TypeError):
        return
    report = asdict(result.report)
    graph_cache.store(disk_key[0], {"graph": data, "report": report})
LATE_BUDGET = {"iterations": 8, "enodes": 200_000, "seconds": 5.0}


def _phase(outs, rules, budget, name, cost_model, extract_fn, report):
    """One phase: encode, saturate, extract, decode. Returns (outputs, egraph, serialized,
    costing), or a string saying why the phase could not run."""
    from .egraph_rules.cost import LateCost
    from .egraph_rules.egglog_text import decode, encode, read_egraph
    from .egraph_rules.saturate import WorkerDied, run_phase
    from .egraph_rules.types import compatible, infer_types

    late = name == "late"
    started = time.perf_counter()
    enc = encode(outs, rules, facts=("top",) if late else ())
    report.seconds[f"{name}_encode" if late else "encode"] = time.perf_counter() - started
    try:
        serialized, record = run_phase(enc.text, list(enc.ctors), budget, name, enc.limited)
    except WorkerDied as exc:
        return str(exc)
    except ImportError as exc:
        return f"egglog is not available ({exc})"
    report.phases.append(record)
    for rule, n in record.rules_fired.items():
        report.rules_fired[rule] = report.rules_fired.get(rule, 0) + n
    report.seconds[name] = record.seconds

    started = time.perf_counter()
    egraph, seeds = read_egraph(serialized, enc)
    record.eclasses = egraph.nclasses
    class_types, node_ok = infer_types(egraph, seeds)
    model = cost_model
    if late:
        from .egraph_rules.extract import late_node_ok

        node_ok = late_node_ok(egraph, node_ok)
        model = LateCost(cost_model)
    try:
        selection = extract_fn(egraph, egraph.roots, model, class_types, node_ok)
    except ValueError as exc:  # no acyclic well-typed choice: the phase's rules are at fault
        return f"extraction failed: {exc}"
    seconds = time.perf_counter() - started
    report.seconds[f"{name}_extract" if late else "extract"] = seconds
    if not late:
        report.extract_seconds = seconds
    started = time.perf_counter()
    built: dict = {}
    new = decode(egraph, selection, egraph.roots, built)
    report.seconds[f"{name}_decode" if late else "decode"] = time.perf_counter() - started
    bad = [o for o, n in zip(outs, new) if not compatible(o.type, n.type)]
    if bad:  # a rule changed a type: never hand that to the user
        return f"extraction changed the type of {bad[0]} (a rule is not type-exact)"
    classes = {enc.nodes[k]: c for k, c in egraph.origin.items()}
    classes.update({node: c for c, node in built.items()})
    return new, egraph, serialized, (model, class_types, node_ok), classes, selection


# optimize() results by (outputs, rules, cost model, extractor, budgets, fusion): T.grad
# stabilizes the same cost once per call (grad(cost, w); grad(cost, b)), and scripts rebuild
# the same functions
CACHE_SIZE = 64
_CACHE: dict = {}
