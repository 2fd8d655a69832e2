"""Compile one generated C source into a CPython extension (cffi API mode), with a disk cache.

``load_module(cdef, source)`` returns cffi's ``(ffi, lib)`` for a module whose C functions are
declared by ``cdef`` and defined by ``source``. cffi writes the wrapper C file
(``cffi.recompiler.make_c_source``, what ``ffi.emit_c_code`` calls); this module then runs the
C compiler itself (one ``cc ... -shared`` command, output captured), which avoids
setuptools/distutils, their terminal output and their import cost.

Parallel compilation: ``load_module(..., parts=(c1, c2, ...))`` adds self-contained C
translation units that define (with external linkage) functions ``cdef`` declares; ``source``
then only needs their prototypes. The wrapper and every part are compiled to object files
(``cc -c``) concurrently, at most ``os.cpu_count()`` compilers at a time, then one
``cc -shared`` links them. Splitting a heavy source in parts cuts the cold compile's wall time
on a multi-core machine (gcc compiles one unit on one core).

Cache layout: ``<compiledir>/c/<key[:2]>/<key>/`` holds ``<module>.c``, ``<module>_part<i>.c``
(one per part, kept for debugging), ``<module><EXT_SUFFIX>`` and ``meta.json`` (the sha256 of
the .so, the flags). The key (``cache_key``) hashes the
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
import time
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


def cache_key(cdef: str, source: str, flags, parts=()) -> str:
    """sha256 hex over the sources (``parts`` too), the full flag list and the build environment.

    Without parts the key is the same as before parts existed (cached entries stay valid).
    """
    h = hashlib.sha256()
    fields = [cdef, source, "\0".join(flags), *_environment(os.environ.get("CC") or "cc")]
    if parts:  # appended: a key with parts never equals one without (its stream is longer)
        fields += [f"parts={len(parts)}", *parts]
    for p in fields:
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


def _load_entry(entry: Path, key: str, errors: list | None = None):
    """Import the module of a cache entry; None when the entry is missing or was corrupt.

    A corrupt entry (no/unreadable meta.json, .so checksum mismatch, import failure) is deleted;
    the reason is appended to ``errors`` when given.
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
    except (OSError, ValueError, KeyError, ImportError) as e:
        if errors is not None:
            errors.append(f"{type(e).__name__}: {e}")
        STATS["corrupt_rebuilds"] += 1
        _remove_entry(entry)
        return None


_LINK_ONLY = ("-l", "-L", "-Wl,")  # argument prefixes that only matter when linking


def _split_flags(args) -> tuple[list[str], list[str]]:
    """``(compile, link_only)``: ``-l``/``-L``/``-Wl,`` arguments go to the link command only."""
    comp, link = [], []
    for a in args:
        (link if a.startswith(_LINK_ONLY) else comp).append(a)
    return comp, link


def _run_jobs(jobs: list[tuple[str, list[str]]], logdir: Path, root: Path) -> None:
    """Run compiler commands ``(unit, argv)`` concurrently (at most ``os.cpu_count()`` at once).

    Each job's output goes to a log file (no pipe to drain, so no deadlock on long output).
    Raises CompileError naming every failed unit, with its command and output tail. Processes
    still running when this function is left by an exception are killed.
    """
    limit = max(1, os.cpu_count() or len(jobs))
    pending = list(enumerate(jobs))
    running: list[tuple[int, subprocess.Popen]] = []
    failed: list[tuple[int, int, str]] = []  # (job index, exit status, output)
    logs = [logdir / f"job{i}.log" for i in range(len(jobs))]
    try:
        while pending or running:
            while pending and len(running) < limit:
                i, (_, cmd) = pending.pop(0)
                with open(logs[i], "wb") as log:
                    try:
                        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                                stderr=subprocess.STDOUT)
                    except OSError as e:
                        failed.append((i, -1, str(e)))
                        continue
                running.append((i, proc))
            if len(running) == 1 and not pending:
                running[0][1].wait()
            still = []
            for i, proc in running:
                rc = proc.poll()
                if rc is None:
                    still.append((i, proc))
                elif rc != 0:
                    failed.append((i, rc, logs[i].read_text(errors="replace")))
            if len(still) == len(running):
                time.sleep(0.002)
            running = still
    finally:
        for _, proc in running:  # only on an exception (KeyboardInterrupt, ...)
            proc.kill()
            proc.wait()
    if failed:
        msgs = []
        for i, rc, out in sorted(failed):
            unit, cmd = jobs[i]
            tail = "\n".join(out.splitlines()[-_STDERR_TAIL:])
            msgs.append(f"C compilation of {unit} failed (exit {rc}; cache dir {root}).\n"
                        f"command: {shlex.join(cmd)}\n{tail}")
        raise CompileError("\n".join(msgs))


