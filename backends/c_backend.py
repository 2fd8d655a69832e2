"""The C backend: runs a lowered program (codegen.lower) with its kernels compiled by cffi.

One cffi module per function (all its kernels, plus the BLAS wrappers), cached on disk by
backends.c_compile. A call walks the steps: each C step computes its output shape (NumPy
broadcasting, with eggflow's strict rule that only static-1 axes broadcast), takes an output
buffer (a fresh one, or the overwritten input the destroy handler allowed), collapses the
axes every operand walks contiguously, and calls its kernel with (ndim, shape, pointers,
strides in elements). Steps without C code run the reference implementation. If the module
does not compile, the function warns once and runs on the reference executor.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from eggflow.codegen.c_emit import prelude
from eggflow.codegen.lower import lower, scalar_loads
from eggflow.frontend.evaluate import EvaluationError, describe, run_step, run_subgraph, slots

from .layout import (StepRunners, aligned_strides, check_broadcast, collapse, describe_kernel,
                     operands)


# OpenMP threads that spin after a parallel region steal the cores OpenBLAS's threads need
# for the next gemm (and the reverse): measured 34 ms -> 9 ms for an MLP training step. libgomp
# reads this once, when the first compiled module loads it; a user's setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


class CBackendWarning(UserWarning):
    """The C backend could not compile a function; the reference executor runs it."""


def compiler_available() -> bool:
    import shutil

    return shutil.which("cc") is not None or shutil.which("gcc") is not None


def _ptr(ffi, a):
    if a.flags.c_contiguous and a.size:
        return ffi.from_buffer(a, require_writable=False)
    return ffi.cast("char *", a.ctypes.data)


class CThunk(StepRunners):
    def __init__(self, inputs, outputs, program, ffi, lib):
        self.program, self.ffi, self.lib = program, ffi, lib
        self.runners = [self._runner(s) for s in program.steps]
        # results are fresh buffers of their node's dtype when each output is a distinct
        # C step (``Function`` then skips its copy checks)
        made = {s.out: s for s in program.steps}
        outs = program.outputs
        self.fresh = len(set(outs)) == len(outs) and all(
            o in made and made[o].kind in ("ew", "reduce", "rowwise", "blas") for o in outs)
        steps = program.steps
        self._plan = [(run, st.out, st.free) for run, st in zip(self.runners, steps)
                      if "commit" not in st.info]
        self._commits = [(self._commit(st), st.out, st.free) for st in steps
                         if "commit" in st.info]

    def __call__(self, values):
        mem = slots(self.program, values)
        for run, out, free in self._plan:
            mem[out] = run(mem)
            for s in free:
                mem[s] = None
        if self._commits:  # every check (and any out-of-place fallback) before any write
            ready = [(prepare(mem), out) for prepare, out, _ in self._commits]
            for write, out in ready:
                mem[out] = write()
        return [mem[s] for s in self.program.outputs]

    def _commit(self, step):
        """A shared-variable update that may be written into the variable's storage:
        ``prepare(mem)`` checks everything and returns ``write()``, which cannot fail."""
        if step.kind == "blas":
            return self._commit_blas(step)
        flat = getattr(self.lib, step.name + "_flat")
        fb, pos, args = self.ffi.from_buffer, step.info["commit"], step.args
        scalar = scalar_loads(step.body)
        dtypes = [np.dtype(t.dtype) for t in step.body.loads]
        out_dtype = np.dtype(step.node.dtype)
        run = self.runners[self.program.steps.index(step)]

        def prepare(mem):
            arrays = [mem[a] for a in args]
            target = arrays[pos]
            ok = all(type(a) is np.ndarray and a.dtype == dt for a, dt in zip(arrays, dtypes))
            ok = ok and target.dtype == out_dtype and target.flags.c_contiguous and \
                target.flags.writeable and target.ndim == step.node.ndim
            if ok:
                shape = target.shape
                ok = all(sc and a.size == 1 or a.shape == shape and a.flags.c_contiguous
                         for a, sc in zip(arrays, scalar))
            if not ok:
                value = run(mem)  # out of place, now: it may raise before anything is written
                return lambda: value

            def write():
                if target.size:
                    flat(target.size, fb(target), *[fb(a) for a in arrays])
                return target
            return write

        return prepare

    def direct(self, inputs, miss, checked=True):
        """For a program that is one flat-capable kernel over the function's inputs: a Python
        function of the inputs doing the input checks and the kernel call in straight-line
        code (the least per-call overhead), returning ``miss`` when an argument needs the
        general path (another dtype, a view, a shape mismatch). None if not applicable."""
        p = self.program
        if len(p.steps) != 1 or p.steps[0].kind != "ew" or p.outputs != (p.steps[0].out,):
            return None
        step = p.steps[0]
        slots = {s: k for k, s in enumerate(range(len(inputs)))}
        if any(a not in slots for a in step.args) or step.destroy is not None:
            return None
        scalar = scalar_loads(step.body)
        names = [f"a{k}" for k in range(len(inputs))]
        cond = []
        for k, n in enumerate(inputs):
            a = names[k]
            if not checked:  # trusted: arrays of the right dtype (views go the general way)
                cond.append(f"{a}.flags.c_contiguous")
                continue
            cond.append(f"type({a}) is ndarray and {a}.flags.c_contiguous")
            cond.append(f"{a}.dtype is D{k} and {a}.ndim == {n.ndim}")
            cond += [f"{a}.shape[{ax}] == {d}" for ax, d in enumerate(n.type.shape)
                     if d is not None]
        loads = [names[a] for a in step.args]
        full = [name for name, sc in zip(loads, scalar) if not sc]
        node = step.node
        if not full and len(loads) != 1:
            return None
        shape = f"{(full or loads)[0]}.shape"
        cond += [f"{f}.shape == {shape}" for f in full[1:]]
        if checked or full[1:]:
            cond.append(f"len({shape}) == {node.ndim}")
        test = " and ".join(cond) or "True"
        src = f"""
