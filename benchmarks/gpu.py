"""GPU benchmarks of the CUDA backend (issue 7), in one run on one device.

    python -m eggflow.benchmarks.gpu [--n 100000000] [--batch 1024] [--steps 50] [--out DIR]
    python -m eggflow.benchmarks.gpu --dry-run     (no GPU: build and run everything small)

1. Copy bandwidth: a device-to-device copy of ``--n`` float32 (cuMemcpyDtoD), bytes read +
   written per second, best of 20 (the device's attainable memory bandwidth).
2. Fused elementwise chains on ``--n`` float32 resident on the device (``f.outputs_on_device``),
   each one kernel reading x and writing the result, so its effective bandwidth is 8 bytes per
   element over its time: "arith", ``((x*1.5 + 2)*x - x/4)*(x - 1) + 0.5`` (memory-bound: the
   target is >= 80% of the copy bandwidth), and W1, ``exp(-x**2/2)*sin(3x) + log1p(x*x)``
   (three correctly rounded transcendentals per element: ~100 instructions, so on an H200 it
   is bound by arithmetic rather than memory). Peers on the same data: PyTorch eager and CuPy
   (one kernel per operation, the way users write them).
3. The MLP training step of benchmarks/workloads/mlp_train.py (float32, tanh hidden layer,
   softmax cross-entropy, SGD 0.1) with batch ``--batch``, 784*batch/256 inputs, 2*batch
   hidden units: eggflow with the parameters as shared variables kept on the device, against
   PyTorch eager (autograd, in-place SGD) and CuPy (the hand-written NumPy step on CuPy arrays).
   Time per step over ``--steps`` steps after warm-up, synchronised; the first step's cost of
   every implementation is checked against a float64 NumPy reference.

Timing: CUDA events around a loop of calls (launches are asynchronous, so Python's own time
per call overlaps the device's work when it is shorter). Writes ``gpu.json`` and ``gpu.md``
into ``--out``. Without a GPU (``cuda_backend.available()`` false) it says why and exits 2.
The dry run (``EGGFLOW_CUDA_DRY_RUN``) builds the same eggflow functions at tiny sizes, so that
their optimized graphs and cubins land in ``config.compiledir`` (make device-bundle carries it
to a GPU machine without egglog); it measures nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import eggflow as ef
import eggflow.tensor as T
from eggflow.backends import cuda_backend

CUDA = ef.Mode(backend="cuda")


CHAINS = {  # name -> the expression, for eggflow's T, torch and cupy alike (and NumPy)
    "arith": lambda m, x: ((x * 1.5 + 2) * x - x / 4) * (x - 1) + 0.5,
    "W1": lambda m, x: m.exp(-x ** 2 / 2) * m.sin(3 * x) + m.log1p(x * x),
}


def chain_function(name):
    x = T.fvector("x")
    return ef.function([x], CHAINS[name](T, x), mode=CUDA)


def mlp_function(n_in, n_hid, n_out, rng):
    """(step(x, y) -> cost, params, initial values) of the float32 MLP on shared variables."""
    from eggflow.benchmarks.workloads.mlp_train import _graph

    init = [(rng.standard_normal((n_in, n_hid)) / np.sqrt(n_in)).astype(np.float32),
            np.zeros(n_hid, np.float32),
            (rng.standard_normal((n_hid, n_out)) / np.sqrt(n_hid)).astype(np.float32),
            np.zeros(n_out, np.float32)]
    params = [ef.shared(v.copy(), name=k) for v, k in zip(init, ("W1", "b1", "W2", "b2"))]
    x, y = T.fmatrix("x"), T.lvector("y")
    cost, *new = _graph(x, y, params)
    step = ef.function([x, y], cost, updates=list(zip(params, new)), mode=CUDA)
    return step, params, init


def reference_cost(x, y, W1, b1, W2, b2) -> float:
    x, W1, b1, W2, b2 = (np.asarray(v, np.float64) for v in (x, W1, b1, W2, b2))
    z = np.tanh(x @ W1 + b1) @ W2 + b2
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())


# -- timing ---------------------------------------------------------------------------------------
def event_timed(run, repeats: int, new_event, elapsed_ms, sync, warmup: int = 3) -> float:
    """Seconds per call of ``run()``: events (``new_event()``, with record() and
    synchronize()) around ``repeats`` calls, best of 3 such loops, after ``warmup`` calls and a
    ``sync()``; ``elapsed_ms(start, end)`` reads a pair. pycuda, PyTorch and CuPy each give the
    three their own way."""
    for _ in range(warmup):
        run()
    sync()
    best = float("inf")
    for _ in range(3):
        start, end = new_event(), new_event()
        start.record()
        for _ in range(repeats):
            run()
        end.record()
        end.synchronize()
        best = min(best, elapsed_ms(start, end) / 1e3 / repeats)
    return best


def timed(run, repeats: int) -> float:
    """eggflow's calls (pycuda's events on the default stream)."""
    import pycuda.driver as drv

    return event_timed(run, repeats, drv.Event, lambda s, e: e.time_since(s),
                       drv.Context.synchronize)


def torch_timed(run, repeats: int) -> float:
    import torch

    return event_timed(run, repeats, lambda: torch.cuda.Event(enable_timing=True),
                       lambda s, e: s.elapsed_time(e), torch.cuda.synchronize)


def cupy_timed(run, repeats: int) -> float:
    import cupy

    return event_timed(run, repeats, cupy.cuda.Event, cupy.cuda.get_elapsed_time,
                       lambda: cupy.cuda.Device().synchronize())


def peer(name, fn, *args):
    """Run a peer's benchmark; a missing package or a failure is a row saying why."""
    try:
        return fn(*args)
    except ImportError as exc:
        return {"skipped": f"{name} is not installed ({exc})"}
    except Exception as exc:  # a peer's failure is reported, not fatal
        return {"skipped": f"{name} failed: {type(exc).__name__}: {exc}"}