def _build(entry: Path, key: str, cdef: str, source: str, flags: list[str],
           link: list[str], parts: tuple[str, ...] = ()) -> None:
    """Compile into a temp dir inside the cache, then rename it to ``entry`` (first one wins).

    Without ``parts``: one ``cc -shared`` command. With parts: the wrapper and each part are
    compiled to objects concurrently (in ``tmp/obj``, removed before the rename), then linked.
    """
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
        incs = [f"-I{i}" for i in dict.fromkeys([paths["include"], paths["platinclude"]])]
        objdir = tmp / "obj"
        objdir.mkdir()
        STATS["compiles"] += 1
        if not parts:
            cmd = [*_compiler(), *flags, "-fPIC", "-shared", *incs,
                   str(c_file), "-o", str(so), *link, "-lm"]
            _run_jobs([(f"{c_file.name} (cffi wrapper + source)", cmd)], objdir, root)
        else:
            cflags, ldflags = _split_flags(flags)
            lcomp, lonly = _split_flags(link)
            units = [(f"{c_file.name} (cffi wrapper + source)", c_file)]
            for i, part in enumerate(parts):
                part_file = tmp / f"{modname}_part{i}.c"
                part_file.write_text(part)
                units.append((f"{part_file.name} (part {i})", part_file))
            jobs, objs = [], []
            for unit, src in units:
                obj = objdir / (src.stem + ".o")
                objs.append(str(obj))
                jobs.append((unit, [*_compiler(), *cflags, "-fPIC", *incs, *lcomp,
                                    "-c", str(src), "-o", str(obj)]))
            _run_jobs(jobs, objdir, root)
            cmd = [*_compiler(), *cflags, "-fPIC", "-shared", *objs, "-o", str(so),
                   *ldflags, *lonly, "-lm"]
            _run_jobs([(f"link of {so.name}", cmd)], objdir, root)
        shutil.rmtree(objdir, ignore_errors=True)
        meta = {"module": modname, "so": so.name, "sha256": _sha256_file(so), "flags": flags,
                "link": link, "parts": len(parts)}
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
                extra_compile_args: tuple = (), compiledir: str | None = None,
                parts: tuple[str, ...] = ()):
    """Compile (or fetch from the cache) a cffi API-mode module; return its ``(ffi, lib)``.

    ``cdef`` declares the C functions (cffi syntax), ``source`` defines them. ``blas=True`` adds
    scipy-openblas32's include and library (use ``blas_info()['header']`` and
    ``cblas_prefix()``). ``compiledir`` defaults to ``eggflow.frontend.config.config.compiledir``.
    ``parts``: extra self-contained C translation units (own includes) compiled in parallel with
    the wrapper and linked in; functions of ``cdef`` they define must have external linkage,
    and ``source`` then holds only their prototypes. ``extra_compile_args`` go to every compile
    command (but ``-l``/``-L``/``-Wl,`` ones only to the link command).
    Raises CompileError when the code does not compile (naming the failing unit).
    """
    parts = tuple(parts)
    args = (cdef, source, blas, openmp, tuple(extra_compile_args), parts)
    hit = _memo_args.get(args)
    if hit is not None:
        STATS["memo_hits"] += 1
        return hit
    flags = compile_flags(openmp, extra_compile_args)
    link = _blas_args() if blas else []
    key = cache_key(cdef, source, flags + link, parts)
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
            _build(entry, key, cdef, source, flags, link, parts)
            errors: list[str] = []
            mod = _load_entry(entry, key, errors)
            if mod is None:  # e.g. a function cdef declares that no unit defines
                raise CompileError(f"the module built in {entry} does not load: "
                                   + "; ".join(errors))
        _memo[key] = _memo_args[args] = (mod.ffi, mod.lib)
        return _memo[key]
