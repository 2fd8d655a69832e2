"""Looking inside an optimization (the research API behind ``OptimizationResult``'s methods).

    res = ef.optimize(outputs)
    res.eclass(var)             # the e-class of a variable (input graph or optimized graph)
    res.equivalents(var, k=5)   # (cost, expression) pairs: the class's e-nodes, cheapest first
    res.report.rules_fired      # rule name -> matches
    res.explain(a, b)           # the rules proving a == b, in the order they first fire
    res.draw(var, k=1)          # the e-classes within k steps of var's, as graphviz clusters
    res.export_json(path)       # egraph-serialize JSON with the cost model's costs

Everything reads the main phase's e-graph (plain data, egraph_rules/egraph.py); ``explain``
re-runs saturation on the two terms with subsets of the same rules.
"""

from __future__ import annotations

from eggflow.frontend.graph import Node, as_tensor_variable

from .extract import INF, _settle, node_costs, reachable


def _require(result):
    if result.egraph is None or result.classes is None:
        raise ValueError("this result holds no e-graph (the optimizer fell back, or the result "
                         "was read from the disk cache): call eggflow.optimize(outputs) on the "
                         "graph to inspect it")


def eclass(result, var) -> int:
    _require(result)
    var = as_tensor_variable(var)
    cls = result.classes.get(var)
    if cls is None:
        raise KeyError(f"{var} is not a node of this optimization's input graph or of its "
                       "optimized outputs (pass a variable of either)")
    return cls


def _full_choice(result, costs) -> dict:
    """A choice for every e-class (cheapest DAG-ish first), the extraction's where it chose."""
    eg = result.egraph
    full = _settle(eg, costs, lambda i, vals: (costs[i] + max(vals, default=0.0),) * 2)
    full.update(result.selection or {})
    return full


def equivalents(result, var, k: int = 5) -> list:
    from .egglog_text import decode

    cls = eclass(result, var)
    eg = result.egraph
    costs = node_costs(eg, *result.costing)
    full = _full_choice(result, costs)
    found = {}
    for i, node in enumerate(eg.nodes):
        if node.eclass != cls or costs[i] == INF:
            continue
        choice = dict(full)
        choice[cls] = i
        try:
            classes = reachable(eg, choice, [cls])
        except ValueError:  # this e-node needs its own class below it (x = x * 1)
            continue
        (expr,) = decode(eg, choice, [cls])
        cost = sum(costs[choice[c]] for c in classes)
        if expr not in found or cost < found[expr]:
            found[expr] = cost
    return sorted(((c, e) for e, c in found.items()), key=lambda ce: ce[0])[:k]


def explain(result, a, b, seconds: float = 10.0) -> list:
    """See ``OptimizationResult.explain``. Raises ValueError if the rules do not prove it."""
    from .egglog_text import encode, read_egraph
    from .saturate import Budget, run_phase

    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a is b:
        return []
    rules = list(result.rules)

    def proves(subset, iterations=40):
        enc = encode([a, b], subset)
        budget = Budget.of({"iterations": iterations, "seconds": seconds})
        serialized, record = run_phase(enc.text, list(enc.ctors), budget, "explain",
                                       enc.limited)
        eg, _ = read_egraph(serialized, enc)
        return eg.roots[0] == eg.roots[1], record

    equal, record = proves(rules)
    if not equal:
        raise ValueError(f"the rules do not prove {a} == {b} (within {seconds} s and 40 "
                         "iterations): they are in different e-classes")
    fired = [r for r in rules if record.rules_fired.get(r.name, 0)
             or any(k.startswith(r.name + "-weak") for k in record.rules_fired)]
    needed = list(fired)
    for r in fired:  # drop every rule the proof does not need (a minimal subset)
        trial = [q for q in needed if q is not r]
        if proves(trial)[0]:
            needed = trial
    order = {}
    for n in range(1, 41):  # the iteration in which each needed rule first fires
        equal, rec = proves(needed, n)
        for r in needed:
            if rec.rules_fired.get(r.name, 0) and r.name not in order:
                order[r.name] = n
        if equal:
            break
    needed.sort(key=lambda r: order.get(r.name, 99))
    from .library import law_of

    return [(r.name, law_of(r)) for r in needed]


def draw(result, var, k: int = 1, outfile=None, format=None) -> str:
    import pydot

    from eggflow.printing import op_label, write_graph

    cls = eclass(result, var)
    eg = result.egraph
    types = result.costing[1]
    members = eg.classes()
    parents = [set() for _ in range(eg.nclasses)]
    for n in eg.nodes:
        for c in n.children:
            parents[c].add(n.eclass)
    shown, frontier = {cls}, {cls}
    for _ in range(k):  # breadth-first over children and parents
        step = set()
        for c in frontier:
            for i in members[c]:
                step.update(eg.nodes[i].children)
            step.update(parents[c])
        frontier = step - shown
        shown |= frontier
    graph = pydot.Dot(graph_type="digraph", compound="true", rankdir="TB")
    first = {}
    for c in sorted(shown):
        cluster = pydot.Cluster(f"c{c}", label=f"e-class {c}: {types[c]}",
                                style="rounded,filled",
                                fillcolor="lightyellow" if c == cls else "whitesmoke")
        for i in members[c]:
            node = eg.nodes[i]
            label = op_label(Node(node.op, (), node.params, None)) if node.op != "leaf" else \
                (node.params[0][1].name or node.params[0][1].op)
            cluster.add_node(pydot.Node(f"n{i}", label=label, shape="box"))
            first.setdefault(c, f"n{i}")
        graph.add_subgraph(cluster)
    for c in sorted(shown):
        for i in members[c]:
            for pos, child in enumerate(eg.nodes[i].children):
                if child in shown:
                    graph.add_edge(pydot.Edge(f"n{i}", first[child], lhead=f"cluster_c{child}",
                                              label=str(pos) if len(eg.nodes[i].children) > 1
                                              else ""))
    return write_graph(graph, outfile, format, announce=False, who="egraph")
