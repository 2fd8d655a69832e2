"""The peers eggflow is compared with: hand-written NumPy, numexpr, PyTensor and JAX.

Each peer answers two questions::

    peer.available() -> (True, version) | (False, reason)
    peer.prepare(workload) -> fn(*workload.values) -> [np.ndarray, ...]   (or None: see
                                                                          peer.last_reason)

``numpy`` runs the workload's hand-written NumPy function and ``numexpr`` its expression
strings. ``pytensor`` and ``jax`` translate the eggflow graph itself, node by node, with one
table (``TRANSLATIONS``: eggflow op -> ``fn(ns, node, *args)``) shared by both: ``ns`` is a
namespace over ``pytensor.tensor`` or ``jax.numpy`` that answers to NumPy's spellings, so most
ops are one line (``ELEMWISE`` maps an elementwise op to its NumPy name). An op missing from
the table makes ``prepare`` return None with the op named in ``last_reason``.

Semantics follow eggflow's reference executor (``frontend/evaluate.py``): every result is cast
to the node's dtype, Python-number ("weak") constants take the dtype NumPy 2 computes them in,
shared variables are extra inputs read at call time. For JAX, everything that depends only on
constants and shapes (reshape sizes from ``x.shape``, ``arange`` bounds, ...) is computed at
trace time with eggflow's own NumPy implementation, as ``jax.jit`` needs static shapes.

``prepare`` compiles and runs the workload once on its values (a warm-up that also checks the
translation); the callable it returns is what a benchmark times. PyTensor compiles in its
default mode (``PYTENSOR_FLAGS=mode=...`` picks another); the version string names the linker.
``pytensor_c_peer()`` is PyTensor with its C linker and a BLAS (``setup_pytensor_blas``: the
scipy-openblas32 wheel through a small shim when PyTensor found no BLAS itself).

A workload with ``updates`` (shared parameters of a training step) gets them written back
after each call by every peer (``with_updates``), as eggflow's ``function(updates=...)`` does.
"""

from __future__ import annotations

import importlib
import operator
from typing import Callable

import numpy as np

from eggflow.frontend.evaluate import run_step
from eggflow.frontend.graph import toposort
from eggflow.frontend.op import OPS, result_dtype
from eggflow.frontend.subtensor import index_tuple

FOLD_LIMIT = 4096  # JAX: fold ops on concrete inputs of at most this many elements at trace time


class Peer:
    """A system eggflow is compared with (see the module doc)."""

    name = "?"
    module: str | None = None  # the import that decides availability

    def __init__(self):
        self.last_reason = ""

    def available(self) -> tuple[bool, str]:
        try:
            mod = importlib.import_module(self.module)
        except ImportError as exc:
            return False, f"{self.module} is not installed: {exc}"
        except Exception as exc:  # a broken install: say why
            return False, f"{self.module} cannot be imported: {type(exc).__name__}: {exc}"
        return True, self.version(mod)

    def version(self, mod) -> str:
        return str(getattr(mod, "__version__", "unknown"))

    def prepare(self, workload) -> Callable | None:
        raise NotImplementedError

    def _skip(self, reason: str):
        self.last_reason = reason
        return None

    def _ready(self, fn):
        self.last_reason = ""
        return fn

    def __repr__(self):
        return f"<peer {self.name}>"


def _as_list(outs) -> list:
    if isinstance(outs, (list, tuple)):
        return [np.asarray(o) for o in outs]
    return [np.asarray(outs)]


def with_updates(workload, fn) -> Callable:
    """``fn`` that also writes the workload's updated outputs back to their shared variables
    after each call (``Workload.updates``), as eggflow's ``function(updates=...)`` does."""
    if not workload.updates:
        return fn
    pairs = list(workload.updates)

    def run(*values):
        outs = fn(*values)
        for s, k in pairs:
            s.set_value(outs[k])  # a copy: a peer may reuse or lock its output buffers
        return outs

    return run


