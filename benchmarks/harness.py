"""The benchmark harness: workloads x configurations (and peers), one row of metrics each.

    rows = run(workloads=["softmax_xent"], configs=["default", "unoptimized"],
               peers=["numpy", "jax"], suite="quick")

A row is plain data (DESIGN's schema, ``ROW_KEYS``): what the e-graph did, what was extracted
(ops, kernels, FLOPs, bytes, model cost), compile seconds per stage, runtime (warm-up, then the
median, min and max of ``repeats`` calls), peak memory of one call (tracemalloc), and the
largest error against the workload's accurate reference. A metric that does not apply to a
row (kernels on the reference executor) is None, never made up. Configurations ``c``,
``c-greedy`` and ``c-unfused`` compare the e-graph's fusion with Theano-style greedy fusion
and with none, on the same generated C.
Peers are timed in the same run, so ratios are meaningful on a noisy machine. A workload's
``updates`` (shared parameters written by each call) are compiled as eggflow ``updates=`` and
written back by the peers; every run starts from the parameters' initial values.
"""

from __future__ import annotations

import importlib.util
import math
import os
import platform
import statistics
import time
import tracemalloc
import warnings
from dataclasses import dataclass, field

import numpy as np

import eggflow as ef
from eggflow.frontend.graph import toposort

from . import workloads as W

SCHEMA = 1
ROW_KEYS = ("workload", "size", "config", "backend", "peer", "status", "reason", "egraph",
            "extracted", "compile_seconds", "runtime", "peak_memory", "max_error")


@dataclass(frozen=True)
class Config:
    """A named optimizer setting: what ``ef.Mode`` gets, and the backend."""

    name: str
    optimizer: str | None = "egraph"  # None: no e-graph (FAST_COMPILE)
    rules: tuple = ("default",)
    excluding: tuple = ()
    extractor: str | None = None
    cost: str = "cpu"  # "cpu" (CostModel), "nodes" (NodeCountCost), or a plugin's name
    budget: dict = field(default=None, hash=False)
    backend: str = "numpy"
    fusion: str | None = "egraph"  # compiled backends: e-graph fusion, 'greedy' baseline, None
    doc: str = ""

    def mode(self) -> ef.Mode:
        from eggflow.egraph_rules.cost import named

        cost = named(self.cost)  # 'cpu', 'nodes', or a cost model a plugin registered
        return ef.Mode(optimizer=self.optimizer, backend=self.backend, rules=self.rules,
                       excluding=self.excluding, cost=cost, extractor=self.extractor,
                       budget=self.budget, fusion=self.fusion, name=self.name)


CONFIGS = {c.name: c for c in [
    Config("default", doc="FAST_RUN: every rule family, greedy+ls, the CPU cost model"),
    Config("unoptimized", optimizer=None, doc="FAST_COMPILE: no e-graph"),
    Config("no-stability", excluding=("stability",), doc="algebraic rules only"),
    Config("no-algebraic", excluding=("algebraic",), doc="stability rules only"),
    Config("no-finite", excluding=("finite",), doc="without rules assuming finite values"),
    Config("tree", extractor="tree", doc="tree extraction (shared subterms paid per use)"),
    Config("greedy", extractor="greedy", doc="greedy-DAG extraction without local search"),
    Config("ilp", extractor="ilp", doc="exact ILP extraction (small e-graphs)"),
    Config("nodecount", cost="nodes", doc="cost = number of ops"),
    Config("budget-3", budget={"iterations": 3}, doc="3 iterations of saturation"),
    Config("c", backend="c", doc="generated C: e-graph fusion, BLAS forms, inplace"),
    Config("c-greedy", backend="c", fusion="greedy",
           doc="generated C, Theano-style greedy maximal fusion instead of the fusion rules"),
    Config("c-unfused", backend="c", fusion=None, doc="generated C, one loop per op"),
    Config("cuda", backend="cuda", doc="generated CUDA (issue 7)"),
]}

