"""CUDA source for the kernels of a lowered program (codegen.lower), and an nvcc driver.

The same lowering as the C backend (``lower`` -> steps of kind ew / reduce / rowwise / blas /
numpy), the same inline bodies (``Body``: loads ``L0..``, statements ``const T vN = expr;``
built by ``c_emit.scalar_expr``, so every op's scalar semantics are shared with the C
backend), a second emitter. All kernels of one program go into ONE module (one nvcc call,
one cubin). Per step (``name`` = the step's C name, e.g. ``k3``):

- ``ew``: ``{name}(const {name}_args a)``: a grid-stride loop over the flattened output index,
  unravelled over at most :data:`MAXD` collapsed axes; ``a`` (a struct of int64 words, passed
  by value) holds ``n``, ``nd``, ``shape[MAXD]``, ``ptr[nops]`` (output first, then each load)
  and ``st[nops][MAXD]`` (strides in elements, 0 where an operand broadcasts). The fast path
  ``{name}_flat(n, out, load0, ...)``: every load contiguous with the output's shape (or one
  element, read once).
- ``reduce`` (sum, prod, max, min, all, any over any axis set): ``{name}(const {name}_args
  a)``, one block per output element (grid-stride over outputs): the threads walk the
  reduced index space with the fused body inline, then a block reduction (warp shuffles
  ``__shfl_down_sync``, one shared word per warp). ``{name}_thread``: one thread per output
  element (a serial loop): coalesced when the innermost axis is kept, or for short
  reductions. ``a`` holds ``nout, nred, ndo, ndr, oshape[MAXD], rshape[MAXD], ptr[nops],
  ost[nops][MAXD], rst[nops][MAXD]`` (the kept and the reduced axes, collapsed separately;
  the output's reduced strides are 0). float32 sums accumulate in float; max/min propagate
  NaN like NumPy.
- ``rowwise`` (softmax, log_softmax, logsumexp over an axis): the same argument struct, one
  block per row: a block max, a block sum of ``exp(x - max)``, then the output pass.

:data:`PRELUDE` has ``__device__`` versions of every ``ef_*`` helper ``scalar_expr`` may emit
(codegen.cmath.HELPERS), the reduction functors and the block reduction. Steps of kind
``numpy`` and ``blas`` get no kernel (the runtime runs them: host NumPy / cuBLAS).

:func:`nvcc_compile` compiles a module to a cubin (cached on disk by source hash under
``config.compiledir/cuda``). IEEE semantics as in the C backend: no fast math, and
``--fmad=false`` (no contraction of ``a*b + c``: NumPy rounds each operation).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile

import numpy as np

from .c_emit import CTYPES
from .cmath import SCALAR_HELPERS
from .lower import _identity, scalar_loads

MAXD = 8  # collapsed axes a general kernel handles (more: the runtime uses the reference)
BLOCK = 256  # threads per block of every kernel
REDUCE_OPS = ("sum", "prod", "max", "min", "all", "any")
ROWWISE_OPS = ("softmax", "log_softmax", "logsumexp")
NVCC_FLAGS = ("-O3", "-std=c++17", "--fmad=false", "-diag-suppress=177")

PRELUDE = (r"""/* ---- eggflow.codegen.cuda_emit PRELUDE ---- */
#ifndef EF_CUDA_PRELUDE_INCLUDED
#define EF_CUDA_PRELUDE_INCLUDED
#include <cstdint>
#include <math.h>
#define EF_MAXD @MAXD@
#define EF_BLOCK @BLOCK@
#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)
#endif
#ifndef NAN
#define NAN __int_as_float(0x7fffffff)
#endif

/* The scalar helpers of codegen/cmath.py (one text for C and CUDA), as device functions. */
#define EF_INLINE static __device__ __forceinline__
#define EF_ISLESS(a, b) ((a) < (b))
#define EF_ISGREATER(a, b) ((a) > (b))
""" + SCALAR_HELPERS + r"""

/* The op table's clip, fmin(fmax(a, b), c) (used for bool), calls C's <tgmath.h> fmin/fmax:
   the double function when an argument is an integer. Kernels call these ef_fmin/ef_fmax
   (emit_step renames the calls), since <cmath>'s integer templates are host-only. */
template <class A, class B> static __device__ __forceinline__ double ef_fmax(A a, B b) {
    return fmax((double)a, (double)b); }
template <class A, class B> static __device__ __forceinline__ double ef_fmin(A a, B b) {
    return fmin((double)a, (double)b); }
