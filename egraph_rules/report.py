"""The optimization report: what each phase did, which rules fired, what extraction chose."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class OptimizationReport:
    phases: list = field(default_factory=list)  # PhaseRecord per phase
    rules_fired: dict = field(default_factory=dict)  # rule name -> matches
    cost_before: float | None = None
    cost_after: float | None = None
    extractor: str | None = None
    extract_seconds: float = 0.0
    seconds: dict = field(default_factory=dict)  # stage -> seconds (encode, main, extract, ...)
    fallback: str | None = None  # why the unoptimized graph is used, if it is
    cached: bool = False  # this result was computed earlier for the same graph and settings

    def __str__(self):
        rows = ["phase       iters  e-classes   e-nodes   seconds  stop reason"]
        for p in self.phases:
            rows.append(f"{p.name:<10} {p.iterations:>6} {p.eclasses:>10} {p.enodes:>9} "
                        f"{p.seconds:>9.3f}  {p.stop_reason}")
        if self.cost_before is not None:
            after = "-" if self.cost_after is None else f"{self.cost_after:.4g}"
            rows.append(f"cost {self.cost_before:.4g} -> {after} (extractor {self.extractor}, "
                        f"{self.extract_seconds:.3f} s)")
        if self.seconds:
            rows.append("stages: " + ", ".join(f"{k} {v * 1e3:.1f} ms"
                                               for k, v in self.seconds.items()))
        if self.rules_fired:
            fired = sorted(self.rules_fired.items(), key=lambda kv: (-kv[1], kv[0]))
            rows.append("rules fired: " + ", ".join(f"{k} x{v}" for k, v in fired))
        if self.fallback:
            rows.append(f"fallback: {self.fallback}")
        if self.cached:
            rows.append("(cached: computed earlier for the same graph and settings)")
        return "\n".join(rows)


@dataclass
class OptimizationResult:
    """What ``eggflow.optimize`` returns: ``.outputs`` (always a list) and ``.report``."""

    outputs: list
    report: OptimizationReport
    egraph: object = None  # the EGraph data (egraph_rules.egraph.EGraph) of the main phase
    serialized: str | None = None  # egglog's egraph-serialize JSON of the main phase
    costing: tuple | None = None  # (cost model, class types, well-typed mask) for export
    classes: dict | None = None  # frontend node (input graph or decoded) -> its e-class
    selection: dict | None = None  # e-class -> chosen e-node (the main phase's extraction)
    rules: tuple = ()  # the main phase's rules (explain() re-runs subsets of them)

    # -- inspection (egraph_rules/inspect.py) -------------------------------------------------
    def eclass(self, var) -> int:
        """The e-class (an index into ``.egraph``) of a variable of the input graph or of
        ``.outputs``."""
        from .inspect import eclass

        return eclass(self, var)

    def equivalents(self, var, k: int = 5) -> list:
        """Up to ``k`` expressions equal to ``var`` in the e-graph, cheapest first, as
        ``(cost, expression)`` pairs (each e-node of its class, children as extracted)."""
        from .inspect import equivalents

        return equivalents(self, var, k)

    def explain(self, a, b) -> list:
        """Why ``a`` equals ``b``: the rules (name, law) that prove it, in the order they first
        fired (a minimal subset of the main phase's rules: dropping any one loses the proof)."""
        from .inspect import explain

        return explain(self, a, b)

    def draw(self, var, k: int = 1, outfile=None, format=None) -> str:
        """Draw the e-classes within ``k`` steps (children and parents) of ``var``'s e-class,
        each a cluster of its e-nodes (graphviz); returns the file written."""
        from .inspect import draw

        return draw(self, var, k, outfile, format)

    def export_json(self, path) -> str:
        """Write the main phase's e-graph as egraph-serialize JSON, the input of
        extraction-gym: every e-node's ``cost`` is the cost model's (ill-typed and subsumed
        ones cost 1e30), ``root_eclasses`` are the outputs' e-classes."""
        import json
        import math

        if self.serialized is None:
            raise ValueError("no e-graph to export (the optimizer did not run)")
        data = json.loads(self.serialized)
        nodes = data["nodes"]
        kept = {}
        from .extract import node_costs

        for nid, cost in zip(self.egraph.node_ids, node_costs(self.egraph, *self.costing)):
            if math.isfinite(cost):
                kept[nid] = dict(nodes[nid], cost=cost)
        used = {c for nd in kept.values() for c in nd["children"]}
        for nid in used - kept.keys():  # literals params point to (cost 0), or e-nodes that
            # name a class but must not be chosen (subsumed, ill-typed): a prohibitive cost
            literal = nid.startswith("primitive-")
            kept[nid] = dict(nodes[nid], cost=0.0 if literal else 1e30)
        data["nodes"] = kept
        data["root_eclasses"] = [self.egraph.class_names[r] for r in self.egraph.roots]
        with open(path, "w") as f:
            json.dump(data, f)
        return str(path)
