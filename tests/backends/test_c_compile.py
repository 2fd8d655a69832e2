"""backends/c_compile: cffi modules compiled once, cached on disk, safe under concurrency.

Every test uses its own ``tmp_path`` compiledir and a source tagged with the test's name (the
in-process memo is keyed by the sources, so tags keep tests independent).
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from eggflow.backends import c_compile as cc

ROOT = Path(__file__).resolve().parents[2]

ADD_CDEF = "void add(double *a, double *b, double *c, long n); int nthreads(void);"
ADD_SRC = """
#include <omp.h>
/* tag: %s */
void add(double *a, double *b, double *c, long n) {
    #pragma omp parallel for if (n > 100000)
    for (long i = 0; i < n; i++) c[i] = a[i] + b[i];
}
int nthreads(void) { return omp_get_max_threads(); }
"""

# A child process: load the add module from argv[1] (compiledir) with tag argv[2]; with argv[3]
# (a directory), first wait there until two children are ready. Prints the result and STATS.
CHILD = textwrap.dedent(
    """
    import json, os, sys, time
    import numpy as np
    from eggflow.backends import c_compile as cc
    from tests_cdef import CDEF, SRC
    if len(sys.argv) > 3:
        barrier = sys.argv[3]
        open(os.path.join(barrier, str(os.getpid())), "w").close()
        deadline = time.time() + 30
        while len(os.listdir(barrier)) < 2 and time.time() < deadline:
            time.sleep(0.001)
    ffi, lib = cc.load_module(CDEF, SRC % sys.argv[2], compiledir=sys.argv[1])
    a, b = np.arange(10.0), np.linspace(0, 1, 10)
    c = np.empty(10)
    lib.add(ffi.from_buffer("double[]", a), ffi.from_buffer("double[]", b),
            ffi.from_buffer("double[]", c), 10)
    print(json.dumps({"result": c.tolist(), "stats": cc.STATS}))
    """
)


@pytest.fixture
def child(tmp_path):
    """Start child processes running CHILD; returns a starter giving Popen objects."""
    mod_dir = tmp_path / "childmod"
    mod_dir.mkdir()
    (mod_dir / "tests_cdef.py").write_text(f"CDEF = {ADD_CDEF!r}\nSRC = {ADD_SRC!r}\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(mod_dir), str(ROOT)])}

    def start(*args):
        return subprocess.Popen([sys.executable, "-c", CHILD, *map(str, args)], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    return start


def finish(proc) -> dict:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert err == ""  # nothing printed on the terminal, even when compiling
    return json.loads(out)


def entries(compiledir: Path) -> list[Path]:
    return sorted((compiledir / "c").glob("??/*"))


def add(ffi, lib, a, b):
    c = np.empty_like(a)
    lib.add(ffi.from_buffer("double[]", a), ffi.from_buffer("double[]", b),
            ffi.from_buffer("double[]", c), a.size)
    return c


def test_add_matches_numpy_and_memoises(tmp_path):
    before = dict(cc.STATS)
    ffi, lib = cc.load_module(ADD_CDEF, ADD_SRC % "memo", compiledir=str(tmp_path))
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(1000), rng.standard_normal(1000)
    np.testing.assert_array_equal(add(ffi, lib, a, b), a + b)
    assert lib.nthreads() >= 1  # OpenMP runtime linked
    assert cc.STATS["compiles"] == before["compiles"] + 1
    again = cc.load_module(ADD_CDEF, ADD_SRC % "memo", compiledir=str(tmp_path))
    assert again[1] is lib and cc.STATS["memo_hits"] == before["memo_hits"] + 1
    [entry] = entries(tmp_path)
    names = {p.suffix for p in entry.iterdir()}
    assert names == {".c", ".json", ".so"}  # source, meta.json, module
    assert not list((tmp_path / "c").glob("tmp-*"))


def test_cache_hit_in_new_process_does_not_recompile(tmp_path, child):
    cc.load_module(ADD_CDEF, ADD_SRC % "newproc", compiledir=str(tmp_path))
    [entry] = entries(tmp_path)
    so = next(entry.glob("*.so"))
    stamp = (so.stat().st_ino, so.stat().st_mtime_ns)
    out = finish(child(tmp_path, "newproc"))
    assert out["stats"]["compiles"] == 0 and out["stats"]["disk_hits"] == 1
    assert (so.stat().st_ino, so.stat().st_mtime_ns) == stamp
    assert out["result"] == (np.arange(10.0) + np.linspace(0, 1, 10)).tolist()


def test_two_processes_compiling_at_once(tmp_path, child):
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = [child(tmp_path, "race", barrier) for _ in range(2)]
    outs = [finish(p) for p in procs]
    assert outs[0]["result"] == outs[1]["result"]
    assert sum(o["stats"]["compiles"] for o in outs) >= 1
    assert len(entries(tmp_path)) == 1
    assert not list((tmp_path / "c").glob("tmp-*"))  # the loser cleaned its build dir


@pytest.mark.parametrize("damage", ["truncate", "garbage_with_checksum", "no_meta"])
def test_corrupt_entry_is_rebuilt(tmp_path, child, damage):
    finish(child(tmp_path, damage))  # built by another process: never loaded in this one
    [entry] = entries(tmp_path)
    so = next(entry.glob("*.so"))
    if damage == "truncate":
        so.write_bytes(so.read_bytes()[: so.stat().st_size // 2])
    elif damage == "garbage_with_checksum":  # checksum matches, but the import fails
        so.write_bytes(b"not an ELF file")
        meta = json.loads((entry / "meta.json").read_text())
        meta["sha256"] = cc._sha256_file(so)
        (entry / "meta.json").write_text(json.dumps(meta))
    else:
        (entry / "meta.json").unlink()
    before = dict(cc.STATS)
    ffi, lib = cc.load_module(ADD_CDEF, ADD_SRC % damage, compiledir=str(tmp_path))
    assert cc.STATS["corrupt_rebuilds"] == before["corrupt_rebuilds"] + 1
    assert cc.STATS["compiles"] == before["compiles"] + 1
    a = np.arange(5.0)
    np.testing.assert_array_equal(add(ffi, lib, a, a), 2 * a)
    meta = json.loads((entry / "meta.json").read_text())
    assert meta["sha256"] == cc._sha256_file(next(entry.glob("*.so")))
    assert not list((tmp_path / "c").glob("trash-*"))


def test_flags_change_the_key(tmp_path):
    src = ADD_SRC % "flags"
    assert cc.compile_flags() == ["-O3", "-march=native", "-fopenmp"]
    assert "-fopenmp" not in cc.compile_flags(openmp=False)
    k0 = cc.cache_key(ADD_CDEF, src, cc.compile_flags())
    assert len(k0) == 64 and k0 == cc.cache_key(ADD_CDEF, src, cc.compile_flags())
    assert k0 != cc.cache_key(ADD_CDEF, src, cc.compile_flags(extra=("-DX=1",)))
    assert k0 != cc.cache_key(ADD_CDEF, src + " ", cc.compile_flags())
    cc.load_module(ADD_CDEF, src, compiledir=str(tmp_path))
    cc.load_module(ADD_CDEF, src, compiledir=str(tmp_path), extra_compile_args=("-DX=1",))
    assert len(entries(tmp_path)) == 2


def test_syntax_error_raises_compile_error(tmp_path):
    src = "double f(double x) { return x +* ; }"
    with pytest.raises(cc.CompileError) as info:
        cc.load_module("double f(double);", src, compiledir=str(tmp_path))
    msg = str(info.value)
    assert "error" in msg and "f(double x)" in msg and str(tmp_path) in msg
    assert not entries(tmp_path) and not list((tmp_path / "c").glob("tmp-*"))


def test_bad_cdef_raises_compile_error(tmp_path):
    with pytest.raises(cc.CompileError, match="cdef"):
        cc.load_module("double f(double;", "double f(double x) { return x; }",
                       compiledir=str(tmp_path))


def test_blas_dgemm_matches_numpy(tmp_path):
    info = cc.blas_info()
    if info is None:
        pytest.skip("scipy-openblas32 is not installed")
    assert info["header"] == "cblas.h" and cc.cblas_prefix() == "scipy_cblas_"
    p = cc.cblas_prefix()
    src = f"""
    #include <{info['header']}>
    void gemm(const double *a, const double *b, double *c, int m, int n, int k) {{
        {p}dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k,
                 1.0, a, k, b, n, 0.0, c, n);
    }}
    """
    cdef = "void gemm(const double *, const double *, double *, int, int, int);"
    ffi, lib = cc.load_module(cdef, src, blas=True, compiledir=str(tmp_path))
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((7, 5)), rng.standard_normal((5, 3))
    c = np.empty((7, 3))
    lib.gemm(ffi.from_buffer("double[]", a), ffi.from_buffer("double[]", b),
             ffi.from_buffer("double[]", c), 7, 3, 5)
    np.testing.assert_allclose(c, a @ b, rtol=1e-12)


# Parallel compilation: two parts (own includes, external linkage) plus one function in source.
PARTS_CDEF = "double f1(double); double f2(double); double f0(double); int tag(void);"
PARTS_SRC = """
/* tag: %s */
double f1(double);
double f2(double);
double f0(double x) { return f1(x) + f2(x); }
int tag(void) { return 7; }
"""
PART1 = """
#include <math.h>
double f1(double x) { return exp(x); }
"""
PART2 = """
#include <math.h>
static double helper(double x) { return 2.0 * x; }  /* static: private to this part */
double f2(double x) { return sin(helper(x)); }
"""


def test_parts_compile_link_and_give_correct_results(tmp_path):
    before = dict(cc.STATS)
    parts = (PART1, PART2)
    ffi, lib = cc.load_module(PARTS_CDEF, PARTS_SRC % "parts", parts=parts,
                              compiledir=str(tmp_path), extra_compile_args=("-lm",))
    assert cc.STATS["compiles"] == before["compiles"] + 1
    for x in (0.0, 0.5, -1.25):
        assert lib.f1(x) == pytest.approx(np.exp(x), rel=1e-15)
        assert lib.f2(x) == pytest.approx(np.sin(2 * x), rel=1e-15, abs=1e-300)
        assert lib.f0(x) == pytest.approx(np.exp(x) + np.sin(2 * x), rel=1e-15)
    assert lib.tag() == 7
    [entry] = entries(tmp_path)
    names = sorted(p.name for p in entry.iterdir())
    assert [n for n in names if n.endswith(".c")] == sorted(
        [f"{cc._module_name(entry.name)}.c"]
        + [f"{cc._module_name(entry.name)}_part{i}.c" for i in range(2)])
    assert (entry / f"{cc._module_name(entry.name)}_part1.c").read_text() == PART2
    assert not list(entry.glob("**/*.o")) and not (entry / "obj").exists()
    assert json.loads((entry / "meta.json").read_text())["parts"] == 2
    assert not list((tmp_path / "c").glob("tmp-*"))
    # memo keyed by the parts: same call is a memo hit, other parts are another module
    again = cc.load_module(PARTS_CDEF, PARTS_SRC % "parts", parts=parts,
                           compiledir=str(tmp_path), extra_compile_args=("-lm",))
    assert again[1] is lib and cc.STATS["memo_hits"] == before["memo_hits"] + 1
    other = PART2.replace("2.0 * x", "3.0 * x")
    _, lib2 = cc.load_module(PARTS_CDEF, PARTS_SRC % "parts", parts=(PART1, other),
                             compiledir=str(tmp_path), extra_compile_args=("-lm",))
    assert lib2 is not lib and lib2.f2(0.5) == pytest.approx(np.sin(1.5), rel=1e-15)
    assert len(entries(tmp_path)) == 2 and cc.STATS["compiles"] == before["compiles"] + 2


def test_parts_cache_hit_in_new_process(tmp_path):
    src = PARTS_SRC % "parts-newproc"
    cc.load_module(PARTS_CDEF, src, parts=(PART1, PART2), compiledir=str(tmp_path))
    code = textwrap.dedent(
        f"""
        import json
        from eggflow.backends import c_compile as cc
        ffi, lib = cc.load_module({PARTS_CDEF!r}, {src!r}, parts=({PART1!r}, {PART2!r}),
                                  compiledir={str(tmp_path)!r})
        print(json.dumps({{"f0": lib.f0(0.5), "stats": cc.STATS}}))
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["stats"]["compiles"] == 0 and out["stats"]["disk_hits"] == 1
    assert out["f0"] == pytest.approx(np.exp(0.5) + np.sin(1.0), rel=1e-15)


