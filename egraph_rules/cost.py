"""Cost models: a cost per e-node from its op and the types around it.

``CostModel.cost(op, input_types, output_type)`` = FLOPs x flop cost + bytes moved x byte cost
+ one kernel overhead. Views and shape queries are free. Unknown sizes count as
``unknown_dim`` elements, so a graph of unknown shapes still prefers less work.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np

from eggflow.frontend.kernel import INPLACE
from eggflow.frontend.op import OPS

TRANSCENDENTAL = {"exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sin", "cos", "tan",
                  "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "erf", "sigmoid",
                  "softplus", "pow"}
SLOW = {"true_div", "int_div", "mod", "sqrt", "reciprocal"}
FREE = {"dimshuffle", "shape", "shape_i", "identity", "reshape", "inline"}  # views, metadata


@dataclass(frozen=True)
class CPUConstants:
    """Nanoseconds per flop, per byte moved, and per kernel launch (defaults: a rough desktop
    core; ``calibrate()`` measures this machine)."""

    flop_ns: float = 0.25
    byte_ns: float = 0.1
    kernel_ns: float = 2000.0
    transcendental_flops: float = 20.0
    slow_flops: float = 4.0


# An H100/H200-class GPU (rough, not measured here: no GPU was lent): ~4 TB/s, ~50 TFLOP/s
# float32, and a kernel launch of ~5 us that dwarfs small kernels' work, so fusing
# elementwise chains matters more than on a CPU. Used for backend 'cuda'.
GPU = CPUConstants(flop_ns=2e-5, byte_ns=2.5e-4, kernel_ns=5000.0, transcendental_flops=4.0,
                   slow_flops=2.0)


class CostModel:
    """The default cost model (CPU constants; ``CostModel(GPU)`` for the CUDA backend)."""

    def __init__(self, constants: CPUConstants | None = None, unknown_dim: int = 1000):
        self.c = constants or CPUConstants()
        self.unknown_dim = unknown_dim

    def size(self, t) -> float:
        if t is None or t.shape is None:
            return float(self.unknown_dim)
        return float(math.prod(self.unknown_dim if d is None else d for d in t.shape))

    def itemsize(self, t) -> int:
        return 8 if t is None or t.dtype is None else np.dtype(t.dtype).itemsize

    def flops(self, op, input_types, output_type) -> float:
        family = OPS[op].family if op in OPS else "leaf"
        n_out = self.size(output_type)
        if family == "elemwise":
            w = (self.c.transcendental_flops if op in TRANSCENDENTAL
                 else self.c.slow_flops if op in SLOW else 1.0)
            return w * n_out
        if family == "reduce":
            return self.size(input_types[0])
        if op.startswith("ger"):  # a + alpha*outer(x, y): 2 flops per element
            return 2.0 * n_out
        if family == "blas":  # 2*m*k*n: output size x contracted size x 2
            a = input_types[2] if op.startswith(("gemm", "gemv")) else input_types[0]
            k = 1.0 if a.shape is None or not a.shape else (
                self.unknown_dim if a.shape[-1] is None else a.shape[-1])
            if op == "tensordot" or op == "batched_dot":
                k = max(self.size(input_types[0]) * self.size(input_types[1])
                        / max(n_out, 1.0), 1.0) ** 0.5 if op == "tensordot" else k
            return 2.0 * n_out * k
        if family == "nnet":
            return (2 * self.c.transcendental_flops + 4) * self.size(input_types[0])
        return n_out  # shape, index, alloc: proportional to what they produce

    def bytes_moved(self, op, input_types, output_type) -> float:
        """Bytes read and written (views and metadata: 0; indexing: only what it produces;
        a kernel writes its output, its loads read their inputs)."""
        if op in FREE or op == "leaf":
            return 0.0
        if op == "load":
            return self.size(input_types[0]) * self.itemsize(input_types[0])
        if op in ("kernel", "kernel_i", "kreduce"):
            return self.size(output_type) * self.itemsize(output_type)
        moved = self.size(output_type) * self.itemsize(output_type)
        if op != "subtensor":
            moved += sum(self.size(t) * self.itemsize(t) for t in input_types if t is not None)
        return moved

    def inline_cost(self, op, input_types, output_type) -> float:
        """An elementwise op computed inside a fused kernel: its arithmetic only."""
        return self.flops(op, input_types, output_type) * self.c.flop_ns

    def cost(self, op, input_types, output_type) -> float:
        if op in FREE or op == "leaf":
            return 0.0
        moved = self.bytes_moved(op, input_types, output_type)
        if op == "load":
            return moved * self.c.byte_ns
        if op in ("kernel", "kernel_i"):  # a fresh output buffer costs a little more to touch
            return self.c.kernel_ns + moved * self.c.byte_ns * (1.0 if op == "kernel_i" else 1.25)
        if op == "kreduce":
            return self.c.kernel_ns + moved * self.c.byte_ns + self.size(input_types[0]) * (
                2 * self.c.flop_ns)
        if op in INPLACE:  # no allocation: a shade cheaper than the out-of-place form
            return 0.95 * self.cost(INPLACE[op], input_types, output_type)
        if op == "subtensor":
            return self.c.kernel_ns * 0.1 + moved * self.c.byte_ns
        return (self.flops(op, input_types, output_type) * self.c.flop_ns
                + moved * self.c.byte_ns + self.c.kernel_ns)


class LateCost:
    """The late phase's view of a cost model: elementwise ops there are the inline bodies of
    kernels (every materialised one is a ``kernel`` node), so they cost their arithmetic only
    (``inline_cost``; a model without it: a tenth of its ``cost``)."""

    def __init__(self, model):
        self.model = model

    def cost(self, op, input_types, output_type) -> float:
        if op in OPS and OPS[op].family == "elemwise":
            inline = getattr(self.model, "inline_cost", None)
            if inline is not None:
                return inline(op, input_types, output_type)
            return 0.1 * self.model.cost(op, input_types, output_type)
        return self.model.cost(op, input_types, output_type)


class NodeCountCost:
    """Every op node costs 1 (leaves 0): for tests and for research comparisons."""

    def cost(self, op, input_types, output_type) -> float:
        return 0.0 if op == "leaf" else 1.0


def calibrate(n: int = 1_000_000, repeat: int = 5) -> CPUConstants:
    """Measure this machine's constants with NumPy (about a tenth of a second)."""
    a, b = np.random.default_rng(0).random((2, n))

    def best(fn):
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times) * 1e9

    add = best(lambda: a + b)  # 1 flop, 24 bytes per element
    exp = best(lambda: np.exp(a))
    tiny = best(lambda: a[:1] + b[:1])
    byte_ns = add / (24 * n)
    return replace(CPUConstants(), byte_ns=byte_ns, flop_ns=max(add / n - 24 * byte_ns, byte_ns),
                   transcendental_flops=max(exp / max(add, 1.0) * 4, 4.0), kernel_ns=tiny)


def named(name: str):
    """A cost model by name: 'cpu' (CostModel), 'nodes' (NodeCountCost), or one a plugin
    registered (``COST_MODELS`` in a rule file)."""
    from .plugins import COST_MODELS

    table = {"cpu": CostModel, "nodes": NodeCountCost, **COST_MODELS}
    if name not in table:
        raise ValueError(f"unknown cost model {name!r}: expected one of {sorted(table)} or a "
                         "cost model object (a class with cost(op, input_types, output_type))")
    return table[name]()
