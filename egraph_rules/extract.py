"""Extraction over the plain-data e-graph: pick one e-node per needed e-class.

One interface: an extractor is ``(eg, roots, cost_model, class_types, node_ok) -> Selection``
(a dict e-class -> e-node index, acyclic, covering every class reachable from the roots, with
``.cost`` = the DAG cost: a shared subgraph is paid once). Registered in ``EXTRACTORS``:

- ``tree``: bottom-up, children's costs counted per use (what egglog's own extractor does;
  for comparison);
- ``greedy``: bottom-up greedy-DAG — a node's cost is the cost of the *set* of classes below it;
- ``greedy+ls`` (default): greedy, then local search over the chosen DAG: switch a class to
  another e-node when that lowers the DAG cost given everything else already paid for (greedy
  misses reuse between siblings);
- ``ilp``: exact, scipy.optimize.milp (HiGHS, gap 0) with acyclicity constraints and a time
  limit, for small e-graphs; greedy+ls's answer is kept when HiGHS finds nothing better in
  time, and used beyond ``max_nodes`` (milp takes no starting solution).

Both bottom-up passes settle each e-class exactly once, cheapest first (Knuth's generalisation
of Dijkstra: a node's cost is never below any child's, so the cheapest pending candidate is
final). A node is a candidate once all its children are settled, so cycles are never chosen.
Ill-typed e-nodes (``node_ok`` False) are never chosen.
"""

from __future__ import annotations

import heapq
import math
import time

import numpy as np

INF = math.inf
EPS = 1e-9  # every op node costs a little: strict improvements only, so no zero-cost cycles


class Selection(dict):
    """e-class -> chosen e-node index; ``.cost`` (DAG cost), ``.seconds``, ``.notes``."""

    cost: float = INF
    seconds: float = 0.0
    notes: tuple = ()


def node_costs(eg, cost_model, class_types, node_ok) -> list:
    out, memo = [], {}
    for i, n in enumerate(eg.nodes):
        if not node_ok[i]:
            out.append(INF)
        elif n.op == "leaf":
            out.append(0.0)
        else:
            ins = tuple(class_types[c] for c in n.children)
            key = (n.op, ins, class_types[n.eclass])
            if key not in memo:
                memo[key] = cost_model.cost(n.op, list(ins), class_types[n.eclass]) + EPS
            out.append(memo[key])
    return out


def reachable(eg, choice: dict, roots) -> list:
    """Classes reachable from ``roots`` through ``choice``, children before parents;
    raises ValueError on a cycle or a missing choice."""
    order, state = [], {}
    for root in roots:
        stack = [(root, False)]
        while stack:
            cls, done = stack.pop()
            if done:
                state[cls] = 2
                order.append(cls)
                continue
            if state.get(cls) == 2:
                continue
            if state.get(cls) == 1:
                raise ValueError(f"cyclic choice through e-class {cls}")
            if cls not in choice:
                raise ValueError(f"no e-node chosen for e-class {cls}")
            state[cls] = 1
            stack.append((cls, True))
            for c in eg.nodes[choice[cls]].children:
                if state.get(c) == 1:
                    raise ValueError(f"cyclic choice through e-class {c}")
                if state.get(c) != 2:
                    stack.append((c, False))
    return order


def total_cost(eg, choice, roots, costs) -> float:
    return sum(costs[choice[c]] for c in reachable(eg, choice, roots))


def _finish(eg, choice, roots, costs, started, notes=()) -> Selection:
    sel = Selection({c: choice[c] for c in reachable(eg, choice, roots)})
    sel.cost = sum(costs[i] for i in sel.values())
    sel.seconds = time.perf_counter() - started
    sel.notes = tuple(notes)
    return sel


def _settle(eg, costs, combine, settled=None) -> dict:
    """Settle every class cheapest-first. ``combine(i, child_payloads) -> (estimate, payload)``
    is called once per e-node, when all its children are settled; ``settled(cls, i)`` is told
    each choice as it is made. Returns class -> e-node."""
    users = [[] for _ in range(eg.nclasses)]
    waiting = [0] * len(eg.nodes)
    heap = []
    for i, n in enumerate(eg.nodes):
        if costs[i] == INF:
            continue
        kids = set(n.children)
        waiting[i] = len(kids)
        for c in kids:
            users[c].append(i)
        if not kids:
            heap.append((*combine(i, ()), i))
    heap = [(e, i, d) for e, d, i in heap]
    heapq.heapify(heap)
    choice, payload = {}, [None] * eg.nclasses
    while heap:
        _est, i, data = heapq.heappop(heap)
        cls = eg.nodes[i].eclass
        if cls in choice:
            continue
        choice[cls], payload[cls] = i, data
        if settled is not None:
            settled(cls, i)
        for u in users[cls]:
            waiting[u] -= 1
            if waiting[u] == 0 and eg.nodes[u].eclass not in choice:
                e, d = combine(u, [payload[c] for c in eg.nodes[u].children])
                heapq.heappush(heap, (e, u, d))
    return choice


