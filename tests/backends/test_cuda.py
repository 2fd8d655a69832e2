"""The CUDA backend (codegen/cuda_emit.py, backends/cuda_backend.py).

Without a GPU (CI, and the development machines): the generated CUDA for the whole
elementwise op suite (every elementwise op at float32, float64, int64, int32 and bool where
the type rules allow it; fused into selector chains and one kernel per op), reductions over
every axis set, softmax / log_softmax / logsumexp and the W1 chain compiles with
``nvcc -cubin -arch=sm_90`` (batched: a few nvcc calls of ~1-2 s, skipped only without
nvcc); snapshots of the generated CUDA (``snapshots/cuda_*.cu``; rewrite them with
``EGGFLOW_UPDATE_SNAPSHOTS=1``); importing eggflow and the CUDA modules does not import
pycuda. The execution tests (``cuda_device``, tests/backends/conftest.py) run small programs
and the op suite against the reference executor twice: on a GPU (pycuda, a driver and a
device: ``cuda_backend.available()``; skipped with its reason elsewhere), and, where there is
no GPU, on the host emulator: the real runtime and the real generated CUDA, compiled for the
CPU behind a shim and run as one thread, with NumPy stand-ins for pycuda and cuBLAS.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import eggflow as ef
import eggflow.tensor as T
from eggflow.backends import cuda_backend
from eggflow.codegen import cuda_emit
from eggflow.codegen.lower import lower
from eggflow.frontend.op import OPS
from opsuite import (assert_matches_snapshot, assert_same, call, elementwise_cases, sample,
                     selector_chains)

SNAPSHOTS = Path(__file__).parent / "snapshots"
DTYPES = ("float32", "float64", "int64", "int32", "bool")
REF = ef.Mode(backend="numpy", optimizer=None)
HAVE_EGGLOG = importlib.util.find_spec("egglog") is not None

needs_nvcc = pytest.mark.skipif(cuda_emit.nvcc_path() is None,
                                reason="nvcc not found (the CUDA toolkit is not installed)")


# -- graphs ------------------------------------------------------------------------------------
def optimized(outputs):
    return ef.optimize(outputs, fusion="egraph").outputs


def w1_graph():
    x = T.dvector("x")
    return [x], [T.exp(-x**2 / 2) * T.sin(3 * x) + T.log1p(x * x)]


def w1_f32_graph():
    x = T.fvector("x")
    return [x], [T.exp(-x**2 / 2) * T.sin(3 * x) + T.log1p(x * x)]


def reduction_graph():
    x = T.dmatrix("x")
    return [x], [T.sum(T.exp(x), axis=1)]


AXES = [None, (), 0, 1, 2, (0, 1), (0, 2), (1, 2)]


def reductions_graph(dt):
    x = T.tensor(dt, shape=(None, None, None), name="x")
    outs = []
    for name in ("sum", "prod", "max", "min", "all", "any"):
        for axis in AXES:
            arg = T.gt(x, 0) if name in ("all", "any") else x
            outs.append(getattr(T, name)(arg, axis=axis))
    return [x], outs


def fused_reductions_graph():
    c = T.tensor("float32", shape=(None, 1, None), name="c")
    r = T.tensor("float32", shape=(1, None, 1), name="r")
    outs = [T.sum(c * r, axis=a) for a in AXES[:5]] + [
        T.max(c - r, axis=(0, 2)), T.mean(T.exp(c + r), axis=1), T.min(T.abs(c - r))]
    return [c, r], outs


def rowwise_graph():
    x3, xf = T.dtensor3("x3"), T.fmatrix("xf")
    outs = []
    for X, axes in ((x3, (0, 1, -1)), (xf, (0, -1))):
        for ax in axes:
            for name in ("softmax", "log_softmax", "logsumexp"):
                outs.append(getattr(T.nnet, name)(X, axis=ax))
    return [x3, xf], outs


def mlp_graph(dt="float32"):
    """A small MLP training step: dot (BLAS), bias broadcast, tanh, softmax cross-entropy."""
    X = T.tensor(dt, shape=(None, None), name="X")
    Y = T.tensor(dt, shape=(None, None), name="Y")
    W1 = T.tensor(dt, shape=(None, None), name="W1")
    b1 = T.tensor(dt, shape=(None,), name="b1")
    W2 = T.tensor(dt, shape=(None, None), name="W2")
    h = T.tanh(T.dot(X, W1) + b1.dimshuffle("x", 0))
    p = T.nnet.softmax(T.dot(h, W2), axis=-1)
    cost = -T.mean(T.sum(Y * T.log(p), axis=1))
    gW1, gb1, gW2 = ef.grad(cost, [W1, b1, W2])
    lr = np.asarray(0.1, dtype=dt)
    return [X, Y, W1, b1, W2], [cost, W1 - lr * gW1, b1 - lr * gb1, W2 - lr * gW2]


def suite_programs():
    """[(tag, program)] of every graph the compile test covers."""
    progs = []
    # every op at every dtype: fused selector chains (one kernel per output dtype) ...
    inputs, cases = [], []
    for dt in DTYPES:
        ins, found, _ = elementwise_cases(dt)
        inputs += ins
        cases += found
    sel = T.tensor("int16", shape=(None,), name="sel")
    outs, _ = selector_chains(cases, sel)
    if HAVE_EGGLOG:
        progs.append(("chains", lower(inputs + [sel], optimized(outs))))
    # ... and one bare kernel per (op, dtype)
    progs.append(("ops", lower(inputs, [node for _, node in cases])))
    for dt in ("float64", "float32", "int64", "int32", "bool"):
        progs.append((f"red_{dt}", lower(*reductions_graph(dt))))
    for tag, graph in (("fusedred", fused_reductions_graph), ("rowwise", rowwise_graph),
                       ("w1", w1_graph), ("w1f", w1_f32_graph), ("redexp", reduction_graph),
                       ("mlp", mlp_graph)):
        inputs, outs = graph()
        progs.append((tag + "_raw", lower(inputs, outs)))
        if HAVE_EGGLOG:
            progs.append((tag, lower(inputs, optimized(outs))))
    return progs


@pytest.fixture(scope="module")
def programs():
    return suite_programs()


# -- (a) generated source compiles ---------------------------------------------------------------
def test_every_elementwise_op_gets_a_kernel(programs):
    """Every elementwise op of the op table lowers to a CUDA kernel (but integer powers: no
    C expression; they run on the host, as the C backend runs them with the reference)."""
    ops = dict(programs)["ops"]
    other = [(s.node.op, s.node.dtype) for s in ops.steps if s.kind != "ew"]
    assert all(op == "pow" and np.dtype(dt).kind != "f" for op, dt in other), other
    seen = {s.node.op for s in ops.steps if s.kind == "ew"}
    assert seen == {n for n, op in OPS.items() if op.family == "elemwise"}


def test_every_helper_is_defined_in_the_prelude(programs):
    """Every ``ef_*`` name a kernel calls has a device definition in the CUDA prelude."""
    defined = set(re.findall(r"\bef_\w+(?=\()", cuda_emit.PRELUDE))
    defined |= {f"ef_{k}_{s}" for k in ("floordiv", "mod", "pow", "divmod")
                for s in ("i32", "i64", "u32", "u64", "d", "f")}
    used = set()
    for _, p in programs:
        src = "".join(cuda_emit.emit_step(s) for s in cuda_emit.kernel_steps(p))
        used |= set(re.findall(r"\b(ef_[a-z0-9_]+)\(", src))
    used = {u for u in used if not u.startswith(("ef_op_", "ef_block_", "ef_shfl"))}
    assert used <= defined, used - defined


def unique_kernels(programs) -> list:
    """The distinct kernel sources of all programs (identical kernels but for their names
    compile once), each named ``u{n}``."""
    seen: dict = {}
    for _, p in programs:
        for s in cuda_emit.kernel_steps(p):
            seen.setdefault(cuda_emit.emit_step(s, "EF_KERNEL_NAME"), None)
    return [re.sub(r"\bEF_KERNEL_NAME", f"u{k}", text) for k, text in enumerate(seen)]


@needs_nvcc
def test_generated_cuda_compiles_with_nvcc(programs):
    """Every distinct kernel of all programs compiles for sm_90 (in two modules, two nvcc
    processes at once; ~0.15 s of nvcc per kernel, so a cold run takes about a minute; the
    cubins are cached under config.compiledir/cuda by source hash, so a rerun with unchanged
    generated code is instant), and the cubins hold every kernel."""
    from concurrent.futures import ThreadPoolExecutor

    kernels = unique_kernels(programs)
    assert len(kernels) > 300
    batches = [cuda_emit.PRELUDE + "".join(kernels[k::2]) for k in range(2)]
    with ThreadPoolExecutor(2) as pool:
        cubins = list(pool.map(lambda src: cuda_emit.nvcc_compile(src, arch="sm_90"), batches))
    for source, cubin in zip(batches, cubins):
        assert cubin[:4] == b"\x7fELF"
        names = re.findall(r'extern "C" __global__ void __launch_bounds__\(EF_BLOCK\) (\w+)\(',
                           source)
        missing = [n for n in names if n.encode() + b"\0" not in cubin]
        assert not missing, missing[:10]


@needs_nvcc
def test_nvcc_cache(tmp_path, monkeypatch):
    """A compile is cached on disk by source hash: the second call does not run nvcc."""
    monkeypatch.setattr(ef.config, "compiledir", str(tmp_path))
    source = cuda_emit.emit_module(lower(*w1_graph()))
    cubin = cuda_emit.nvcc_compile(source)
    assert cubin[:4] == b"\x7fELF" and list((tmp_path / "cuda").glob("*.cubin"))
    monkeypatch.setattr(cuda_emit.subprocess, "run", None)
    assert cuda_emit.nvcc_compile(source) == cubin


def test_identical_kernels_are_shared():
    """sum over eight axis sets is one kernel (the axes are launch arguments)."""
    program = lower(*reductions_graph("float64"))
    names = cuda_emit.kernel_names(program)
    assert len(names) > 40 and len(set(names.values())) <= 8, names
    src = cuda_emit.emit_module(program)
    assert src.count("__global__") == 2 * len(set(names.values()))


@needs_nvcc
def test_nvcc_error_is_clear(tmp_path, monkeypatch):
    monkeypatch.setattr(ef.config, "compiledir", str(tmp_path))
    with pytest.raises(cuda_emit.NvccError, match="(?s)nvcc failed.*undefined_thing"):
        cuda_emit.nvcc_compile(cuda_emit.PRELUDE + "__global__ void k() { undefined_thing; }")


def test_argument_structs_match_the_emitted_layout():
    """The runtime packs int64 words in the order the emitted structs declare them."""
    inputs, outs = w1_graph()
    p = lower(inputs, outs)
    src = cuda_emit.emit_module(p)
    ew = [s for s in p.steps if s.kind == "ew"][0]
    nops = len(ew.body.loads) + 1
    assert (f"struct {ew.name}_args {{ int64_t n, nd; int64_t shape[EF_MAXD]; "
            f"int64_t ptr[{nops}]; int64_t st[{nops}][EF_MAXD]; }};") in src
    w = cuda_emit.pack_ew(10, [2, 5], [1, 2], [[5, 1], [0, 1]])
    assert w.size == cuda_emit.ew_words(2) and list(w[:4]) == [10, 2, 2, 5]
    base = 2 + cuda_emit.MAXD
    assert list(w[base: base + 2]) == [1, 2] and w[base + 2 + cuda_emit.MAXD] == 0
    r = cuda_emit.pack_red(3, 4, [3], [4], [7, 8], [[1], [4]], [[0], [1]])
    assert r.size == cuda_emit.red_words(2) and list(r[:5]) == [3, 4, 1, 1, 3]


# -- (b) snapshots ---------------------------------------------------------------------------------
SNAPSHOT_GRAPHS = {"cuda_w1_fused_chain": (w1_graph, "W1: fused chain"),
                   "cuda_reduction_sum_exp": (reduction_graph,
                                              "sum(exp(x), axis=1): producer fused into the sum")}


def snapshot_text(name) -> str:
    graph, title = SNAPSHOT_GRAPHS[name]
    inputs, outs = graph()
    program = lower(inputs, optimized(outs))
    lines = [f"/* eggflow CUDA snapshot {name!r}: {title}",
             " * (tests/backends/test_cuda.py; EGGFLOW_UPDATE_SNAPSHOTS=1 rewrites it;",
             " * the kernels only: cuda_emit.PRELUDE comes first in a module)"]
    for k, s in enumerate(program.steps):
        extra = f" {s.name}" if s.name else ""
        lines.append(f" * step {k}: {s.kind} {s.node.op}{extra}: slots {s.args} -> {s.out}")
    lines.append(" */")
    return "\n".join(lines) + "\n" + "".join(
        cuda_emit.emit_step(s) for s in cuda_emit.kernel_steps(program))


@pytest.mark.skipif(not HAVE_EGGLOG, reason="egglog is not installed (the e-graph optimizer)")
@pytest.mark.parametrize("name", sorted(SNAPSHOT_GRAPHS))
def test_generated_cuda_matches_snapshot(name):
    assert_matches_snapshot(SNAPSHOTS / f"{name}.cu", snapshot_text(name),
                            f"the generated CUDA for {name!r}")


@needs_nvcc
def test_snapshots_compile(tmp_path, monkeypatch):
    monkeypatch.setattr(ef.config, "compiledir", str(tmp_path))
    files = sorted(SNAPSHOTS.glob("cuda_*.cu"))
    assert files, "no CUDA snapshots stored"
    for k, path in enumerate(files):  # one module: rename the kernels apart
        text = re.sub(r"\bk(\d+)", rf"s{k}_k\1", path.read_text())
        files[k] = text
    assert cuda_emit.nvcc_compile(cuda_emit.PRELUDE + "".join(files))[:4] == b"\x7fELF"


# -- (d) lazy imports ------------------------------------------------------------------------------
def test_importing_does_not_import_pycuda():
    code = ("import sys, eggflow, eggflow.backends.cuda_backend, eggflow.codegen.cuda_emit; "
            "assert 'pycuda' not in sys.modules, sorted(m for m in sys.modules if 'cuda' in m); "
            "print('ok')")
    proc = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_available_gives_a_reason():
    ok, why = cuda_backend.available()
    assert isinstance(ok, bool)
    assert ok or why, "available() must say why the backend cannot run"
    if not ok:
        with pytest.raises(cuda_backend.CudaUnavailable, match="cannot run"):
            cuda_backend.make_thunk(*w1_graph(), ef.Mode())


# -- (c) execution on the GPU -------------------------------------------------------------------
FUSIONS = ["egraph", "none"]
DRY = cuda_backend.dry_run()  # make device-bundle runs these tests here so, to prepare graphs


def gpu_optimized(outputs):
    """``outputs`` optimized as ``function`` does for the GPU (its cost model, the disk cache).
    A machine without egglog (the GPU machine) finds them in a cache prepared elsewhere
    (``make device-bundle``) or skips."""
    from eggflow.egraph_rules.cost import GPU, CostModel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # without egglog: "optimization skipped"
        result = ef.optimize(outputs, cost=CostModel(GPU), fusion="egraph", disk_cache=True)
    if not HAVE_EGGLOG and not result.report.cached:
        pytest.skip("egglog is not installed here and the graph was not prepared elsewhere "
                    "(make device-bundle stores it in the cache carried to the GPU machine)")
    return result.outputs


def run_cuda(inputs, outputs, feed, fusion):
    outs = gpu_optimized(outputs) if fusion == "egraph" else outputs
    thunk = cuda_backend.make_thunk(inputs, outs, ef.Mode())
    assert isinstance(thunk, cuda_backend.HostThunk if DRY else cuda_backend.CudaThunk)
    return call(thunk, list(feed))


def reference(inputs, outputs, feed):
    return call(ef.function(inputs, outputs, mode=REF, on_unused_input="ignore"), *feed)


@pytest.mark.parametrize("fusion", FUSIONS)
def test_gpu_elementwise_op_suite(cuda_device, fusion):
    rng = np.random.default_rng(0)
    inputs, cases, samples = [], [], []
    for dt in DTYPES:
        ins, found, _ = elementwise_cases(dt)  # (integer pow is no kernel: not here)
        inputs += ins
        cases += found
        samples.append(sample(dt, rng))
    m = max(v[0].size for v in samples)  # every pair of special values, then random ones
    feed = [np.resize(v, m) for vals in samples for v in vals]
    sel = T.tensor("int16", shape=(None,), name="sel")
    outs, groups = selector_chains(cases, sel)
    feed = [np.tile(v, len(cases)) for v in feed]
    feed.append(np.repeat(np.arange(len(cases), dtype=np.int16), m))
    got = run_cuda(inputs + [sel], outs, feed, fusion)
    want = reference(inputs + [sel], outs, feed)
    failures = []
    for g, w, ops in zip(got, want, groups):
        for k, label, node in ops:
            a, b = g[k * m: (k + 1) * m], w[k * m: (k + 1) * m]
            try:
                assert_same(a, b, f"{label} -> {node.dtype}")
            except AssertionError as exc:
                failures.append(str(exc))
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("fusion", FUSIONS)
def test_gpu_elementwise_over_views_and_broadcasts(cuda_device, fusion):
    """The strided kernel entry: transposed and permuted device views (dimshuffle), columns
    and rows broadcast against matrices, a 0-d operand, float32 and float64."""
    rng = np.random.default_rng(4)
    x, v, s = T.dmatrix("x"), T.dvector("v"), T.dscalar("s")
    z = T.tensor("float32", shape=(None, None, None), name="z")
    outs = [T.exp(x.T) * v.dimshuffle(0, "x") + s, x.T + x.T * 2 - v.dimshuffle("x", 0).T,
            z.dimshuffle(2, 0, 1) * 2 + T.sin(z.dimshuffle(2, 0, 1)),
            T.tanh(z.dimshuffle(1, "x", 0, 2)) - z[:, 0].dimshuffle("x", "x", 0, 1)]
    feed = [rng.standard_normal((4, 3)), rng.standard_normal(3), np.float64(0.5),
            rng.standard_normal((2, 3, 5)).astype(np.float32)]
    inputs = [x, v, s, z]
    for k, (g, w) in enumerate(zip(run_cuda(inputs, outs, feed, fusion),
                                   reference(inputs, outs, feed))):
        f32 = w.dtype == np.float32  # (atol: tanh(a) - b nearly cancels in places)
        assert_same(g, w, f"output {k}", rtol=1e-6 if f32 else 1e-12, atol=1e-6 if f32 else 0)
    if cuda_device.launches is not None:  # the strided entry ran, not only the flat one
        assert any(not name.endswith("_flat") for name in cuda_device.launches), \
            cuda_device.launches


def test_gpu_empty_arrays(cuda_device):
    """Zero-size operands: empty elementwise results, sums over nothing (zeros), reductions
    with no output, dot/gemm with a zero dimension (pycuda's empty arrays have no pointer)."""
    x, y, z = T.dmatrix("x"), T.dmatrix("y"), T.dmatrix("z")
    outs = [T.exp(x) + 1, T.sum(x, axis=0), T.sum(x, axis=1), T.dot(x.T, x), T.dot(x, y),
            z + 2 * T.dot(x, y), T.max(y, axis=0), x.T * 3]
    rng = np.random.default_rng(8)
    feed = [np.zeros((0, 3)), rng.standard_normal((3, 0)), np.zeros((0, 0))]
    got = run_cuda([x, y, z], outs, feed, "none")
    for k, (g, w) in enumerate(zip(got, reference([x, y, z], outs, feed))):
        assert_same(g, w, f"output {k} ({outs[k]})")


def reduction_data():
    rng = np.random.default_rng(5)
    base = rng.standard_normal((4, 6, 5))
    base[1, 2, 3] = np.nan
    base[2, 0, 1] = np.inf
    base[0, 3, :] = 0.0
    return base


@pytest.mark.parametrize("fusion", FUSIONS)
@pytest.mark.parametrize("dt", ["float64", "float32", "int64", "bool"])
def test_gpu_reductions(cuda_device, dt, fusion):
    inputs, outs = reductions_graph(dt)
    base = reduction_data()
    with np.errstate(all="ignore"):  # inf -> float32 inf; NaN/inf -> some int64
        a = np.nan_to_num(base * 3).astype(dt) if dt != "float64" else base
    for layout, v in {"C": a, "strided": a[::-1, :, ::-1],
                      "broadcast": np.broadcast_to(a[:, 2:3, :], a.shape)}.items():
        got = run_cuda(inputs, outs, [v], fusion)
        want = reference(inputs, outs, [v])
        for k, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, f"reduction {k} {layout}", rtol=1e-4 if dt == "float32" else None)


