"""The CUDA backend's GPU tests, on a GPU or on the host emulator.

``cuda_device`` (a fixture with two parameters) runs a GPU test twice:

- ``gpu``: on the real device (pycuda, a driver, a GPU); skipped with the reason elsewhere.
- ``emulated``: the real runtime (backends/cuda_backend.py: CudaThunk, its runners, argument
  packing, layouts, views, the cuBLAS argument mapping) and the real generated CUDA source,
  run on the CPU. The module's source is compiled with g++ for the host behind a shim
  (``__global__`` etc. expand to nothing; one "thread" per launch: blockDim = gridDim = 1, so
  every grid-stride loop covers all elements); pycuda is replaced by NumPy-backed stand-ins
  whose device pointers are host addresses (kernels read and write them); cuBLAS by NumPy
  over the same column-major arguments. It tests everything but the parallel parts: the
  warp/block reduction tree (one thread returns its own value) and pycuda/cuBLAS themselves.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.machinery
import os
import shutil
import subprocess
import sys
import types

import numpy as np
import pytest

from eggflow.backends import cuda_backend
from eggflow.codegen import cuda_emit

sys.path.insert(0, os.path.dirname(__file__))  # opsuite.py: helpers of the backend tests

# -- pycuda stand-ins ----------------------------------------------------------------------------


class _Alloc:
    """A device pointer (here: a host address), as pycuda's allocations convert to int."""

    def __init__(self, address: int):
        self.address = address

    def __int__(self):
        return self.address

    __index__ = __int__


def _at(address: int, shape, dtype, strides, owner) -> np.ndarray:
    """A NumPy view of memory at ``address`` (kept alive by ``owner``)."""
    dtype = np.dtype(dtype)
    offsets = [(n - 1) * s for n, s in zip(shape, strides) if n > 0]
    lo = sum(o for o in offsets if o < 0)
    hi = sum(o for o in offsets if o > 0) + dtype.itemsize
    raw = (ctypes.c_char * (hi - lo)).from_address(address + lo)
    buf = np.frombuffer(raw, np.uint8)
    view = np.ndarray(shape, dtype, buffer=buf, offset=-lo, strides=strides)
    view.setflags(write=True)
    _KEEP[id(view)] = owner
    return view


_KEEP: dict = {}
LAUNCHES: dict = {}  # kernel name -> launches (emulated); "cublas" -> gemm calls


class EmuArray:
    """pycuda.gpuarray.GPUArray's interface over a host array (only what eggflow uses)."""

    def __init__(self, shape, dtype, allocator=None, base=None, gpudata=None, strides=None,
                 _array=None):
        shape = tuple(int(n) for n in (shape if isinstance(shape, (tuple, list)) else (shape,)))
        if _array is not None:
            self._a = _array
        elif gpudata is not None:
            strides = strides or tuple(np.empty(shape, dtype).strides)
            self._a = _at(int(gpudata), shape, dtype, strides, base)
        else:
            self._a = np.empty(shape, dtype)
        self.base = base
        self.gpudata = _Alloc(self._a.ctypes.data) if self._a.size else None

    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    strides = property(lambda self: self._a.strides)
    size = property(lambda self: self._a.size)
    nbytes = property(lambda self: self._a.nbytes)
    ndim = property(lambda self: self._a.ndim)
    flags = property(lambda self: self._a.flags)

    def get(self):
        return self._a.copy()

    def copy(self):
        return EmuArray(self.shape, self.dtype, _array=self._a.copy(order="K"))

    def astype(self, dtype):
        if not (self.flags.c_contiguous or self.flags.f_contiguous):
            raise RuntimeError("only contiguous arrays may be used in astype (pycuda)")
        return EmuArray(self.shape, dtype, _array=self._a.astype(dtype))

    def reshape(self, *shape):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], tuple) else shape
        if not self._a.flags.c_contiguous:
            raise RuntimeError("only contiguous arrays may be reshaped (pycuda)")
        return EmuArray(shape, self.dtype, base=self, _array=self._a.reshape(shape))


def _gpuarray_module():
    m = types.ModuleType("pycuda.gpuarray")
    m.GPUArray = EmuArray
    m.empty = lambda shape, dtype, allocator=None: EmuArray(shape, dtype)
    m.to_gpu = lambda a, allocator=None: EmuArray(a.shape, a.dtype, _array=np.array(a))
    return m


