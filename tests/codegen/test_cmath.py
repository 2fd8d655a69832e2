"""eggflow.codegen.cmath: the prelude's SIMD libm calls and ef_* helpers against NumPy/SciPy.

One cffi module (built once, with PRELUDE, FLAGS and LINK_FLAGS) holds a loop per libm
function, per HELPERS entry and per dtype; each is checked against NumPy on special and random
values: same NaN/+-inf/+-0 classes, values within a few ulp (bit-exact for the helpers that
compute exactly). The disassembly must show libmvec's vector variants (``_ZGV...``).
"""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import shutil
import subprocess

import numpy as np
import pytest
import scipy.special

from eggflow.codegen import cmath

cffi = pytest.importorskip("cffi")

FLOATS = ("float64", "float32")
INTS = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
CTYPE = {"float64": "double", "float32": "float", "bool": "_Bool",
         **{d: f"{d}_t" for d in INTS}}
N_RANDOM = 20_000
ULP_TOL = 8  # libmvec claims <= 4 ulp; measured vs NumPy: <= 5 (f64), <= 6 (f32)

UNARY = {  # libm function -> NumPy/SciPy reference
    "exp": np.exp, "exp2": np.exp2, "expm1": np.expm1, "log": np.log, "log2": np.log2,
    "log10": np.log10, "log1p": np.log1p, "sin": np.sin, "cos": np.cos, "tan": np.tan,
    "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan, "sinh": np.sinh, "cosh": np.cosh,
    "tanh": np.tanh, "asinh": np.arcsinh, "acosh": np.arccosh, "atanh": np.arctanh,
    "erf": scipy.special.erf, "cbrt": np.cbrt, "sqrt": np.sqrt,
}
BINARY = {"pow": np.power, "atan2": np.arctan2, "hypot": np.hypot}


def _softplus(x):
    return np.logaddexp(np.zeros((), x.dtype), x)


def _round_half_away(x):
    if x.dtype.kind != "f":
        return x
    return np.where(x >= 0, np.floor(x + x.dtype.type(0.5)), np.ceil(x - x.dtype.type(0.5)))


HELPER_REFS = {  # HELPERS op -> (arity, NumPy reference, exact?)
    "int_div": (2, np.floor_divide, True), "mod": (2, np.mod, True), "pow": (2, np.power, True),
    "true_div": (2, np.true_divide, True), "maximum": (2, np.maximum, True),
    "minimum": (2, np.minimum, True), "clip": (3, np.clip, True), "abs": (1, np.absolute, True),
    "sgn": (1, np.sign, True), "sigmoid": (1, scipy.special.expit, False),
    "softplus": (1, _softplus, False), "floor": (1, np.floor, True), "ceil": (1, np.ceil, True),
    "round": (1, lambda x: x if x.dtype.kind != "f" else np.rint(x), True),
    "round_half_away_from_zero": (1, _round_half_away, True), "invert": (1, np.invert, True),
}


def _out_dtype(op, dtype):
    if op == "true_div":
        return "float64"
    return dtype


def _kernels():
    """(name, input dtypes, output dtype, C expression over x0, x1, x2)."""
    ks = []
    for dt in FLOATS:
        for fn in UNARY:
            ks.append((f"u_{fn}_{dt}", (dt,), dt, f"{fn}(x0)"))  # tgmath: float -> expf ...
        for fn in BINARY:
            ks.append((f"b_{fn}_{dt}", (dt, dt), dt, f"{fn}(x0, x1)"))
        ks.append((f"w1_{dt}", (dt,), dt, "exp(-x0 * x0 / 2) * sin(3 * x0) + log1p(x0 * x0)"))
    for op, row in cmath.HELPERS.items():
        arity = HELPER_REFS[op][0]
        for dt, expr in row.items():
            ks.append((f"h_{op}_{dt}", (dt,) * arity, _out_dtype(op, dt),
                       cmath.render(expr, *(f"x{i}" for i in range(arity)))))
    return ks


KERNELS = {k[0]: k for k in _kernels()}