@pytest.mark.parametrize("fusion", FUSIONS)
def test_gpu_fused_reductions_and_rowwise(cuda_device, fusion):
    rng = np.random.default_rng(9)
    inputs, outs = fused_reductions_graph()
    feed = [rng.standard_normal((3, 1, 4)).astype(np.float32),
            rng.standard_normal((1, 5, 1)).astype(np.float32)]
    for g, w in zip(run_cuda(inputs, outs, feed, fusion), reference(inputs, outs, feed)):
        assert_same(g, w, "fused reduction", rtol=1e-5)
    inputs, outs = rowwise_graph()
    a = rng.standard_normal((3, 4, 5))
    a[0, 1, 2] = 1000.0
    a[1, 2, :] = -np.inf
    a[0, 3, 0] = np.nan
    feed = [a, a[0].astype(np.float32)]
    for k, (g, w) in enumerate(zip(run_cuda(inputs, outs, feed, fusion),
                                   reference(inputs, outs, feed))):
        assert_same(g, w, f"rowwise {k}", rtol=1e-5 if g.dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("fusion", FUSIONS)
def test_gpu_seed_like_programs(cuda_device, fusion):
    rng = np.random.default_rng(1)
    # scalar addition, a fused chain, dot of matrices, logistic regression, an MLP step
    a, b = T.dscalars("a", "b")
    x = T.dvector("x")
    A, B = T.dmatrices("A", "B")
    progs = [([a, b], [a + b], [1.5, 2.5]),
             (*w1_graph(), [rng.standard_normal(1000)]),
             ([A, B], [T.dot(A, B), T.dot(A, B.T) * 2], [rng.standard_normal((3, 4)),
                                                          rng.standard_normal((4, 4))]),
             ([A, x], [T.sum(T.nnet.sigmoid(T.dot(A, x))), T.dot(x, A.T)],
              [rng.standard_normal((5, 3)), rng.standard_normal(3)]),
             ([A, x, a], [A - a * T.outer(x, x[:4]), A + T.outer(x[::-1], x[1:])],  # ger
              [rng.standard_normal((5, 4)), rng.standard_normal(5), 0.5])]
    for dt in ("float32", "float64"):
        inputs, outs = mlp_graph(dt)
        feed = [rng.standard_normal((8, 5)), np.eye(3)[rng.integers(0, 3, 8)],
                rng.standard_normal((5, 7)) * 0.3, np.zeros(7), rng.standard_normal((7, 3))]
        progs.append((inputs, outs, [f.astype(dt) for f in feed]))
    for inputs, outs, feed in progs:
        got = run_cuda(inputs, outs, feed, fusion)
        want = reference(inputs, outs, feed)
        for k, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, f"{outs[k]}", rtol=2e-4 if w.dtype == np.float32 else 1e-9)
    if cuda_device.launches is not None:  # dot/gemm/gemv went through (emulated) cuBLAS
        assert cuda_device.launches.get("cublas", 0) >= 6, cuda_device.launches