# -- 1. copy bandwidth ---------------------------------------------------------------------------
def copy_bandwidth(n: int) -> dict:
    import pycuda.driver as drv

    a = cuda_backend.to_device(np.ones(n, np.float32))
    b = cuda_backend._empty((n,), np.float32)
    nbytes = a.nbytes
    t = timed(lambda: drv.memcpy_dtod(b.gpudata, a.gpudata, nbytes), 20)
    return {"seconds": t, "GB/s": 2 * nbytes / t / 1e9}


# -- 2. the fused chain --------------------------------------------------------------------------
def chain(name: str, n: int, copy_gbs: float) -> dict:
    expr = CHAINS[name]
    f = chain_function(name)
    f.outputs_on_device = True
    rng = np.random.default_rng(0)
    host = rng.standard_normal(n, dtype=np.float32)
    x = cuda_backend.to_device(host)
    check = slice(0, 1_000_000)
    got = f(x).get()[check]
    hx = host[check].astype(np.float64)
    want = expr(np, hx)
    err = float(np.max(np.abs(got - want) / (np.abs(want) + 1e-6)))
    t = timed(lambda: f(x), 20)
    kernels = sum(s.kind == "ew" for s in f._thunk.program.steps)
    gbs = 8 * n / t / 1e9
    rows = {"eggflow": {"seconds": t, "GB/s": gbs, "of copy": gbs / copy_gbs,
                        "kernels": kernels, "max rel err": err}}

    def torch_chain():
        import torch

        tx = torch.from_numpy(host).cuda()
        run = lambda: expr(torch, tx)  # noqa: E731
        t = torch_timed(run, 20)
        return {"seconds": t, "GB/s": 8 * n / t / 1e9, "of copy": 8 * n / t / 1e9 / copy_gbs}

    def cupy_chain():
        import cupy

        cx = cupy.asarray(host)
        run = lambda: expr(cupy, cx)  # noqa: E731
        t = cupy_timed(run, 20)
        return {"seconds": t, "GB/s": 8 * n / t / 1e9, "of copy": 8 * n / t / 1e9 / copy_gbs}

    rows["pytorch eager"] = peer("pytorch", torch_chain)
    rows["cupy"] = peer("cupy", cupy_chain)
    return rows


# -- 3. the MLP step -----------------------------------------------------------------------------
def mlp(batch: int, steps: int) -> dict:
    n_in, n_hid, n_out = 784 * batch // 256, 2 * batch, 10
    rng = np.random.default_rng(1)
    xh = rng.standard_normal((batch, n_in)).astype(np.float32)
    yh = rng.integers(0, n_out, batch)
    step, params, init = mlp_function(n_in, n_hid, n_out, rng)
    want = reference_cost(xh, yh, *init)
    x, y = cuda_backend.to_device(xh), cuda_backend.to_device(yh)
    first = float(step(x, y))
    step.outputs_on_device = True  # the cost stays on the device: no synchronising copy per step
    rows = {"eggflow": {"first cost": first, "cost rel err": abs(first - want) / abs(want),
                        "seconds": timed(lambda: step(x, y), steps),
                        "kernels": sum(s.kind in ("ew", "reduce", "rowwise")
                                       for s in step._thunk.program.steps),
                        "blas calls": sum(s.kind == "blas" for s in step._thunk.program.steps)}}

    def torch_mlp():
        import torch

        dev = torch.device("cuda")
        W1, b1, W2, b2 = (torch.tensor(v, device=dev, requires_grad=True) for v in init)
        tx, ty = torch.from_numpy(xh).to(dev), torch.from_numpy(yh).to(dev)

        def run():
            for p in (W1, b1, W2, b2):
                p.grad = None
            h = torch.tanh(tx @ W1 + b1)
            cost = torch.nn.functional.cross_entropy(h @ W2 + b2, ty)
            cost.backward()
            with torch.no_grad():
                for p in (W1, b1, W2, b2):
                    p -= 0.1 * p.grad
            return cost

        first = float(run().detach())
        for p, v in zip((W1, b1, W2, b2), init):
            with torch.no_grad():
                p.copy_(torch.from_numpy(v))
        return {"first cost": first, "cost rel err": abs(first - want) / abs(want),
                "seconds": torch_timed(run, steps)}

    def cupy_mlp():
        import cupy as cp

        from eggflow.benchmarks.workloads.mlp_train import _numpy

        P = [cp.asarray(v) for v in init]
        cx, cy = cp.asarray(xh), cp.asarray(yh)

        def run():
            cost, *new = _numpy(cx, cy, *P)
            P[:] = new
            return cost

        first = float(run())
        P[:] = [cp.asarray(v) for v in init]
        return {"first cost": first, "cost rel err": abs(first - want) / abs(want),
                "seconds": cupy_timed(run, steps)}

    rows["pytorch eager"] = peer("pytorch", torch_mlp)
    rows["cupy"] = peer("cupy", cupy_mlp)
    return rows