def _source():
    """The kernels are static (noinline, so the disassembly shows each by name) behind one
    exported dispatcher: cffi's per-function wrappers would triple the build time."""
    src, cases = [], []
    for k, (name, ins, out, expr) in enumerate(KERNELS.values()):
        args = ", ".join(f"const {CTYPE[d]} *restrict x{i}p" for i, d in enumerate(ins))
        loads = " ".join(f"{CTYPE[d]} x{i} = x{i}p[i];" for i, d in enumerate(ins))
        src.append(f"__attribute__((noinline)) static void {name}({args}, "
                   f"{CTYPE[out]} *restrict o, long n) {{\n"
                   f"    for (long i = 0; i < n; i++) {{ {loads} o[i] = {expr}; }}\n}}")
        ptrs = ", ".join(f"(const {CTYPE[d]} *)x[{i}]" for i, d in enumerate(ins))
        cases.append(f"    case {k}: {name}({ptrs}, ({CTYPE[out]} *)o, n); return 0;")
    src.append("int run(int k, const void **x, void *o, long n) {\n    switch (k) {\n"
               + "\n".join(cases) + "\n    }\n    return -1;\n}")
    return "int run(int k, const void **x, void *o, long n);", cmath.PRELUDE + "\n".join(src)


INDEX = {name: k for k, name in enumerate(KERNELS)}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cmath")
    cdef, src = _source()
    ffi = cffi.FFI()
    ffi.cdef(cdef)
    ffi.set_source("_ef_test_cmath", src,
                   extra_compile_args=["-O3", "-march=native", "-fopenmp", *cmath.FLAGS],
                   extra_link_args=["-fopenmp", *cmath.LINK_FLAGS])
    try:
        so = ffi.compile(tmpdir=str(tmp))
    except Exception as exc:  # no C compiler: nothing here can run
        if shutil.which(os.environ.get("CC", "cc")) is None and shutil.which("gcc") is None:
            pytest.skip(f"no C compiler: {exc}")
        raise
    spec = importlib.util.spec_from_file_location("_ef_test_cmath", so)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod, so


def _call(built, name, *inputs):
    mod, _ = built
    _, ins, out, _ = KERNELS[name]
    inputs = [np.ascontiguousarray(x, dtype=d) for x, d in zip(inputs, ins)]
    res = np.empty(len(inputs[0]), dtype=out)
    ptrs = mod.ffi.new("const void *[]", [mod.ffi.from_buffer(x) for x in inputs])
    assert mod.lib.run(INDEX[name], ptrs, mod.ffi.from_buffer(res), len(res)) == 0
    return res


# -- inputs -----------------------------------------------------------------------------------
def _float_specials(dt):
    fi = np.finfo(dt)
    v = [0.0, np.inf, np.nan, 1.0, 0.5, 2.0, 3.0, 0.1, 1.5, 2.5, np.pi, 10.0, 1e-3, 1e3,
         float(fi.max), float(fi.tiny), float(fi.smallest_subnormal), float(fi.tiny) / 3,
         float(fi.eps)]
    if dt == "float64":  # exp/exp2/sinh overflow and underflow, erf/tanh saturation
        v += [709.78, 709.782712893384, 709.7827128933841, 709.79, 710.47, 710.48, 708.39,
              744.44, 745.1, 745.2, 1023.9, 1024.0, 1024.1, 1074.0, 1075.0, 1076.0, 5.9, 6.0,
              19.1, 20.0, 26.0, 27.0, 1e16, 1e22, 1e300, 1e-300, 0.49999999999999994]
    else:
        v += [88.72, 88.7228, 88.72284, 88.7229, 89.41, 89.42, 87.33, 103.97, 104.0, 127.9,
              128.0, 149.0, 150.0, 3.9, 4.0, 9.0, 10.0, 1e10, 1e-8, 1e30, 0.49999997]
    v = np.array(v, dtype=dt)
    return np.concatenate([v, -v])


def _float_inputs(dt, rng):
    fi = np.finfo(dt)
    n = N_RANDOM
    mags = 10.0 ** rng.uniform(np.log10(float(fi.smallest_subnormal)), np.log10(float(fi.max)), n)
    parts = [_float_specials(dt), rng.uniform(-1, 1, n), rng.uniform(-20, 20, n),
             rng.uniform(-800, 800, n), mags * rng.choice([-1, 1], n), rng.uniform(0.9, 1.1, n),
             np.round(rng.uniform(-50, 50, n) * 2) / 2]  # halves: rounding ties
    return np.concatenate([np.asarray(p).astype(dt) for p in parts])