# -- numpy and numexpr ----------------------------------------------------------------------
class NumPyPeer(Peer):
    name, module = "numpy", "numpy"

    def prepare(self, workload):
        if workload.numpy is None:
            return self._skip("no hand-written NumPy version")
        fn = workload.numpy
        return self._ready(with_updates(workload, lambda *values: _as_list(fn(*values))))


class NumExprPeer(Peer):
    name, module = "numexpr", "numexpr"

    def version(self, mod):
        return f"{mod.__version__} ({mod.detect_number_of_cores()} threads)"

    def prepare(self, workload):
        ok, why = self.available()
        if not ok:
            return self._skip(why)
        exprs = workload.numexpr
        if not exprs or any(e is None for e in exprs):
            return self._skip("no numexpr expression")
        if len(exprs) != len(workload.outputs):
            return self._skip(f"{len(exprs)} numexpr expressions for {len(workload.outputs)} "
                              "outputs")
        names = [getattr(i, "name", None) for i in workload.inputs]
        if not all(isinstance(n, str) and n.isidentifier() for n in names):
            return self._skip(f"numexpr needs inputs named by identifiers, got {names}")
        import numexpr

        numexpr.set_num_threads(numexpr.detect_number_of_cores())
        evaluate = numexpr.evaluate

        def run(*values):
            local = dict(zip(names, values))
            return [np.asarray(evaluate(e, local_dict=local, global_dict={})) for e in exprs]

        try:
            with np.errstate(all="ignore"):
                run(*workload.values)
        except Exception as exc:
            return self._skip(f"numexpr failed: {type(exc).__name__}: {exc}")
        return self._ready(with_updates(workload, run))


# -- the shared translation table ------------------------------------------------------------
# eggflow elementwise op -> its NumPy name (jax.numpy has them all; PyTensor's other
# spellings are in _PT_NAMES, JAX's few missing ones in _JAX_NAMES)
ELEMWISE = {
    "add": "add", "sub": "subtract", "mul": "multiply", "true_div": "true_divide",
    "int_div": "floor_divide", "mod": "remainder", "pow": "power",
    "maximum": "maximum", "minimum": "minimum",
    "lt": "less", "gt": "greater", "le": "less_equal", "ge": "greater_equal", "eq": "equal",
    "neq": "not_equal", "and_": "bitwise_and", "or_": "bitwise_or", "xor": "bitwise_xor",
    "invert": "invert", "neg": "negative", "abs": "absolute",
    "exp": "exp", "exp2": "exp2", "expm1": "expm1", "log": "log", "log2": "log2",
    "log10": "log10", "log1p": "log1p", "sqrt": "sqrt", "sqr": "square",
    "sin": "sin", "cos": "cos", "tan": "tan", "arcsin": "arcsin", "arccos": "arccos",
    "arctan": "arctan", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh", "erf": "erf",
    "sigmoid": "sigmoid", "softplus": "softplus", "floor": "floor", "ceil": "ceil",
    "sgn": "sign", "identity": "copy", "zeros_like": "zeros_like", "ones_like": "ones_like",
    "switch": "where", "clip": "clip",
}


def _elementwise(name):
    return lambda ns, node, *args: getattr(ns, name)(*args)


def _reduce(name):
    return lambda ns, node, x: getattr(ns, name)(x, axis=node.attrs["axis"])


def _argreduce(name):
    def fn(ns, node, x):
        axis = node.attrs["axis"]
        return getattr(ns, name)(x, axis=None if axis is None else axis[0])

    return fn


def _same(part):
    return part


def _index(idx, parts) -> tuple:
    """eggflow's ``idx`` param with its (traced or symbolic) parts -> a Python index."""
    return index_tuple(idx, parts, scalar=_same, array=_same, mask=_same)


