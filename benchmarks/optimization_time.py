"""How long the e-graph optimizer takes, stage by stage.

    python -m benchmarks.optimization_time [--quick] [--sizes 100 1000 10000] [--repeat 3]
                                           [--json PATH]

Graphs: random expression DAGs of N nodes (elementwise ops on two vectors and two matrices,
with sharing; a fixed seed), and the training graphs (cost, gradients via ``T.grad`` and SGD
updates) of Theano's logistic regression and of a 2-layer MLP. For each graph: the run with
the median total time over the repeats (a warm worker: the first call in a process starts the
e-graph worker, which is timed and reported separately as the cold start), split into encode,
the main phase (saturation in the worker, incl. serializing the e-graph), extract (incl. type
inference), decode and ``other`` (the rest of ``optimize``: cost of the input and output graphs,
the worker round trip), with the phase's iterations, e-classes, e-nodes and stop reason.
Not a test: numbers only (the targets of the issue are checked and printed at the end).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np

import eggflow as ef
import eggflow.tensor as T
from eggflow.frontend.graph import toposort

STAGES = ("encode", "main", "extract", "decode")
TARGETS = {"mlp train": 1.0, "random 1000": 2.0}  # graph -> seconds (warm total), the issue's
DEFAULT_SIZES = (100, 1000, 10000)


# -- workloads ----------------------------------------------------------------------------------
UNARY = (T.exp, T.tanh, T.neg, T.sqr, T.sigmoid, lambda v: T.log(1 + T.exp(v)))
BINARY = (T.add, T.sub, T.mul, T.maximum)
SCALARS = (0.5, 1.0, 2.0)


class _Pool:
    """Candidate operands of one ndim: all of them, and those nobody uses yet (O(1) pick and
    removal, so a 10,000-node graph builds in well under a second)."""

    def __init__(self, nodes):
        self.all, self.unused, self.where = [], [], {}
        for v in nodes:
            self.add(v)

    def add(self, v):
        self.all.append(v)
        self.where[v] = len(self.unused)
        self.unused.append(v)

    def use(self, v):
        i = self.where.pop(v, None)
        if i is not None:
            last = self.unused.pop()
            if last is not v:
                self.unused[i], self.where[last] = last, i

    def pick(self, rng, fresh: float):
        """A node nobody uses yet with probability ``fresh`` (if any), else any node."""
        if self.unused and rng.random() < fresh:
            return self.unused[rng.integers(len(self.unused))]
        return self.all[rng.integers(len(self.all))]


def random_dag(n: int, seed: int = 0) -> list:
    """A random DAG of about ``n`` nodes (inputs and constants included): elementwise unary and
    binary ops over two vectors and two matrices, sometimes with a scalar constant. Operands
    mostly have the same ndim (one in ten binary ops broadcasts a vector against a matrix). An
    operand is a node nobody uses yet with probability 0.7 (a deep graph with few sinks), else
    any earlier node (sharing). The outputs are the nodes nobody uses."""
    rng = np.random.default_rng(seed)
    inputs = [T.dvector("x"), T.dvector("y"), T.dmatrix("A"), T.dmatrix("B")]
    pools = {1: _Pool(inputs[:2]), 2: _Pool(inputs[2:])}
    order, seen = [], set(inputs)
    while len(seen) < n:
        nd = 1 + int(rng.integers(2))
        a = pools[nd].pick(rng, fresh=0.7)
        if rng.random() < 0.35:
            v = UNARY[rng.integers(len(UNARY))](a)
        else:
            if rng.random() < 0.1:
                b = SCALARS[rng.integers(len(SCALARS))]
            else:
                b = pools[nd if rng.random() < 0.9 else 3 - nd].pick(rng, fresh=0.7)
            pair = (a, b) if rng.random() < 0.5 else (b, a)
            v = BINARY[rng.integers(len(BINARY))](*pair)
        stack = [v]  # register the new nodes (an op may make several, or none: hash-consing)
        while stack:
            m = stack.pop()
            if m in seen:
                continue
            seen.add(m)
            for i in m.inputs:
                if i.op != "constant":
                    pools[i.type.ndim].use(i)
                stack.append(i)
            if m.op != "constant":
                pools[m.type.ndim].add(m)
                order.append(m)
    return [v for v in order if v in pools[v.type.ndim].where]  # unused, in creation order


def logistic_regression(feats: int = 784) -> list:
    """Theano's tutorial logistic regression: prediction, cost and the two SGD updates."""
    x, y = T.dmatrix("x"), T.dvector("y")
    w = ef.shared(np.zeros(feats), "w")
    b = ef.shared(0.0, "b")
    p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))
    xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)
    cost = xent.mean() + 0.01 * (w**2).sum()
    gw, gb = T.grad(cost, [w, b])
    return [p_1 > 0.5, cost, w - 0.1 * gw, b - 0.1 * gb]


def mlp(n_in: int = 784, n_hidden: int = 256, n_out: int = 10) -> list:
    """A tanh hidden layer and a softmax output layer, negative log-likelihood: the cost, the
    four gradients and the four SGD updates."""
    x, y = T.dmatrix("x"), T.lvector("y")
    W1 = ef.shared(np.zeros((n_in, n_hidden)), "W1")
    b1 = ef.shared(np.zeros(n_hidden), "b1")
    W2 = ef.shared(np.zeros((n_hidden, n_out)), "W2")
    b2 = ef.shared(np.zeros(n_out), "b2")
    h = T.tanh(T.dot(x, W1) + b1)
    p = T.nnet.softmax(T.dot(h, W2) + b2)
    cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    params = [W1, b1, W2, b2]
    grads = T.grad(cost, params)
    return [cost, *grads, *(p_ - 0.1 * g for p_, g in zip(params, grads))]