def _float_pairs(dt, rng):
    """Every pair of special values, random wide pairs, random pairs with small integers."""
    s = _float_specials(dt)
    a, b = (g.ravel() for g in np.meshgrid(s, s))
    x = _float_inputs(dt, rng)
    ints = rng.integers(-6, 7, len(x)).astype(dt)
    a = np.concatenate([a, x, x, ints, x])
    b = np.concatenate([b, rng.permutation(x), ints, x, rng.uniform(-10, 10, len(x)).astype(dt)])
    return a, b


def _int_inputs(dt, rng, n=N_RANDOM):
    info = np.iinfo(dt)
    cand = {0, 1, 2, 3, 7, -1, -2, -3, -7, info.max, info.max - 1, info.min, info.min + 1}
    s = np.array(sorted(v for v in cand if info.min <= v <= info.max), dtype=dt)
    wide = rng.integers(info.min, info.max, n, dtype=dt, endpoint=True)
    small = rng.integers(max(info.min, -20), 21, n).astype(dt)
    return s, np.concatenate([wide, small])


def _int_pairs(dt, rng):
    s, x = _int_inputs(dt, rng)
    a, b = (g.ravel() for g in np.meshgrid(s, s))
    small = rng.integers(max(np.iinfo(dt).min, -20), 21, len(x)).astype(dt)
    return (np.concatenate([a, x, x, rng.permutation(x)]),
            np.concatenate([b, rng.permutation(x), small, x]))


# -- comparison -------------------------------------------------------------------------------
def _classes(a):
    return np.stack([np.isnan(a), np.isposinf(a), np.isneginf(a), (a == 0) & ~np.signbit(a),
                     (a == 0) & np.signbit(a)])


def _ulps(a, b):
    it = np.int64 if a.dtype == np.float64 else np.int32

    def ordered(v):
        i = v.view(it).astype(np.int64)
        return np.where(i < 0, np.int64(np.iinfo(it).min) - i, i)

    return np.abs(ordered(a) - ordered(b))


def _assert_matches(got, ref, tol, what, inputs, skip=None):
    """Same NaN/+-inf/+-0 classes; finite values within ``tol`` ulp (floats), equal (ints)."""
    ref = np.asarray(ref)
    assert got.dtype == ref.dtype or ref.dtype == np.float16, (what, got.dtype, ref.dtype)
    ref = ref.astype(got.dtype)
    keep = np.ones(len(got), bool) if skip is None else ~skip
    if got.dtype.kind != "f":
        bad = np.nonzero((got != ref) & keep)[0]
    else:
        bad_class = (_classes(got) != _classes(ref)).any(0) & keep
        fin = np.isfinite(got) & np.isfinite(ref) & keep & ~bad_class
        ulps = np.zeros(len(got), np.int64)
        ulps[fin] = _ulps(got[fin], ref[fin])
        bad = np.nonzero(bad_class | (ulps > tol))[0]
    if len(bad):
        lines = [f"  in={[x[i] for x in inputs]!r} got={got[i]!r} numpy={ref[i]!r}"
                 for i in bad[:8]]
        pytest.fail(f"{what}: {len(bad)} mismatches (tol {tol} ulp)\n" + "\n".join(lines))


# -- tests ------------------------------------------------------------------------------------
@pytest.mark.parametrize("dt", FLOATS)
@pytest.mark.parametrize("fn", list(UNARY))
def test_unary_libm(built, fn, dt):
    x = _float_inputs(dt, np.random.default_rng(0))
    with np.errstate(all="ignore"):
        ref = UNARY[fn](x)
    skip = None
    if fn == "exp2" and dt == "float32":
        # NumPy's AVX-512 exp2f gives 0 for x in (-150, -149.5), where 2**x rounds to the
        # smallest subnormal 1e-45 (glibc's scalar exp2f and libmvec agree on 1e-45)
        skip = (x > -150) & (x < -149.5)
    _assert_matches(_call(built, f"u_{fn}_{dt}", x), ref, 0 if fn == "sqrt" else ULP_TOL,
                    f"{fn} {dt}", [x], skip)


