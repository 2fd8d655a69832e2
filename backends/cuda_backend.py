"""The CUDA backend: runs a lowered program (codegen.lower) with kernels from codegen.cuda_emit.

``make_thunk(inputs, outputs, mode, updates)`` lowers the graph exactly as the C backend does,
emits ONE CUDA module for all its kernels, compiles it with nvcc to a cubin (cached on disk),
loads it with pycuda and returns a callable ``values -> outputs``:

- inputs may be NumPy arrays / scalars (copied to the device when a kernel reads them) or
  ``pycuda.gpuarray.GPUArray`` (used in place, any strides);
- ``ew`` / ``reduce`` / ``rowwise`` steps launch their kernels on device arrays (the same
  shape rules as the C backend: NumPy broadcasting with eggflow's strict static-1 rule, axes
  collapsed where every operand is contiguous; more than ``cuda_emit.MAXD`` axes after
  collapsing, or an empty max/min, run the reference on the host);
- ``blas`` steps: dot / gemm / gemv / ger through cuBLAS (cffi bindings to ``libcublas.so``)
  on float32/float64 when it loads and the operands are C- or F-contiguous; otherwise the
  reference on the host;
- ``numpy`` steps run the reference implementation on the host (device operands are copied
  back); ``dimshuffle`` of a device array is a device view (strides only).
- outputs come back as NumPy arrays, except the output indices in ``thunk.device_outputs``
  (a set; ``True`` for all), which stay ``GPUArray``s. ``function`` puts its update outputs
  there (shared variables live on the device: ``SharedVariable.place_on_device(to_device)``)
  and its outputs too when ``f.outputs_on_device`` is set.

Every kernel computes into a fresh device buffer (no inplace / commit-in-storage on the GPU:
the lowering's ``destroy`` and ``commit`` marks are ignored; commit steps are already last).

pycuda is imported lazily (inside functions), never when this module is imported, so the
package works without it; ``available()`` says whether this backend can run and why not.
"""

from __future__ import annotations

import math
import os

import numpy as np

from eggflow.codegen import cuda_emit
from eggflow.codegen.cuda_emit import BLOCK, MAXD, emit_module, nvcc_compile, nvcc_path
from eggflow.codegen.lower import lower, scalar_loads
from eggflow.frontend.evaluate import EvaluationError, describe, run_step, run_subgraph, slots
from eggflow.frontend.graph import is_device_array

from .layout import StepRunners, aligned_strides, broadcast_checks, check_broadcast, collapse

_STATE: dict = {}
_MODULES: dict = {}


class CudaUnavailable(RuntimeError):
    """The CUDA backend cannot run here (the message says why)."""


# -- the dry run ----------------------------------------------------------------------------------
DRY_RUN_ENV = "EGGFLOW_CUDA_DRY_RUN"


def dry_run() -> bool:
    """``EGGFLOW_CUDA_DRY_RUN=1`` (or ``=nvcc``): the CUDA backend without a GPU. Functions are
    optimized for it (GPU cost model, graphs stored in the disk cache), lowered and emitted as
    for the GPU (``=nvcc`` also compiles each module with nvcc, warming its cache); shared
    variables and device arguments are :class:`HostDeviceArray`s; the values come from the
    reference executor on the host (:class:`HostThunk`). It prepares a cache to carry to a GPU
    machine without egglog, and tests everything around the kernels; it tests no kernel."""
    return os.environ.get(DRY_RUN_ENV, "") in ("1", "nvcc")


class HostDeviceArray:
    """The dry run's device array: a host array behind the part of pycuda's GPUArray
    interface eggflow uses (``gpudata``, ``get``, ``copy``, ``astype``, ``shape``, ...)."""

    def __init__(self, host: np.ndarray, base=None):
        self._host, self.base = host, base
        self.gpudata = id(host)

    shape = property(lambda self: self._host.shape)
    dtype = property(lambda self: self._host.dtype)
    ndim = property(lambda self: self._host.ndim)
    size = property(lambda self: self._host.size)

    def get(self) -> np.ndarray:
        return self._host.copy()

    def copy(self) -> HostDeviceArray:
        return HostDeviceArray(self._host.copy())

    def astype(self, dtype) -> HostDeviceArray:
        return HostDeviceArray(self._host.astype(dtype))

    def __repr__(self):
        return f"HostDeviceArray({self._host!r})"


