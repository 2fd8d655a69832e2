"""The benchmark harness's own logic on tiny workloads: registry, configurations, metrics, the
JSON schema, compare, the CLI end to end, and peers that are missing."""

import importlib.util
import json
import math

import numpy as np
import pytest

import eggflow.tensor as T
from eggflow.benchmarks import harness, report
from eggflow.benchmarks import workloads as W
from eggflow.benchmarks.cli import main as bench


@pytest.fixture
def tiny(monkeypatch):
    """A registered tiny workload: log(1 + exp(x)) on a vector with extreme entries."""
    monkeypatch.setattr(W, "REGISTRY", dict(W.load_all()))

    @W.register("tiny_softplus", sizes={"quick": 8, "full": 16}, tags=("test",))
    def build(size, seed):
        """log(1+exp(x)) on x with +-1000 entries."""
        x = T.dvector("x")
        xv = np.random.default_rng(seed).normal(size=size) * 10
        xv[:2] = [1000.0, -1000.0]
        return W.Workload("tiny_softplus", [T.log(1 + T.exp(x))], [x], [xv],
                          numpy=lambda v: [np.logaddexp(0, v)],
                          reference=lambda v: [np.logaddexp(0, v)],
                          numexpr=["log(1 + exp(x))"], tags=("test",))

    return "tiny_softplus"


def test_registry_lists_and_rejects_duplicates(tiny):
    assert tiny in W.names() and tiny in W.names(tags=["test"])
    assert W.get(tiny).doc == "log(1+exp(x)) on x with +-1000 entries."
    with pytest.raises(ValueError, match="registered twice"):
        W.register(tiny, sizes={"quick": 1})(lambda size, seed: None)
    with pytest.raises(KeyError, match="unknown workload"):
        W.get("no_such_workload")


def test_rows_have_the_schema_and_real_metrics(tiny):
    rows = harness.run([tiny], ["default", "unoptimized", "c"], ["numpy"], repeats=3)
    assert [(r["config"], r["peer"]) for r in rows] == [
        ("default", None), ("unoptimized", None), ("c", None), ("peer", "numpy")]
    for r in rows:
        assert set(harness.ROW_KEYS) <= set(r)
    default, unopt, c, numpy_row = rows
    assert default["status"] == "ok" and default["egraph"]["enodes"] > 0
    assert default["egraph"]["stop_reasons"] == ["saturated"]
    assert default["extracted"]["ops"] == 1  # softplus
    assert default["extracted"]["kernels"] is None  # the reference executor: no kernels
    assert default["compile_seconds"]["main"] > 0 and default["compile_seconds"]["backend"] >= 0
    rt = default["runtime"]
    assert rt["repeats"] == 3 and rt["min"] <= rt["median"] <= rt["max"]
    assert default["peak_memory"] > 0
    assert default["max_error"] < 1e-14  # stable
    assert unopt["egraph"] is None and unopt["max_error"] == math.inf  # log(1+exp(1000))
    assert unopt["extracted"]["ops"] == 3
    assert c["status"] == "ok" and c["max_error"] < 1e-14  # the C backend
    assert c["extracted"]["kernels"] == 1  # softplus in one generated loop
    assert numpy_row["max_error"] == 0.0 and numpy_row["runtime"]["median"] > 0


def test_missing_peer_is_skipped_with_reason(tiny, monkeypatch):
    from eggflow.benchmarks import peers

    monkeypatch.setattr(peers.PEERS["jax"], "available", lambda: (False, "jax is not installed"))
    (row,) = harness.run([tiny], [], ["jax"], repeats=1)
    assert row["status"] == "skipped" and row["reason"] == "jax is not installed"


def test_config_matrix_and_modes():
    assert {"default", "unoptimized", "tree", "greedy", "ilp", "nodecount", "c", "cuda"} <= \
        set(harness.CONFIGS)
    m = harness.CONFIGS["no-stability"].mode()
    assert m.excluding == ("stability",) and m.optimizer == "egraph"
    assert harness.CONFIGS["unoptimized"].mode().optimizer is None
    for _wls, cfgs, peers, repeats in harness.SUITES.values():
        assert all(c in harness.CONFIGS for c in cfgs) and repeats > 0
        assert set(peers) <= {"numpy", "numexpr", "pytensor", "jax"}


def test_max_error_metric():
    assert harness.max_error([np.array([1.0, 2.0])], [np.array([1.0, 2.0])]) == 0.0
    assert harness.max_error([np.array([1.0, np.inf])], [np.array([1.0, 5.0])]) == math.inf
    # relative above 1, absolute below; non-finite reference entries are not judged
    e = harness.max_error([np.array([101.0, 0.5, 7.0])], [np.array([100.0, 0.25, np.nan])])
    assert e == pytest.approx(0.25)
    assert harness.max_error([np.zeros(3)], None) is None


def test_compare_flags_regressions():
    def doc(t, err, cost, status="ok"):
        row = dict.fromkeys(harness.ROW_KEYS)
        row.update(workload="w", size=1, config="default", backend="numpy", peer=None,
                   status=status, runtime={"median": t, "min": t, "max": t, "repeats": 1},
                   max_error=err, extracted={"cost": cost})
        return {"rows": [row]}

    (res,) = report.compare(doc(1.0, 1e-16, 10.0), doc(1.05, 1e-16, 10.0))
    assert res[4] == [] and res[3] == pytest.approx(1.05)
    (res,) = report.compare(doc(1.0, 1e-16, 10.0), doc(1.5, 1e-3, 11.0))
    assert res[4] == ["slower", "less accurate", "costlier"]


def test_cli_run_writes_json_markdown_plots_and_compare(tiny, tmp_path, capsys):
    out = tmp_path / "run"
    assert bench(["run", "-w", tiny, "-c", "default", "-c", "unoptimized", "-p", "numpy",
                  "--repeats", "2", "--out", str(out), "--draw", tiny]) == 0
    doc = json.loads((out / "results.json").read_text())
    assert doc["schema"] == harness.SCHEMA and len(doc["rows"]) == 3
    m = doc["machine"]
    assert m["cpus"] and m["numpy"] and "threads" in m and "peers" in m
    text = (out / "report.md").read_text()
    assert "| tiny_softplus |" in text and "peer numpy" in text
    if importlib.util.find_spec("matplotlib"):  # the bench extra
        assert (out / "speedup.png").exists() and (out / "cost_vs_time.png").exists()
    assert (out / "drawings" / f"{tiny}.md").exists()
    printed = capsys.readouterr().out
    assert "tiny_softplus" in printed and "default (numpy)" in printed
    assert bench(["compare", str(out / "results.json"), str(out / "results.json")]) == 0
    assert "3 rows compared, 0 flagged" in capsys.readouterr().out


def test_cli_list_and_bad_config(capsys):
    assert bench(["list"]) == 0
    assert "configurations:" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        bench(["run", "-c", "no-such-config"])


def test_eggflow_console_script_forwards_bench(capsys):
    from eggflow.cli import main

    assert main(["bench", "list"]) == 0
    assert "workloads:" in capsys.readouterr().out


def test_heavy_peers_skip_large_workloads_unless_named(tiny):
    wl = W.get(tiny).build(8, 0)
    wl.tags = ("large",)
    row = harness.run_peer(wl, 8, "jax", 1, None)
    assert row["status"] == "skipped" and "-w tiny_softplus -p jax" in row["reason"]
    assert harness.run_peer(wl, 8, "numpy", 1, None)["status"] == "ok"