@pytest.mark.parametrize("dt", FLOATS)
@pytest.mark.parametrize("fn", list(BINARY))
def test_binary_libm(built, fn, dt):
    rng = np.random.default_rng(1)
    a, b = _float_pairs(dt, rng)
    if fn == "pow":  # negative bases with integral exponents: the sign rules
        a = np.concatenate([a, -np.abs(a[:2000])])
        b = np.concatenate([b, rng.integers(-9, 10, 2000).astype(dt)])
    with np.errstate(all="ignore"):
        ref = BINARY[fn](a, b)
    _assert_matches(_call(built, f"b_{fn}_{dt}", a, b), ref, ULP_TOL, f"{fn} {dt}", [a, b])


@pytest.mark.parametrize("dt", FLOATS)
def test_w1_fused(built, dt):
    x = _float_inputs(dt, np.random.default_rng(2))
    x = x[np.abs(x) < 30]  # finite terms (inf/NaN classes are the unary tests' job)
    got = _call(built, f"w1_{dt}", x)
    t1, t2 = np.exp(-x * x / 2) * np.sin(3 * x), np.log1p(x * x)
    err = np.abs(got.astype(np.float64) - (t1 + t2))
    assert np.all(err <= 8 * np.finfo(dt).eps * (np.abs(t1) + np.abs(t2)).astype(np.float64))


def _helper_cases():
    for op, row in cmath.HELPERS.items():
        for dt in row:
            yield pytest.param(op, dt, id=f"{op}-{dt}")


@pytest.mark.parametrize("op, dt", list(_helper_cases()))
def test_helpers(built, op, dt):
    arity, ref_fn, exact = HELPER_REFS[op]
    rng = np.random.default_rng(3)
    kind = np.dtype(dt).kind
    if kind == "b":
        base = np.array([True, False])
        inputs = [g.ravel() for g in np.meshgrid(*[base] * arity)]
    elif arity == 1:
        inputs = [_float_inputs(dt, rng) if kind == "f" else np.concatenate(_int_inputs(dt, rng))]
    elif arity == 2:
        inputs = list(_float_pairs(dt, rng) if kind == "f" else _int_pairs(dt, rng))
    else:  # clip: bounds constant per block, like numpy.clip(x, lo, hi) with scalar bounds
        x = _float_inputs(dt, rng)[:3000] if kind == "f" else _int_inputs(dt, rng, 1500)[1]
        x = np.asarray(x, dt)
        info = np.finfo(dt) if kind == "f" else np.iinfo(dt)
        bounds = [(0, 1), (-3, 2), (5, -5), (0, 0), (info.min, info.max)]
        if kind == "f":
            bounds += [(-0.0, 0.0), (0.0, -0.0), (-0.0, -0.0), (np.nan, 1.0), (0.0, np.nan),
                       (-np.inf, np.inf), (1.0, np.inf)]
        if kind == "u":
            bounds = [(lo, hi) for lo, hi in bounds if lo >= 0 and hi >= 0]
        los, his, refs = [], [], []
        for lo, hi in bounds:
            lo, hi = np.dtype(dt).type(lo), np.dtype(dt).type(hi)
            los.append(np.full(len(x), lo, dt))
            his.append(np.full(len(x), hi, dt))
            refs.append(np.clip(x, lo, hi))
        inputs = [np.tile(x, len(bounds)), np.concatenate(los), np.concatenate(his)]
        got = _call(built, f"h_{op}_{dt}", *inputs)
        _assert_matches(got, np.concatenate(refs), 0, f"{op} {dt}", inputs)
        return
    if op == "pow" and kind in "iu":  # NumPy raises for negative exponents
        inputs[1] = np.abs(inputs[1] % 80).astype(dt)
    with np.errstate(all="ignore"):
        ref = ref_fn(*inputs)
    got = _call(built, f"h_{op}_{dt}", *inputs)
    _assert_matches(got, ref, 0 if exact else ULP_TOL, f"{op} {dt}", inputs)


def test_render():
    assert cmath.render("ef_max_d(a, b)", "x[i]", "y + 1") == "ef_max_d((x[i]), (y + 1))"
    assert cmath.render("(a < 0 ? -a : a)", "v") == "((v) < 0 ? -(v) : (v))"
    assert cmath.helper("mod", "int8") == "ef_mod_i32(a, b)" and cmath.helper("exp", "f") is None