def _round(ns, node, x):
    if np.dtype(node.dtype).kind in "biu":
        return x
    if node.attrs["mode"] == "half_to_even":
        return ns.round(x)
    half = ns.constant(np.asarray(0.5, dtype=node.dtype))  # x + 0.5 in x's precision
    return ns.where(ns.greater_equal(x, 0), ns.floor(ns.add(x, half)),
                    ns.ceil(ns.subtract(x, half)))


def _dimshuffle(ns, node, x):
    """Drop the size-1 axes missing from the pattern, permute, then insert the 'x' axes."""
    pattern, ndim = node.attrs["pattern"], node.inputs[0].ndim
    dropped = tuple(a for a in range(ndim) if a not in pattern)
    if dropped:
        x = ns.squeeze(x, axis=dropped)
    remaining = [a for a in range(ndim) if a not in dropped]
    perm = [remaining.index(p) for p in pattern if p != "x"]
    if perm != sorted(perm):
        x = ns.transpose(x, perm)
    new = tuple(k for k, p in enumerate(pattern) if p == "x")
    return ns.expand_dims(x, new) if new else x


def _split(ns, node, x, *sizes):
    axis, k = node.attrs["axis"], node.attrs["k"]
    lo = sum(sizes[:k], 0)
    return ns.getitem(x, (slice(None),) * axis + (slice(lo, lo + sizes[k]),))


def _batched_dot(ns, node, a, b):
    na, nb = node.inputs[0].ndim, node.inputs[1].ndim
    out = ns.matmul(a if na == 3 else ns.expand_dims(a, 1), b if nb == 3 else ns.expand_dims(b, 2))
    drop = (1,) * (na == 2) + (2,) * (nb == 2)
    return ns.squeeze(out, axis=drop) if drop else out


def _writer(method):
    def fn(ns, node, x, y, *parts):
        return getattr(ns, method)(x, _index(node.attrs["idx"], parts), ns.cast(y, node.dtype))

    return fn


TRANSLATIONS: dict[str, Callable] = {op: _elementwise(name) for op, name in ELEMWISE.items()}
TRANSLATIONS.update({
    "reciprocal": lambda ns, node, x: ns.true_divide(1, x),
    "round": _round,
    "cast": lambda ns, node, x: ns.cast(x, node.attrs["dtype"]),
    "shape": lambda ns, node, x: ns.shape(x),
    "shape_i": lambda ns, node, x: ns.shape_i(x, node.attrs["i"]),
    "dimshuffle": _dimshuffle,
    "alloc": lambda ns, node, value, *dims: ns.alloc(value, ns.dims(dims)),
    "reshape": lambda ns, node, x, *dims: ns.reshape(x, ns.dims(dims)),
    "join": lambda ns, node, *xs: ns.concatenate(list(xs), axis=node.attrs["axis"]),
    "split": _split,
    "arange": lambda ns, node, start, stop, step: ns.arange(start, stop, step,
                                                            dtype=node.attrs["dtype"]),
    **{op: _reduce(op) for op in ("sum", "prod", "max", "min", "all", "any")},
    "argmax": _argreduce("argmax"),
    "argmin": _argreduce("argmin"),
    "dot": lambda ns, node, a, b: ns.dot(a, b),
    "tensordot": lambda ns, node, a, b: ns.tensordot(
        a, b, axes=[list(node.attrs["axes"][0]), list(node.attrs["axes"][1])]),
    "batched_dot": _batched_dot,
    "subtensor": lambda ns, node, x, *parts: ns.getitem(x, _index(node.attrs["idx"], parts)),
    "set_subtensor": _writer("set_at"),
    "inc_subtensor": _writer("inc_at"),
    "softmax": lambda ns, node, x: ns.softmax(x, axis=node.attrs["axis"]),
    "log_softmax": lambda ns, node, x: ns.log_softmax(x, axis=node.attrs["axis"]),
    "logsumexp": lambda ns, node, x: ns.logsumexp(x, axis=node.attrs["axis"]),
})
# eggflow ops deliberately left out (prepare says so, naming the op)
UNTRANSLATED = {"map_index": "a loop over a body graph (jacobian, hessian)"}
UNTRANSLATED.update({op: "a late-phase op (fusion, BLAS or inplace form): peers run the "
                     "unoptimized graph, which never holds it" for op in (
                         "load", "inline", "kernel", "kernel_i", "kreduce", "gemm", "gemv", "ger",
                         "gemm_i", "gemv_i", "ger_i", "set_subtensor_i", "inc_subtensor_i")})


