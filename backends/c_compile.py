"""Compile one generated C source into a CPython extension (cffi API mode), with a disk cache.

``load_module(cdef, source)`` returns cffi's ``(ffi, lib)`` for a module whose C functions are
declared by ``cdef`` and defined by ``source``. cffi writes the wrapper C file
(``cffi.recompiler.make_c_source``, what ``ffi.emit_c_code`` calls); this module then runs the
C compiler itself (one ``cc ... -shared`` command, output captured), which avoids
setuptools/distutils, their terminal output and their import cost.

Cache layout: ``<compiledir>/c/<key[:2]>/<key>/`` holds ``<module>.c``, ``<module><EXT_SUFFIX>``
and ``meta.json`` (the sha256 of the .so, the flags). The key (``cache_key``) hashes the
sources, the flags and everything the binary depends on (cffi version, Python ABI, platform,
CPU flags since we use ``-march=native``, compiler identity). An entry is built in a temporary
directory inside ``<compiledir>/c`` and renamed into place as a whole: renaming a directory
is atomic, so concurrent builders of one key both succeed, the first rename wins, and no
reader ever sees a partial entry. On load the .so's sha256 is checked against ``meta.json``;
a mismatching or unimportable entry is deleted and rebuilt once.

``STATS`` counts compiles, disk hits, memo hits and corrupt rebuilds (tests and benchmarks read it).
"""

from __future__ import annotations

import errno
import functools
import hashlib
import importlib.util
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
from pathlib import Path

import cffi
import cffi.recompiler

_LAYOUT_VERSION = 1  # bump when the entry layout or the fixed compiler arguments change
_STDERR_TAIL = 40  # lines of compiler output kept in CompileError

STATS = {"compiles": 0, "disk_hits": 0, "memo_hits": 0, "corrupt_rebuilds": 0}
_memo: dict[str, tuple] = {}  # key -> (ffi, lib)
_memo_args: dict[tuple, tuple] = {}  # load_module's arguments -> (ffi, lib): skips hashing
_lock = threading.Lock()  # serialises cache misses within one process


class CompileError(RuntimeError):
    """The C source (or its cdef) did not compile; the message has the compiler output tail."""


# ---------------------------------------------------------------- environment identity


def _compiler() -> list[str]:
    """The C compiler command: ``$CC`` or ``cc``."""
    return shlex.split(os.environ.get("CC") or "cc")


@functools.cache
def _compiler_id(cmd: tuple[str, ...]) -> str:
    """First line of ``cc --version`` (memoised); 'unavailable' when it cannot run."""
    try:
        out = subprocess.run([*cmd, "--version"], capture_output=True, text=True, timeout=30)
        return out.stdout.splitlines()[0] if out.stdout else "unavailable"
    except (OSError, subprocess.SubprocessError):
        return "unavailable"