class HostThunk:
    """The reference executor on host copies of device values; outputs in
    ``device_outputs`` are uploaded (``to_device``), as CudaThunk's stay on the device. Runs
    programs without a kernel, and every program in a dry run."""

    fresh = False

    def __init__(self, host_thunk, program, source=""):
        self.host, self.program, self.source = host_thunk, program, source
        self.device_outputs: set | bool = set()

    def __call__(self, values):
        results = self.host([_host(v) for v in values])
        keep = self.device_outputs
        return [to_device(np.asarray(r)) if keep is True or k in keep else r
                for k, r in enumerate(results)]


def available() -> tuple[bool, str]:
    """(True, '') when pycuda, nvcc, a CUDA driver and a device are all there (or in a dry
    run); else (False, the reason). Cached for the process."""
    if dry_run():
        return True, ""
    if "available" in _STATE:
        return _STATE["available"]
    import importlib.util

    if importlib.util.find_spec("pycuda") is None:
        result = (False, "pycuda is not installed (pip install -e .[cuda])")
    elif nvcc_path() is None:
        result = (False, "nvcc not found (install the CUDA toolkit: /usr/local/cuda/bin/nvcc)")
    else:
        try:
            import pycuda.driver as drv
        except ImportError as exc:
            result = (False, f"no CUDA driver (libcuda.so.1) found: {exc}")
        else:
            try:
                drv.init()
                count = drv.Device.count()
            except Exception as exc:  # a stub libcuda, a broken driver ...
                result = (False, f"the CUDA driver did not initialise: {exc}")
            else:
                result = (True, "") if count else (False, "no CUDA device found")
    _STATE["available"] = result
    return result


def _context():
    """Make the device's primary context current (shared with the CUDA runtime: cuBLAS, CuPy,
    PyTorch); returns pycuda.driver."""
    ok, why = available()
    if not ok:
        raise CudaUnavailable(f"the CUDA backend cannot run: {why}")
    import pycuda.driver as drv

    if "ctx" not in _STATE:
        try:
            import pycuda.autoprimaryctx  # noqa: F401
        except ImportError:  # older pycuda
            import pycuda.autoinit  # noqa: F401
        from pycuda.tools import DeviceMemoryPool

        dev = drv.Context.get_device()
        _STATE["alloc"] = DeviceMemoryPool().allocate
        _STATE["ctx"] = True
        _STATE["sms"] = dev.get_attribute(drv.device_attribute.MULTIPROCESSOR_COUNT)
        major, minor = dev.compute_capability()
        _STATE["arch"] = f"sm_{major}{minor}"
    return drv


def load_module(source: str):
    """The pycuda module of ``source`` (compiled for this device's architecture)."""
    drv = _context()
    key = (source, _STATE["arch"])
    if key not in _MODULES:
        _MODULES[key] = drv.module_from_buffer(nvcc_compile(source, arch=_STATE["arch"]))
    return _MODULES[key]


# -- cuBLAS (optional) ---------------------------------------------------------------------------
CUBLAS_CDEF = """
typedef void *cublasHandle_t;
int cublasCreate_v2(cublasHandle_t *handle);
int cublasSgemm_v2(cublasHandle_t, int, int, int, int, int, const float *, const void *, int,
                   const void *, int, const float *, void *, int);
int cublasDgemm_v2(cublasHandle_t, int, int, int, int, int, const double *, const void *, int,
                   const void *, int, const double *, void *, int);
int cublasSger_v2(cublasHandle_t, int, int, const float *, const void *, int, const void *, int,
                  void *, int);
int cublasDger_v2(cublasHandle_t, int, int, const double *, const void *, int, const void *, int,
                  void *, int);
"""
CUBLAS_OP_N, CUBLAS_OP_T = 0, 1