class Namespace:
    """A backend module seen through NumPy's spellings, plus the few structural helpers the
    table uses (``dims``, ``alloc``, ``getitem``, ``set_at``, ``cast``, ...)."""

    fold = False  # compute ops on concrete inputs with eggflow's NumPy impl (JAX: static shapes)

    def __init__(self, label: str, module, names: dict):
        self.label, self._module, self._names = label, module, names

    def __getattr__(self, name):
        fn = self._names.get(name)
        return fn if fn is not None else getattr(self._module, name)

    def concrete(self, value) -> bool:
        return False

    def conform(self, value, node):  # checks / annotations after each op
        return value


class _PyTensorNamespace(Namespace):
    def __init__(self):
        import pytensor.tensor as pt
        from pytensor.tensor import special

        self.pt = pt
        super().__init__("PyTensor", pt, {
            "subtract": pt.sub, "multiply": pt.mul, "true_divide": pt.true_div,
            "floor_divide": pt.floor_div, "remainder": pt.mod, "negative": pt.neg,
            "absolute": pt.abs, "copy": pt.tensor_copy, "where": pt.switch,
            "round": lambda x: pt.round(x, mode="half_to_even"),
            "softmax": special.softmax, "log_softmax": special.log_softmax,
        })

    def constant(self, array):
        return self.pt.constant(array)

    def leaf(self, node):
        return self.pt.tensor(dtype=node.dtype, shape=node.type.shape, name=node.name)

    def dtype(self, x):
        return x.dtype

    def cast(self, x, dtype):
        return x if x.dtype == dtype else self.pt.cast(x, dtype)

    def dims(self, dims):
        return list(dims)

    def shape(self, x):
        return x.shape

    def shape_i(self, x, i):
        return x.shape[i]

    def alloc(self, value, dims):
        return self.pt.alloc(value, *dims)

    def getitem(self, x, index):
        return x[index]

    def set_at(self, x, index, y):
        return self.pt.set_subtensor(x[index], y)

    def inc_at(self, x, index, y):
        return self.pt.inc_subtensor(x[index], y)

    def conform(self, value, node):
        if node.type.shape is None:
            return value
        if value.type.ndim != node.ndim:
            raise TypeError(f"{node.op} translated to a {value.type.ndim}-d PyTensor result, "
                            f"expected {node.type}")
        ones = [a for a, (want, have) in enumerate(zip(node.type.shape, value.type.shape))
                if want == 1 and have != 1]
        return self.pt.specify_broadcastable(value, *ones) if ones else value


class _JaxNamespace(Namespace):
    fold = True

    def __init__(self):
        import jax
        import jax.numpy as jnp

        self.jnp = jnp
        super().__init__("JAX", jnp, {
            "erf": jax.scipy.special.erf, "sigmoid": jax.nn.sigmoid,
            "softplus": jax.nn.softplus, "softmax": jax.nn.softmax,
            "log_softmax": jax.nn.log_softmax, "logsumexp": jax.nn.logsumexp,
        })

    def concrete(self, value) -> bool:
        return isinstance(value, (np.ndarray, np.generic))

    def constant(self, array):
        return array

    def dtype(self, x):
        return np.dtype(x.dtype).name

    def cast(self, x, dtype):
        return x if self.dtype(x) == dtype else x.astype(dtype)

    def dims(self, dims):
        return tuple(operator.index(d) for d in dims)  # static: jax.jit needs concrete sizes

    def shape(self, x):
        return np.array(np.shape(x), dtype=np.int64)

    def shape_i(self, x, i):
        return np.int64(np.shape(x)[i])

    def alloc(self, value, dims):
        return self.jnp.broadcast_to(value, dims)

    def getitem(self, x, index):
        return self.jnp.asarray(x)[index]

    def set_at(self, x, index, y):
        return self.jnp.asarray(x).at[index].set(y)

    def inc_at(self, x, index, y):
        return self.jnp.asarray(x).at[index].add(y)

    def conform(self, value, node):
        shape = np.shape(value)
        if node.type.shape is None:
            return value
        if len(shape) != node.ndim or any(w is not None and w != h
                                          for w, h in zip(node.type.shape, shape)):
            raise TypeError(f"{node.op} translated to a JAX result of shape {shape}, expected "
                            f"{node.type}")
        return value


