"""Random expression DAGs of elementwise ops on two vectors and two matrices, with sharing.

The DAG is plain data (a list of ``(op, args)``) from which both the eggflow graph and the
NumPy function are derived. Every op maps [-1, 1] into [-1, 1], so the values stay finite and
tame at any depth."""

from __future__ import annotations

import numpy as np

import eggflow.tensor as T

from . import Workload, register

VEC, ROWS = 256, 32  # vectors (256,), matrices (32, 256)
UNARY = {
    "tanh": (T.tanh, np.tanh),
    "sin": (T.sin, np.sin),
    "neg": (T.neg, np.negative),
    "sigmoid": (T.nnet.sigmoid, lambda v: 1 / (1 + np.exp(-v))),
}
BINARY = {
    "mul": (T.mul, np.multiply),
    "max": (T.maximum, np.maximum),
    "min": (T.minimum, np.minimum),
    "tanh_add": (lambda a, b: T.tanh(a + b), lambda a, b: np.tanh(a + b)),
    "tanh_sub": (lambda a, b: T.tanh(a - b), lambda a, b: np.tanh(a - b)),
}
SCALARS = (0.5, -0.5, 1.0)
INPUTS = (("x", 1), ("y", 1), ("A", 2), ("B", 2))


def random_ops(n: int, seed: int) -> list:
    """``n`` nodes: the 4 inputs, then ``(op, args)`` with args node indices or a float. An
    operand is, with probability 0.7, a node nobody uses yet (a deep DAG), else any earlier
    node of that ndim (sharing); one binary op in ten broadcasts a vector against a matrix,
    one in ten takes a scalar. The first ops use the inputs, one each."""
    rng = np.random.default_rng(seed)
    ops = [("input", (name,)) for name, _ in INPUTS]
    ndim = [nd for _, nd in INPUTS]
    every, unused = {1: [0, 1], 2: [2, 3]}, {1: [0, 1], 2: [2, 3]}
    where = {0: 0, 1: 1, 2: 0, 3: 1}  # node -> its place in unused[its ndim]

    def pick(nd):
        pool = unused[nd] if unused[nd] and rng.random() < 0.7 else every[nd]
        return pool[rng.integers(len(pool))]

    def use(i):  # O(1): move the last unused node into i's place
        if i in where:
            pool, at = unused[ndim[i]], where.pop(i)
            last = pool.pop()
            if last != i:
                pool[at], where[last] = last, at

    while len(ops) < n:
        first = len(ops) - len(INPUTS)
        nd = INPUTS[first][1] if first < len(INPUTS) else 1 + int(rng.integers(2))
        a = first if first < len(INPUTS) else pick(nd)
        if rng.random() < 0.35:
            op, args = list(UNARY)[rng.integers(len(UNARY))], (a,)
        else:
            op = list(BINARY)[rng.integers(len(BINARY))]
            r = rng.random()
            b = (SCALARS[rng.integers(len(SCALARS))] if r < 0.1
                 else pick(3 - nd) if r < 0.2 else pick(nd))
            args = (a, b) if rng.random() < 0.5 else (b, a)
        ints = [i for i in args if isinstance(i, int)]
        for i in ints:
            use(i)
        ops.append((op, args))
        ndim.append(max(ndim[i] for i in ints))
        every[ndim[-1]].append(len(ops) - 1)
        where[len(ops) - 1] = len(unused[ndim[-1]])
        unused[ndim[-1]].append(len(ops) - 1)
    return ops


def _build(name: str, size: int, seed: int, tags: tuple) -> Workload:
    ops = random_ops(size, seed)
    used = {a for _, args in ops[len(INPUTS):] for a in args if isinstance(a, int)}
    sinks = [i for i in range(len(INPUTS), len(ops)) if i not in used]
    last = {}  # node -> the last node that reads it
    for k, (_, args) in enumerate(ops):
        for a in args:
            if isinstance(a, int):
                last[a] = k
    keep = set(sinks) | set(range(len(INPUTS)))
    dead_after = {}
    for i, k in last.items():
        if i not in keep:
            dead_after.setdefault(k, []).append(i)

    inputs = [T.dvector(n) if nd == 1 else T.dmatrix(n) for n, nd in INPUTS]
    nodes = list(inputs)
    for op, args in ops[len(INPUTS):]:
        table = UNARY if op in UNARY else BINARY
        nodes.append(table[op][0](*(nodes[a] if isinstance(a, int) else a for a in args)))

    def numpy(*values):
        vals = list(values) + [None] * (len(ops) - len(INPUTS))
        for k in range(len(INPUTS), len(ops)):
            op, args = ops[k]
            fn = (UNARY if op in UNARY else BINARY)[op][1]
            vals[k] = fn(*(vals[a] if isinstance(a, int) else a for a in args))
            for i in dead_after.get(k, ()):
                vals[i] = None
        return [vals[i] for i in sinks]

    rng = np.random.default_rng(seed + 1)
    values = [rng.uniform(-1, 1, VEC if nd == 1 else (ROWS, VEC)) for _, nd in INPUTS]
    return Workload(name, [nodes[i] for i in sinks], inputs, values, numpy=numpy,
                    reference=numpy, tags=tags,
                    notes=f"{len(ops)} nodes, {len(sinks)} outputs; the reference is the NumPy "
                          "peer (float64; every value stays in [-1, 1])")


@register("random_dag", sizes={"quick": 100, "full": [100, 1000]}, tags=("dag",))
def build(size: int, seed: int) -> Workload:
    """A random DAG of size elementwise nodes on vectors (256,) and matrices (32, 256)."""
    return _build("random_dag", size, seed, ("dag",))


@register("random_dag_10k", sizes={"quick": 10_000, "full": 10_000}, tags=("dag", "large"))
def build_10k(size: int, seed: int) -> Workload:
    """A random DAG of 10,000 elementwise nodes on vectors (256,) and matrices (32, 256)."""
    return _build("random_dag_10k", size, seed, ("dag", "large"))
