"""Issue 5's benchmarks: the new workloads (W1-W5) against their references at small sizes,
shared-variable updates in the harness, the peers' behaviour the issue points at (JAX's inf on
the naive logsumexp, PyTensor's C linker), and ``issue5 --quick`` end to end (NumPy peer only:
the graph peers compile for seconds each, and are checked on their own below)."""

import functools
import importlib.util
import json
import math

import numpy as np
import pytest

import eggflow as ef
from eggflow.benchmarks import harness, issue5, report
from eggflow.benchmarks import peers as P
from eggflow.benchmarks import workloads as W
from eggflow.benchmarks.workloads import logsumexp_naive

NEW = ["exp_sin_log1p", "exp_sin_log1p_f32", "logreg_step", "mlp_train_f32", "matrix_chain_abc"]


def _spec(name):
    return logsumexp_naive.SPEC if name == "logsumexp_naive" else W.get(name)


@functools.cache
def _built(name, size):
    return _spec(name).build(size, 0)


def _small(name, size=None):
    """The workload (built once per size: ef.grad takes a while), its parameters reset."""
    wl = _built(name, size or _spec(name).sizes["quick"])
    wl.reset()
    return wl


def test_the_issue_sizes():
    assert {"W1", "W2", "W3", "W4", "W5"} == set(issue5.GROUPS)
    assert set(NEW) <= set(W.names()) and "logsumexp_naive" not in W.names()
    assert {W.get(n).sizes["full"] for n in NEW[:2]} == {10_000_000}
    x, _ = _small("logreg_step", 10_000).values
    assert x.shape == (10_000, 100)
    wl = _small("mlp_train_f32", 256)
    assert wl.values[0].shape == (256, 784) and wl.values[0].dtype == np.float32
    assert [s.get_value().shape for s, _ in wl.updates] == [(784, 512), (512,), (512, 10), (10,)]
    assert [m.type.shape for m in _small("matrix_chain_abc", 100).inputs] == [
        (100, 1000), (1000, 1000), (1000, 10)]
    wl = _small("logsumexp_naive", 2000)
    assert wl.values[0].shape == (2000, 2000) and (wl.values[0] == 1000).sum() == 1


@pytest.mark.parametrize("name", NEW + ["logsumexp_naive"])
def test_numpy_and_eggflow_match_the_reference(name):
    """Small sizes: the hand-written NumPy version and eggflow (FAST_RUN, the NumPy backend)
    agree with the float64 reference (float32 workloads to a few float32 ulps)."""
    wl = _small(name)
    rtol = 1e-5 if any(np.asarray(v).dtype == np.float32 for v in wl.values) else 1e-10
    ref = wl.reference(*wl.values)
    assert all(np.asarray(r).dtype == np.float64 and np.isfinite(r).all() for r in ref)
    assert harness.max_error(P.PEERS["numpy"].prepare(wl)(*wl.values), ref) < rtol
    wl.reset()
    _, call = harness.compile_workload(wl, ef.Mode(backend="numpy"))
    assert harness.max_error(call(*wl.values), ref) < rtol


def test_naive_logsumexp_overflows_unless_rewritten():
    wl = _small("logsumexp_naive")
    with np.errstate(all="ignore"):
        (naive,) = ef.function(wl.inputs, wl.outputs, mode="FAST_COMPILE")(*wl.values)
    assert np.isinf(naive[logsumexp_naive.big_entry(64)[0]])
    (got,) = ef.function(wl.inputs, wl.outputs, mode="FAST_RUN")(*wl.values)
    assert harness.max_error([got], wl.reference(*wl.values)) < 1e-15


@pytest.mark.parametrize("name", ["logreg_step", "mlp_train_f32"])
def test_updates_write_shared_values_and_reset_restores_them(name):
    """Every run reports the same first-step results: the update is applied by the call
    (eggflow's updates=, the peers' write-back), and reset() restores the parameters."""
    wl = _small(name)
    size = W.get(name).sizes["quick"]
    ref = wl.reference(*wl.values)
    before = [s.get_value() for s, _ in wl.updates]
    rows = [harness.run_config(wl, size, harness.CONFIGS["default"], 2, ref),
            harness.run_peer(wl, size, "numpy", 2, ref)]
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert all(r["max_error"] < 1e-5 for r in rows)
    wl.reset()
    numpy_step = P.PEERS["numpy"].prepare(wl)
    first = numpy_step(*wl.values)
    for (s, k), old in zip(wl.updates, before):
        np.testing.assert_array_equal(s.get_value(), first[k])  # written back
        assert not np.array_equal(s.get_value(), old)
    assert harness.max_error(first, ref) < 1e-5
    wl.reset()
    for (s, _), old in zip(wl.updates, before):
        np.testing.assert_array_equal(s.get_value(), old)


