"""``eggflow.function``: compile symbolic inputs/outputs/updates/givens into a callable.

The pipeline: apply givens -> check the graph (inputs, updates, unused inputs) -> optimize
(later issues) -> build a backend thunk over (explicit inputs + shared variables) that computes
the outputs and every update from the *old* values; a call converts its arguments by Theano's
rules, runs the thunk, and only then writes the updates, all together.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from .frontend.config import config
from .frontend.graph import (Node, SharedVariable, as_tensor_variable, constant,
                             is_device_array, replace, toposort)
from .mode import get_mode


_MISS = object()  # a straight-line call's "take the general path" answer


class UnusedInputError(ValueError):
    """An input of ``function`` does not appear in the graph (``on_unused_input='raise'``)."""


class MissingInputError(ValueError):
    """The graph needs an input variable that is not in ``function``'s input list."""


class DebugModeError(AssertionError):
    """DebugMode: the optimized graph disagrees with the unoptimized one."""


@dataclass
class CompileReport:
    """What ``function`` did; ``str()`` gives a readable summary. The optimizer's report
    (``phases``, ``rules_fired``, ``cost_before``, ...) is ``.optimization`` and its fields are
    readable here directly (``f.report.rules_fired``)."""

    mode: str
    optimizer: str | None
    backend: str
    nodes: int
    nodes_after: int | None = None
    seconds: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    optimization: object = None

    def __getattr__(self, name):
        opt = self.__dict__.get("optimization")
        if opt is not None and hasattr(opt, name):
            return getattr(opt, name)
        raise AttributeError(name)

    def __str__(self):
        after = "" if self.nodes_after is None else f" -> {self.nodes_after}"
        lines = [f"mode {self.mode}: optimizer {self.optimizer or 'none'}, backend {self.backend}, "
                 f"{self.nodes}{after} nodes"]
        lines += [f"  {stage:<12} {sec * 1e3:8.2f} ms" for stage, sec in self.seconds.items()]
        lines += [f"  note: {n}" for n in self.notes]
        if self.optimization is not None:
            lines.append(str(self.optimization))
        return "\n".join(lines)


def _pairs(arg, what) -> list:
    if arg is None:
        return []
    if isinstance(arg, dict):
        return list(arg.items())
    try:
        pairs = [tuple(p) for p in arg]
    except TypeError:
        raise TypeError(f"{what} must be a dict or a list of (variable, value) pairs, "
                        f"got {type(arg).__name__}") from None
    if any(len(p) != 2 for p in pairs):
        raise TypeError(f"{what} must be a list of (variable, value) pairs")
    return pairs


def _label(node: Node) -> str:
    return node.name or str(node.type)


def _as_replacement(key: Node, value, what: str) -> Node:
    """Convert a givens/update value to ``key``'s type (numbers are cast; variables must match)."""
    if not isinstance(value, Node):
        try:
            return constant(np.asarray(value, dtype=key.dtype).reshape(np.shape(value)),
                            dtype=key.dtype)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{what} for {_label(key)}: cannot convert {value!r} to {key.type}: "
                            f"{exc}") from None
    if value.dtype != key.dtype or value.ndim != key.ndim:
        if value.op == "constant" and value.attrs["weak"] and value.ndim == key.ndim:
            return constant(value.data, dtype=key.dtype)
        raise TypeError(f"{what} for {_label(key)} must have type {key.type}, got {value} of type "
                        f"{value.type}; cast it (T.cast / .astype) or fix its dimensions")
    for k, v in zip(key.type.shape, value.type.shape):
        if k == 1 and v not in (1,):
            raise TypeError(f"{what} for {_label(key)}: its type {key.type} declares a "
                            f"broadcastable axis but {value} has type {value.type}")
    return value


