"""Vectorised transcendentals in generated C: workload W1 on 1e7 elements, float64 and float32.

    python -m benchmarks.vector_math [--n 10000000] [--repeat 7]

W1 is ``exp(-x**2/2)*sin(3*x) + log1p(x*x)`` (x uniform in [-5, 5]). Timed (best of
``--repeat``): NumPy (one ufunc per op), a plain scalar C loop (``-O3 -march=native``, glibc's
scalar exp/sin/log1p: they do not vectorise), and the loop built with
``eggflow.codegen.cmath`` (PRELUDE's libmvec declarations and FLAGS: SIMD calls) with one
OpenMP thread and with two, plus the same loop at 256-bit vectors (GCC's default for
``-march=native`` here) to show what ``-mprefer-vector-width=512`` in FLAGS buys. Also prints
each C result's max difference from NumPy's, in units of eps * (|exp(-x**2/2)*sin(3*x)| +
|log1p(x*x)|) (the sum cancels in places). Not a test: numbers only.
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from pathlib import Path

import numpy as np

from eggflow.codegen import cmath

BASE = ("-O3", "-march=native")


def _kernels(scalar: bool) -> tuple[str, str]:
    cdef, src = [], []
    for s, t, f in (("d", "double", ""), ("f", "float", "f")):
        # scalar build: plain <math.h>, explicit float names (no tgmath in that build)
        e, sn, l1 = (f"exp{f}", f"sin{f}", f"log1p{f}") if scalar else ("exp", "sin", "log1p")
        body = (f"{t} v = x[i]; o[i] = {e}(-v * v / 2) * {sn}(3 * v) + {l1}(v * v);")
        sig = f"void w1_{s}(const {t} *x, {t} *o, long n, int nt)"
        cdef.append(sig + ";")
        pragma = "" if scalar else "#pragma omp parallel for simd schedule(static) num_threads(nt)"
        src.append(sig.replace("*x", "*restrict x").replace("*o", "*restrict o") + " {\n"
                   + ("    (void)nt;\n" if scalar else "") + f"    {pragma}\n"
                   + f"    for (long i = 0; i < n; i++) {{ {body} }}\n}}")
    return "\n".join(cdef), "\n".join(src)


def build(name: str, tmp: Path, *, scalar: bool = False, extra=()):
    import cffi

    cdef, src = _kernels(scalar)
    ffi = cffi.FFI()
    ffi.cdef(cdef)
    if scalar:
        prelude, cflags, lflags = "#include <math.h>\n", [*BASE], ["-lm"]
    else:
        prelude = cmath.PRELUDE
        cflags = [*BASE, "-fopenmp", *cmath.FLAGS, *extra]
        lflags = ["-fopenmp", *cmath.LINK_FLAGS]
    ffi.set_source(name, prelude + src, extra_compile_args=cflags, extra_link_args=lflags)
    so = ffi.compile(tmpdir=str(tmp))
    spec = importlib.util.spec_from_file_location(name, so)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def max_err(out: np.ndarray, x: np.ndarray) -> float:
    """Max |out - NumPy's W1| in units of eps * (|exp(..)*sin(..)| + |log1p(..)|): the sum
    cancels in places, so ulps of the result itself would mean nothing."""
    xd = x.astype(np.float64)
    t1, t2 = np.exp(-xd ** 2 / 2) * np.sin(3 * xd), np.log1p(xd * xd)
    ref = (np.exp(-x ** 2 / 2) * np.sin(3 * x) + np.log1p(x * x)).astype(np.float64)
    scale = np.finfo(x.dtype).eps * (np.abs(t1) + np.abs(t2))
    return float(np.max(np.abs(out.astype(np.float64) - ref) / scale))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        mods = {"scalar C (-O3, glibc scalar)": build("_vm_scalar", tmp, scalar=True),
                "vector C 256-bit": build("_vm_vec256", tmp,
                                          extra=("-mprefer-vector-width=256",)),
                "vector C (cmath.FLAGS)": build("_vm_vec", tmp)}
        rng = np.random.default_rng(0)
        print(f"W1 = exp(-x**2/2)*sin(3*x) + log1p(x*x), n = {args.n:.0e}, best of {args.repeat}")
        for dt, s, ct in ((np.float64, "d", "double[]"), (np.float32, "f", "float[]")):
            x = rng.uniform(-5, 5, args.n).astype(dt)
            out = np.empty_like(x)

            def numpy_w1(x=x):
                return np.exp(-x ** 2 / 2) * np.sin(3 * x) + np.log1p(x * x)

            t_np = best(numpy_w1, args.repeat)
            print(f"\n{np.dtype(dt).name}:")
            print(f"  {'NumPy':34s} {t_np * 1e3:8.1f} ms")
            for label, mod in mods.items():
                px, po = mod.ffi.from_buffer(ct, x), mod.ffi.from_buffer(ct, out)
                fn = getattr(mod.lib, f"w1_{s}")
                threads = (1,) if label.startswith("scalar") else (1, 2)
                for nt in threads:
                    t = best(lambda fn=fn, px=px, po=po, nt=nt: fn(px, po, args.n, nt),
                             args.repeat)
                    name = label if label.startswith("scalar") else f"{label}, {nt} thr"
                    print(f"  {name:34s} {t * 1e3:8.1f} ms  ({t_np / t:4.1f}x NumPy)  "
                          f"err {max_err(out, x):.1f}")


if __name__ == "__main__":
    main()
