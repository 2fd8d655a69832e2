"""docs/research.md runs as written: its python blocks, in order, in one namespace, from the
repository root (the files it writes go to a temporary directory under pytest's tmp_path)."""

import re
import shlex
import tempfile
from pathlib import Path

import pytest

import eggflow as ef

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "research.md"


def blocks(lang):
    return re.findall(rf"^```{lang}\n(.*?)^```", DOC.read_text(encoding="utf-8"), re.M | re.S)


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Run from the repo root, write temporary files under tmp_path, and undo the global
    registrations the tutorial makes (config.rules, plugin cost models and extractors)."""
    from eggflow.egraph_rules import plugins
    from eggflow.egraph_rules.extract import EXTRACTORS

    monkeypatch.chdir(REPO)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(ef.config, "rules", ef.config.rules)
    saved = dict(EXTRACTORS), dict(plugins.COST_MODELS)
    yield tmp_path
    EXTRACTORS.clear()
    EXTRACTORS.update(saved[0])
    plugins.COST_MODELS.clear()
    plugins.COST_MODELS.update(saved[1])


def test_python_blocks_run_in_order(isolated, capsys):
    code = blocks("python")
    assert len(code) >= 10, "the tutorial's python blocks were not found"
    namespace = {"__name__": "research_doc"}
    for i, block in enumerate(code):
        exec(compile(block, f"{DOC}[python block {i}]", "exec"), namespace)
    out = capsys.readouterr().out
    assert ef.config.rules == "", "the tutorial must restore config.rules"
    workdir = namespace["workdir"]
    assert workdir.parent == isolated  # the files went to the temporary directory
    assert {"hyperbolic.py", "unsound.py", "hyper.json"} <= {p.name for p in workdir.iterdir()}
    assert "['log1p', 'softplus']" in out
    assert "[exp(v)]" in out
    assert "unsound.py:8: rule 'exp-of-sum'" in out
    assert "exp takes 1 inputs, got 2" in out


def test_shell_rule_commands_work(isolated, capsys):
    """The `eggflow rules ...` lines of the sh blocks run (in-process) and exit 0."""
    from eggflow.rules_cli import main

    commands = [line.split("eggflow rules", 1)[1] for block in blocks("sh")
                for line in block.splitlines() if "eggflow rules " in line]
    assert commands, "no `eggflow rules` command in the tutorial"
    for command in commands:
        assert main(shlex.split(command)) == 0, command
    assert "tanh-via-sigmoid" in capsys.readouterr().out


def test_entry_point_group_is_the_one_eggflow_reads():
    from eggflow.egraph_rules import plugins

    toml = "\n".join(blocks("toml"))
    assert '[project.entry-points."eggflow.rules"]' in toml
    assert 'group="eggflow.rules"' in Path(plugins.__file__).read_text(encoding="utf-8")