def test_ratios_and_tables():
    def row(peer, t, err=0.0, config="peer"):
        r = harness._row("w", 4, config, None if peer else "numpy", peer,
                         runtime={"median": t, "min": t}, max_error=err)
        return r

    rows = [row(None, 2.0, config="eggflow"), row("numpy", 4.0), row("jax", 1.0, math.inf),
            row("pytensor", 3.0)]
    by = {x["run"]: x for x in report.ratios(rows)}
    mine = by["eggflow (numpy)"]
    assert mine["vs_numpy"] == 2.0 and mine["fastest_peer"] == "peer pytensor"  # not jax: inf
    assert mine["vs_fastest_peer"] == 1.5
    assert report.ratios(rows, exclude=("pytensor",))[0]["fastest_peer"] == "peer numpy"
    assert report.fmt_seconds(12.3e-6) == "12.3 µs" and report.fmt_seconds(2.5) == "2.5 s"
    assert "| eggflow (numpy) | 2 s | 2.00x | 1.50x |" in report.ratio_markdown(
        report.ratios(rows))


def test_quick_script_end_to_end(tmp_path, capsys):
    """``issue5 --quick`` with the NumPy backend and peer: every benchmark W1-W7 gives rows,
    tables, JSON and markdown."""
    rc = issue5.main(["--quick", "--configs", "numpy", "--peers", "numpy", "--repeats", "2",
                      "--out", str(tmp_path)])
    doc = json.loads((tmp_path / "issue5.json").read_text())
    assert {"schema", "suite", "machine", "rows", "issue5"} <= set(doc)
    assert doc["suite"] == "issue5-quick"
    sec = doc["issue5"]
    assert {"groups", "peers", "configs", "tables", "tolerance"} <= set(sec)
    assert set(sec["peers"]) == {"numpy"}
    rows = doc["rows"]
    assert {r["group"] for r in rows} == set(issue5.ALL)
    assert rc == 0 and all(r["status"] == "ok" for r in rows)
    assert all(set(harness.ROW_KEYS) <= set(r) for r in rows)
    eggflow = {(r["group"], r["workload"], r.get("variant")): r for r in rows
               if r["backend"] == "numpy"}
    assert eggflow[("W4", "logsumexp_naive", None)]["max_error"] < 1e-15
    assert {v for g, _, v in eggflow if g == "W6"} == {"input checks", "trust_input"}
    assert {v for g, _, v in eggflow if g == "W7"} == {"cold", "warm"}
    assert all(r["runtime"]["min"] > 0 for r in rows if r["status"] == "ok")
    for x in sec["tables"]:
        assert {"workload", "run", "seconds", "vs_numpy", "vs_fastest_peer", "max_error"} <= set(x)
    numpy_w1 = next(x for x in sec["tables"] if x["workload"] == "exp_sin_log1p"
                    and x["run"] == "peer numpy")
    assert numpy_w1["vs_numpy"] == 1.0
    out = capsys.readouterr().out
    assert "W1: exp_sin_log1p (1000)" in out and "W7: compile mlp_train_f32" in out
    assert "### W6: add_one (0-d)" in (tmp_path / "issue5.md").read_text()


def _need(name):
    ok, why = P.PEERS[name].available()
    if not ok:
        pytest.skip(why)


def test_jax_returns_inf_on_the_naive_logsumexp():
    _need("jax")
    wl = _small("logsumexp_naive")
    row = harness.run_peer(wl, 64, "jax", 1, wl.reference(*wl.values))
    assert row["status"] == "ok" and row["max_error"] == math.inf


def test_pytensor_c_peer():
    """PyTensor's C linker, with a BLAS where one can be set up: it names both, runs W4 exactly
    (PyTensor rewrites the naive logsumexp too) and the W6 trust_input function."""
    _need("pytensor")
    peer = P.pytensor_c_peer()
    ok, version = peer.available()
    assert ok and "linker" in version
    if peer.name != "pytensor-c":
        pytest.skip(f"PyTensor's C linker does not work here: {version}")
    assert "BLAS" in version
    wl = _small("logsumexp_naive", 16)
    row = harness.run_peer(wl, 16, peer, 1, wl.reference(*wl.values))
    assert row["status"] == "ok" and row["max_error"] < 1e-15, row
    rows = issue5.run_overhead([], [peer], number=10, repeat=2)
    assert [(r["peer"], r["variant"], r["status"]) for r in rows[:2]] == [
        ("pytensor-c", "input checks", "ok"), ("pytensor-c", "trust_input", "ok")]


@pytest.mark.skipif(importlib.util.find_spec("scipy_openblas32") is None,
                    reason="scipy-openblas32 is not installed")
def test_blas_setup_describes_what_it_used():
    _need("pytensor")
    how = P.setup_pytensor_blas()
    assert how.startswith(("BLAS:", "no BLAS:"))


def test_c_backend_rows_run_or_say_why():
    """Mode(backend='c'): W6's functions run, or every row is skipped with the reason (the
    backend does not import yet)."""
    (c,) = [c for c in issue5.CONFIGS if c.backend == "c"]
    rows, _ = issue5.run(quick=True, only=["W6"], peer_names=[], configs=[c])
    assert len(rows) == 4 and {r["backend"] for r in rows} == {"c"}
    ok, why = harness.backend_available("c")
    for r in rows:
        assert (r["status"], r["reason"]) == (("ok", None) if ok else ("skipped", why)), r
        if ok:
            assert r["max_error"] == 0.0