def _weak_dtype(consumer, const) -> str:
    """The dtype a Python-number constant is computed in by its consumer (NumPy 2 promotion:
    ``float32_array * 0.1`` multiplies in float32)."""
    if not const.attrs["weak"] or OPS[consumer.op].family != "elemwise":
        return const.dtype
    try:
        return result_dtype(*consumer.inputs) or const.dtype
    except (TypeError, ValueError, OverflowError):
        return const.dtype


def translate(ns: Namespace, outputs, leaves, leaf_values) -> list:
    """Walk the graph once, applying ``TRANSLATIONS`` in ``ns``; returns the outputs' values."""
    env = dict(zip(leaves, leaf_values))
    consts: dict = {}

    def const(node, dtype):
        key = (node, dtype)
        if key not in consts:
            consts[key] = ns.constant(np.asarray(node.data, dtype=dtype))
        return consts[key]

    for node in toposort(outputs):
        if node in env or node.op == "constant":
            continue
        args = [const(i, _weak_dtype(node, i)) if i.op == "constant" else env[i]
                for i in node.inputs]
        if (ns.fold and OPS[node.op].family != "alloc"
                and all(ns.concrete(a) and np.size(a) <= FOLD_LIMIT for a in args)):
            env[node] = run_step(node, args)  # a trace-time constant (shapes, sizes)
            continue
        out = TRANSLATIONS[node.op](ns, node, *args)
        if node.dtype is not None and ns.dtype(out) != node.dtype:
            out = ns.cast(out, node.dtype)
        env[node] = ns.conform(out, node)
    return [const(o, o.dtype) if o.op == "constant" and o not in env else env[o]
            for o in outputs]


def graph_leaves(workload) -> tuple[list, str]:
    """(the leaves fed at call time: the workload's inputs then the shared variables it does
    not list, a reason why the graph cannot be translated or "")."""
    inputs = list(workload.inputs)
    known, shared = set(inputs), []
    for node in toposort(workload.outputs):
        if node.inputs or node.op == "constant" or node in known:
            continue
        if node.op == "shared":
            shared.append(node)
            known.add(node)
        else:
            return [], (f"the graph needs a value for the {node.op} {node.name or node.type}, "
                        "which is not among the workload's inputs")
    for node in inputs + shared:
        if node.type.shape is None or node.dtype is None:
            return [], f"the input {node.name or node} has no static ndim/dtype ({node.type})"
    return inputs + shared, ""


def untranslated(outputs, label: str) -> str:
    """The reason the graph cannot be translated (the first op without a translation), or ""."""
    for node in toposort(outputs):
        if node.inputs and node.op not in TRANSLATIONS:
            return f"op {node.op!r} has no {label} translation"
    return ""


