"""C math support for generated elementwise loops: compile flags, a prelude, helper functions.

Why: glibc's scalar ``exp``/``log``/``sin`` do not vectorise, so a fused loop calling them is
slower than NumPy (whose exp/log/sin are SIMD). glibc (x86_64, >= 2.22; most functions
>= 2.35) ships SIMD variants in libmvec (``_ZGVdN4v_exp``, ``_ZGVdN8v_expf`` ...), but
<math.h> declares them only under ``-ffast-math`` (``__FAST_MATH__``), and ``-ffast-math``
breaks inf/NaN/signed-zero semantics, links ``crtfastmath.o`` (flush-to-zero for the whole
process, even into a shared object), and undoing any of its parts (``-fno-finite-math-only``,
``-fsigned-zeros``, ``-ftrapping-math``) undefines ``__FAST_MATH__`` again, and with it the
SIMD declarations. So :data:`PRELUDE` re-declares the libmvec functions itself with GCC's
``__attribute__((simd("notinbranch"), const))``; GCC then vectorises plain ``for`` loops (no
``#pragma omp simd`` needed, though it does no harm) into calls of the vector variants for the
target ISA (AVX2 ``_ZGVd`` by default on this machine; AVX-512 ``_ZGVe`` with
``-mprefer-vector-width=512``), while every IEEE rule stays as without fast-math.

Accuracy (measured on 2e6 random values per function over wide ranges plus special values:
inf, NaN, +-0, denormals, huge, the overflow/underflow boundaries): libmvec matches NumPy's
NaN/+-inf/+-0 classes everywhere and stays within 3 ulp of NumPy in float64 (exp, sin, cos,
tan, asin, atan, erf 3; log, log2, log10, log1p, expm1, acos, sinh, cosh, cbrt 2; exp2, asinh,
acosh, atanh, pow, hypot 1; tanh 0; atan2 3) and 6 ulp in float32 (log 6; exp, erf 4; exp2 3;
sin, cos, expm1, sinh, cosh, atanh, cbrt 2; the rest 1). ef_sigmoid / ef_softplus: 4 / 5 ulp
(f64), 4 / 3 (f32). Two differences, neither libmvec's fault: NumPy's float32 exp2 (AVX-512
SVML) gives 0 for x in (-150, -149.5) where glibc's scalar and vector exp2f give the correctly
rounded 1e-45; scipy's erfc (not an op) flushes to 0 above x ~ 26.5 where glibc's erfc gives
the (correct) denormals. ``tests/codegen/test_cmath.py`` checks all this;
``benchmarks/vector_math.py`` measures the speed. The vector loop's scalar remainder calls
glibc's scalar functions, so equal inputs may differ by those few ulp depending on their
position in the array (or thread chunk).

:data:`PRELUDE` also includes ``<tgmath.h>``, so the op table's C expressions (``exp(a)``,
``log1p(a)``, ``pow(a, b)``, ``floor(a)``, ``fabs(a)`` ...) call the ``float`` functions
(``expf`` ...) when their arguments are ``float``, computing in float32 like NumPy and using
the 8/16-lane variants. Integer arguments select the ``double`` function (C's rule), and an
integer literal next to a float makes the call ``double`` (``pow(a, 2)`` is ``pow``, not
``powf``: write ``pow(a, 2.0f)``). Ops whose table expression is wrong or slow for some dtype
have an ``ef_*`` helper (or another expression) in :data:`HELPERS`.
"""

from __future__ import annotations

import re

#: Extra compile flags, besides ``-O3 -march=native -fopenmp`` that the caller adds.
#: - ``-fno-math-errno``: ``sqrt`` becomes one instruction and libm calls are side-effect
#:   free (needed to vectorise loops calling libm functions not declared in the prelude).
#: - ``-fno-trapping-math``: lets GCC if-convert (vectorise) ternaries whose arms could raise
#:   FP exceptions; results are unchanged (generated code never reads the FP status flags).
#: - ``-ffp-contract=off``: GCC's default for GNU C with ``-march=native`` fuses ``a*b + c``
#:   into an FMA, which rounds differently from NumPy (``x*x - x*x`` is then not 0).
#: - ``-fwrapv``: signed integer overflow wraps like NumPy's (``-a`` of INT64_MIN, ``a*b``).
#: - ``-mprefer-vector-width=512``: the machine has AVX-512; GCC prefers 256-bit vectors
#:   (``_ZGVd`` variants) for ``-march=native`` here; 512 bits (``_ZGVe``) measured faster for
#:   the transcendental-heavy loops (see benchmarks/vector_math.py).
FLAGS: tuple[str, ...] = (
    "-fno-math-errno",
    "-fno-trapping-math",
    "-ffp-contract=off",
    "-fwrapv",
    "-mprefer-vector-width=512",
)