def direct({', '.join(names)}):
    if {test}:
        out = empty({shape}, OD)
        if out.size:
            flat(out.size, fb(out){''.join(f', fb({a})' for a in loads)})
        return out
    return MISS
"""
        env = {"ndarray": np.ndarray, "empty": np.empty, "OD": np.dtype(node.dtype),
               "flat": getattr(self.lib, step.name + "_flat"), "fb": self.ffi.from_buffer,
               "MISS": miss}
        env.update({f"D{k}": np.dtype(n.dtype) for k, n in enumerate(inputs)})
        exec(src, env)  # noqa: S102 - our own generated code
        return env["direct"]

    # -- runners (StepRunners._runner picks one per step) ---------------------------------------
    def _numpy(self, step):
        node, args = step.node, step.args
        return lambda mem: run_step(node, [mem[a] for a in args])

    def _reference(self, step):
        """The step's value by the reference implementations, from its loads' values."""
        loads, root = list(step.body.loads), step.node

        def run(arrays):
            return run_subgraph(root, dict(zip(loads, arrays)))

        return run

    def _arrays(self, step, mem):
        return [np.asarray(mem[a], dtype=t.dtype) if not isinstance(mem[a], np.ndarray)
                or mem[a].dtype != t.dtype else mem[a] for a, t in zip(step.args, step.body.loads)]

    def _elementwise(self, step, fallback):
        fn = getattr(self.lib, step.name)
        flat = getattr(self.lib, step.name + "_flat")
        ffi, node = self.ffi, step.node
        dtype, ndim = np.dtype(node.dtype), node.ndim
        checks = [[ax for ax, d in enumerate(t.type.shape) if d != 1] for t in step.body.loads]
        destroy = step.destroy
        scalar = scalar_loads(step.body)
        full = [k for k, sc in enumerate(scalar) if not sc]
        dtypes = [np.dtype(t.dtype) for t in step.body.loads]
        args, from_buffer = step.args, ffi.from_buffer
        first = full[0] if full else 0
        ndarray = np.ndarray

        def run(mem):
            arrays = [mem[a] for a in args]
            # the flat path: every load contiguous with one shape (or a single element)
            ok = True
            for a, dt in zip(arrays, dtypes):
                if type(a) is not ndarray or a.dtype != dt:
                    ok = False
                    break
            if ok and arrays:
                shape = arrays[first].shape
                if len(shape) == ndim:
                    for k in full:
                        a = arrays[k]
                        if a.shape != shape or not a.flags.c_contiguous:
                            ok = False
                            break
                    if ok:
                        out = None
                        if destroy is not None and not scalar[destroy]:
                            cand = arrays[destroy]
                            if cand.flags.writeable:
                                out = cand
                        if out is None:
                            out = np.empty(shape, dtype)
                        if out.size:
                            flat(out.size, from_buffer(out), *[from_buffer(a) for a in arrays])
                        return out
            return general(mem)

        def general(mem):
            arrays = self._arrays(step, mem)
            try:
                shape = np.broadcast_shapes(*(a.shape for a in arrays)) if arrays else ()
            except ValueError as exc:
                shapes = dict(zip(step.body.loads, (a.shape for a in arrays)))
                listed = ", ".join(f"{describe(t)}: shape {shapes[t]}"
                                   for t in operands(node, shapes))
                raise EvaluationError(f"{describe_kernel(node)} failed ({exc}); inputs "
                                      f"{listed}") from None
            if len(shape) != ndim:
                shape = (1,) * (ndim - len(shape)) + tuple(shape)
            check_broadcast(node, step.body.loads, arrays, checks, shape)
            out = None
            if destroy is not None:
                cand = arrays[destroy]
                if cand.shape == shape and cand.flags.c_contiguous and cand.flags.writeable:
                    out = cand
            if out is None:
                out = np.empty(shape, dtype)
            if out.size == 0:
                return out
            if ndim == 0:
                fn(1, ffi.new("int64_t[]", [1]), ffi.new("char *[]", [_ptr(ffi, out)] + [
                    _ptr(ffi, a) for a in arrays]), ffi.new("int64_t[]", [0] * (len(arrays) + 1)))
                return out
            strides = [aligned_strides(out, ndim, shape)] + [
                aligned_strides(a, ndim, shape) for a in arrays]
            cshape, cstrides = collapse(shape, strides)
            nd = len(cshape)
            fn(nd, ffi.new("int64_t[]", cshape),
               ffi.new("char *[]", [_ptr(ffi, out)] + [_ptr(ffi, a) for a in arrays]),
               ffi.new("int64_t[]", [x for s in cstrides for x in s]))
            return out

        return run

    def _reduction(self, step, fallback):
        fn = getattr(self.lib, step.name)
        ffi, node, info = self.ffi, step.node, step.info
        dtype, ndim, axes = np.dtype(node.dtype), info["ndim"], info["axes"]
        op, reduce = info["op"], step.kind == "reduce"
        kept = [d for d in range(ndim) if d not in axes]
        checks = [[ax for ax, d in enumerate(t.type.shape) if d != 1] for t in step.body.loads]
        if reduce and ndim - 1 not in axes:
            order = list(range(ndim))  # innermost axis kept: accumulate into the output
        else:
            order = kept + list(axes)

        def run(mem):
            arrays = self._arrays(step, mem)
            try:
                shape = np.broadcast_shapes(*(a.shape for a in arrays))
            except ValueError:
                return fallback(arrays)
            shape = (1,) * (ndim - len(shape)) + tuple(shape)
            check_broadcast(node, step.body.loads, arrays, checks, shape)
            red_size = int(np.prod([shape[d] for d in axes]))
            if red_size == 0 and op in ("max", "min"):
                return fallback(arrays)  # NumPy's error: no identity
            out_full = tuple(1 if d in axes else shape[d] for d in range(ndim))
            keep_out = op in ("softmax", "log_softmax")
            out = np.empty(shape if keep_out else node.type.shape and tuple(
                shape[d] for d in kept) or tuple(shape[d] for d in kept), dtype)
            if out.size == 0 or red_size == 0 and not reduce:
                return fallback(arrays)
            ostr = aligned_strides(out.reshape(shape if keep_out else out_full), ndim, shape)
            if not keep_out:
                ostr = [0 if d in axes else s for d, s in enumerate(ostr)]
            strides = [ostr] + [aligned_strides(a, ndim, shape) for a in arrays]
            pshape = [shape[d] for d in order]
            pstr = [[s[d] for d in order] for s in strides]
            cshape, cstrides = collapse(pshape, pstr)
            nd = len(cshape)
            if not reduce:
                n_red = sum(1 for k in range(nd) if cstrides[0][k] == 0) if not keep_out else None
                inner_is_axis = (keep_out and int(np.prod(cshape[-1:])) == red_size) or (
                    not keep_out and n_red == 1 and cstrides[0][-1] == 0)
                if not inner_is_axis:
                    return fallback(arrays)
            ptrs = ffi.new("char *[]", [_ptr(ffi, out)] + [_ptr(ffi, a) for a in arrays])
            args = (nd, ffi.new("int64_t[]", cshape), ptrs,
                    ffi.new("int64_t[]", [x for s in cstrides for x in s]))
            if reduce:
                parallel = all(cstrides[0][k] != 0 for k in range(nd - 1))
                fn(*args, out.size, int(parallel))
            else:
                fn(*args)
            return out

        return run

    def _commit_blas(self, step):
        inplace = self._blas(step, force_inplace=True)
        run = self.runners[self.program.steps.index(step)]
        dtype = np.dtype(step.node.dtype)
        op = step.node.op.removesuffix("_i")

        def prepare(mem):
            z, _alpha, x, y = (mem[a] for a in step.args[:4])
            ok = all(type(a) is np.ndarray and a.dtype == dtype for a in (z, x, y))
            if ok:
                want = (x.shape[0], y.shape[0]) if op == "ger" else x.shape[:1] + y.shape[1:]
                ok = (op == "ger" or x.shape[-1] == y.shape[0]) and z.shape == want and \
                    z.flags.c_contiguous and z.flags.writeable and 0 not in want
            if not ok:
                value = run(mem)
                return lambda: value
            return lambda: inplace(mem)

        return prepare

    def _blas(self, step, force_inplace=False):
        ffi, lib = blas_module()
        node = step.node
        p = "d" if node.dtype == "float64" else "s"
        gemm_fn, gemv_fn, ger_fn = (getattr(lib, f"scipy_cblas_{p}{f}") for f in
                                    ("gemm", "gemv", "ger"))
        dtype = np.dtype(node.dtype)
        item = dtype.itemsize
        op = node.op.removesuffix("_i")
        inplace = step.destroy is not None or force_inplace

        def mat(a):
            if a.strides[1] == item and a.strides[0] >= max(1, a.shape[1]) * item:
                return a, 0, a.strides[0] // item
            if a.strides[0] == item and a.strides[1] >= max(1, a.shape[0]) * item:
                return a, 1, a.strides[1] // item
            a = np.ascontiguousarray(a)
            return a, 0, max(1, a.shape[1])

        def vec(v):
            if v.strides[0] <= 0 or v.strides[0] % item:
                v = np.ascontiguousarray(v)
            return v, max(1, v.strides[0] // item)

        def target(z, shape):
            if inplace and z.shape == shape and z.flags.c_contiguous and z.flags.writeable:
                return z
            out = np.empty(shape, dtype)
            out[...] = z
            return out

        def gemm(out, alpha, x, y, beta):
            m, k = x.shape
            n = y.shape[1]
            if m == 0 or n == 0:
                return out
            if k == 0:  # an empty product: beta*z (or zeros)
                out[...] = out * beta if beta else 0
                return out
            x, ta, lda = mat(x)
            y, tb, ldb = mat(y)
            gemm_fn(ROW_MAJOR, TRANS if ta else NO_TRANS, TRANS if tb else NO_TRANS, m, n, k,
                    alpha, _ptr(ffi, x), lda, _ptr(ffi, y), ldb, beta, _ptr(ffi, out),
                    max(1, out.shape[1]))
            return out

        def gemv(out, alpha, a, x, beta):
            m, n = a.shape
            if m == 0:
                return out
            if n == 0:
                out[...] = out * beta if beta else 0
                return out
            a, ta, lda = mat(a)
            x, incx = vec(x)
            rows, cols = (n, m) if ta else (m, n)
            gemv_fn(ROW_MAJOR, TRANS if ta else NO_TRANS, rows, cols, alpha, _ptr(ffi, a), lda,
                    _ptr(ffi, x), incx, beta, _ptr(ffi, out), 1)
            return out

        def run(mem):
            vals = [mem[a] for a in step.args]
            arrs = [np.asarray(v, dtype=dtype) for v in vals]
            if op == "dot":
                a, b = arrs
                if a.ndim == 2 and b.ndim == 2:
                    if a.shape[1] != b.shape[0]:
                        return run_step(node, vals)
                    return gemm(np.empty((a.shape[0], b.shape[1]), dtype), 1.0, a, b, 0.0)
                if a.ndim == 2 and b.ndim == 1 and a.shape[1] == b.shape[0]:
                    return gemv(np.empty(a.shape[0], dtype), 1.0, a, b, 0.0)
                if a.ndim == 1 and b.ndim == 2 and a.shape[0] == b.shape[0]:
                    return gemv(np.empty(b.shape[1], dtype), 1.0, b.T, a, 0.0)
                return run_step(node, vals)
            if op in ("gemm", "gemv"):
                z, alpha, x, y, beta = arrs
                want = (x.shape[0], y.shape[1]) if op == "gemm" else (x.shape[0],)
                if x.shape[1] != y.shape[0] or np.broadcast_shapes(z.shape, want) != want:
                    return run_step(node, vals)
                out = target(z, want)
                fn = gemm if op == "gemm" else gemv
                return fn(out, float(alpha), x, y, float(beta))
            a, alpha, x, y = arrs  # ger
            want = (x.shape[0], y.shape[0])
            if np.broadcast_shapes(a.shape, want) != want or 0 in want:
                return run_step(node, vals)
            out = target(a, want)
            x, incx = vec(x)
            y, incy = vec(y)
            ger_fn(ROW_MAJOR, want[0], want[1], float(alpha), _ptr(ffi, x), incx, _ptr(ffi, y),
                   incy, _ptr(ffi, out), max(1, want[1]))
            return out

        return run


_BLAS: list = []
PARALLEL_KERNELS = 6  # from this many kernels on, a module compiles as two units in parallel


CBLAS_CDEF = """
void scipy_cblas_dgemm(int, int, int, int, int, int, double, void *, int, void *, int, double,
                       void *, int);