def filter_value(node: Node, value, allow_downcast, what: str, device=False) -> np.ndarray:
    """Convert a call argument to ``node``'s dtype by Theano's rules; check its shape. A device
    array (pycuda GPUArray) stays on the device for a function running there (``device``; its
    dtype must then be the input's), else it is copied to the host first."""
    dtype = node.dtype
    if is_device_array(value):
        if not device:
            value = value.get()
        elif value.dtype != dtype:
            raise TypeError(f"{what}: expected {node.type}, got a device array of dtype "
                            f"{value.dtype}; cast it on the device (.astype('{dtype}')) first")
        else:
            node.type.check_value(value, what)
            return value
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)
        if array.dtype != dtype:
            if not (allow_downcast or np.can_cast(array.dtype, dtype, "safe")):
                raise TypeError(
                    f"{what}: expected {node.type}, got an array of dtype {array.dtype}, which "
                    f"cannot become {dtype} without risking loss of precision; cast it yourself "
                    "or pass allow_input_downcast=True to function")
            array = array.astype(dtype)
    else:
        if isinstance(value, Node):
            raise TypeError(f"{what}: expected a value for {node.type}, got the symbolic "
                            f"variable {value}")
        try:
            raw = np.asarray(value)
        except ValueError as exc:  # ragged lists
            raise TypeError(f"{what}: cannot convert {value!r} to an array: {exc}") from None
        if raw.dtype == object or raw.dtype.kind in "USVM":
            raise TypeError(f"{what}: expected numbers for {node.type}, got {value!r}")
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            array = raw.astype(dtype)
        exact = np.array_equal(array, raw, equal_nan=raw.dtype.kind in "fc")
        floatx_ok = allow_downcast is None and isinstance(value, float) and dtype == config.floatX
        if not (exact or allow_downcast or floatx_ok):
            raise TypeError(f"{what}: expected {node.type}; the value {value!r} cannot be "
                            f"represented as {dtype} without loss; pass allow_input_downcast=True "
                            "to function to allow it")
    node.type.check_value(array, what)
    return array