def tree(eg, roots, cost_model, class_types, node_ok, costs=None) -> Selection:
    """Tree cost: a child used twice is paid twice (egglog's own extractor does this)."""
    started = time.perf_counter()
    costs = costs or node_costs(eg, cost_model, class_types, node_ok)
    choice = _settle(eg, costs, lambda i, vals: (costs[i] + sum(vals),) * 2)
    return _finish(eg, choice, roots, costs, started)


def greedy(eg, roots, cost_model, class_types, node_ok, costs=None) -> Selection:
    """Greedy-DAG: a candidate costs its own node plus every class in the union of its
    children's sub-DAGs (class sets as int bitsets, summed in numpy only on a real union)."""
    started = time.perf_counter()
    costs = costs or node_costs(eg, cost_model, class_types, node_ok)
    class_cost = np.zeros(eg.nclasses)
    nbytes = (eg.nclasses + 7) // 8

    def combine(i, kids):  # payload of a class: (bitset of its sub-DAG's classes, its cost)
        kids = sorted(kids, key=lambda k: -k[1])
        mask, below = kids[0] if kids else (0, 0.0)
        for m, _ in kids[1:]:
            new = m & ~mask  # classes the largest set lacks: pay only those
            if new:
                below += _sum_bits(new, class_cost, nbytes)
                mask |= new
        est = below + costs[i]
        return est, (mask | (1 << eg.nodes[i].eclass), est)

    def settled(cls, i):
        class_cost[cls] = costs[i]

    choice = _settle(eg, costs, combine, settled)
    return _finish(eg, choice, roots, costs, started)


def _sum_bits(bits: int, values, nbytes: int) -> float:
    """Sum of ``values[k]`` over the set bits ``k`` of ``bits`` (work ~ nbytes/8 + set bits)."""
    raw = np.frombuffer(bits.to_bytes(nbytes, "little"), np.uint8)
    nz = np.flatnonzero(raw)
    if len(nz) == 0:
        return 0.0
    flags = np.unpackbits(raw[nz][:, None], axis=1, bitorder="little").astype(bool)
    return float(values[(nz[:, None] * 8 + np.arange(8))[flags]].sum())


class _Dag:
    """The chosen DAG with reference counts, for trying one switch at a time."""

    def __init__(self, eg, roots, choice, costs):
        self.eg, self.choice, self.costs = eg, choice, costs
        self.refs = [0] * eg.nclasses
        for r in set(roots):
            self.refs[r] += 1
        for c in reachable(eg, choice, roots):
            for ch in set(eg.nodes[choice[c]].children):
                self.refs[ch] += 1

    def delta(self, cls, alt):
        """(cost change, ref changes) of choosing e-node ``alt`` for class ``cls``."""
        eg, choice, costs, refs = self.eg, self.choice, self.costs, self.refs
        change = {}
        cost = costs[alt] - costs[choice[cls]]

        def ref(c):
            return refs[c] + change.get(c, 0)

        stack = list(set(eg.nodes[alt].children))
        while stack:  # add first: what the new node shares with the old one stays
            c = stack.pop()
            if ref(c) == 0:
                cost += costs[choice[c]]
                stack.extend(set(eg.nodes[choice[c]].children))
            change[c] = change.get(c, 0) + 1
        stack = list(set(eg.nodes[choice[cls]].children))
        while stack:
            c = stack.pop()
            change[c] = change.get(c, 0) - 1
            if ref(c) == 0:
                cost -= costs[choice[c]]
                stack.extend(set(eg.nodes[choice[c]].children))
        return cost, change

    def apply(self, cls, alt, change):
        self.choice[cls] = alt
        for c, d in change.items():
            self.refs[c] += d


def _reaches(eg, choice, starts, target) -> bool:
    """Whether ``target`` is reachable from the classes ``starts`` through ``choice`` (a class
    without a choice counts as reaching: the switch is not taken)."""
    stack, seen = list(starts), set()
    while stack:
        c = stack.pop()
        if c == target or c not in choice:
            return True
        if c not in seen:
            seen.add(c)
            stack.extend(eg.nodes[choice[c]].children)
    return False