def test_gpu_device_inputs_and_outputs(cuda_device):
    from eggflow.frontend.graph import is_device_array

    inputs, outs = w1_f32_graph()
    thunk = cuda_backend.make_thunk(inputs, outs, ef.Mode())
    v = np.linspace(-3, 3, 10_000, dtype=np.float32)
    host = call(thunk, [v])[0]
    thunk.device_outputs = True
    dev = call(thunk, [cuda_backend.to_device(v)])[0]
    assert is_device_array(dev)
    assert_same(dev.get(), host, "device in/out")
    assert_same(host, reference(inputs, outs, [v])[0], "w1 float32", atol=1e-6)


def logreg_step(mode, w0, lr=0.1):
    x, y = T.matrix("x"), T.vector("y")
    w, b = ef.shared(w0.copy(), name="w"), ef.shared(np.float32(0), name="b")
    p = T.nnet.sigmoid(T.dot(x, w) + b)
    cost = T.mean(T.nnet.binary_crossentropy(p, y)) + 0.01 * (w ** 2).sum()
    gw, gb = T.grad(cost, [w, b])
    return ef.function([x, y], cost, updates=[(w, w - lr * gw), (b, b - lr * gb)],
                       mode=mode), w, b


def test_gpu_shared_variables_stay_on_the_device(cuda_device):
    """The Theano training loop with config.floatX float32: w and b live on the GPU across
    calls and updates, and every step agrees with the C backend."""
    from eggflow.frontend.graph import is_device_array

    rng = np.random.default_rng(3)
    x = rng.standard_normal((300, 20)).astype(np.float32)
    y = (rng.random(300) > 0.5).astype(np.float32)
    w0 = rng.standard_normal(20).astype(np.float32)
    old = ef.config.floatX
    ef.config.floatX = "float32"
    try:
        gpu, w, b = logreg_step(ef.Mode(backend="cuda"), w0)
        cpu, wc, bc = logreg_step(ef.Mode(backend="c"), w0)
    finally:
        ef.config.floatX = old
    assert gpu.report.backend == "cuda"
    for step in range(10):
        assert_same(call(gpu, x, y), call(cpu, x, y), f"cost at step {step}", rtol=1e-5)
        stored = w.get_value(borrow=True, return_internal_type=True)
        assert is_device_array(stored), f"w left the device at step {step}: {type(stored)}"
    assert_same(w.get_value(), wc.get_value(), "w after 10 steps", rtol=1e-5)
    assert_same(b.get_value(), bc.get_value(), "b after 10 steps", rtol=1e-5)
    gpu.outputs_on_device = True
    assert is_device_array(call(gpu, cuda_backend.to_device(x), y))