void scipy_cblas_sgemm(int, int, int, int, int, int, float, void *, int, void *, int, float,
                       void *, int);
void scipy_cblas_dgemv(int, int, int, int, double, void *, int, void *, int, double, void *, int);
void scipy_cblas_sgemv(int, int, int, int, float, void *, int, void *, int, float, void *, int);
void scipy_cblas_dger(int, int, int, double, void *, int, void *, int, void *, int);
void scipy_cblas_sger(int, int, int, float, void *, int, void *, int, void *, int);
"""
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112


def blas_module():
    """(ffi, lib): scipy-openblas32's cblas functions, opened with cffi's ABI mode (nothing to
    compile: linking OpenBLAS into each generated module cost ~0.5 s of every cold compile)."""
    if not _BLAS:
        import cffi

        from .c_compile import blas_info

        info = blas_info()
        if info is None:
            raise OSError("scipy-openblas32 is not installed (pip install scipy-openblas32)")
        ffi = cffi.FFI()
        ffi.cdef(CBLAS_CDEF)
        _BLAS.append((ffi, ffi.dlopen(os.path.join(info["lib_dir"],
                                                   f"lib{info['library']}.so"))))
    return _BLAS[0]


def make_thunk(inputs, outputs, mode, updates=()):
    """A callable ``values -> outputs`` running the C code of ``outputs``; on a compile failure
    (or without a compiler) a warning and the reference executor."""
    from . import numpy_backend

    program = lower(inputs, outputs, updates)
    if not any(s.kind != "numpy" for s in program.steps):
        return numpy_backend.make_thunk(inputs, outputs, mode)
    if not program.cdef:  # BLAS calls only: no generated kernels
        program.cdef = "void ef_none(void);"
        program.source += "void ef_none(void) {}\n"
    from .c_compile import CompileError, load_module

    from eggflow.codegen.cmath import FLAGS, LINK_FLAGS

    source, parts = prelude() + program.source, ()
    if len(program.kernels) >= PARALLEL_KERNELS:  # two translation units, compiled at once
        half, size = [], 0
        for k in program.kernels:
            if size * 2 < len(program.source):
                half.append(k)
                size += len(k)
        rest = program.kernels[len(half):]
        parts = (prelude() + "".join(half), prelude() + "".join(rest))
        source = "#include <stdint.h>\n" + program.cdef
    try:
        if any(s.kind == "blas" for s in program.steps):
            blas_module()
        ffi, lib = load_module(program.cdef, source, extra_compile_args=FLAGS + LINK_FLAGS,
                               parts=parts)
    except (CompileError, OSError) as exc:
        warnings.warn(f"eggflow: the C backend could not compile this function; running it on "
                      f"the reference executor instead: {exc}", CBackendWarning, stacklevel=3)
        return numpy_backend.make_thunk(inputs, outputs, mode)
    thunk = CThunk(inputs, outputs, program, ffi, lib)
    thunk.source = source
    return thunk