#: Extra link flags: libmvec (``-lm`` alone pulls it in on Debian through libm.so's linker
#: script ``AS_NEEDED``, but naming it makes a missing libmvec a link error rather than an
#: ``undefined symbol`` at import). Do not link with ``-ffast-math``: it adds crtfastmath.o.
LINK_FLAGS: tuple[str, ...] = ("-lmvec", "-lm")

#: libmvec functions (double names; the float ones add ``f``) declared SIMD by the prelude,
#: with the glibc version that added them to libmvec (x86_64).
VECTOR_FUNCS_1: dict[str, tuple[int, int]] = {
    "exp": (2, 22), "log": (2, 22), "sin": (2, 22), "cos": (2, 22),
    "exp2": (2, 35), "expm1": (2, 35), "log2": (2, 35), "log10": (2, 35), "log1p": (2, 35),
    "tan": (2, 35), "asin": (2, 35), "acos": (2, 35), "atan": (2, 35),
    "sinh": (2, 35), "cosh": (2, 35), "tanh": (2, 35),
    "asinh": (2, 35), "acosh": (2, 35), "atanh": (2, 35),
    "erf": (2, 35), "erfc": (2, 35), "cbrt": (2, 35),
}
VECTOR_FUNCS_2: dict[str, tuple[int, int]] = {"pow": (2, 22), "atan2": (2, 35), "hypot": (2, 35)}


def _declarations() -> str:
    lines = []
    for funcs, args in ((VECTOR_FUNCS_1, 1), (VECTOR_FUNCS_2, 2)):
        by_version: dict[tuple[int, int], list[str]] = {}
        for name, version in funcs.items():
            by_version.setdefault(version, []).append(name)
        for (major, minor), names in sorted(by_version.items()):
            lines.append(f"#if __GLIBC_PREREQ({major}, {minor})")
            lines += [f"EF_VEC{args}({name})" for name in names]
            lines.append("#endif")
    return "\n".join(lines)


_INT_HELPERS = r"""
/* Integer floor division and modulo with NumPy's results (numpy.floor_divide, numpy.mod):
   rounding toward -inf, the remainder takes the divisor's sign, x // 0 == x % 0 == 0 (NumPy
   warns), MIN // -1 == MIN and MIN % -1 == 0 (no SIGFPE). _i32 serves int8/16/32 arguments
   (the result converted back wraps like NumPy's), _i64 int64, _u32/_u64 the unsigned ones.
   ef_pow_*: numpy.power for integers, wrapping on overflow (computed in the unsigned type);
   NumPy raises ValueError for a negative exponent, here it gives the truncated value
   1 / a**-b (1 for a == 1, +-1 for a == -1, else 0, also for a == 0). */
#define EF_DEFINE_INTDIV(S, T, UT)                                                   \
EF_INLINE T ef_floordiv_##S(T a, T b) {                                          \
    if (b == 0) return 0;                                                            \
    if (b == -1) return (T)(0 - (UT)a);                                              \
    T q = a / b, r = a % b;                                                          \
    return q - (T)((r != 0) & ((r ^ b) < 0));                                        \
}                                                                                    \
EF_INLINE T ef_mod_##S(T a, T b) {                                               \
    if (b == 0 || b == -1) return 0;                                                 \
    T r = a % b;                                                                     \
    return ((r != 0) & ((r ^ b) < 0)) ? r + b : r;                                   \
}                                                                                    \
EF_INLINE T ef_pow_##S(T a, T b) {                                               \
    if (b < 0) return a == 1 ? 1 : a == -1 ? ((b & 1) ? -1 : 1) : 0;                 \
    UT r = 1, x = (UT)a;                                                             \
    for (; b; b >>= 1) { if (b & 1) r *= x; x *= x; }                                \
    return (T)r;                                                                     \
}
EF_DEFINE_INTDIV(i32, int32_t, uint32_t)
EF_DEFINE_INTDIV(i64, int64_t, uint64_t)

#define EF_DEFINE_UINTDIV(S, T)                                                      \
EF_INLINE T ef_floordiv_##S(T a, T b) { return b ? a / b : 0; }                  \
EF_INLINE T ef_mod_##S(T a, T b) { return b ? a % b : 0; }                       \
EF_INLINE T ef_pow_##S(T a, T b) {                                               \
    T r = 1;                                                                         \
    for (; b; b >>= 1) { if (b & 1) r *= a; a *= a; }                                \
    return r;                                                                        \
}
EF_DEFINE_UINTDIV(u32, uint32_t)
EF_DEFINE_UINTDIV(u64, uint64_t)
"""