def _cublas_candidates() -> list[str]:
    """Where libcublas may be: the loader's path, the toolkit of the nvcc we use (its lib64 is
    often not in ld.so's cache), NVIDIA's pip package (nvidia-cublas, PyTorch's)."""
    import glob
    import importlib.util

    names = ["libcublas.so", "libcublas.so.13", "libcublas.so.12", "libcublas.so.11"]
    dirs = []
    nvcc = nvcc_path()
    if nvcc:
        root = os.path.dirname(os.path.dirname(os.path.realpath(nvcc)))
        dirs += [os.path.join(root, "lib64"), os.path.join(root, "lib")]
    spec = importlib.util.find_spec("nvidia")
    for base in (spec.submodule_search_locations or []) if spec else []:
        dirs += [os.path.join(base, "cublas", "lib"), os.path.join(base, "cu13", "lib")]
    found = [f for d in dirs for n in names for f in sorted(glob.glob(os.path.join(d, n)))]
    return names + found


def cublas():
    """(ffi, lib, handle) of libcublas, or None when it does not load (host dot then)."""
    if "cublas" not in _STATE:
        _STATE["cublas"] = None
        try:
            import cffi

            ffi = cffi.FFI()
            ffi.cdef(CUBLAS_CDEF)
            lib = None
            for name in _cublas_candidates():
                try:
                    lib = ffi.dlopen(name)
                    break
                except OSError:
                    continue
            if lib is not None:
                _context()
                handle = ffi.new("cublasHandle_t *")
                if lib.cublasCreate_v2(handle) == 0:
                    _STATE["cublas"] = (ffi, lib, handle[0])
        except (ImportError, OSError):
            pass
    return _STATE["cublas"]


# -- helpers --------------------------------------------------------------------------------------
def _gpuarray():
    import pycuda.gpuarray as gpuarray

    return gpuarray


def _dev(v, dtype):
    """``v`` as a device array of ``dtype`` (uploads host values)."""
    dtype = np.dtype(dtype)
    if is_device_array(v):
        if v.dtype == dtype:
            return v
        if v.size and v.flags.c_contiguous:
            return v.astype(dtype)
        # pycuda's astype refuses empty and non-contiguous arrays, and casts an F-ordered
        # one as if it were C-ordered (a flat copy into C strides): cast on the host
        return to_device(v.get().astype(dtype))
    return to_device(np.asarray(v, dtype=dtype))


def to_device(array):
    """A device copy of the host array ``array`` (C-contiguous, same shape: NumPy's
    ascontiguousarray would make a 0-d array 1-d)."""
    if dry_run():
        return HostDeviceArray(np.array(array, order="C"))
    _context()
    return _gpuarray().to_gpu(np.array(array, order="C", copy=None), allocator=_STATE["alloc"])


def _empty(shape, dtype):
    """A new device array from the memory pool (cuMemAlloc per result would cost more than
    most kernels: freed buffers are kept for the next call)."""
    return _gpuarray().empty(shape, dtype, allocator=_STATE["alloc"])


def _host(v):
    return v.get() if is_device_array(v) else v


def _ptr(a) -> int:
    return int(a.gpudata) if a.size else 0


def _contig_strides(shape):
    out, acc = [], 1
    for n in reversed(shape):
        out.append(acc)
        acc *= max(n, 1)
    return out[::-1]


def _as_void(words: np.ndarray):
    return words.view(np.dtype((np.void, words.nbytes)))[0]


