"""Run-time helpers shared by the compiled backends (C, CUDA): strides aligned to an output
shape, axes every operand walks contiguously merged, eggflow's strict broadcasting checked,
kernels named in error messages, and which runner a lowered step gets."""

from __future__ import annotations

from eggflow.frontend.evaluate import EvaluationError, describe


class StepRunners:
    """A compiled thunk's runner per lowered step: the backend defines ``_numpy``, ``_blas``,
    ``_elementwise`` and ``_reduction`` (the last two get ``_reference``, the step computed by
    the reference implementations, for the layouts their kernels do not take)."""

    def _runner(self, step):
        if step.kind == "numpy":
            return self._numpy(step)
        if step.kind == "blas":
            return self._blas(step)
        fallback = self._reference(step)
        if step.kind == "ew":
            return self._elementwise(step, fallback)
        return self._reduction(step, fallback)


def collapse(shape, strides):
    """Merge adjacent axes that every operand walks contiguously; ``strides`` per operand."""
    shape = list(shape)
    strides = [list(s) for s in strides]
    d = len(shape) - 1
    while d > 0:
        if all(s[d - 1] == s[d] * shape[d] for s in strides):
            shape[d - 1] *= shape[d]
            del shape[d]
            for s in strides:
                s[d - 1] = s[d]
                del s[d]
        d -= 1
    return shape, strides


def aligned_strides(a, ndim, shape):
    """``a``'s strides in elements on ``ndim`` output axes (0 where it broadcasts); ``a`` is a
    NumPy array or a device array with ``shape``, ``strides`` and ``dtype``."""
    item = a.dtype.itemsize
    pad = ndim - len(a.shape)
    out = [0] * pad
    for k, (n, st) in enumerate(zip(a.shape, a.strides)):
        out.append(0 if n == 1 and shape[pad + k] != 1 else st // item)
    return out


def check_broadcast(node, loads, arrays, checks, shape) -> None:
    """eggflow's strict broadcasting: only axes a type declares static 1 may broadcast
    (``checks``: per load, the axes that may not)."""
    ndim = len(shape)
    for t, a, axes in zip(loads, arrays, checks):
        pad = ndim - len(a.shape)
        for ax in axes:
            if a.shape[ax] == 1 and shape[pad + ax] != 1:
                raise EvaluationError(
                    f"{describe_kernel(node)}: input {describe(t)} has size 1 on axis {ax} at run "
                    f"time but its type {t.type} does not declare that axis broadcastable; "
                    "declare it (T.row, T.col, dimshuffle('x', ...), broadcastable=) or pass "
                    "a matching shape")


def broadcast_checks(loads) -> list:
    """Per load, the axes that must not broadcast at run time (not a static 1)."""
    return [[ax for ax, d in enumerate(t.type.shape) if d != 1] for t in loads]


def operands(node, loads):
    """The tensors a kernel reads, in its body's operand order where that is plain."""
    root = node.inputs[0] if node.op in ("kernel", "kernel_i") else node
    first = [i.inputs[0] if i.op == "load" else i for i in root.inputs]
    return [t for t in first if t in loads] + [t for t in loads if t not in first]


def describe_kernel(node) -> str:
    """A kernel named by its body's top op and operands: ``add(x, y)``."""
    if node.op not in ("kernel", "kernel_i"):
        return describe(node)
    root = node.inputs[0]
    args = [describe(i.inputs[0] if i.op == "load" else i) for i in root.inputs]
    return f"{root.op}({', '.join(args)})"
