"""The ``eggflow`` console script."""

import re
import numpy
import pytest

import eggflow
from eggflow import cli


def test_info(capsys, monkeypatch):
    monkeypatch.setattr(cli.shutil, "which", lambda name: None)
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"^eggflow +{re.escape(eggflow.__version__)}$", out, re.M)
    assert numpy.__version__ in out
    assert "config.floatX" in out and "config.mode" in out
    assert re.search(r"^graphviz dot +not found", out, re.M)


def test_version_and_no_command(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"eggflow {eggflow.__version__}"
    assert cli.main([]) == 2
    assert "info" in capsys.readouterr().out


def test_unknown_command_is_an_error():
    with pytest.raises(SystemExit) as exc:
        cli.main(["frobnicate"])
    assert exc.value.code == 2
