"""The ``numpy`` backend: runs a graph with the reference evaluator, op by op."""

from __future__ import annotations

from eggflow.frontend.evaluate import (EvaluationError, build_program, run_program, run_step,
                                       slots)


class NumpyThunk:
    """A callable ``values -> outputs`` for fixed graph inputs and outputs."""

    def __init__(self, inputs, outputs, check_types=False):
        self.program = build_program(outputs, inputs)
        self.check_types = check_types

    def __call__(self, values):
        if not self.check_types:
            return run_program(self.program, values)
        return self._run_checked(values)

    def _run_checked(self, values):
        """DebugMode: every intermediate must match its node's static type."""
        program = self.program
        mem = slots(program, values)
        for step in program.steps:
            value = run_step(step.node, [mem[a] for a in step.args])
            if value.dtype.name != step.node.dtype:
                raise EvaluationError(f"DebugMode: {step.node.op} produced {value.dtype}, its type "
                                      f"says {step.node.type}")
            try:
                step.node.type.check_value(value, f"DebugMode: output of {step.node.op}")
            except (TypeError, ValueError) as exc:
                raise EvaluationError(str(exc)) from exc
            mem[step.out] = value
        return [mem[s] for s in program.outputs]


def make_thunk(inputs, outputs, mode, updates=()) -> NumpyThunk:
    return NumpyThunk(inputs, outputs, check_types=mode.check_types)