class _GraphPeer(Peer):
    """A peer that translates the eggflow graph (PyTensor, JAX)."""

    label = "?"

    def prepare(self, workload):
        ok, why = self.available()
        if not ok:
            return self._skip(why)
        reason = untranslated(workload.outputs, self.label)
        if reason:
            return self._skip(reason)
        leaves, reason = graph_leaves(workload)
        if reason:
            return self._skip(reason)
        n_in = len(workload.inputs)
        dtypes = [np.dtype(v.dtype) for v in leaves[:n_in]]
        shared = leaves[n_in:]
        try:
            compiled = self.compile(workload.outputs, leaves)
        except Exception as exc:
            return self._skip(f"{self.label} could not build the graph: "
                              f"{type(exc).__name__}: {exc}")

        def run(*values):
            args = [np.asarray(v, dtype=d) for v, d in zip(values, dtypes)]
            args += [s.get_value(borrow=True) for s in shared]
            return compiled(*args)

        run = with_updates(workload, run)
        try:
            with np.errstate(all="ignore"):  # warm-up: compiles lazily, checks that it runs
                run(*workload.values)
        except Exception as exc:
            return self._skip(f"{self.label} could not run the graph: "
                              f"{type(exc).__name__}: {exc}")
        return self._ready(run)

    def compile(self, outputs, leaves) -> Callable:
        raise NotImplementedError


class PyTensorPeer(_GraphPeer):
    name, module, label = "pytensor", "pytensor", "PyTensor"

    def __init__(self, mode=None, name=None, note=""):
        super().__init__()
        self.mode = mode  # None: PyTensor's default mode (config.mode, PYTENSOR_FLAGS)
        self._checked = None  # (mode to compile with, its description), after a smoke test
        self.name = name or self.name
        self.note = note  # added to the version string (how BLAS was set up, say)

    def _mode(self):
        """The mode to compile with: the requested one if a tiny function compiles and runs in
        it, else the Python linker (noted in the version)."""
        if self._checked is None:
            import pytensor
            import pytensor.tensor as pt
            from pytensor.compile.mode import Mode, get_mode

            mode = get_mode(self.mode)
            kind = type(mode.linker).__name__.removesuffix("Linker").lower()
            if kind == "vm" and getattr(mode.linker, "c_thunks", False):
                kind = "cvm (C)"
            desc = f"{kind} linker"
            try:
                x = pt.dvector("x")
                fn = pytensor.function([x], pt.exp(x), mode=mode)
                if not np.allclose(fn(np.zeros(2)), 1.0):
                    raise RuntimeError("exp(0) != 1")
            except Exception as exc:
                mode = Mode(linker="py", optimizer="fast_run")
                desc = f"py linker: the default failed ({type(exc).__name__}: {exc})"
            self._checked = (mode, desc)
        return self._checked

    def version(self, mod):
        note = f"; {self.note}" if self.note else ""
        return f"{mod.__version__} ({self._mode()[1]}{note})"

    def compile(self, outputs, leaves):
        import pytensor

        ns = _PyTensorNamespace()
        variables = [ns.leaf(n) for n in leaves]
        outs = translate(ns, outputs, leaves, variables)
        fn = pytensor.function(variables, outs, mode=self._mode()[0], on_unused_input="ignore")
        return lambda *args: _as_list(fn(*args))


# -- PyTensor's C backend and a BLAS for it ----------------------------------------------------
# Level-1/2/3 BLAS routines (Fortran ABI names without the trailing "_"); PyTensor's C code
# calls a few of them (gemm, gemv, ger, dot, ...).
_BLAS_ROUTINES = [p + r for p in "sdcz" for r in (
    "rotg rotmg rot rotm swap scal copy axpy dot dotu dotc nrm2 asum gemv gbmv symv sbmv spmv "
    "trmv tbmv tpmv trsv tbsv tpsv ger geru gerc syr spr syr2 spr2 hemv hbmv hpmv her hpr her2 "
    "hpr2 gemm symm syrk syr2k hemm herk her2k trmm trsm").split()]
_BLAS_ROUTINES += ["isamax", "idamax", "icamax", "izamax", "scasum", "dzasum", "scnrm2",
                   "dznrm2", "sdsdot", "dsdot"]