class Function:
    """A compiled function. Call it with one value per input (positionally or by name)."""

    def __init__(self, inputs, outputs, updates, single, mode, allow_input_downcast, name):
        started = time.perf_counter()
        self.inputs, self.outputs, self.updates = inputs, outputs, updates
        self.name, self.mode, self._single = name, mode, single
        self.allow_input_downcast = allow_input_downcast
        self.trust_input = False
        graph_outputs = outputs + [value for _, value in updates]
        self.shared = [n for n in toposort(graph_outputs) if isinstance(n, SharedVariable)]
        backend = mode.backend
        notes = []
        if backend == "c":
            from .backends.c_backend import compiler_available

            if not compiler_available():
                backend = "numpy"
                notes.append("no C compiler found: running on the reference executor")
        if backend == "cuda" or (backend == "c" and config.device == "cuda"):
            from .backends.cuda_backend import DRY_RUN_ENV, available, dry_run

            ok, why = available()
            if ok:
                backend = "cuda"
                if dry_run():
                    notes.append(f"CUDA dry run ({DRY_RUN_ENV}): kernels emitted, not launched; "
                                 "values from the reference executor")
            elif backend == "cuda":
                raise RuntimeError(f"function: backend 'cuda' is not available here: {why}")
            else:  # config.device = 'cuda' asked for the GPU where it cannot be had
                notes.append(f"config.device is 'cuda' but {why}: running on the C backend")
        self.report = CompileReport(mode.name, mode.optimizer, backend,
                                    len(toposort(graph_outputs)), notes=notes)
        if backend == "c":
            from .backends.c_backend import make_thunk
        elif backend == "cuda":
            from .backends.cuda_backend import make_thunk
        else:
            from .backends.numpy_backend import make_thunk

        run_outputs = graph_outputs
        if mode.optimizer == "egraph":
            from .optimize import optimize

            cost = mode.cost
            if cost is None and backend == "cuda":
                from .egraph_rules.cost import GPU, CostModel

                cost = CostModel(GPU)
            result = optimize(graph_outputs, rules=mode.rules, cost=cost,
                              extractor=mode.extractor, budget=mode.budget,
                              excluding=mode.excluding,
                              fusion=mode.fusion if backend != "numpy" else None,
                              disk_cache=True)
            self.report.optimization = result.report
            self.report.seconds["optimize"] = time.perf_counter() - started
            self.report.nodes_after = len(toposort(result.outputs))
            run_outputs = result.outputs
        self.optimized_outputs = run_outputs
        self._device = backend == "cuda"
        if self._device:  # shared variables live on the GPU from now on (issue 7)
            from .backends.cuda_backend import to_device

            for var in {*self.shared, *(var for var, _ in updates)}:
                var.place_on_device(to_device)
        lowered = time.perf_counter()
        n_out = len(outputs)  # update k's value is output n_out + k; its variable an input
        storage = {var: len(inputs) + k for k, var in enumerate(self.shared)}
        self._thunk = make_thunk(inputs + self.shared, run_outputs, mode,
                                 updates=[(n_out + k, storage[var])
                                          for k, (var, _) in enumerate(updates) if var in storage])
        self.report.seconds["backend"] = time.perf_counter() - lowered
        self._outputs_on_device = False
        if self._device:  # updates stay on the device; outputs come back to the host
            self._thunk.device_outputs = set(range(len(outputs), len(graph_outputs)))
        self._reference = None
        if mode.compare and run_outputs is not graph_outputs:
            from .backends.numpy_backend import make_thunk as reference

            self._reference = reference(inputs + self.shared, graph_outputs, mode)
        self._by_name = {n.name: k for k, n in enumerate(inputs) if n.name}
        # the fast call path (``_run_fresh``): per input (dtype, ndim, static sizes), and whether
        # the thunk's results are always fresh, distinct buffers of the right dtypes
        self._checks = [(np.dtype(n.dtype), n.ndim,
                         [(ax, d) for ax, d in enumerate(n.type.shape) if d is not None])
                        for n in inputs]
        self._fresh = bool(getattr(self._thunk, "fresh", False)) and self._reference is None
        self._direct = (None, None)  # (checked, trusted) straight-line calls of a 1-kernel program
        if self._fresh and not self.shared and hasattr(self._thunk, "direct"):
            self._direct = (self._thunk.direct(inputs, _MISS),
                            self._thunk.direct(inputs, _MISS, checked=False))
        self.report.seconds["compile"] = time.perf_counter() - started

    @property
    def outputs_on_device(self) -> bool:
        """On the CUDA backend, True returns outputs as device arrays (pycuda ``GPUArray``)
        instead of NumPy arrays (the default). Always False on the other backends."""
        return self._outputs_on_device

    @outputs_on_device.setter
    def outputs_on_device(self, value: bool) -> None:
        value = bool(value)
        if value and not self._device:
            raise ValueError(f"outputs_on_device: this function runs on the "
                             f"{self.report.backend!r} backend, not on a GPU")
        self._outputs_on_device = value
        if self._device:
            n_out, n_all = len(self.outputs), len(self.outputs) + len(self.updates)
            self._thunk.device_outputs = set(range(0 if value else n_out, n_all))

    def _arguments(self, args, kwargs) -> list:
        who = f"function {self.name}" if self.name else "function"
        if len(args) > len(self.inputs):
            raise TypeError(f"{who} takes {len(self.inputs)} arguments "
                            f"({', '.join(map(_label, self.inputs)) or 'none'}), got {len(args)}")
        values = list(args) + [None] * (len(self.inputs) - len(args))
        given = [True] * len(args) + [False] * (len(self.inputs) - len(args))
        for key, value in kwargs.items():
            if key not in self._by_name:
                raise TypeError(f"{who} has no input named {key!r}; inputs: "
                                f"{', '.join(map(_label, self.inputs))}")
            k = self._by_name[key]
            if given[k]:
                raise TypeError(f"{who}: input {key!r} given twice")
            values[k], given[k] = value, True
        missing = [_label(n) for n, ok in zip(self.inputs, given) if not ok]
        if missing:
            raise TypeError(f"{who} takes {len(self.inputs)} arguments, got "
                            f"{sum(given)}; missing: {', '.join(missing)}")
        if self.trust_input:
            return values
        return [filter_value(n, v, self.allow_input_downcast,
                             f"input {k} ({_label(n)}) of {who}", self._device)
                for k, (n, v) in enumerate(zip(self.inputs, values))]

    def __call__(self, *args, **kwargs):
        direct = self._direct[self.trust_input]
        if direct is not None and not kwargs and len(args) == len(self._checks):
            out = direct(*args)
            if out is not _MISS:
                return out if self._single else [out]
        if self._fresh and not kwargs and len(args) == len(self._checks):
            # the fast path: arrays of the exact dtype and rank, a thunk whose results are
            # fresh buffers (no copies needed); anything else takes the general path below
            if not self.trust_input:
                for v, (dt, nd, static) in zip(args, self._checks):
                    if type(v) is not np.ndarray or v.dtype != dt or v.ndim != nd or static \
                            and any(v.shape[ax] != d for ax, d in static):
                        break
                else:
                    return self._run_fresh(list(args))
            else:
                return self._run_fresh(list(args))
        values = self._arguments(args, kwargs)
        internal = self._device  # shared values in GPU memory go to the GPU thunk as they are
        feed = values + [s.get_value(borrow=True, return_internal_type=internal)
                         for s in self.shared]
        results = self._thunk(feed)
        if self._reference is not None:  # DebugMode compares on the host
            self._compare([r.get() if is_device_array(r) else r for r in results],
                          self._reference([v.get() if is_device_array(v) else v for v in feed]))
        n_out = len(self.outputs)
        outputs, new_values = results[:n_out], results[n_out:]
        owned = {id(v) for v in feed}
        own = [None] * n_out + [var.get_value(borrow=True, return_internal_type=internal)
                                for var, _ in self.updates]
        seen = set()
        fresh = []
        for r, mine in zip(results, own):  # nothing returned or stored may alias storage or
            if not is_device_array(r):  # each other (an update written into its own storage may)
                r = np.asarray(r)
            if r is mine and id(r) not in seen:
                pass
            elif id(r) in owned or id(r) in seen or r.base is not None:
                r = r.copy()
            seen.add(id(r))
            fresh.append(r)
        outputs, new_values = fresh[:n_out], fresh[n_out:]
        staged = []
        for (var, _), value in zip(self.updates, new_values):  # validate all, then write all
            if value.dtype != var.dtype:
                value = value.astype(var.dtype)
            var.type.check_value(value, f"update of shared variable {_label(var)}")
            staged.append((var, value))
        for var, value in staged:
            var.set_value(value, borrow=True)
        if self._single:
            return outputs[0]
        return outputs

    def _run_fresh(self, values):
        shared = self.shared
        results = self._thunk(values + [s.get_value(borrow=True) for s in shared] if shared
                              else values)
        if self.updates:
            n_out = len(self.outputs)
            for (var, _), value in zip(self.updates, results[n_out:]):  # validate, then write
                var.type.check_value(value, f"update of shared variable {_label(var)}")
            for (var, _), value in zip(self.updates, results[n_out:]):
                var.set_value(value, borrow=True)
            results = results[:n_out]
        return results[0] if self._single else results

    def _compare(self, optimized, reference):
        """DebugMode: both graphs must agree within the mode's tolerance. Where the unoptimized
        graph overflows (inf/NaN) the optimized one may be finite: stability rules exist for
        that; the reverse is an error."""
        names = [f"output {k}" for k in range(len(self.outputs))] + [
            f"update of {_label(var)}" for var, _ in self.updates]
        bad = []
        for name, got, want in zip(names, optimized, reference):
            got, want = np.asarray(got), np.asarray(want)
            rtol = max(self.mode.rtol, 1e-3) if want.dtype == np.float32 else self.mode.rtol
            if got.shape != want.shape or got.dtype != want.dtype:
                same = False
            elif want.dtype.kind not in "fc":
                same = np.array_equal(got, want)
            else:
                improved = ~np.isfinite(want) & np.isfinite(got)
                close = np.isclose(got, want, rtol=rtol, atol=self.mode.atol, equal_nan=True)
                same = bool(np.all(close | improved))
            if not same:
                bad.append(f"{name}: optimized {got!r} vs unoptimized {want!r}")
        if bad:
            raise DebugModeError("DebugMode: the optimized graph disagrees with the unoptimized "
                                 "one: " + "; ".join(bad))

    def __repr__(self):
        return (f"<eggflow.Function {self.name or ''}({', '.join(map(_label, self.inputs))}) "
                f"-> {len(self.outputs)} outputs, {len(self.updates)} updates>")


