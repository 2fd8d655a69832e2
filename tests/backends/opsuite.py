"""Helpers shared by the C and CUDA backend tests: comparison against the reference executor,
the elementwise op suite (every elementwise op of the op table at a dtype, special values
and random samples, selector chains) and snapshots of generated code. tests/backends/conftest.py
puts this folder on sys.path (pytest's importlib mode does not let test modules import each
other)."""

from __future__ import annotations

import difflib
import os
import warnings

import numpy as np
import pytest

import eggflow.tensor as T
from eggflow.frontend.op import OPS, apply

UPDATE_SNAPSHOTS = os.environ.get("EGGFLOW_UPDATE_SNAPSHOTS") == "1"
CASTS = ("float64", "float32", "int64", "int32", "int8", "uint8", "bool")
RTOL = {"float64": 1e-12, "float32": 1e-5}


def call(f, *args):
    """Call ``f`` with NumPy's floating-point warnings silenced (log(0), 0/0, overflow ... are
    part of the tests; the reference's RuntimeWarnings would be errors under pytest)."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return f(*args)


def mismatches(got, want, rtol=None, atol=0.0):
    """Boolean mask of the entries where ``got`` differs from ``want``: ints/bools exactly;
    floats: the same NaN and inf positions, finite values within ``rtol`` (a few ulp near 0:
    the denormal range is absolute; ``atol`` where terms of size ~1 nearly cancel)."""
    got, want = np.asarray(got), np.asarray(want)
    if want.dtype.kind not in "fc":
        return got != want
    rtol = RTOL[want.dtype.name] if rtol is None else rtol
    tiny = np.finfo(want.dtype).tiny
    with np.errstate(all="ignore"):
        close = np.isfinite(got) & np.isfinite(want) & (
            np.abs(got - want) <= rtol * np.abs(want) + max(atol, 4 * tiny))
    return ~((np.isnan(got) & np.isnan(want)) | (got == want) | close)


def assert_same(got, want, what, rtol=None, atol=0.0):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype}, reference {want.dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape}, reference {want.shape}"
    bad = mismatches(got, want, rtol, atol)
    if bad.any():
        idx = np.argwhere(bad)[:5]
        raise AssertionError(f"{what}: {int(bad.sum())} of {bad.size} entries differ, e.g. " +
                             ", ".join(f"at {tuple(i)} got {got[tuple(i)]!r} want "
                                       f"{want[tuple(i)]!r}" for i in idx))


def assert_all_same(got, want, labels, rtol=None):
    assert len(got) == len(want)
    for g, w, label in zip(got, want, labels):
        assert_same(g, w, label, rtol)


def specials(dt) -> np.ndarray:
    d = np.dtype(dt)
    if d.kind == "f":
        fi = np.finfo(d)
        e = float(np.log(fi.max))  # exp overflows just above this
        return np.array([0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.5, -1.5, 3.0, np.pi / 2, 1e-8, 20.0,
                         np.inf, -np.inf, np.nan, fi.tiny, fi.smallest_subnormal, -fi.tiny,
                         fi.max, -fi.max, e - 0.01, e + 0.01, -e - 30], dtype=d)
    if d.kind == "b":
        return np.array([False, True])
    ii = np.iinfo(d)
    vals = [0, 1, 2, 3, 7, 100, ii.max, ii.max - 1, ii.min, ii.min + 1]
    if d.kind == "i":
        vals += [-1, -2, -3, -7, -100]
    return np.array(vals, dtype=d)


def sample(dt, rng):
    """x, y, z, r: every pair (x, y) of special values, then random values; z a permutation of
    x; r in [0, 100) for float->int casts (out-of-range float->int conversion is undefined
    in C and platform-specific in NumPy)."""
    s = specials(dt)
    a, b = np.meshgrid(s, s, indexing="ij")
    d = np.dtype(dt)
    n = 200
    if d.kind == "f":
        rx, ry = (rng.standard_normal((2, n)) * 4).astype(d)
    elif d.kind == "b":
        rx, ry = rng.integers(0, 2, (2, n)).astype(bool)
    else:
        ii = np.iinfo(d)
        rx = rng.integers(ii.min, ii.max, n, dtype=d, endpoint=True)
        ry = rng.integers(-20 if d.kind == "i" else 0, 20, n).astype(d)  # small divisors
    x, y = np.concatenate([a.ravel(), rx]), np.concatenate([b.ravel(), ry])
    z = rng.permutation(x)
    r = rng.uniform(0, 100, x.size).astype(d) if d.kind == "f" else x
    return x, y, z, r


def elementwise_cases(dt):
    """Inputs (x, y, z, r) of dtype ``dt`` and [(label, node)] for every elementwise op the type
    rules allow at ``dt`` (cast to every dtype, round in both modes); the labels refused."""
    x, y, z, r = (T.tensor(dt, shape=(None,), name=n) for n in "xyzr")
    cases, refused = [], []
    for name, decl in OPS.items():
        if decl.family != "elemwise":
            continue
        if name == "cast":
            float_src = np.dtype(dt).kind == "f"
            calls = [(f"cast-{t}", (r if float_src and np.dtype(t).kind in "iu" else x,),
                      {"dtype": t}) for t in CASTS]
        elif name == "round":
            calls = [(f"round-{m}", (x,), {"mode": m})
                     for m in ("half_to_even", "half_away_from_zero")]
        else:
            calls = [(name, (x, y, z)[: decl.nin], {})]
        for label, args, params in calls:
            try:
                node = apply(name, *args, **params)
            except (TypeError, ValueError):
                refused.append(label)
                continue
            if name == "pow" and np.dtype(node.dtype).kind != "f":
                continue  # no C integer power: test_integer_pow
            cases.append((label, node))
    return (x, y, z, r), cases, refused


def selector_chains(cases, sel):
    """One output per output dtype: ``switch(eq(sel, k), op_k, ...)`` over its ops."""
    groups: dict = {}
    for k, (label, node) in enumerate(cases):
        groups.setdefault(node.dtype, []).append((k, label, node))
    outs = []
    for ops in groups.values():
        out = ops[-1][2]
        for k, _, node in reversed(ops[:-1]):
            out = T.switch(T.eq(sel, k), node, out)
        outs.append(out)
    return outs, list(groups.values())


def assert_matches_snapshot(path, text: str, what: str) -> None:
    """``text`` equals the stored snapshot ``path`` (a diff says how not); with
    ``EGGFLOW_UPDATE_SNAPSHOTS=1`` it is written there instead."""
    if UPDATE_SNAPSHOTS:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        return
    if not path.exists():
        pytest.fail(f"no snapshot {path}; create it with EGGFLOW_UPDATE_SNAPSHOTS=1")
    stored = path.read_text()
    if stored != text:
        diff = "".join(list(difflib.unified_diff(
            stored.splitlines(keepends=True), text.splitlines(keepends=True),
            f"{path.name} (stored)", f"{path.name} (generated now)"))[:80])
        pytest.fail(f"{what} differs from {path}; if the change is intended, rewrite the "
                    f"snapshots with EGGFLOW_UPDATE_SNAPSHOTS=1:\n{diff}")