static __device__ __forceinline__ float ef_fmax(float a, float b) { return fmaxf(a, b); }
static __device__ __forceinline__ float ef_fmin(float a, float b) { return fminf(a, b); }

/* Reductions: combine functors (max/min NaN-propagating, as numpy.max), warp shuffles for
   every accumulator type (8/16-bit ones through int), a block reduction whose result every
   thread of the block gets. */
struct ef_op_sum { template <class T> __device__ T operator()(T a, T b) const {
    return (T)(a + b); } };
struct ef_op_prod { template <class T> __device__ T operator()(T a, T b) const {
    return (T)(a * b); } };
struct ef_op_max { template <class T> __device__ T operator()(T a, T b) const {
    return (b > a || b != b) ? b : a; } };
struct ef_op_min { template <class T> __device__ T operator()(T a, T b) const {
    return (b < a || b != b) ? b : a; } };
struct ef_op_all { template <class T> __device__ T operator()(T a, T b) const {
    return (T)(a && b); } };
struct ef_op_any { template <class T> __device__ T operator()(T a, T b) const {
    return (T)(a || b); } };

template <class T> __device__ __forceinline__ T ef_shfl_down(T v, int d) {
    return __shfl_down_sync(0xffffffffu, v, d);
}
#define EF_SHFL_VIA_INT(T) \
template <> __device__ __forceinline__ T ef_shfl_down<T>(T v, int d) { \
    return (T)__shfl_down_sync(0xffffffffu, (int)v, d); }
EF_SHFL_VIA_INT(int8_t)
EF_SHFL_VIA_INT(uint8_t)
EF_SHFL_VIA_INT(int16_t)
EF_SHFL_VIA_INT(uint16_t)

/* Every thread of the block calls it (blockDim.x a multiple of 32, at most 32 warps). */
template <class T, class F>
__device__ __forceinline__ T ef_block_reduce(T v, F f, T ident, T *smem) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int nwarps = (blockDim.x + 31) >> 5;
    for (int d = 16; d > 0; d >>= 1) v = f(v, ef_shfl_down(v, d));
    if (lane == 0) smem[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < nwarps ? smem[lane] : ident;
        for (int d = 16; d > 0; d >>= 1) v = f(v, ef_shfl_down(v, d));
        if (lane == 0) smem[0] = v;
    }
    __syncthreads();
    v = smem[0];
    __syncthreads();  /* smem may be reused right after */
    return v;
}
#endif /* EF_CUDA_PRELUDE_INCLUDED */
/* ---- end PRELUDE ---- */
""").replace("@MAXD@", str(MAXD)).replace("@BLOCK@", str(BLOCK))


# -- argument structs: every field an int64 word (the runtime packs them the same way) ----------
def ew_words(nops: int) -> int:
    """Words of an elementwise kernel's argument struct."""
    return 2 + MAXD + nops + nops * MAXD


def red_words(nops: int) -> int:
    """Words of a reduction / row-wise kernel's argument struct."""
    return 4 + 2 * MAXD + nops + 2 * nops * MAXD


def pack_ew(n, shape, ptrs, strides) -> np.ndarray:
    """The int64 words of ``{name}_args`` for an elementwise kernel."""
    nops = len(ptrs)
    w = np.zeros(ew_words(nops), np.int64)
    w[0], w[1] = n, len(shape)
    w[2: 2 + len(shape)] = shape
    base = 2 + MAXD
    w[base: base + nops] = np.array([int(p) for p in ptrs], np.uint64).view(np.int64)
    base += nops
    for k, s in enumerate(strides):
        w[base + k * MAXD: base + k * MAXD + len(s)] = s
    return w


def pack_red(nout, nred, oshape, rshape, ptrs, ostrides, rstrides) -> np.ndarray:
    """The int64 words of ``{name}_args`` for a reduction / row-wise kernel."""
    nops = len(ptrs)
    w = np.zeros(red_words(nops), np.int64)
    w[0], w[1], w[2], w[3] = nout, nred, len(oshape), len(rshape)
    w[4: 4 + len(oshape)] = oshape
    w[4 + MAXD: 4 + MAXD + len(rshape)] = rshape
    base = 4 + 2 * MAXD
    w[base: base + nops] = np.array([int(p) for p in ptrs], np.uint64).view(np.int64)
    base += nops
    for k, (os_, rs) in enumerate(zip(ostrides, rstrides)):
        w[base + k * MAXD: base + k * MAXD + len(os_)] = os_
        b2 = base + nops * MAXD + k * MAXD
        w[b2: b2 + len(rs)] = rs
    return w