def test_syntax_error_in_a_part_raises_compile_error(tmp_path):
    bad = "double f2(double x) { return x +* ; }"
    with pytest.raises(cc.CompileError) as info:
        cc.load_module(PARTS_CDEF, PARTS_SRC % "bad-part", parts=(PART1, bad),
                       compiledir=str(tmp_path))
    msg = str(info.value)
    assert "error" in msg and "f2(double x)" in msg and str(tmp_path) in msg
    assert "_part1.c (part 1)" in msg  # names the failing unit
    assert "part 0" not in msg  # the good units compiled
    assert not entries(tmp_path) and not list((tmp_path / "c").glob("tmp-*"))


def test_missing_definition_raises_compile_error(tmp_path):
    # f2 is declared and used but no unit defines it: the .so links (shared objects may have
    # undefined symbols) but does not import
    with pytest.raises(cc.CompileError, match="does not load.*undefined symbol: f2"):
        cc.load_module(PARTS_CDEF, PARTS_SRC % "missing", parts=(PART1,),
                       compiledir=str(tmp_path))
    assert not entries(tmp_path) and not list((tmp_path / "c").glob("tmp-*"))


def test_parts_change_the_key():
    flags = cc.compile_flags()
    src = PARTS_SRC % "key"
    k0 = cc.cache_key(PARTS_CDEF, src, flags)
    k2 = cc.cache_key(PARTS_CDEF, src, flags, (PART1, PART2))
    assert k0 == cc.cache_key(PARTS_CDEF, src, flags, ())  # no parts: the key is unchanged
    assert k2 == cc.cache_key(PARTS_CDEF, src, flags, (PART1, PART2))
    assert len({k0, k2,
                cc.cache_key(PARTS_CDEF, src, flags, (PART1, PART2 + " ")),
                cc.cache_key(PARTS_CDEF, src, flags, (PART2, PART1)),
                cc.cache_key(PARTS_CDEF, src, flags, (PART1 + PART2,)),
                cc.cache_key(PARTS_CDEF, src, flags, (PART1, PART2, ""))}) == 6


def test_split_flags():
    assert cc._split_flags(["-O3", "-lmvec", "-L/x", "-Wl,-rpath,/x", "-I/y", "-fopenmp"]) == (
        ["-O3", "-I/y", "-fopenmp"], ["-lmvec", "-L/x", "-Wl,-rpath,/x"])