# -- the dry run and the report ------------------------------------------------------------------
def dry_run() -> None:
    """The same eggflow functions at tiny sizes, values checked against NumPy."""
    x = np.linspace(-2, 2, 100, dtype=np.float32)
    for name, expr in CHAINS.items():
        f = chain_function(name)
        np.testing.assert_allclose(f(x), expr(np, x.astype(np.float64)), rtol=1e-5, atol=1e-5)
    rng = np.random.default_rng(1)
    step, params, init = mlp_function(49, 32, 10, rng)
    xh = rng.standard_normal((16, 49)).astype(np.float32)
    yh = rng.integers(0, 10, 16)
    np.testing.assert_allclose(float(step(xh, yh)), reference_cost(xh, yh, *init), rtol=1e-5)
    print(f"dry run: the functions built for the CUDA backend ({f.report.backend}, notes: "
          f"{'; '.join(f.report.notes)}) and checked against NumPy; nothing was measured")


def markdown(doc: dict) -> str:
    lines = [f"# GPU benchmarks ({doc['device']})", "",
             f"Copy bandwidth (device to device, {doc['n']:.0e} float32): "
             f"{doc['copy']['GB/s']:.0f} GB/s", ""]
    chains = tuple((f"Fused chain {name}, float32, 8 bytes/element", f"chain {name}",
                    ("seconds", "GB/s", "of copy", "kernels", "max rel err"))
                   for name in CHAINS)
    for title, key, cols in (*chains,
                             (f"MLP training step, batch {doc['batch']}", "mlp",
                              ("seconds", "first cost", "cost rel err", "kernels",
                               "blas calls"))):
        lines += [f"## {title}", "", "| | " + " | ".join(cols) + " |",
                  "|---" * (len(cols) + 1) + "|"]
        for name, row in doc[key].items():
            if "skipped" in row:
                lines.append(f"| {name} | skipped: {row['skipped']} |")
                continue
            cells = [("%.3f ms" % (row[c] * 1e3)) if c == "seconds" else
                     ("%.3g" % row[c]) if isinstance(row.get(c), float) else str(row.get(c, ""))
                     for c in cols]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m eggflow.benchmarks.gpu", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=float, default=1e8, help="elements of the chain and the copy")
    ap.add_argument("--batch", type=int, default=1024, help="the MLP's batch size")
    ap.add_argument("--steps", type=int, default=50, help="timed MLP steps per loop")
    ap.add_argument("--out", default="bench-results/gpu")
    ap.add_argument("--dry-run", action="store_true", help="no GPU: build and check, no timing")
    args = ap.parse_args(argv)
    if args.dry_run:
        os.environ.setdefault(cuda_backend.DRY_RUN_ENV, "nvcc")
        dry_run()
        return 0
    ok, why = cuda_backend.available()
    if cuda_backend.dry_run():
        ok, why = False, f"{cuda_backend.DRY_RUN_ENV} is set (a dry run measures nothing)"
    if not ok:
        print(f"no GPU benchmarks: {why}", file=sys.stderr)
        return 2
    import pycuda.driver as drv

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cuda_backend.to_device(np.zeros(1))  # the context
    n = int(args.n)
    doc = {"device": drv.Context.get_device().name(), "n": n, "batch": args.batch,
           "python": platform.python_version(), "time": time.strftime("%Y-%m-%d %H:%M:%S")}
    doc["cublas"] = cuda_backend.cublas() is not None  # else dot runs on the host
    doc["copy"] = copy_bandwidth(n)
    print(f"copy: {doc['copy']['GB/s']:.0f} GB/s", flush=True)
    for name in CHAINS:
        doc[f"chain {name}"] = chain(name, n, doc["copy"]["GB/s"])
        print(name, json.dumps(doc[f"chain {name}"], indent=1), flush=True)
    doc["mlp"] = mlp(args.batch, args.steps)
    print(json.dumps(doc["mlp"], indent=1), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu.json").write_text(json.dumps(doc, indent=1))
    (out / "gpu.md").write_text(markdown(doc))
    print(markdown(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