# -- kernel source -------------------------------------------------------------------------------
def _ptr_decls(body, out_c: str, src: str = "a.ptr") -> str:
    lines = [f"{out_c} *P0 = ({out_c} *){src}[0];"]
    for k, t in enumerate(body.loads):
        c = CTYPES[t.dtype]
        lines.append(f"const {c} *P{k + 1} = (const {c} *){src}[{k + 1}];")
    return " ".join(lines)


def _unravel(var: str, nd: str, shape: str, st: str, offs: list, nops: int) -> str:
    """Add the offsets of flat index ``var`` (over ``nd`` axes of ``shape``) to ``offs``."""
    adds = " ".join(f"{offs[k]} += ix * {st}[{k}][d];" for k in range(nops))
    return (f"{{ int64_t rem = {var}; for (int d = (int){nd} - 1; d >= 0; d--) {{ "
            f"int64_t ix = rem % {shape}[d]; rem /= {shape}[d]; {adds} }} }}")


def _loads(body, offs: list, first: int = 1) -> str:
    return " ".join(f"const {CTYPES[t.dtype]} L{k} = P{k + 1}[{offs[k + first]}];"
                    for k, t in enumerate(body.loads))


def _struct_ew(name: str, nops: int) -> str:
    return (f"struct {name}_args {{ int64_t n, nd; int64_t shape[EF_MAXD]; "
            f"int64_t ptr[{nops}]; int64_t st[{nops}][EF_MAXD]; }};")


def _struct_red(name: str, nops: int) -> str:
    return (f"struct {name}_args {{ int64_t nout, nred, ndo, ndr; int64_t oshape[EF_MAXD]; "
            f"int64_t rshape[EF_MAXD]; int64_t ptr[{nops}]; int64_t ost[{nops}][EF_MAXD]; "
            f"int64_t rst[{nops}][EF_MAXD]; }};")


GRID_LOOP = ("for (int64_t ef_i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; ef_i < {n}; "
             "ef_i += (int64_t)gridDim.x * blockDim.x)")


def emit_elementwise(name: str, body) -> str:
    out_c = CTYPES[body.dtype]
    nops = len(body.loads) + 1
    code = " ".join(body.lines)
    offs = [f"ef_o{k}" for k in range(nops)]
    scalar = scalar_loads(body)
    params = ", ".join([f"{out_c} *P0"] + [f"const {CTYPES[t.dtype]} *P{k + 1}"
                                          for k, t in enumerate(body.loads)])
    hoisted = " ".join(f"const {CTYPES[t.dtype]} L{k} = P{k + 1}[0];"
                       for k, t in enumerate(body.loads) if scalar[k])
    flat_loads = " ".join(f"const {CTYPES[t.dtype]} L{k} = P{k + 1}[ef_i];"
                          for k, t in enumerate(body.loads) if not scalar[k])
    return f"""
{_struct_ew(name, nops)}
extern "C" __global__ void __launch_bounds__(EF_BLOCK) {name}(const {name}_args a) {{
    {_ptr_decls(body, out_c)}
    {GRID_LOOP.format(n="a.n")} {{
        int64_t {", ".join(f"{o} = 0" for o in offs)};
        {_unravel("ef_i", "a.nd", "a.shape", "a.st", offs, nops)}
        {_loads(body, offs)}
        {code}
        P0[ef_o0] = {body.result};
    }}
}}
extern "C" __global__ void __launch_bounds__(EF_BLOCK) {name}_flat(int64_t n, {params}) {{
    {hoisted}
    {GRID_LOOP.format(n="n")} {{
        {flat_loads} {code}
        P0[ef_i] = {body.result};
    }}
}}
"""


def _acc_type(op: str, out_dtype: str) -> str:
    return "int" if op in ("all", "any") else CTYPES[out_dtype]


def _value(op: str, body, acc_c: str) -> str:
    if op in ("all", "any"):
        return f"(int)(({body.result}) != 0)"
    return f"(({acc_c})({body.result}))"


def _red_prologue(body, nops: int, out_c: str) -> str:
    """Base offsets of output element ``ef_out`` (kept axes) for every operand."""
    base = [f"ef_b{k}" for k in range(nops)]
    return (f"int64_t {', '.join(f'{b} = 0' for b in base)};\n        "
            + _unravel("ef_out", "a.ndo", "a.oshape", "a.ost", base, nops))