def local_search(eg, roots, choice: dict, costs, deadline: float) -> dict:
    """Improve a selection: switch one class at a time to another e-node when the DAG cost
    drops (reference counts make each trial cost only the part of the DAG it changes).
    ``choice`` must have an acyclic entry for every class an alternative can reach."""
    classes = eg.classes()
    dag = _Dag(eg, roots, dict(choice), costs)
    improved = True
    while improved and time.perf_counter() < deadline:
        improved = False
        for cls in reachable(eg, dag.choice, roots):
            if time.perf_counter() > deadline:
                break
            if dag.refs[cls] == 0:
                continue
            for alt in classes[cls]:
                if alt == dag.choice[cls] or costs[alt] == INF:
                    continue
                if any(dag.choice.get(c) is None for c in eg.nodes[alt].children):
                    continue
                gain, change = dag.delta(cls, alt)
                if gain < -1e-9 * max(1.0, abs(costs[dag.choice[cls]])):
                    if _reaches(eg, dag.choice, eg.nodes[alt].children, cls):
                        continue  # the switch would close a cycle
                    dag.apply(cls, alt, change)
                    improved = True
    return dag.choice


def greedy_ls(eg, roots, cost_model, class_types, node_ok, seconds: float = 2.0,
              costs=None) -> Selection:
    started = time.perf_counter()
    costs = costs or node_costs(eg, cost_model, class_types, node_ok)
    first = greedy(eg, roots, cost_model, class_types, node_ok, costs)
    # every class gets a choice (the greedy pass settles all of them; ``first`` keeps only
    # the reachable part), so a switch can reach classes outside the current DAG
    full = _settle(eg, costs, lambda i, vals: (costs[i] + max(vals, default=0.0),) * 2)
    full.update(first)
    try:
        choice = local_search(eg, roots, full, costs, started + seconds)
    except ValueError:
        choice = first
    sel = _finish(eg, choice, roots, costs, started, first.notes)
    return sel if sel.cost <= first.cost else first


def ilp(eg, roots, cost_model, class_types, node_ok, seconds: float = 5.0,
        max_nodes: int = 2000) -> Selection:
    started = time.perf_counter()
    costs = node_costs(eg, cost_model, class_types, node_ok)
    baseline = greedy_ls(eg, roots, cost_model, class_types, node_ok, costs=costs)
    if len(eg.nodes) > max_nodes:
        baseline.notes = (f"ilp: {len(eg.nodes)} e-nodes > {max_nodes}; used greedy+ls",)
        return baseline
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import lil_matrix

    n, m = len(eg.nodes), eg.nclasses
    nvar = n + m  # x_i (node chosen) then t_c (topological level of class c)
    big = float(m + 1)
    rows = []  # (coefficients dict, lo, hi)
    classes = eg.classes()
    for r in set(roots):
        rows.append(({i: 1.0 for i in classes[r]}, 1.0, 1.0))
    for i, node in enumerate(eg.nodes):
        for c in set(node.children):
            coef = {j: 1.0 for j in classes[c]}
            coef[i] = coef.get(i, 0.0) - 1.0
            rows.append((coef, 0.0, INF))  # sum x_j (j in c) >= x_i
            # t_class(i) - t_c - big * x_i >= 1 - big
            rows.append(({n + node.eclass: 1.0, n + c: -1.0, i: -big}, 1.0 - big, INF))
    a = lil_matrix((len(rows), nvar))
    lo, hi = np.empty(len(rows)), np.empty(len(rows))
    for k, (coef, low, high) in enumerate(rows):
        for j, v in coef.items():
            a[k, j] += v
        lo[k], hi[k] = low, high
    finite = [c if c < INF else 0.0 for c in costs]
    objective = np.array(finite + [0.0] * m)
    upper = np.array([1.0 if c < INF else 0.0 for c in costs] + [big] * m)
    integrality = np.array([1] * n + [0] * m)
    res = milp(objective, constraints=LinearConstraint(a.tocsr(), lo, hi),
               integrality=integrality, bounds=Bounds(np.zeros(nvar), upper),
               options={"time_limit": seconds, "mip_rel_gap": 0.0})
    if res.x is None:
        baseline.notes = (f"ilp: no solution in {seconds} s ({res.message}); used greedy+ls",)
        return baseline
    chosen = {}
    for i in np.flatnonzero(res.x[:n] > 0.5):
        cls = eg.nodes[i].eclass
        if cls not in chosen or costs[i] < costs[chosen[cls]]:
            chosen[cls] = int(i)
    try:
        sel = _finish(eg, chosen, roots, costs, started)
    except ValueError:
        return baseline
    return sel if sel.cost <= baseline.cost else baseline