SUITES = {
    # (workloads ("all": every registered one), configs, peers, repeats)
    "quick": (["seeds", "logreg_train", "mlp_train", "softmax_xent", "layernorm", "attention",
               "matrix_chain_3", "stable_logsumexp", "stable_sigmoid_xent",
               "elementwise_chain", "random_dag"],
              ["default", "unoptimized"], ["numpy", "numexpr", "jax"], 5),
    "full": ("all", ["default", "unoptimized", "no-stability", "tree", "greedy", "nodecount",
                    "c", "cuda"], ["numpy", "numexpr", "pytensor", "jax"], 20),
}

_BACKEND_MODULES = {"numpy": "eggflow.backends.numpy_backend", "c": "eggflow.backends.c_backend",
                    "cuda": "eggflow.backends.cuda_backend"}


def backend_available(name: str) -> tuple:
    """(True, "") if the backend's module imports (and says it can run here), else
    (False, why)."""
    module = _BACKEND_MODULES.get(name)
    if not module or importlib.util.find_spec(module) is None:
        return False, f"backend {name!r} is not built yet ({module} does not exist)"
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - a half-built backend: say why, do not crash
        return False, f"backend {name!r} cannot be imported: {type(exc).__name__}: {exc}"
    if hasattr(mod, "available"):  # CUDA: a driver, a device and pycuda are needed
        ok, why = mod.available()
        return ok, "" if ok else f"backend {name!r} is not available here: {why}"
    return True, ""


def _row(workload, size, config, backend, peer=None, **metrics) -> dict:
    row = dict.fromkeys(ROW_KEYS)
    row.update(workload=workload, size=size, config=config, backend=backend, peer=peer,
               status="ok")
    row.update(metrics)
    return row


# -- metrics -----------------------------------------------------------------------------------
def time_calls(fn, args, repeats: int, warmup: int = 1, max_seconds: float = 10.0) -> dict:
    """Warm-up calls, then up to ``repeats`` timed calls (fewer if they pass max_seconds)."""
    for _ in range(warmup):
        fn(*args)
    times, started = [], time.perf_counter()
    for _ in range(max(repeats, 1)):
        t = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t)
        if time.perf_counter() - started > max_seconds:
            break
    return {"median": statistics.median(times), "min": min(times), "max": max(times),
            "repeats": len(times)}