_FLOAT_HELPERS = r"""
/* sigmoid = scipy.special.expit: 1/(1+exp(-a)), scipy's own formula. Overflow-safe as it is
   (exp(-a) == inf gives 0, never NaN; relative accuracy holds for large |a|), and keeping it
   keeps scipy's zero below -709.78 (f64) / -88.72 (f32) where the exact value is denormal. */
EF_INLINE double ef_sigmoid_d(double a) { return 1.0 / (1.0 + exp(-a)); }
EF_INLINE float ef_sigmoid_f(float a) { return 1.0f / (1.0f + expf(-a)); }

/* softplus = numpy.logaddexp(0, a): max(a, 0) + log1p(exp(-|a|)), one exp, no branch (NumPy
   computes the same two formulas by sign); +inf -> inf, -inf -> 0, 0 -> log(2), NaN -> NaN. */
EF_INLINE double ef_softplus_d(double a) {
    return (a > 0.0 ? a : 0.0) + log1p(exp(-fabs(a)));
}
EF_INLINE float ef_softplus_f(float a) {
    return (a > 0.0f ? a : 0.0f) + log1pf(expf(-fabsf(a)));
}

/* numpy.sign for floats: -1, 0 (also for -0.0) or 1, NaN -> NaN. */
EF_INLINE double ef_sgn_d(double a) {
    return a > 0.0 ? 1.0 : a < 0.0 ? -1.0 : a == 0.0 ? 0.0 : a;
}
EF_INLINE float ef_sgn_f(float a) {
    return a > 0.0f ? 1.0f : a < 0.0f ? -1.0f : a == 0.0f ? 0.0f : a;
}

/* numpy.maximum / numpy.minimum for floats: NaN if either is NaN (C's fmax/fmin drop NaNs),
   and b when a == b (maximum(0.0, -0.0) is -0.0, as in NumPy). */
EF_INLINE double ef_max_d(double a, double b) { return (a > b || a != a) ? a : b; }
EF_INLINE double ef_min_d(double a, double b) { return (a < b || a != a) ? a : b; }
EF_INLINE float ef_max_f(float a, float b) { return (a > b || a != a) ? a : b; }
EF_INLINE float ef_min_f(float a, float b) { return (a < b || a != a) ? a : b; }

/* numpy.clip(x, lo, hi) for floats with scalar (stride-0) bounds, NumPy's common case: NaN
   in any argument gives NaN, and x itself when it equals a bound (clip(-0.0, 0.0, 1.0) is
   -0.0). With array bounds NumPy's loop differs only on those +-0 ties: it gives
   minimum(maximum(x, lo), hi), i.e. ef_min(ef_max(x, lo), hi). */
EF_INLINE double ef_clip_d(double x, double lo, double hi) {
    double m = (x < lo || lo != lo) ? lo : x;  /* this form vectorises; (x >= lo || x != x) */
    return (m > hi || hi != hi) ? hi : m;      /* ? x : lo, the same function, does not */
}
EF_INLINE float ef_clip_f(float x, float lo, float hi) {
    float m = (x < lo || lo != lo) ? lo : x;
    return (m > hi || hi != hi) ? hi : m;
}

/* round(mode='half_away_from_zero') as the evaluator computes it:
   where(a >= 0, floor(a + 0.5), ceil(a - 0.5)) (so 0.49999999999999994 -> 1, unlike C's
   round()). Half-to-even is rint(a). */
EF_INLINE double ef_round_half_away_d(double a) {
    return a >= 0.0 ? floor(a + 0.5) : ceil(a - 0.5);
}
EF_INLINE float ef_round_half_away_f(float a) {
    return a >= 0.0f ? floorf(a + 0.5f) : ceilf(a - 0.5f);
}

/* numpy.floor_divide / numpy.mod for floats, NumPy's npy_divmod: fmod-based, so exact
   (floor(a / b) is not: floor(1 / 0.1) is 10, 1 // 0.1 is 9); b == 0 gives a / b (+-inf, NaN)
   for //, and fmod(a, 0) == NaN for %. fmod has no SIMD variant: a loop using these stays
   scalar. */
#define EF_DEFINE_FDIVMOD(S, T, FMOD, FLOOR, COPYSIGN)                               \
EF_INLINE T ef_divmod_##S(T a, T b, T *modulus) {                                \
    T mod = FMOD(a, b);                                                              \
    if (!b) { *modulus = mod; return a / b; }                                        \
    T div = (a - mod) / b;                                                           \
    if (mod) {                                                                       \
        if (EF_ISLESS(b, (T)0) != EF_ISLESS(mod, (T)0)) { mod += b; div -= (T)1; }         \
    } else {                                                                         \
        mod = COPYSIGN((T)0, b);                                                     \
    }                                                                                \
    T floordiv;                                                                      \
    if (div) {                                                                       \
        floordiv = FLOOR(div);                                                       \
        if (EF_ISGREATER(div - floordiv, (T)0.5)) floordiv += (T)1;                     \
    } else {                                                                         \
        floordiv = COPYSIGN((T)0, a / b);                                            \
    }                                                                                \
    *modulus = mod;                                                                  \
    return floordiv;                                                                 \
}                                                                                    \
EF_INLINE T ef_floordiv_##S(T a, T b) {                                          \
    T mod;                                                                           \
    return b ? ef_divmod_##S(a, b, &mod) : a / b;                                    \
}                                                                                    \
EF_INLINE T ef_mod_##S(T a, T b) {                                               \
    T mod;                                                                           \
    if (!b) return FMOD(a, b);                                                       \
    ef_divmod_##S(a, b, &mod);                                                       \
    return mod;                                                                      \
}
EF_DEFINE_FDIVMOD(d, double, fmod, floor, copysign)
EF_DEFINE_FDIVMOD(f, float, fmodf, floorf, copysignf)
"""