# -- the late phase: fused kernels -------------------------------------------------------------
KERNELS = ("kernel", "kernel_i", "kreduce")  # ops whose first input is an inline body


def late_node_ok(eg, node_ok) -> list:
    """In the late phase an elementwise op or reduction whose e-class also holds a kernel form
    runs as that kernel (the bare op would be priced as inline arithmetic)."""
    from eggflow.frontend.op import OPS

    out = list(node_ok)
    has_kernel = [False] * eg.nclasses
    for i, n in enumerate(eg.nodes):
        if n.op in KERNELS and n.children[0] == n.eclass:  # a body of constants only: it is
            out[i] = False  # the op itself (load(c) = c), so the kernel would contain itself
        elif n.op in KERNELS and node_ok[i]:
            has_kernel[n.eclass] = True
    for i, n in enumerate(eg.nodes):
        fam = OPS[n.op].family if n.op in OPS else "leaf"
        if has_kernel[n.eclass] and fam in ("elemwise", "reduce", "nnet"):
            out[i] = False
    return out


def kernel_cost(eg, choice, roots, costs, inline) -> float:
    """The cost of a late-phase selection: tensors (materialised values) are paid once; a
    kernel's inline body is paid once *per kernel* that computes it (recomputation is not
    free), stopping at loads, whose tensors are paid once."""
    total, top, stack = 0.0, set(), list(roots)
    while stack:
        c = stack.pop()
        if c in top:
            continue
        top.add(c)
        i = choice[c]
        total += costs[i]
        node = eg.nodes[i]
        if node.op not in KERNELS:
            stack.extend(node.children)
            continue
        stack.extend(node.children[1:])
        body, seen = [node.children[0]], set()
        while body:
            b = body.pop()
            if b in seen:
                continue
            seen.add(b)
            j = choice[b]
            if not inline[j]:  # a materialised value used in the body (a constant, ...)
                stack.append(b)
                continue
            total += costs[j]
            (stack if eg.nodes[j].op == "load" else body).extend(eg.nodes[j].children)
    return total


def kernel_aware(eg, roots, cost_model, class_types, node_ok, seconds: float = 1.0,
                 costs=None) -> Selection:
    """The late phase's extractor: greedy+ls under the DAG cost, then a local search under
    ``kernel_cost``, which decides per inline operand between recomputing its producer inside
    each consumer kernel and reading it from one materialised kernel."""
    from eggflow.frontend.op import OPS

    started = time.perf_counter()
    costs = costs or node_costs(eg, cost_model, class_types, node_ok)
    first = greedy_ls(eg, roots, cost_model, class_types, node_ok, seconds, costs)
    inline = [n.op in ("load", "inline") or (n.op in OPS and OPS[n.op].family == "elemwise")
              for n in eg.nodes]
    full = _settle(eg, costs, lambda i, vals: (costs[i] + max(vals, default=0.0),) * 2)
    full.update(first)
    choice, classes = dict(full), eg.classes()
    best = kernel_cost(eg, choice, roots, costs, inline)
    deadline = started + seconds
    improved = True
    while improved and time.perf_counter() < deadline:
        improved = False
        for cls in reachable(eg, choice, roots):
            alts = [a for a in classes[cls] if a != choice[cls] and costs[a] < INF
                    and inline[a] and all(c in choice for c in eg.nodes[a].children)]
            for alt in alts:
                if _reaches(eg, choice, eg.nodes[alt].children, cls):
                    continue
                old, choice[cls] = choice[cls], alt
                trial = kernel_cost(eg, choice, roots, costs, inline)
                if trial < best - 1e-9 * max(1.0, best):
                    best, improved = trial, True
                else:
                    choice[cls] = old
            if time.perf_counter() > deadline:
                break
    sel = Selection({c: choice[c] for c in reachable(eg, choice, roots)})
    sel.cost, sel.seconds, sel.notes = best, time.perf_counter() - started, first.notes
    return sel


EXTRACTORS = {"tree": tree, "greedy": greedy, "greedy+ls": greedy_ls, "ilp": ilp,
              "kernel-aware": kernel_aware}
DEFAULT_EXTRACTOR = "greedy+ls"