# -- measuring ----------------------------------------------------------------------------------
def run_once(outputs) -> dict:
    started = time.perf_counter()
    res = ef.optimize(outputs)
    total = time.perf_counter() - started
    rep = res.report
    phase = rep.phases[0] if rep.phases else None
    row = {s: rep.seconds.get(s, float("nan")) for s in STAGES}
    row["other"] = total - sum(rep.seconds.get(s, 0.0) for s in STAGES)
    row["total"] = total
    row.update(iterations=phase.iterations if phase else 0,
               eclasses=phase.eclasses if phase else 0, enodes=phase.enodes if phase else 0,
               stop=phase.stop_reason if phase else f"fallback: {rep.fallback}",
               cost_before=rep.cost_before, cost_after=rep.cost_after,
               nodes_after=len(toposort(res.outputs)))
    return row


def measure(name: str, outputs: list, repeat: int, max_seconds: float) -> dict:
    """The run with the median total over ``repeat`` runs (fewer when the runs so far took more
    than ``max_seconds``)."""
    runs, spent = [], 0.0
    while len(runs) < repeat and (not runs or spent < max_seconds):
        runs.append(run_once(outputs))
        spent += runs[-1]["total"]
    runs.sort(key=lambda r: r["total"])
    row = {"graph": name, "nodes": len(toposort(outputs)), "outputs": len(outputs),
           **runs[(len(runs) - 1) // 2], "runs": len(runs)}
    row["total_min"], row["total_max"] = runs[0]["total"], runs[-1]["total"]
    return row


def cold_start() -> dict:
    """The first ``optimize`` of the process (worker start, egglog import, rule library), then
    the same tiny graph warm."""
    v = T.exp(T.dscalar("s"))
    cold = run_once([v])
    warm = statistics.median(run_once([v])["total"] for _ in range(3))
    return {"cold_total": cold["total"], "cold_main": cold["main"], "warm_total": warm}


# -- output -------------------------------------------------------------------------------------
COLUMNS = [("graph", "<13", "{}"), ("nodes", ">6", "{}"), ("outs", ">5", "{}"),
           *[(s, ">8", "{:.3f}") for s in (*STAGES, "other", "total")],
           ("runs", ">5", "{}"), ("iters", ">6", "{}"), ("classes", ">8", "{}"),
           ("enodes", ">8", "{}"), ("after", ">6", "{}"), ("build", ">7", "{:.3f}"),
           ("stop", "<0", "  {}")]
KEYS = {"outs": "outputs", "iters": "iterations", "classes": "eclasses", "after": "nodes_after",
        "build": "build_seconds"}


def header() -> str:
    return "".join(f"{('  ' if c == 'stop' else '') + c:{w}}" for c, w, _ in COLUMNS)


def format_row(row: dict) -> str:
    return "".join(f"{f.format(row[KEYS.get(c, c)]):{w}}" for c, w, f in COLUMNS)


def check_targets(rows: list) -> list:
    results = []
    for name, limit in TARGETS.items():
        row = next((r for r in rows if r["graph"] == name), None)
        if row is not None:
            stage = max(STAGES + ("other",), key=lambda s: row[s])
            results.append({"graph": name, "target_s": limit, "total_s": row["total"],
                            "met": row["total"] < limit, "dominant_stage": stage})
    return results


def git_state() -> str:
    """The commit measured (``-dirty`` with uncommitted changes), or '' outside a checkout."""
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                              text=True, cwd=Path(__file__).parent, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=None,
                    help=f"random DAG sizes (default {' '.join(map(str, DEFAULT_SIZES))})")
    ap.add_argument("--quick", action="store_true", help="skip the 10,000-node graph")
    ap.add_argument("--repeat", type=int, default=3, help="runs per graph (the median is shown)")
    ap.add_argument("--max-seconds", type=float, default=20.0,
                    help="stop repeating a graph once its runs took this long")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random DAGs")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = ap.parse_args(argv)
    sizes = list(DEFAULT_SIZES if args.sizes is None else args.sizes)
    if args.quick:
        sizes = [n for n in sizes if n < 10000]

    cold = cold_start()
    print(f"cold start (first optimize in the process): {cold['cold_total']:.3f} s "
          f"(main {cold['cold_main']:.3f} s); the same graph warm: {cold['warm_total']:.3f} s")
    print("warm runs, seconds (the median run); 'after' = nodes of the optimized graph; 'build' ="
          " building the graph (T.grad runs the optimizer on the cost)\n")
    print(header(), flush=True)
    rows = []
    builders = [(f"random {n}", lambda n=n: random_dag(n, args.seed)) for n in sizes]
    builders += [("logreg train", logistic_regression), ("mlp train", mlp)]
    for name, build in builders:
        started = time.perf_counter()
        outputs = build()
        built = time.perf_counter() - started
        row = {**measure(name, outputs, args.repeat, args.max_seconds), "build_seconds": built}
        rows.append(row)
        print(format_row(row), flush=True)

    targets = check_targets(rows)
    print()
    for t in targets:
        print(f"target {t['graph']}: {t['total_s']:.3f} s < {t['target_s']:g} s: "
              f"{'met' if t['met'] else 'MISSED'} (largest stage: {t['dominant_stage']})")
    result = {"git": git_state(), "python": platform.python_version(),
              "machine": platform.machine(),
              "repeat": args.repeat, "seed": args.seed, **cold, "rows": rows,
              "targets": targets}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
        print(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    main()
