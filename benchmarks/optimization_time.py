"""How long the e-graph optimizer takes, stage by stage.

    python -m benchmarks.optimization_time [--sizes 100 1000 10000] [--repeat 3]

Graphs: random expression DAGs of N nodes (a fixed seed), and the training graphs (value +
gradient + updates) of Theano's logistic regression and of a 2-layer MLP. For each: the
median over repeats of encode, the main phase, extract (incl. type inference) and decode,
with the phase's iterations, e-classes, e-nodes and stop reason. Not a test: numbers only.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import eggflow as ef
import eggflow.tensor as T
from eggflow.frontend.graph import toposort


def random_dag(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x, y = T.dvector("x"), T.dvector("y")
    nodes = [x, y]
    unary = [T.exp, T.tanh, T.neg, T.sqr, T.sigmoid, lambda v: T.log(1 + T.exp(v))]
    binary = [T.add, T.sub, T.mul, T.maximum]
    while len(toposort([nodes[-1]])) < n:
        if rng.random() < 0.4:
            nodes.append(unary[rng.integers(len(unary))](nodes[rng.integers(len(nodes))]))
        else:
            a = nodes[rng.integers(max(0, len(nodes) - 20), len(nodes))]
            nodes.append(binary[rng.integers(len(binary))](a, nodes[rng.integers(len(nodes))]))
    return [nodes[-1]]


def logistic_regression(feats: int = 784):
    x, y = T.dmatrix("x"), T.dvector("y")
    w = ef.shared(np.zeros(feats), "w")
    b = ef.shared(0.0, "b")
    p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))
    xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)
    cost = xent.mean() + 0.01 * (w**2).sum()
    gw, gb = T.grad(cost, [w, b])
    return [p_1 > 0.5, cost, w - 0.1 * gw, b - 0.1 * gb]


def mlp(n_in: int = 784, n_hidden: int = 256, n_out: int = 10):
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
    return [cost] + [p_ - 0.1 * g for p_, g in zip(params, grads)]


def measure(name, outputs, repeat):
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        res = ef.optimize(outputs)
        total = time.perf_counter() - started
        runs.append((total, res.report))
    total, rep = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
    phase = rep.phases[0] if rep.phases else None
    return {
        "graph": name, "nodes": len(toposort(outputs)),
        "encode": rep.seconds.get("encode", float("nan")),
        "main": rep.seconds.get("main", float("nan")),
        "extract": rep.seconds.get("extract", float("nan")),
        "decode": rep.seconds.get("decode", float("nan")), "total": total,
        "iterations": phase.iterations if phase else 0,
        "eclasses": phase.eclasses if phase else 0, "enodes": phase.enodes if phase else 0,
        "stop": phase.stop_reason if phase else rep.fallback,
        "median_of": statistics.median([r[0] for r in runs]),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[100, 1000, 10000])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    ef.optimize(T.exp(T.dscalar()))  # start the e-graph worker (paid once per session)
    graphs = [(f"random {n}", random_dag(n)) for n in args.sizes]
    graphs += [("logreg train", logistic_regression()), ("mlp train", mlp())]
    header = (f"{'graph':<14}{'nodes':>7}{'encode':>9}{'main':>9}{'extract':>9}{'decode':>9}"
              f"{'total':>9}{'iters':>7}{'classes':>9}{'enodes':>9}  stop")
    print(header)
    rows = []
    for name, outs in graphs:
        r = measure(name, outs, args.repeat)
        rows.append(r)
        print(f"{r['graph']:<14}{r['nodes']:>7}{r['encode']:>9.3f}{r['main']:>9.3f}"
              f"{r['extract']:>9.3f}{r['decode']:>9.3f}{r['total']:>9.3f}{r['iterations']:>7}"
              f"{r['eclasses']:>9}{r['enodes']:>9}  {r['stop']}", flush=True)
    return rows


if __name__ == "__main__":
    main()