def _driver_module():
    m = types.ModuleType("pycuda.driver")

    class Device:
        count = staticmethod(lambda: 1)

        def get_attribute(self, attr):
            return 4  # few "SMs": grids stay small (and one emulated thread runs them all)

        def compute_capability(self):
            return (9, 0)

        def name(self):
            return "host emulator"

    class Context:
        get_device = staticmethod(lambda: Device())
        synchronize = staticmethod(lambda: None)

    m.init = lambda: None
    m.Device, m.Context = Device, Context
    m.device_attribute = types.SimpleNamespace(MULTIPROCESSOR_COUNT="sms")
    return m


def _tools_module():
    m = types.ModuleType("pycuda.tools")

    class DeviceMemoryPool:
        def allocate(self, nbytes):
            raise AssertionError("the emulated arrays allocate themselves")

    m.DeviceMemoryPool = DeviceMemoryPool
    return m


# -- kernels on the host -------------------------------------------------------------------------
HOST_SHIM = r"""
#include <cstdint>
#include <cstring>
#include <cmath>
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(n)
#define __shared__ static
struct ef_dim3 { long long x, y, z; };
static const ef_dim3 blockIdx = {0, 0, 0}, threadIdx = {0, 0, 0};
static const ef_dim3 blockDim = {1, 1, 1}, gridDim = {1, 1, 1};
static inline void __syncthreads() {}
template <class T> static inline T __shfl_down_sync(unsigned, T v, int) { return v; }
static inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
using std::isfinite; using std::isnan; using std::isinf; using std::signbit;
"""
# one thread: a block "reduction" is the thread's own value
BLOCK_REDUCE_HOST = ("template <class T, class F>\n__device__ __forceinline__ T ef_block_reduce("
                     "T v, F f, T ident, T *smem) { return v; }\n")


def host_source(source: str) -> str:
    start = source.index("/* Every thread of the block calls it")
    end = source.index("#endif /* EF_CUDA_PRELUDE_INCLUDED */")
    return HOST_SHIM + source[:start] + BLOCK_REDUCE_HOST + source[end:]


def compile_host(source: str, workdir: str) -> ctypes.CDLL:
    text = host_source(source)
    key = hashlib.sha256(text.encode()).hexdigest()[:24]
    so = os.path.join(workdir, f"emu_{key}.so")
    if not os.path.exists(so):
        src = os.path.join(workdir, f"emu_{key}.cpp")
        with open(src, "w") as f:
            f.write(text)
        proc = subprocess.run(["g++", "-shared", "-fPIC", "-O0", "-std=c++17", "-w", "-o", so,
                               src], capture_output=True, text=True)
        if proc.returncode:
            raise AssertionError(f"the host build of the CUDA module failed:\n"
                                 f"{proc.stderr[-3000:]}")
    return ctypes.CDLL(so)


class EmuFunction:
    def __init__(self, lib, name):
        self.fn, self.name = getattr(lib, name), name
        self.launches = []

    def __call__(self, *args, block, grid):
        assert 0 < grid[0] < 2 ** 31 and block == (cuda_emit.BLOCK, 1, 1), (grid, block)
        argtypes, values = [], []
        for a in args:
            if isinstance(a, np.void):
                words = np.frombuffer(a.tobytes(), np.int64)

                class Args(ctypes.Structure):
                    _fields_ = [("w", ctypes.c_int64 * len(words))]

                argtypes.append(Args)
                values.append(Args((ctypes.c_int64 * len(words))(*words)))
            elif isinstance(a, np.int64):
                argtypes.append(ctypes.c_int64)
                values.append(int(a))
            elif isinstance(a, np.uintp):
                argtypes.append(ctypes.c_void_p)
                values.append(int(a))
            else:
                raise TypeError(f"unexpected kernel argument {a!r} ({type(a).__name__})")
        self.fn.argtypes, self.fn.restype = argtypes, None
        self.fn(*values)
        LAUNCHES[self.name] = LAUNCHES.get(self.name, 0) + 1


class EmuModule:
    def __init__(self, lib):
        self.lib, self.functions = lib, {}

    def get_function(self, name):
        if name not in self.functions:
            self.functions[name] = EmuFunction(self.lib, name)
        return self.functions[name]


