"""The README's quickstart runs as written (so it cannot go stale)."""

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks():
    return re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), re.M | re.S)


def test_quickstart_runs(tmp_path, monkeypatch, capsys):
    blocks = python_blocks()
    assert len(blocks) == 3, "the README's python blocks: the quickstart, the rule example, CUDA"
    monkeypatch.chdir(tmp_path)  # pydotprint writes its picture (or .dot) here
    namespace = {"__name__": "readme_quickstart"}
    exec(compile(blocks[0], str(README), "exec"), namespace)
    out = capsys.readouterr().out
    assert out.startswith("4.0\n")
    np.testing.assert_allclose(namespace["W"].get_value(), [24.9, 25.05, 24.95, 25.1], atol=1e-4)
    assert "update of W:" in out  # debugprint of the training step
    assert list(tmp_path.glob("step.*")), "pydotprint wrote nothing"


def test_commands_come_first():
    text = README.read_text(encoding="utf-8")
    assert text.index("make demo") < text.index("```python")
    assert text.index("make test") < text.index("```python")


def test_rule_example_runs(capsys):
    namespace = {"__name__": "readme_rules"}
    exec(compile(python_blocks()[1], str(README), "exec"), namespace)
    out = capsys.readouterr().out.split("\n")
    np.testing.assert_allclose(np.array(out[0].strip("[]").split(), float), [0.0, np.tanh(1.0)])
    assert out[1] == "1"


def test_cuda_example_runs_in_the_dry_run(monkeypatch):
    """The CUDA example, without a GPU: the CUDA backend's dry run (host stand-ins)."""
    from eggflow.backends import cuda_backend

    monkeypatch.setenv(cuda_backend.DRY_RUN_ENV, "1")
    namespace = {"__name__": "readme_cuda"}
    exec(compile(python_blocks()[2], str(README), "exec"), namespace)
    f, w = namespace["f"], namespace["w"]
    assert f.report.backend == "cuda" and w.on_device
    # after set_value(0.5) one step on x = 1, y = 1: w -= 0.1 * 2 * (1.5 - 1) * [1, 1, 1]
    np.testing.assert_allclose(w.get_value(), np.full(3, 0.4), rtol=1e-6)
    out = f(namespace["xv"], namespace["yv"])
    assert cuda_backend.is_device_array(out)