def _red_offsets(nops: int) -> str:
    """Offsets of reduced element ``ef_r`` of the current output element."""
    offs = [f"ef_o{k}" for k in range(nops)]
    return (f"int64_t {', '.join(f'ef_o{k} = ef_b{k}' for k in range(nops))}; "
            + _unravel("ef_r", "a.ndr", "a.rshape", "a.rst", offs, nops))


def _block_per_output(name: str, body, nops: int, out_c: str, smem_c: str, each: str) -> str:
    """A reduction-shaped kernel: one block per output element (grid-stride over them), with
    ``ef_b*`` the element's base offsets and ``ef_smem`` for ef_block_reduce; ``each`` is the
    code for one output element (its lines indented by 8)."""
    return f"""
{_struct_red(name, nops)}
extern "C" __global__ void __launch_bounds__(EF_BLOCK) {name}(const {name}_args a) {{
    __shared__ {smem_c} ef_smem[EF_BLOCK / 32];
    {_ptr_decls(body, out_c)}
    for (int64_t ef_out = blockIdx.x; ef_out < a.nout; ef_out += gridDim.x) {{
        {_red_prologue(body, nops, out_c)}
{each}
    }}
}}
"""


def emit_reduce(name: str, body, op: str, out_dtype: str) -> str:
    out_c = CTYPES[out_dtype]
    acc_c = _acc_type(op, out_dtype)
    nops = len(body.loads) + 1
    code = " ".join(body.lines)
    offs = [f"ef_o{k}" for k in range(nops)]
    ident = _identity(op, out_dtype)
    v = _value(op, body, acc_c)
    step = (f"{_red_offsets(nops)} {_loads(body, offs)} {code} "
            f"ef_acc = ef_op_{op}()(ef_acc, {v});")
    block = _block_per_output(name, body, nops, out_c, acc_c, f"""\
        {acc_c} ef_acc = ({acc_c})({ident});
        for (int64_t ef_r = threadIdx.x; ef_r < a.nred; ef_r += blockDim.x) {{
            {step}
        }}
        ef_acc = ef_block_reduce(ef_acc, ef_op_{op}(), ({acc_c})({ident}), ef_smem);
        if (threadIdx.x == 0) P0[ef_b0] = ({out_c})ef_acc;""")
    return block + f"""\
extern "C" __global__ void __launch_bounds__(EF_BLOCK) {name}_thread(const {name}_args a) {{
    {_ptr_decls(body, out_c)}
    {GRID_LOOP.format(n="a.nout")} {{
        const int64_t ef_out = ef_i;
        {_red_prologue(body, nops, out_c)}
        {acc_c} ef_acc = ({acc_c})({ident});
        for (int64_t ef_r = 0; ef_r < a.nred; ef_r++) {{
            {step}
        }}
        P0[ef_b0] = ({out_c})ef_acc;
    }}
}}
"""


def emit_rowwise(name: str, body, op: str, out_dtype: str) -> str:
    """softmax / log_softmax / logsumexp over the reduced axes, one block per row."""
    out_c = CTYPES[out_dtype]
    nops = len(body.loads) + 1
    code = " ".join(body.lines)
    offs = [f"ef_o{k}" for k in range(nops)]
    v = f"(({out_c})({body.result}))"
    f = "f" if out_dtype == "float32" else ""
    each = f"{_red_offsets(nops)} {_loads(body, offs)} {code} const {out_c} ef_x = {v};"
    loop = "for (int64_t ef_r = threadIdx.x; ef_r < a.nred; ef_r += blockDim.x)"
    guard = "" if op == "softmax" else "if (!isfinite(ef_m)) ef_m = 0;"
    if op == "logsumexp":
        final = f"if (threadIdx.x == 0) P0[ef_b0] = ({out_c})(ef_m + log{f}(ef_s));"
    elif op == "softmax":
        final = f"{loop} {{ {each} P0[ef_o0] = ({out_c})(exp{f}(ef_x - ef_m) / ef_s); }}"
    else:
        final = (f"const {out_c} ef_ls = log{f}(ef_s); {loop} {{ {each} "
                 f"P0[ef_o0] = ({out_c})((ef_x - ef_m) - ef_ls); }}")
    return _block_per_output(name, body, nops, out_c, out_c, f"""\
        {out_c} ef_m = -INFINITY;
        {loop} {{ {each} ef_m = ef_op_max()(ef_m, ef_x); }}
        ef_m = ef_block_reduce(ef_m, ef_op_max(), ({out_c})-INFINITY, ef_smem);
        {guard}
        {out_c} ef_s = 0;
        {loop} {{ {each} ef_s += exp{f}(ef_x - ef_m); }}
        ef_s = ef_block_reduce(ef_s, ef_op_sum(), ({out_c})0, ef_smem);
        {final}""")