_JUMP = {"x86_64": "jmp {}@PLT", "aarch64": "b {}"}  # a tail call: any signature forwards


def _scipy_openblas_shim(cache_dir) -> tuple[str, str]:
    """(ldflags, description) linking PyTensor's C code to the scipy-openblas32 wheel.

    That library's symbols carry a ``scipy_`` prefix (``scipy_dgemm_``), so linking it alone
    leaves ``dgemm_`` undefined: a small shared library of jumps (``dgemm_`` ->
    ``scipy_dgemm_``), built once into ``cache_dir``, sits in between."""
    import ctypes
    import hashlib
    import os
    import platform
    import shutil
    import subprocess

    import scipy_openblas32

    lib_dir, lib = scipy_openblas32.get_lib_dir(), scipy_openblas32.get_library()
    jump = _JUMP.get(platform.machine())
    if jump is None or platform.system() != "Linux":
        raise RuntimeError(f"no BLAS shim for {platform.system()} {platform.machine()}")
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise RuntimeError("no C compiler (cc, gcc) to build the BLAS shim")
    path = os.path.join(lib_dir, f"lib{lib}.so")
    so = ctypes.CDLL(path)
    names = [n for n in _BLAS_ROUTINES if hasattr(so, f"scipy_{n}_")]
    key = hashlib.sha1(f"{path} {os.path.getmtime(path)} {names}".encode()).hexdigest()[:12]
    out = os.path.join(cache_dir, f"eggflow_blas_shim_{key}")
    if not os.path.exists(os.path.join(out, "libeggflow_blas.so")):
        os.makedirs(out, exist_ok=True)
        asm = [".text"]
        for n in names:
            asm += [f".globl {n}_", f".type {n}_, @function", f"{n}_:",
                    "    " + jump.format(f"scipy_{n}_")]
        asm.append('.section .note.GNU-stack,"",@progbits')
        src = os.path.join(out, "shim.S")
        with open(src, "w") as fh:
            fh.write("\n".join(asm) + "\n")
        tmp = os.path.join(out, f"libeggflow_blas.{os.getpid()}.so")
        subprocess.run([cc, "-shared", "-fPIC", "-o", tmp, src, f"-L{lib_dir}", f"-l{lib}",
                        f"-Wl,-rpath,{lib_dir}"], check=True, capture_output=True)
        os.replace(tmp, os.path.join(out, "libeggflow_blas.so"))
    flags = f"-L{out} -leggflow_blas -L{lib_dir} -l{lib} -Wl,-rpath,{out} -Wl,-rpath,{lib_dir}"
    return flags, (f"BLAS: scipy-openblas32 {scipy_openblas32.__version__} through a "
                   f"{len(names)}-symbol shim ({out})")


def setup_pytensor_blas() -> str:
    """Give PyTensor's C code a BLAS when it found none (``config.blas__ldflags`` empty): the
    scipy-openblas32 wheel (through a shim, see ``_scipy_openblas_shim``), else a system
    ``-lopenblas``. Checked on a compiled C dot; on failure the flags are cleared again, and
    PyTensor computes its BLAS ops with NumPy (their Python code). Returns what was used."""
    import ctypes.util

    import pytensor

    if pytensor.config.blas__ldflags:
        return f"BLAS: {pytensor.config.blas__ldflags} (PyTensor's own)"
    attempts, failures = [], []
    try:
        import scipy_openblas32  # noqa: F401 - the wheel (pip install scipy-openblas32)

        attempts.append(lambda: _scipy_openblas_shim(pytensor.config.compiledir))
    except ImportError:
        failures.append("scipy-openblas32 is not installed")
    if ctypes.util.find_library("openblas"):
        attempts.append(lambda: ("-lopenblas", "BLAS: -lopenblas"))
    for attempt in attempts:
        try:
            flags, how = attempt()
            pytensor.config.blas__ldflags = flags
            _check_pytensor_c_dot()
            return how
        except Exception as exc:  # noqa: BLE001 - say why and try the next one
            pytensor.config.blas__ldflags = ""
            failures.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    pytensor.config.blas__ldflags = ""
    return "no BLAS: dot/gemm run NumPy's (" + "; ".join(failures or ["none found"]) + ")"