def peak_memory(fn, args) -> int:
    """Peak bytes traced (NumPy reports its buffers to tracemalloc) during one call."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fn(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def max_error(got, want) -> float | None:
    """The largest error over all outputs: relative to max(|want|, 1), where the reference is
    finite; an output that is not finite where the reference is counts as inf."""
    if want is None:
        return None
    worst = 0.0
    for g, w in zip(got, want):
        g = np.asarray(g, dtype=np.float64)
        w = np.asarray(w, dtype=np.float64)
        g = np.broadcast_to(g, w.shape) if g.shape != w.shape and g.size == 1 else g
        if g.shape != w.shape:
            return math.inf
        ok = np.isfinite(w)
        if not ok.any():
            continue
        gv, wv = g[ok], w[ok]
        if not np.all(np.isfinite(gv)):
            return math.inf
        worst = max(worst, float(np.max(np.abs(gv - wv) / np.maximum(np.abs(wv), 1.0))))
    return worst


def graph_stats(outputs, f=None) -> dict:
    """Ops, kernels, FLOPs, bytes moved and model cost of a graph under the CPU cost model.
    ``kernels``: the generated loops and BLAS calls of ``f``'s compiled program (None on the
    reference executor, where each op is its own NumPy call)."""
    from eggflow.egraph_rules.cost import FREE, CostModel
    from eggflow.optimize import graph_cost

    model = CostModel()
    ops = [n for n in toposort(outputs) if n.inputs and n.op != "map_index"]
    flops = moved = 0.0
    for n in ops:
        ins = [i.type for i in n.inputs]
        if n.op not in FREE:
            flops += model.flops(n.op, ins, n.type)
        moved += model.bytes_moved(n.op, ins, n.type)
    thunk = getattr(f, "_thunk", None)  # a C thunk has its generated source
    program = getattr(thunk, "program", None) if hasattr(thunk, "source") else None
    kernels = None if program is None else sum(s.kind != "numpy" for s in program.steps)
    return {"ops": len(ops), "kernels": kernels, "flops": flops, "bytes": moved,
            "cost": graph_cost(outputs, model)}


# -- running ------------------------------------------------------------------------------------
def compile_workload(wl, mode) -> tuple:
    """``(f, call)``: the eggflow function of the workload (its updates as ``updates=``) and
    ``call(*values) -> [every output]``, the updated outputs read back from their shared
    variables after the call (as the peers return them)."""
    updated = {k: s for s, k in wl.updates}
    kept = [k for k in range(len(wl.outputs)) if k not in updated]
    f = ef.function(wl.inputs, [wl.outputs[k] for k in kept], mode=mode,
                    updates=[(s, wl.outputs[k]) for s, k in wl.updates])
    if not updated:
        return f, f

    def call(*values):
        got = f(*values)
        out = [None] * len(wl.outputs)
        for k, g in zip(kept, got):
            out[k] = g
        for k, s in updated.items():
            out[k] = s.get_value(borrow=True)
        return out

    return f, call


def run_config(wl, size: int, config: Config, repeats: int, reference) -> dict:
    ok, why = backend_available(config.backend)
    if not ok:
        return _row(wl.name, size, config.name, config.backend, status="skipped", reason=why)
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:  # a backend falling back says so
        warnings.simplefilter("always")
        f, call = compile_workload(wl, config.mode())
    total = time.perf_counter() - started
    rep = f.report.optimization
    compile_seconds = {"total": total, "encode": None, "main": None, "extract": None,
                       "decode": None, "backend": None}
    egraph = None
    compile_seconds["backend"] = f.report.seconds.get("backend")  # lower + C compile (cached)
    if rep is not None:
        compile_seconds.update(rep.seconds)
        egraph = {"eclasses": sum(p.eclasses for p in rep.phases),
                  "enodes": sum(p.enodes for p in rep.phases),
                  "iterations": sum(p.iterations for p in rep.phases),
                  "stop_reasons": [p.stop_reason for p in rep.phases],
                  "fallback": rep.fallback}
    values = list(wl.values)
    wl.reset()  # the shared variables a previous run updated
    with np.errstate(all="ignore"), warnings.catch_warnings(record=True) as first:
        warnings.simplefilter("always")
        got = call(*values)
    got = got if isinstance(got, list) else [got]
    # copies: updated parameters are read back from shared storage, which the timed calls
    # below update again (the C backend writes updates into it)
    got = [np.array(g, copy=True) for g in got]
    with np.errstate(all="ignore"):
        runtime = time_calls(call, values, repeats, warmup=0)  # the call above warmed it up
        peak = peak_memory(call, values)
    notes = _notes(f, config, caught + first)
    return _row(wl.name, size, config.name, config.backend, egraph=egraph,
                extracted=graph_stats(f.optimized_outputs, f), compile_seconds=compile_seconds,
                runtime=runtime, peak_memory=peak, max_error=max_error(got, reference),
                reason="; ".join(notes) or None)


def _notes(f, config: Config, caught) -> list:
    """What the row should say although it ran: the backend that really ran when it is not
    the configuration's, the compile report's notes, warnings (not numerical ones)."""
    notes = []
    ran = getattr(f.report, "backend", config.backend)
    if ran != config.backend:
        notes.append(f"ran on the {ran} backend")
    notes += [str(n) for n in getattr(f.report, "notes", [])]
    notes += [f"{w.category.__name__}: {w.message}" for w in caught
              if not issubclass(w.category, (RuntimeWarning, DeprecationWarning))]
    return list(dict.fromkeys(notes))


# peers that compile the whole graph (Numba, XLA) take minutes on the "large" workloads: a suite
# skips them there (say it in the row); name the workload and the peer explicitly to run it
HEAVY_PEERS = ("pytensor", "jax")


def run_peer(wl, size: int, name, repeats: int, reference, explicit=False) -> dict:
    """One peer's row; ``name`` is a peer's name in ``peers.PEERS`` or a ``Peer`` (its row
    says ``peer.name``)."""
    from . import peers as P

    peer = name if isinstance(name, P.Peer) else P.PEERS[name]
    name = peer.name
    if name.split("-")[0] in HEAVY_PEERS and "large" in wl.tags and not explicit:
        return _row(wl.name, size, "peer", None, name, status="skipped",
                    reason=f"{name} compiles the whole {wl.name} graph: minutes; run it with "
                           f"-w {wl.name} -p {name}")
    ok, info = peer.available()
    if not ok:
        return _row(wl.name, size, "peer", None, name, status="skipped", reason=info)
    started = time.perf_counter()
    fn = peer.prepare(wl)
    if fn is None:
        return _row(wl.name, size, "peer", None, name, status="skipped",
                    reason=getattr(peer, "last_reason", "not runnable"))
    values = list(wl.values)
    wl.reset()  # prepare's warm-up call (or a previous run) updated the shared variables
    with np.errstate(all="ignore"):
        got = fn(*values)  # the first call compiles (jit, C): part of compile time
        compile_seconds = {"total": time.perf_counter() - started}
        runtime = time_calls(fn, values, repeats, warmup=0)  # warmed up above
        peak = peak_memory(fn, values)
    return _row(wl.name, size, "peer", None, name, compile_seconds=compile_seconds,
                runtime=runtime, peak_memory=peak, max_error=max_error(got, reference))


def run(workloads=None, configs=None, peers=None, suite="quick", sizes=None, seed=0,
        repeats=None, progress=None) -> list:
    """Rows for every (workload, configuration) and (workload, peer). ``sizes``: workload ->
    size overriding the suite's; ``progress(done, total, label)`` is told as rows finish.
    Workloads, configurations and peers are names or objects (``WorkloadSpec``, ``Config``,
    ``peers.Peer``): an object need not be registered."""
    s_workloads, s_configs, s_peers, s_repeats = SUITES[suite]
    names = workloads or (W.names() if s_workloads == "all" else s_workloads)
    configs = [CONFIGS[c] if isinstance(c, str) else c
               for c in (s_configs if configs is None else configs)]
    peers = s_peers if peers is None else peers
    repeats = repeats or s_repeats
    rows = []
    cases = []
    for spec in names:  # a suite's size may be a list: one case per size
        spec = spec if isinstance(spec, W.WorkloadSpec) else W.get(spec)
        name = spec.name
        size = (sizes or {}).get(name) or spec.sizes.get(suite) or next(iter(spec.sizes.values()))
        cases += [(name, spec, s) for s in (size if isinstance(size, (list, tuple)) else [size])]
    total = len(cases) * (len(configs) + len(peers))
    for name, spec, size in cases:
        wl = spec.build(size, seed)
        with np.errstate(all="ignore"):
            reference = wl.reference(*wl.values) if wl.reference else None
        jobs = [(c.name, c) for c in configs] + [(getattr(p, "name", p), p) for p in peers]
        for label, what in jobs:
            try:
                if isinstance(what, Config):
                    row = run_config(wl, size, what, repeats, reference)
                else:
                    row = run_peer(wl, size, what, repeats, reference, explicit=bool(workloads))
            except Exception as exc:  # noqa: BLE001 - a failing case is a row, not a crash
                is_config = isinstance(what, Config)
                row = _row(name, size, label if is_config else "peer",
                           what.backend if is_config else None, None if is_config else label,
                           status="error", reason=f"{type(exc).__name__}: {exc}")
            rows.append(row)
            if progress:
                progress(len(rows), total, f"{name} / {label}")
    return rows


# -- the JSON document ---------------------------------------------------------------------------
def machine() -> dict:
    """Machine facts, versions, BLAS and thread settings: what makes two runs comparable."""
    from . import peers as P

    try:
        blas = {k: v for k, v in np.show_config(mode="dicts").get("Build Dependencies",
                                                                   {}).items()
                if k in ("blas", "lapack")}
    except Exception:  # noqa: BLE001 - older numpy
        blas = None
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        mem = None
    threads = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                              "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                                              "XLA_FLAGS")}
    return {"platform": platform.platform(), "machine": platform.machine(),
            "processor": platform.processor(), "cpus": os.cpu_count(), "memory_bytes": mem,
            "python": platform.python_version(), "numpy": np.__version__,
            "eggflow": ef.__version__, "peers": P.versions(), "blas": blas, "threads": threads}


def document(rows, suite: str) -> dict:
    return {"schema": SCHEMA, "suite": suite, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": machine(), "rows": rows}