@functools.cache
def _cpu_flags() -> str:
    """The CPU's feature flags ('flags' line of /proc/cpuinfo), or the processor name."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):  # x86 / arm
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def compile_flags(openmp: bool = True, extra=()) -> list[str]:
    """The optimisation flags passed to the compiler (and linker), then ``extra``."""
    return ["-O3", "-march=native", *(["-fopenmp"] if openmp else []), *extra]


@functools.cache
def _environment(cc: str) -> tuple[str, ...]:
    """What a built module depends on besides its sources and flags (memoised per $CC)."""
    return (
        f"layout={_LAYOUT_VERSION}",
        cffi.__version__,
        sys.implementation.cache_tag or "",
        sysconfig.get_config_var("EXT_SUFFIX") or "",
        sysconfig.get_platform(),
        platform.machine(),
        _cpu_flags(),
        cc,
        _compiler_id(tuple(shlex.split(cc))),
    )


def cache_key(cdef: str, source: str, flags) -> str:
    """sha256 hex over the sources, the full flag list and the build environment."""
    h = hashlib.sha256()
    for p in (cdef, source, "\0".join(flags), *_environment(os.environ.get("CC") or "cc")):
        h.update(p.encode())
        h.update(b"\0\1\0")  # separator: ('ab', 'c') and ('a', 'bc') hash differently
    return h.hexdigest()


# ---------------------------------------------------------------- BLAS (scipy-openblas32)


@functools.cache
def blas_info() -> dict | None:
    """scipy-openblas32's include/lib dirs, library name, header and symbol prefix, or None.

    Generated C includes ``<{header}>`` (``cblas.h``) and calls ``{prefix}dgemm`` etc.
    """
    try:
        import scipy_openblas32 as sob
    except ImportError:
        return None
    inc = sob.get_include_dir()
    header = next(
        (h for h in ("cblas.h", "scipy_openblas.h") if os.path.exists(os.path.join(inc, h))),
        "cblas.h",
    )
    prefix = "scipy_cblas_"
    try:
        text = Path(inc, header).read_text(errors="replace")
        m = re.search(r"\b(\w*)cblas_dgemm\s*\(", text)
        prefix = m.group(1) + "cblas_" if m else prefix
    except OSError:
        pass
    return {
        "include_dir": inc,
        "lib_dir": sob.get_lib_dir(),
        "library": sob.get_library(),
        "header": header,
        "prefix": prefix,
    }


def cblas_prefix() -> str:
    """The CBLAS symbol prefix ('scipy_cblas_': ``scipy_cblas_dgemm``); that default if absent."""
    info = blas_info()
    return info["prefix"] if info else "scipy_cblas_"


def _blas_args() -> list[str]:
    info = blas_info()
    if info is None:
        raise CompileError("blas=True but scipy-openblas32 is not installed")
    lib = info["lib_dir"]
    return [f"-I{info['include_dir']}", f"-L{lib}", f"-l{info['library']}", f"-Wl,-rpath,{lib}"]


# ---------------------------------------------------------------- the cache


def _module_name(key: str) -> str:
    return f"_eggflow_c_{key[:16]}"


def _so_name(key: str) -> str:
    return _module_name(key) + (sysconfig.get_config_var("EXT_SUFFIX") or ".so")


def _sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _remove_entry(entry: Path) -> None:
    """Delete a cache entry: rename it aside first (atomic), then remove the renamed copy."""
    trash = entry.parent.parent / f"trash-{entry.name}-{os.getpid()}-{threading.get_ident()}"
    try:
        os.rename(entry, trash)
    except FileNotFoundError:
        return
    shutil.rmtree(trash, ignore_errors=True)


def _load_entry(entry: Path, key: str):
    """Import the module of a cache entry; None when the entry is missing or was corrupt.

    A corrupt entry (no/unreadable meta.json, .so checksum mismatch, import failure) is deleted.
    """
    if not entry.exists():
        return None
    so = entry / _so_name(key)
    try:
        meta = json.loads((entry / "meta.json").read_text())
        if meta["sha256"] != _sha256_file(so):
            raise ValueError("checksum mismatch")
        spec = importlib.util.spec_from_file_location(_module_name(key), so)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    except (OSError, ValueError, KeyError, ImportError):
        STATS["corrupt_rebuilds"] += 1
        _remove_entry(entry)
        return None


def _build(entry: Path, key: str, cdef: str, source: str, flags: list[str],
           link: list[str]) -> None:
    """Compile into a temp dir inside the cache, then rename it to ``entry`` (first one wins)."""
    modname = _module_name(key)
    root = entry.parent.parent
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="tmp-", dir=root))
    except OSError as e:
        raise CompileError(f"cannot create a build directory in {root}: {e}") from e
    try:
        ffi = cffi.FFI()
        c_file = tmp / f"{modname}.c"
        try:
            ffi.cdef(cdef)
            cffi.recompiler.make_c_source(ffi, modname, source, str(c_file), verbose=False)
        except Exception as e:  # cffi raises CDefError, FFIError, pycparser errors, ...
            raise CompileError(f"cffi rejected the cdef/source ({type(e).__name__}): {e}") from e
        so = tmp / _so_name(key)
        paths = sysconfig.get_paths()
        incs = dict.fromkeys([paths["include"], paths["platinclude"]])
        cmd = [*_compiler(), *flags, "-fPIC", "-shared", *(f"-I{i}" for i in incs),
               str(c_file), "-o", str(so), *link, "-lm"]
        STATS["compiles"] += 1
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
            out, rc = proc.stdout + proc.stderr, proc.returncode
        except OSError as e:
            out, rc = str(e), -1
        if rc != 0:
            tail = "\n".join(out.splitlines()[-_STDERR_TAIL:])
            raise CompileError(
                f"C compilation failed (exit {rc}; cache dir {root}).\n"
                f"command: {shlex.join(cmd)}\n{tail}"
            )
        meta = {"module": modname, "so": so.name, "sha256": _sha256_file(so), "flags": flags,
                "link": link}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        entry.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(tmp, entry)
        except OSError as e:
            if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise CompileError(f"cannot move the built module into {entry}: {e}") from e
            # another process finished the same key first: its entry wins
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone after a successful rename


def load_module(cdef: str, source: str, *, blas: bool = False, openmp: bool = True,
                extra_compile_args: tuple = (), compiledir: str | None = None):
    """Compile (or fetch from the cache) a cffi API-mode module; return its ``(ffi, lib)``.

    ``cdef`` declares the C functions (cffi syntax), ``source`` defines them. ``blas=True`` adds
    scipy-openblas32's include and library (use ``blas_info()['header']`` and
    ``cblas_prefix()``). ``compiledir`` defaults to ``eggflow.frontend.config.config.compiledir``.
    Raises CompileError when the code does not compile.
    """
    args = (cdef, source, blas, openmp, tuple(extra_compile_args))
    hit = _memo_args.get(args)
    if hit is not None:
        STATS["memo_hits"] += 1
        return hit
    flags = compile_flags(openmp, extra_compile_args)
    link = _blas_args() if blas else []
    key = cache_key(cdef, source, flags + link)
    if key in _memo:
        STATS["memo_hits"] += 1
        _memo_args[args] = _memo[key]
        return _memo[key]
    if compiledir is None:
        from eggflow.frontend.config import config

        compiledir = config.compiledir
    entry = Path(compiledir, "c", key[:2], key)
    with _lock:
        if key in _memo:
            return _memo[key]
        mod = _load_entry(entry, key)
        if mod is not None:
            STATS["disk_hits"] += 1
        else:
            _build(entry, key, cdef, source, flags, link)
            mod = _load_entry(entry, key)
            if mod is None:
                raise CompileError(f"the module built in {entry} does not load")
        _memo[key] = _memo_args[args] = (mod.ffi, mod.lib)
        return _memo[key]