#: The scalar helpers (``ef_*``) as C text over three macros the including prelude defines:
#: ``EF_INLINE`` (``static inline`` in C, ``static __device__ __forceinline__`` in CUDA) and
#: ``EF_ISLESS``/``EF_ISGREATER`` (C99's quiet comparisons; plain ones on the GPU: same results).
#: One text, so the C and CUDA backends compute the same values.
SCALAR_HELPERS: str = _INT_HELPERS + _FLOAT_HELPERS

#: The C source every generated module starts with.
PRELUDE: str = r"""/* ---- eggflow.codegen.cmath PRELUDE ---- */
#ifndef EF_PRELUDE_INCLUDED
#define EF_PRELUDE_INCLUDED
#include <math.h>
#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>
#include <limits.h>

/* SIMD declarations of glibc's libmvec (see eggflow/codegen/cmath.py): <math.h> has them
   only under -ffast-math. "notinbranch": libmvec has no masked variants, so a call must
   not sit under a condition GCC cannot if-convert (write both arms, then select). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__) \
    && !defined(__FAST_MATH__) && !defined(EF_NO_LIBMVEC)
#define EF_SIMD __attribute__((__simd__("notinbranch"), __const__, __nothrow__, __leaf__))
#define EF_VEC1(fn) EF_SIMD double fn(double); EF_SIMD float fn##f(float);
#define EF_VEC2(fn) EF_SIMD double fn(double, double); EF_SIMD float fn##f(float, float);
""" + _declarations() + r"""
#endif

/* Type-generic math: exp(a) on a float calls expf (8/16 SIMD lanes, NumPy's float32). */
#include <tgmath.h>
#define EF_INLINE static inline
#define EF_ISLESS(a, b) isless(a, b)
#define EF_ISGREATER(a, b) isgreater(a, b)
""" + SCALAR_HELPERS + r"""
#endif /* EF_PRELUDE_INCLUDED */
/* ---- end PRELUDE ---- */
"""