class CudaThunk(StepRunners):
    def __init__(self, inputs, outputs, program, module, updates=()):
        self.program, self.module = program, module
        self.device_outputs: set | bool = set()
        self.update_outputs = tuple(o for o, _ in updates)
        self.fresh = False
        self.sms = _STATE.get("sms", 80)
        self.names = cuda_emit.kernel_names(program)  # identical kernels are shared
        self._const_slots = dict(program.constants)
        self._const_dev: dict = {}
        self.runners = [self._runner(s) for s in program.steps]

    def __call__(self, values):
        p = self.program
        mem = slots(p, values)
        for run, step in zip(self.runners, p.steps):
            mem[step.out] = run(mem)
            for s in step.free:
                mem[s] = None
        keep = self.device_outputs
        return [mem[s] if (keep is True or k in keep) and is_device_array(mem[s]) else
                np.asarray(_host(mem[s])) for k, s in enumerate(p.outputs)]

    def _grid(self, n):
        return (max(1, min(-(-n // BLOCK), self.sms * 32)), 1, 1)

    # -- runners (StepRunners._runner picks one per step) ---------------------------------------

    def _numpy(self, step):
        node, args = step.node, step.args
        if node.op == "dimshuffle":
            pattern = node.attrs["pattern"]

            def view(mem):
                x = mem[args[0]]
                if not is_device_array(x) or x.size == 0 or any(  # (empty: no gpudata)
                        x.shape[a] != 1 for a in range(len(x.shape)) if a not in pattern):
                    return run_step(node, [_host(x)])
                shape = tuple(1 if p == "x" else x.shape[p] for p in pattern)
                strides = tuple(0 if p == "x" else x.strides[p] for p in pattern)
                return _gpuarray().GPUArray(shape, x.dtype, gpudata=x.gpudata, strides=strides,
                                            base=x)
            return view
        return lambda mem: run_step(node, [_host(mem[a]) for a in args])

    def _reference(self, step):
        """The step's value by the reference implementations (host), from its loads' values."""
        loads, root = list(step.body.loads), step.node

        def run(arrays):
            return run_subgraph(root, dict(zip(loads, [_host(a) for a in arrays])))

        return run

    def _arrays(self, step, mem):
        """The step's loads as device arrays of their dtypes. Constants are uploaded once per
        thunk; a host array of the right dtype once per call (its slot then holds the device
        copy)."""
        out = []
        for a, t in zip(step.args, step.body.loads):
            if a in self._const_slots:
                key = (a, t.dtype)
                if key not in self._const_dev:
                    self._const_dev[key] = _dev(self._const_slots[a], t.dtype)
                out.append(self._const_dev[key])
                continue
            v = mem[a]
            d = _dev(v, t.dtype)
            if isinstance(v, np.ndarray) and v.dtype == d.dtype:
                mem[a] = d
            out.append(d)
        return out

    def _elementwise(self, step, fallback):
        kname = self.names[step.name]
        fn = self.module.get_function(kname)
        flat = self.module.get_function(kname + "_flat")
        node = step.node
        dtype, ndim = np.dtype(node.dtype), node.ndim
        scalar = scalar_loads(step.body)
        full = [k for k, sc in enumerate(scalar) if not sc]
        loads = step.body.loads

        def run(mem):
            arrays = self._arrays(step, mem)
            if arrays and len(arrays[full[0] if full else 0].shape) == ndim:
                shape = arrays[full[0] if full else 0].shape
                if all(arrays[k].shape == shape and arrays[k].flags.c_contiguous for k in full):
                    out = _empty(shape, dtype)
                    if out.size:
                        flat(np.int64(out.size), np.uintp(_ptr(out)),
                             *[np.uintp(_ptr(a)) for a in arrays],
                             block=(BLOCK, 1, 1), grid=self._grid(out.size))
                    return out
            try:
                shape = np.broadcast_shapes(*(a.shape for a in arrays)) if arrays else ()
            except ValueError as exc:
                raise EvaluationError(f"{describe(node)} failed ({exc}); inputs " + ", ".join(
                    f"{describe(t)}: shape {a.shape}" for t, a in zip(loads, arrays))) from None
            shape = (1,) * (ndim - len(shape)) + tuple(shape)
            check_broadcast(node, loads, arrays, broadcast_checks(loads), shape)
            out = _empty(shape, dtype)
            if out.size == 0:
                return out.get()
            strides = [_contig_strides(shape)] + [aligned_strides(a, ndim, shape) for a in arrays]
            cshape, cstrides = collapse(shape, strides) if ndim else ([], [[]] * len(strides))
            if len(cshape) > MAXD:
                return fallback(arrays)
            words = cuda_emit.pack_ew(out.size, cshape, [_ptr(out)] + [_ptr(a) for a in arrays],
                                      cstrides)
            fn(_as_void(words), block=(BLOCK, 1, 1), grid=self._grid(out.size))
            return out

        return run

    def _reduction(self, step, fallback):
        kname = self.names[step.name]
        fn = self.module.get_function(kname)
        reduce = step.kind == "reduce"
        fn_thread = self.module.get_function(kname + "_thread") if reduce else None
        node, info = step.node, step.info
        dtype, ndim, axes, op = np.dtype(node.dtype), info["ndim"], info["axes"], info["op"]
        kept = [d for d in range(ndim) if d not in axes]
        loads = step.body.loads
        keep_out = op in ("softmax", "log_softmax")

        def run(mem):
            arrays = self._arrays(step, mem)
            try:
                shape = np.broadcast_shapes(*(a.shape for a in arrays))
            except ValueError:
                return fallback(arrays)
            shape = (1,) * (ndim - len(shape)) + tuple(shape)
            check_broadcast(node, loads, arrays, broadcast_checks(loads), shape)
            nred = math.prod(shape[d] for d in axes)
            out_shape = shape if keep_out else tuple(shape[d] for d in kept)
            nout = math.prod(shape[d] for d in kept)
            if (nred == 0 and (op in ("max", "min") or not reduce)) or nout == 0:
                return fallback(arrays)  # NumPy's error or an empty result
            out = _empty(out_shape, dtype)
            full = shape if keep_out else tuple(1 if d in axes else shape[d] for d in range(ndim))
            ostr = _contig_strides(full)
            if not keep_out:
                ostr = [0 if d in axes else s for d, s in enumerate(ostr)]
            strides = [ostr] + [aligned_strides(a, ndim, shape) for a in arrays]
            oshape, ost = collapse([shape[d] for d in kept], [[s[d] for d in kept]
                                                                for s in strides])
            rshape, rst = collapse([shape[d] for d in axes], [[s[d] for d in axes]
                                                                for s in strides])
            if len(oshape) > MAXD or len(rshape) > MAXD:
                return fallback(arrays)
            words = cuda_emit.pack_red(nout, nred, oshape, rshape,
                                       [_ptr(out)] + [_ptr(a) for a in arrays], ost, rst)
            # one thread per output where that reads coalesced (innermost axis kept) or the
            # reductions are short; else one block per output
            inner_kept = bool(oshape) and any(s[-1] == 1 for s in ost[1:]) and (
                not rshape or all(abs(r[-1]) != 1 for r in rst[1:]))
            if reduce and (nred <= 32 or (inner_kept and nout >= 1024)):
                fn_thread(_as_void(words), block=(BLOCK, 1, 1), grid=self._grid(nout))
            else:
                fn(_as_void(words), block=(BLOCK, 1, 1), grid=(min(nout, 1 << 20), 1, 1))
            return out

        return run

    def _blas(self, step):
        node = step.node
        op = node.op.removesuffix("_i")
        dtype = np.dtype(node.dtype)
        host = lambda mem: run_step(node, [_host(mem[a]) for a in step.args])  # noqa: E731
        blas = cublas()
        if blas is None or op not in ("dot", "gemm", "gemv", "ger"):
            return host
        ffi, lib, handle = blas
        gemm_fn = lib.cublasDgemm_v2 if dtype == np.float64 else lib.cublasSgemm_v2
        ger_fn = lib.cublasDger_v2 if dtype == np.float64 else lib.cublasSger_v2
        scal = "double *" if dtype == np.float64 else "float *"

        def mat(a):
            """(op, ld) of ``a`` (m, k) read as cuBLAS's column-major transpose, or None."""
            r, c = a.shape
            if a.flags.c_contiguous:
                return CUBLAS_OP_N, max(1, c)
            if a.flags.f_contiguous:
                return CUBLAS_OP_T, max(1, r)
            return None

        def gemm(out, alpha, x, y, beta):
            """out (m, n) = alpha x (m, k) @ y (k, n) + beta out (row-major, out contiguous)."""
            m, k = x.shape
            n = y.shape[1]
            if m == 0 or n == 0:
                return out
            if k == 0:
                return None
            mx, my = mat(x), mat(y)
            if mx is None or my is None:
                return None
            status = gemm_fn(handle, my[0], mx[0], n, m, k, ffi.new(scal, alpha),
                             ffi.cast("void *", _ptr(y)), my[1], ffi.cast("void *", _ptr(x)),
                             mx[1], ffi.new(scal, beta), ffi.cast("void *", _ptr(out)), n)
            return out if status == 0 else None

        def run(mem):
            vals = [mem[a] for a in step.args]
            if any(np.size(v) == 0 for v in vals):  # pycuda views/copies of empty arrays fail
                return host(mem)
            if op == "dot":
                a, b = (_dev(v, dtype) for v in vals)
                if (a.ndim == 1 and not a.flags.c_contiguous) or (
                        b.ndim == 1 and not b.flags.c_contiguous):
                    return host(mem)  # (a strided vector cannot be reshaped in place)
                if a.ndim == 1 and b.ndim == 2 and a.shape[0] == b.shape[0]:
                    a2, b2, shape = a.reshape(1, a.shape[0]), b, (b.shape[1],)
                elif a.ndim == 2 and b.ndim == 1 and a.shape[1] == b.shape[0]:
                    a2, b2, shape = a, b.reshape(b.shape[0], 1), (a.shape[0],)
                elif a.ndim == 2 and b.ndim == 2 and a.shape[1] == b.shape[0]:
                    a2, b2, shape = a, b, (a.shape[0], b.shape[1])
                else:
                    return host(mem)
                out = _empty((a2.shape[0], b2.shape[1]), dtype)
                done = gemm(out, 1.0, a2, b2, 0.0)
                return done.reshape(shape) if done is not None else host(mem)
            if op == "ger":  # z + alpha*outer(u, v): row-major z is column-major z.T
                z, alpha, u, v = (_dev(w, dtype) for w in vals)
                if u.ndim != 1 or v.ndim != 1 or tuple(z.shape) != (u.shape[0], v.shape[0]) \
                        or not (z.flags.c_contiguous and u.flags.c_contiguous
                                and v.flags.c_contiguous):
                    return host(mem)
                out = z.copy()
                m, n = out.shape  # out.T (n, m) += alpha * v u.T
                status = ger_fn(handle, n, m, ffi.new(scal, float(_host(alpha))),
                                ffi.cast("void *", _ptr(v)), 1, ffi.cast("void *", _ptr(u)), 1,
                                ffi.cast("void *", _ptr(out)), n)
                return out if status == 0 else host(mem)
            z, alpha, x, y, beta = vals
            x, y = _dev(x, dtype), _dev(y, dtype)
            if op == "gemv":
                if x.ndim != 2 or y.ndim != 1 or x.shape[1] != y.shape[0]:
                    return host(mem)
                if not y.flags.c_contiguous:
                    return host(mem)
                y, want = y.reshape(y.shape[0], 1), (x.shape[0],)
            else:
                if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[0]:
                    return host(mem)
                want = (x.shape[0], y.shape[1])
            zd = _dev(z, dtype)
            if tuple(zd.shape) != want:
                return host(mem)
            out = zd.copy() if zd.flags.c_contiguous else None
            if out is None:
                return host(mem)
            done = gemm(out.reshape(x.shape[0], y.shape[1]), float(_host(alpha)), x, y,
                        float(_host(beta)))
            return out if done is not None else host(mem)

        return run


def make_thunk(inputs, outputs, mode, updates=()):
    """A callable ``values -> outputs`` running ``outputs`` on the GPU (see the module
    docstring). Raises :class:`CudaUnavailable` when the backend cannot run here."""
    from . import numpy_backend

    ok, why = available()
    if not ok:
        raise CudaUnavailable(f"the CUDA backend cannot run: {why}")
    program = lower(inputs, outputs, updates)
    kernels = any(s.kind != "numpy" for s in program.steps)
    if dry_run() or not kernels:
        source = emit_module(program) if kernels else ""
        if source and os.environ.get(DRY_RUN_ENV) == "nvcc":
            nvcc_compile(source)
        return HostThunk(numpy_backend.make_thunk(inputs, outputs, mode), program, source)
    source = emit_module(program)
    module = load_module(source)
    thunk = CudaThunk(inputs, outputs, program, module, updates)
    thunk.source = source
    return thunk