def function(inputs, outputs=None, updates=None, givens=None, mode=None,
             allow_input_downcast=None, on_unused_input="raise", name=None):
    """Compile ``inputs -> outputs`` (Theano's ``theano.function``).

    outputs: one variable (the call returns an array), a list (returns a list) or None.
    updates: dict or list of (shared variable, new value) pairs, applied after the call, all
        computed from the values before it.
    givens: dict or list of (variable, replacement) pairs substituted into the graph.
    allow_input_downcast: True casts any argument to the input's dtype; None (default) allows
        only Python floats into floatX and lossless conversions; False refuses any downcast.
    on_unused_input: 'raise', 'warn' or 'ignore' for inputs the outputs do not depend on.
    """
    from .mode import Mode

    if on_unused_input not in ("raise", "warn", "ignore"):
        raise ValueError(f"on_unused_input must be 'raise', 'warn' or 'ignore', "
                         f"got {on_unused_input!r}")
    mode = get_mode(mode) if not isinstance(mode, Mode) else mode
    if not isinstance(inputs, (list, tuple)):
        raise TypeError(f"function: inputs must be a list of variables, got {inputs!r}")
    inputs = list(inputs)
    for k, node in enumerate(inputs):
        if isinstance(node, SharedVariable):
            raise TypeError(f"function: input {k} ({_label(node)}) is a shared variable; shared "
                            "variables are implicit inputs and cannot be listed in inputs")
        if not isinstance(node, Node) or node.op != "input":
            raise TypeError(f"function: input {k} must be a symbolic input variable "
                            f"(T.dscalar(), T.matrix('x'), ...), got {node!r}")
    if len(set(inputs)) != len(inputs):
        dup = next(n for n in inputs if inputs.count(n) > 1)
        raise ValueError(f"function: input {_label(dup)} appears more than once in inputs")

    single = outputs is not None and not isinstance(outputs, (list, tuple))
    outs = [] if outputs is None else [outputs] if single else list(outputs)
    outs = [as_tensor_variable(o) for o in outs]

    update_pairs = _pairs(updates, "updates")
    ups = []
    for var, value in update_pairs:
        if not isinstance(var, SharedVariable):
            raise TypeError(f"updates: {var!r} is not a shared variable; only shared variables "
                            "can be updated")
        if any(var is v for v, _ in ups):
            raise ValueError(f"updates: shared variable {_label(var)} is updated twice")
        ups.append((var, _as_replacement(var, value, "update")))

    given_pairs = _pairs(givens, "givens")
    if given_pairs:
        graph_nodes = set(toposort(outs + [v for _, v in ups]))
        mapping = {}
        for key, value in given_pairs:
            if not isinstance(key, Node):
                raise TypeError(f"givens: key {key!r} is not a symbolic variable")
            if key not in graph_nodes:
                raise ValueError(f"givens: {_label(key)} is not in the graph of the outputs and "
                                 "updates, so replacing it has no effect (check the key)")
            mapping[key] = _as_replacement(key, value, "givens replacement")
        new = replace(outs + [v for _, v in ups], mapping)
        outs, ups = new[: len(outs)], [(var, v) for (var, _), v in zip(ups, new[len(outs):])]

    graph = toposort(outs + [v for _, v in ups])
    used = set(graph)
    missing = [n for n in graph if n.op in ("input", "wild") and n not in set(inputs)]
    if missing:
        raise MissingInputError(
            f"function: the outputs depend on {', '.join(map(_label, missing))}, which "
            "is not in the inputs list (add it to inputs, or replace it with givens)")
    unused = [n for n in inputs if n not in used]
    if unused and on_unused_input != "ignore":
        msg = (f"function: input(s) {', '.join(map(_label, unused))} are not used by the outputs "
               "or updates; pass on_unused_input='ignore' (or 'warn') if that is intended")
        if on_unused_input == "raise":
            raise UnusedInputError(msg)
        warnings.warn(msg, stacklevel=2)
    return Function(inputs, outs, ups, single, mode, allow_input_downcast, name)