_SIGNED = ("int8", "int16", "int32", "int64")
_UNSIGNED = ("uint8", "uint16", "uint32", "uint64")
_INTS = _SIGNED + _UNSIGNED


def _int_suffix(dtype: str) -> str:
    return ("u" if dtype.startswith("u") else "i") + ("64" if dtype.endswith("64") else "32")


def _per_dtype(f64: str | None, f32: str | None, ints=None, bool_=None) -> dict[str, str]:
    """Build one HELPERS row; ``ints`` is an expression or a function of the dtype."""
    row = {}
    if f64 is not None:
        row["float64"] = f64
    if f32 is not None:
        row["float32"] = f32
    for dt in _INTS:
        if ints is not None:
            row[dt] = ints(dt) if callable(ints) else ints
    if bool_ is not None:
        row["bool"] = bool_
    return row


#: C expressions (over ``a``, ``b``, ``c``; operands may be substituted textually, so pass
#: them parenthesised) for ops whose op-table C (frontend/elemwise.py) is wrong or slow for
#: some dtype, given PRELUDE. Dtypes not listed use the op table's expression. Ops computing a
#: float from ints (exp, true_div of int64 ...) expect their inputs cast to the output dtype
#: first; true_div has int rows anyway since C's ``a / b`` would silently divide integers.
#: "round_half_away_from_zero" is op "round" with mode="half_away_from_zero".
HELPERS: dict[str, dict[str, str]] = {
    "int_div": _per_dtype("ef_floordiv_d(a, b)", "ef_floordiv_f(a, b)",
                          lambda dt: f"ef_floordiv_{_int_suffix(dt)}(a, b)"),
    "mod": _per_dtype("ef_mod_d(a, b)", "ef_mod_f(a, b)",
                      lambda dt: f"ef_mod_{_int_suffix(dt)}(a, b)"),
    "pow": _per_dtype(None, None, lambda dt: f"ef_pow_{_int_suffix(dt)}(a, b)"),
    "true_div": _per_dtype(None, None, "((double)a / (double)b)"),
    "maximum": _per_dtype("ef_max_d(a, b)", "ef_max_f(a, b)", "(a > b ? a : b)", "(a | b)"),
    "minimum": _per_dtype("ef_min_d(a, b)", "ef_min_f(a, b)", "(a < b ? a : b)", "(a & b)"),
    "clip": _per_dtype("ef_clip_d(a, b, c)", "ef_clip_f(a, b, c)",
                       "(a > b ? (a < c ? a : c) : (b < c ? b : c))"),
    "abs": _per_dtype(None, None,
                      lambda dt: "a" if dt.startswith("u") else "(a < 0 ? -a : a)", "a"),
    "sgn": _per_dtype("ef_sgn_d(a)", "ef_sgn_f(a)"),
    "sigmoid": _per_dtype("ef_sigmoid_d(a)", "ef_sigmoid_f(a)"),
    "softplus": _per_dtype("ef_softplus_d(a)", "ef_softplus_f(a)"),
    "floor": _per_dtype(None, None, "a", "a"),
    "ceil": _per_dtype(None, None, "a", "a"),
    "round": _per_dtype(None, None, "a", "a"),
    "round_half_away_from_zero": _per_dtype("ef_round_half_away_d(a)",
                                            "ef_round_half_away_f(a)", "a", "a"),
    "invert": {"bool": "!a"},
}


def helper(op: str, dtype: str) -> str | None:
    """The HELPERS expression for ``op`` at ``dtype``, or None (use the op table's)."""
    return HELPERS.get(op, {}).get(dtype)


def render(expr: str, *operands: str) -> str:
    """Substitute C operands (parenthesised) for the names ``a``, ``b``, ``c`` of ``expr``:
    ``render("ef_max_d(a, b)", "x[i]", "y + 1")`` is ``"ef_max_d((x[i]), (y + 1))"``."""
    names = dict(zip("abc", operands))
    return re.sub(r"\b([abc])\b", lambda m: f"({names[m.group(1)]})" if m.group(1) in names
                  else m.group(0), expr)
