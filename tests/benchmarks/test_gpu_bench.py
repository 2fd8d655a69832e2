"""benchmarks/gpu.py without a GPU: it says why it cannot measure, its dry run builds and
checks every eggflow function it times (against NumPy), and its report renders."""

import numpy as np
import pytest

from eggflow.backends import cuda_backend
from eggflow.benchmarks import gpu


def test_without_a_gpu_it_says_why_and_exits_2(capsys, monkeypatch):
    monkeypatch.delenv(cuda_backend.DRY_RUN_ENV, raising=False)
    if cuda_backend.available()[0]:
        pytest.skip("a GPU is here: the benchmark would run")
    assert gpu.main(["--out", "unused"]) == 2
    assert "no GPU benchmarks: " in capsys.readouterr().err


def test_the_dry_run_builds_and_checks_the_functions(monkeypatch, capsys):
    monkeypatch.setenv(cuda_backend.DRY_RUN_ENV, "1")
    assert gpu.main(["--dry-run"]) == 0
    assert "nothing was measured" in capsys.readouterr().out
    monkeypatch.setenv(cuda_backend.DRY_RUN_ENV, "1")  # and a dry run never measures
    assert gpu.main([]) == 2


def test_every_chain_means_the_same_in_numpy_and_eggflow():
    x = np.linspace(-3, 3, 61)
    assert np.allclose(gpu.CHAINS["arith"](np, x), ((x * 1.5 + 2) * x - x / 4) * (x - 1) + 0.5)
    assert np.allclose(gpu.CHAINS["W1"](np, x),
                       np.exp(-x ** 2 / 2) * np.sin(3 * x) + np.log1p(x * x))


def test_the_report_renders_every_row():
    row = {"seconds": 2e-4, "GB/s": 4000.0, "of copy": 0.93, "kernels": 1, "max rel err": 1e-7}
    mlp = {"seconds": 1e-3, "first cost": 2.3, "cost rel err": 1e-7, "kernels": 9,
           "blas calls": 5}
    doc = {"device": "H200", "n": 10 ** 8, "batch": 1024, "copy": {"GB/s": 4300.0},
           "chain arith": {"eggflow": row, "cupy": {"skipped": "cupy is not installed"}},
           "chain W1": {"eggflow": row}, "mlp": {"eggflow": mlp, "pytorch eager": mlp}}
    text = gpu.markdown(doc)
    assert "4300 GB/s" in text and "| eggflow | 0.200 ms | 4e+03 | 0.93 | 1 |" in text
    assert "| cupy | skipped: cupy is not installed |" in text
    assert "MLP training step, batch 1024" in text and "| pytorch eager | 1.000 ms |" in text


def test_event_timing_takes_the_best_loop_per_call():
    """event_timed with stand-in events: 3 warm-up calls, a sync, then 3 loops of ``repeats``
    calls between two events; the best loop's milliseconds / 1000 / repeats."""
    log = []

    class Event:
        def record(self):
            log.append("record")

        def synchronize(self):
            log.append("sync-event")

    loops = iter([5.0, 2.0, 4.0])
    seconds = gpu.event_timed(lambda: log.append("call"), 4, Event,
                              lambda s, e: next(loops), lambda: log.append("sync"))
    assert seconds == 2.0 / 1e3 / 4
    assert log[:4] == ["call"] * 3 + ["sync"]
    assert log[4:11] == ["record"] + ["call"] * 4 + ["record", "sync-event"]
    assert log.count("call") == 3 + 3 * 4