class EmuCublas:
    """cuBLAS's gemm and ger (column-major, host pointers to alpha/beta) over NumPy."""

    def __init__(self, ffi):
        self.ffi = ffi

    def _mat(self, ptr, rows, cols, ld, dtype):
        """The column-major rows x cols matrix at ``ptr`` with leading dimension ``ld``."""
        item = np.dtype(dtype).itemsize
        address = int(self.ffi.cast("uintptr_t", ptr))
        return _at(address, (rows, cols), dtype, (item, ld * item), None)

    def _gemm(self, dtype, handle, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        LAUNCHES["cublas"] = LAUNCHES.get("cublas", 0) + 1
        A = self._mat(a, m, k, lda, dtype) if ta == 0 else self._mat(a, k, m, lda, dtype).T
        B = self._mat(b, k, n, ldb, dtype) if tb == 0 else self._mat(b, n, k, ldb, dtype).T
        C = self._mat(c, m, n, ldc, dtype)
        C[...] = alpha[0] * (A @ B) + (beta[0] * C if beta[0] != 0 else 0)
        return 0

    def _ger(self, dtype, handle, m, n, alpha, x, incx, y, incy, a, lda):
        LAUNCHES["cublas"] = LAUNCHES.get("cublas", 0) + 1
        item = np.dtype(dtype).itemsize
        vec = (lambda p, k, inc: _at(int(self.ffi.cast("uintptr_t", p)), (k,), dtype,
                                     (inc * item,), None))
        A = self._mat(a, m, n, lda, dtype)
        A += alpha[0] * np.outer(vec(x, m, incx), vec(y, n, incy))
        return 0

    def cublasSger_v2(self, *args):
        return self._ger(np.float32, *args)

    def cublasDger_v2(self, *args):
        return self._ger(np.float64, *args)

    def cublasSgemm_v2(self, *args):
        return self._gemm(np.float32, *args)

    def cublasDgemm_v2(self, *args):
        return self._gemm(np.float64, *args)


@pytest.fixture(params=["gpu", "emulated"])
def cuda_device(request, monkeypatch, tmp_path_factory):
    """'gpu': the real device (skips with the reason without one; in a dry run, the dry run);
    'emulated': the host emulator where there is no GPU (skips without g++). Yields the kind
    and, emulated, the launches so far ({kernel name: count}, "cublas": gemm calls); an
    emulated test that launches no kernel fails unless it sets ``expect_kernels = False``."""
    if request.param == "gpu":
        if cuda_backend.dry_run():  # make device-bundle: the graphs of the GPU runs
            yield types.SimpleNamespace(kind="dry run", launches=None)
            return
        ok, why = cuda_backend.available()
        if not ok:
            pytest.skip(f"no GPU execution: {why}")
        yield types.SimpleNamespace(kind="gpu", launches=None)
        return
    if cuda_backend.dry_run() or cuda_backend.available()[0]:
        pytest.skip("the host emulator runs where there is no GPU (and no dry run)")
    if shutil.which("g++") is None:
        pytest.skip("g++ not found: the host emulator of the CUDA backend needs it")
    import cffi

    pkg = types.ModuleType("pycuda")
    pkg.__spec__ = importlib.machinery.ModuleSpec("pycuda", None)
    pkg.__path__ = []
    mods = {"pycuda": pkg, "pycuda.driver": _driver_module(),
            "pycuda.gpuarray": _gpuarray_module(), "pycuda.tools": _tools_module(),
            "pycuda.autoprimaryctx": types.ModuleType("pycuda.autoprimaryctx")}
    for name, mod in mods.items():
        monkeypatch.setitem(sys.modules, name, mod)
        if "." in name:
            setattr(pkg, name.split(".")[1], mod)
    monkeypatch.delenv(cuda_backend.DRY_RUN_ENV, raising=False)
    monkeypatch.setattr(cuda_backend, "_STATE", {"available": (True, "")})
    monkeypatch.setattr(cuda_backend, "_MODULES", {})
    workdir = str(tmp_path_factory.getbasetemp() / "cuda-emulator")
    os.makedirs(workdir, exist_ok=True)
    monkeypatch.setattr(cuda_backend, "load_module",
                        lambda source: EmuModule(compile_host(source, workdir)))
    ffi = cffi.FFI()
    blas = EmuCublas(ffi)
    monkeypatch.setattr(cuda_backend, "cublas", lambda: (ffi, blas, None))
    cuda_backend._context()  # the stand-in context: sms, arch, the "pool"
    LAUNCHES.clear()
    device = types.SimpleNamespace(kind="emulated", launches=LAUNCHES, expect_kernels=True)
    yield device
    _KEEP.clear()
    assert LAUNCHES or not device.expect_kernels, \
        "the emulated test launched no kernel: it tested the host fallbacks only"

