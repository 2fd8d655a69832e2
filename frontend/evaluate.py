"""The reference evaluator: runs a node DAG with each op's NumPy implementation.

``build_program`` turns a graph into plain data (a topological list of steps over numbered
slots, with the slots to free after each step); ``run_program`` executes it, dropping each
intermediate as soon as its last user has run. This is the engine of the ``numpy`` backend,
of FAST_COMPILE, of ``verify_grad`` and of the rule soundness checker.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .graph import Node, toposort
from .op import OPS


class EvaluationError(ValueError):
    """An op failed at run time; the message names the node and its input shapes."""


@dataclass(frozen=True)
class Step:
    node: Node
    args: tuple  # slot numbers of the inputs
    out: int  # slot of the result
    free: tuple  # slots dead after this step


@dataclass(frozen=True)
class Program:
    inputs: tuple  # leaf nodes fed by the caller, in order (slots 0..len-1)
    outputs: tuple  # slots of the outputs
    constants: tuple  # (slot, value) pairs preloaded before the run
    steps: tuple
    nslots: int


def build_program(outputs, inputs) -> Program:
    inputs, outputs = list(inputs), list(outputs)
    slot = {node: i for i, node in enumerate(inputs)}
    constants, body = [], []
    for node in toposort(outputs):
        if node in slot:
            continue
        if not node.inputs:
            if node.op != "constant":
                what = node.name or str(node.type)
                raise ValueError(f"the graph needs a value for the {node.op} {what}, "
                                 "which is not among the given inputs")
            array = node.attrs["value"].array
            value = array.item() if node.attrs["weak"] else array
            slot[node] = len(slot)
            constants.append((slot[node], value))
            continue
        slot[node] = len(slot)
        body.append(node)
    out_slots = tuple(slot[o] for o in outputs)
    last_use = {}
    for k, node in enumerate(body):
        for i in node.inputs:
            last_use[slot[i]] = k
    keep = set(out_slots) | set(range(len(inputs)))
    frees: dict[int, list] = {}
    for s, k in last_use.items():
        if s not in keep:
            frees.setdefault(k, []).append(s)
    steps = tuple(Step(n, tuple(slot[i] for i in n.inputs), slot[n], tuple(frees.get(k, ())))
                  for k, n in enumerate(body))
    return Program(tuple(inputs), out_slots, tuple(constants), steps, len(slot))


def _check_broadcast(node: Node, arrays, result) -> None:
    """Theano semantics: only dims declared broadcastable (static 1) may broadcast."""
    ndim = result.ndim
    for inp, a in zip(node.inputs, arrays):
        shape = np.shape(a)
        if inp.type.shape is None:
            continue
        for axis, (static, dim) in enumerate(zip(inp.type.shape, shape)):
            if dim == 1 and static != 1 and result.shape[ndim - len(shape) + axis] != 1:
                raise EvaluationError(
                    f"{describe(node)}: input {describe(inp)} has size 1 on axis {axis} at run "
                    f"time but its type {inp.type} does not declare that axis broadcastable; "
                    "declare it (T.row, T.col, dimshuffle('x', ...), broadcastable=) or pass a "
                    "matching shape")


def describe(node: Node) -> str:
    if node.name:
        return node.name
    if node.op == "constant":
        return f"constant {node.attrs['value']!r}"
    if not node.inputs:
        return f"{node.op} {node.type}"
    args = ", ".join(describe(i) if i.name or not i.inputs else i.op for i in node.inputs)
    return f"{node.op}({args})"


def run_step(node: Node, arrays):
    op = OPS[node.op]
    try:
        result = op.impl(*arrays, **node.attrs)
    except EvaluationError:
        raise
    except Exception as exc:  # name the node and what it was given
        shapes = ", ".join(f"{describe(i)}: shape {np.shape(a)}" for i, a in
                           zip(node.inputs, arrays))
        raise EvaluationError(f"{describe(node)} failed ({type(exc).__name__}: {exc}); "
                              f"inputs {shapes}") from exc
    result = np.asarray(result)
    if result.dtype.name != node.dtype and node.dtype is not None:
        result = result.astype(node.dtype)
    if op.family == "elemwise":
        _check_broadcast(node, arrays, result)
    return result


def slots(program, values) -> list:
    """The memory of one run of ``program`` (this module's or codegen.lower's): the values in
    the input slots, the constants in theirs, every other slot empty."""
    mem = [None] * program.nslots
    mem[: len(values)] = values
    for s, v in program.constants:
        mem[s] = v
    return mem


def run_program(program: Program, values) -> list:
    mem = slots(program, values)
    for step in program.steps:
        mem[step.out] = run_step(step.node, [mem[a] for a in step.args])
        for s in step.free:
            mem[s] = None
    return [mem[s] for s in program.outputs]


def run_subgraph(root: Node, known: dict):
    """The value of ``root`` by the reference implementations, where ``known`` gives the values
    of the nodes to stop at (a kernel's loads); constants are their own values."""
    memo = dict(known)
    stack = [root]
    while stack:
        node = stack[-1]
        if node in memo:
            stack.pop()
            continue
        if node.op == "constant":
            memo[node] = node.data
            continue
        todo = [i for i in node.inputs if i not in memo]
        if todo:
            stack.extend(todo)
            continue
        stack.pop()
        memo[node] = run_step(node, [memo[i] for i in node.inputs])
    return np.asarray(memo[root])


def evaluate(outputs, givens: dict) -> list:
    """Evaluate ``outputs`` with leaf values from ``givens`` (shared variables use their value)."""
    from .graph import SharedVariable, as_tensor_variable

    outputs = [as_tensor_variable(o) for o in outputs]
    feed = dict(givens)
    for node in toposort(outputs):
        if isinstance(node, SharedVariable) and node not in feed:
            feed[node] = node.get_value(borrow=True)
    keys = list(feed)
    values = []
    for k in keys:
        values.append(np.asarray(feed[k], dtype=k.dtype))
    return run_program(build_program(outputs, keys), values)