def _check_pytensor_c_dot():
    import pytensor
    import pytensor.tensor as pt
    from pytensor.compile.mode import Mode

    a, b = pt.dmatrices("a", "b")
    fn = pytensor.function([a, b], pt.dot(a, b), mode=Mode(linker="cvm", optimizer="fast_run"))
    nodes = fn.maker.fgraph.toposort()
    if not any(getattr(th, "cthunk", None) is not None
               for n, th in zip(nodes, fn.vm.thunks) if "Dot" in type(n.op).__name__
               or "Gemm" in type(n.op).__name__):
        raise RuntimeError("the dot did not compile to C")
    x = np.arange(12.0).reshape(3, 4)
    if not np.allclose(fn(x, x.T), x @ x.T):
        raise RuntimeError("the C dot computes a wrong product")


def pytensor_c_peer(name="pytensor-c") -> "PyTensorPeer":
    """PyTensor with its C backend (``Mode(linker="cvm", optimizer="fast_run")``) and a BLAS
    (``setup_pytensor_blas``); its version string says which BLAS. If C code does not compile
    here, PyTensor's default mode, named "pytensor" and saying why."""
    ok, why = PEERS["pytensor"].available()
    if not ok:
        return PyTensorPeer(name=name)
    import warnings

    with warnings.catch_warnings():  # "could not link to a BLAS": setup_pytensor_blas sees to it
        warnings.simplefilter("ignore")
        return _pytensor_c_peer(name)


def _pytensor_c_peer(name):
    import pytensor
    import pytensor.tensor as pt
    from pytensor.compile.mode import Mode

    mode = Mode(linker="cvm", optimizer="fast_run")
    try:
        x = pt.dvector("x")
        fn = pytensor.function([x], pt.exp(x) + 1, mode=mode)
        if not any(getattr(th, "cthunk", None) is not None for th in fn.vm.thunks):
            raise RuntimeError("no op compiled to C")
        if not np.allclose(fn(np.zeros(2)), 2.0):
            raise RuntimeError("exp(0) + 1 != 2")
    except Exception as exc:  # noqa: BLE001 - no compiler, no headers, ...
        return PyTensorPeer(name="pytensor", note=f"its C linker failed: {type(exc).__name__}: "
                                                  f"{str(exc).splitlines()[0][:200]}")
    note = setup_pytensor_blas()
    return PyTensorPeer(mode=mode, name=name, note=note)


class JaxPeer(_GraphPeer):
    name, module, label = "jax", "jax", "JAX"

    def version(self, mod):
        return f"{mod.__version__} ({mod.default_backend()})"

    def compile(self, outputs, leaves):
        import jax

        jax.config.update("jax_enable_x64", True)  # float64 as in eggflow (process-wide)
        ns = _JaxNamespace()
        jitted = jax.jit(lambda *values: translate(ns, outputs, leaves, values))

        def run(*args):
            outs = jitted(*args)
            for o in outs:
                o.block_until_ready()
            return [np.asarray(o) for o in outs]

        return run


PEERS: dict[str, Peer] = {p.name: p for p in (NumPyPeer(), NumExprPeer(), PyTensorPeer(),
                                              JaxPeer())}


def versions() -> dict:
    """Peer name -> version string (None where the peer is not available)."""
    out = {}
    for name, peer in PEERS.items():
        ok, what = peer.available()
        out[name] = what if ok else None
    return out


__all__ = ["Peer", "PEERS", "versions", "TRANSLATIONS", "ELEMWISE", "UNTRANSLATED", "translate",
           "Namespace", "with_updates", "setup_pytensor_blas", "pytensor_c_peer"]