@pytest.mark.parametrize("dt", ["int8", "int64"])
def test_int_pow_negative_exponent(built, dt):
    """NumPy raises; the helper gives the truncated 1 / a**-b."""
    a = np.array([1, -1, -1, 2, -2, 0, 5], dt)
    b = np.array([-1, -1, -2, -1, -3, -1, -2], dt)
    np.testing.assert_array_equal(_call(built, f"h_pow_{dt}", a, b), [1, -1, 1, 0, 0, 0, 0])


def _glibc_at_least(major, minor):
    try:
        name, version = os.confstr("CS_GNU_LIBC_VERSION").split()
    except (AttributeError, ValueError, OSError):
        return False
    return name == "glibc" and tuple(map(int, version.split(".")[:2])) >= (major, minor)


def _disassembly(so):
    """{function: its lines} from objdump -d."""
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(so)], capture_output=True,
                         text=True, check=True).stdout
    funcs, current = {}, None
    for line in out.splitlines():
        m = re.match(r"^[0-9a-f]+ <([\w.@]+)>:$", line)
        if m:
            current = funcs.setdefault(m.group(1), [])
        elif current is not None:
            current.append(line)
    return funcs


def _calls(lines):
    return {m.group(1) for line in lines
            if (m := re.search(r"\bcall\s+\S+\s+<([\w.@]+?)(?:@plt)?>", line))}


def test_loops_use_libmvec_vector_calls(built):
    if shutil.which("objdump") is None:
        pytest.skip("objdump not found (binutils): cannot inspect the compiled loops")
    if platform.machine() != "x86_64" or not _glibc_at_least(2, 35):
        pytest.skip("libmvec's vector math needs x86_64 and glibc >= 2.35")
    funcs = _disassembly(built[1])
    calls = {name: _calls(lines) for name, lines in funcs.items()}
    assert any(c.startswith("_ZGV") for cs in calls.values() for c in cs)

    def vector_variant(kernel, fn):
        return any(re.fullmatch(rf"_ZGV\w+_{fn}", c) for c in calls.get(kernel, ()))

    missing = []
    for dt, suffix in (("float64", ""), ("float32", "f")):
        for fn in [f for f in UNARY if f != "sqrt"]:
            if not vector_variant(f"u_{fn}_{dt}", fn + suffix):
                missing.append(f"{fn}{suffix}")
        for fn in BINARY:
            if not vector_variant(f"b_{fn}_{dt}", fn + suffix):
                missing.append(f"{fn}{suffix}")
        for fn in ("exp", "sin", "log1p"):
            if not vector_variant(f"w1_{dt}", fn + suffix):
                missing.append(f"w1: {fn}{suffix}")
        if not vector_variant(f"h_sigmoid_{dt}", "exp" + suffix):
            missing.append(f"sigmoid: exp{suffix}")
        if not (vector_variant(f"h_softplus_{dt}", "exp" + suffix)
                and vector_variant(f"h_softplus_{dt}", "log1p" + suffix)):
            missing.append(f"softplus: exp{suffix}/log1p{suffix}")
    assert not missing, f"loops without libmvec vector calls: {missing}"
    # sqrt is an instruction (-fno-math-errno), not a call
    assert not calls.get("u_sqrt_float64"), calls.get("u_sqrt_float64")


def test_helper_loops_vectorise(built):
    """The branch-free helpers compile to packed (ymm/zmm) code; a regression here (a helper
    written so that GCC cannot if-convert it) silently costs a factor 4-16."""
    if shutil.which("objdump") is None:
        pytest.skip("objdump not found (binutils): cannot inspect the compiled loops")
    if platform.machine() != "x86_64":
        pytest.skip("checks x86 vector registers")
    funcs = _disassembly(built[1])
    ops = ("maximum", "minimum", "clip", "sgn", "round_half_away_from_zero", "sigmoid",
           "softplus")
    kernels = [f"h_{op}_{dt}" for op in ops for dt in FLOATS]
    kernels += [f"h_{op}_{dt}" for op in ("maximum", "minimum", "clip", "abs")
                for dt in ("int8", "int32", "int64")]
    scalar = [k for k in kernels
              if not any(re.search(r"%[yz]mm", line) for line in funcs.get(k, ()))]
    assert not scalar, f"helper loops not vectorised: {scalar}"