def emit_step(step, name: str | None = None) -> str:
    """The CUDA source of one lowered step ('' for steps the runtime runs itself)."""
    name = name or step.name
    if step.kind == "ew":
        src = emit_elementwise(name, step.body)
    elif step.kind == "reduce":
        src = emit_reduce(name, step.body, step.info["op"], step.node.dtype)
    elif step.kind == "rowwise":
        src = emit_rowwise(name, step.body, step.info["op"], step.node.dtype)
    else:
        return ""
    return _FMINMAX.sub(r"ef_\1(", src)


_FMINMAX = re.compile(r"(?<![\w.])(fmin|fmax)\(")


def kernel_steps(program) -> list:
    return [s for s in program.steps if s.kind in ("ew", "reduce", "rowwise") and s.name]


_PLACEHOLDER = "EF_KERNEL_NAME"


def _unique_kernels(program, prefix: str = ""):
    """(source of each distinct kernel, {step name: kernel name}): steps whose kernels are
    identical but for the name (the same body and op over other axes: the axes are launch
    arguments) share the first one's (nvcc's time grows with the number of kernels)."""
    names, first, parts = {}, {}, []
    for s in kernel_steps(program):
        text = emit_step(s, _PLACEHOLDER)
        if text not in first:
            first[text] = prefix + s.name
            parts.append(re.sub(rf"\b{_PLACEHOLDER}", first[text], text))
        names[s.name] = first[text]
    return parts, names


def kernel_names(program, prefix: str = "") -> dict:
    """{step name: the name of its kernel in ``emit_module(program, prefix)``}."""
    return _unique_kernels(program, prefix)[1]


def emit_module(program, prefix: str = "") -> str:
    """One CUDA source with every kernel of ``program`` (see :func:`kernel_names`; a prefix
    lets several programs share one module: the prelude is include-guarded)."""
    return PRELUDE + "".join(_unique_kernels(program, prefix)[0])


# -- nvcc ----------------------------------------------------------------------------------------
class NvccError(RuntimeError):
    """nvcc failed (the message ends with the tail of its output)."""


def nvcc_path() -> str | None:
    found = shutil.which("nvcc")
    if found:
        return found
    default = "/usr/local/cuda/bin/nvcc"
    return default if os.path.exists(default) else None


def _cache_dir() -> str:
    from eggflow.frontend.config import config

    return os.path.join(config.compiledir, "cuda")


_VERSIONS: dict = {}


def nvcc_version(nvcc: str) -> str:
    """``nvcc --version``'s text (per path and modification time): the same compiler gives the
    same cubins on every machine, so a cache filled elsewhere is used (make device-bundle)."""
    st = os.stat(nvcc)
    key = (nvcc, st.st_size, st.st_mtime_ns)
    if key not in _VERSIONS:
        out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=60)
        _VERSIONS[key] = out.stdout.strip() or f"{nvcc} {st.st_size} {st.st_mtime_ns}"
    return _VERSIONS[key]


def nvcc_compile(source: str, arch: str = "sm_90", flags=NVCC_FLAGS, timeout=600) -> bytes:
    """The cubin of ``source`` for ``arch``, cached on disk by (source, arch, flags, nvcc's
    version)."""
    nvcc = nvcc_path()
    if nvcc is None:
        raise NvccError("nvcc not found (install the CUDA toolkit, or put nvcc on PATH)")
    key = hashlib.sha256("\0".join(
        [source, arch, " ".join(flags), nvcc_version(nvcc)]).encode()).hexdigest()
    cache = _cache_dir()
    path = os.path.join(cache, f"{key}.cubin")
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        pass
    os.makedirs(cache, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        src = os.path.join(tmp, "module.cu")
        out = os.path.join(tmp, "module.cubin")
        with open(src, "w") as fh:
            fh.write(source)
        cmd = [nvcc, "-cubin", f"-arch={arch}", *flags, "-o", out, src]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            tail = (proc.stderr + proc.stdout)[-4000:]
            raise NvccError(f"nvcc failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")
        with open(out, "rb") as fh:
            cubin = fh.read()
        os.replace(out, path)  # atomic: parallel processes agree on the content
    return cubin