def test_function_with_the_cuda_backend_says_why_it_cannot_run():
    from eggflow.backends.cuda_backend import available

    ok, why = available()
    if ok:
        pytest.skip("a GPU is available: the execution tests above cover the backend")
    x = T.dvector("x")
    with pytest.raises(RuntimeError, match="backend 'cuda' is not available"):
        ef.function([x], x + 1, mode=ef.Mode(backend="cuda"))
    old = ef.config.device
    ef.config.device = "cuda"
    try:  # the device flag falls back to C, and the report says so
        f = ef.function([x], x + 1)
        assert f.report.backend == "c" and "config.device is 'cuda'" in " ".join(f.report.notes)
        np.testing.assert_array_equal(f(np.arange(3.0)), [1.0, 2.0, 3.0])
    finally:
        ef.config.device = old


def test_gpu_cost_constants_weigh_launches_more_than_the_cpu_ones():
    from eggflow.egraph_rules.cost import GPU, CostModel
    from eggflow.frontend.types import TensorType

    t = TensorType("float32", (100_000,))
    cpu, gpu = CostModel(), CostModel(GPU)
    # a 100k-element kernel: on the GPU its launch outweighs its memory traffic
    assert gpu.cost("kernel", [t], t) > 5 * gpu.bytes_moved("kernel", [t], t) * GPU.byte_ns
    assert cpu.cost("kernel", [t], t) < 5 * cpu.bytes_moved("kernel", [t], t) * cpu.c.byte_ns


def test_gpu_programs_without_kernels(cuda_device):
    """A function with no kernel (indexing and shape ops only) runs on the host (HostThunk):
    device arguments are copied back, an update stays on the device."""
    from eggflow.frontend.graph import is_device_array

    cuda_device.expect_kernels = False
    x = T.dvector("x")
    w = ef.shared(np.arange(4.0), name="w")
    f = ef.function([x], [x[1:], x.shape[0]], updates=[(w, w[::-1])],
                    mode=ef.Mode(backend="cuda"))
    assert isinstance(f._thunk, cuda_backend.HostThunk)
    got = f(cuda_backend.to_device(np.array([1.0, 2.0, 3.0])))
    np.testing.assert_array_equal(got[0], [2.0, 3.0])
    assert got[1] == 3
    assert is_device_array(w.get_value(borrow=True, return_internal_type=True))
    np.testing.assert_array_equal(w.get_value(), [3.0, 2.0, 1.0, 0.0])
