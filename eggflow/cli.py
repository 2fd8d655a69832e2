"""The ``eggflow`` command (console script): ``eggflow --version``, ``eggflow info``,
``eggflow bench ...`` (the benchmark harness, benchmarks/cli.py), ``eggflow rules check FILE``
and ``eggflow rules list`` (eggflow/rules_cli.py)."""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata

__all__ = ["main"]


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _graphviz() -> str:
    dot = shutil.which("dot")
    if dot is None:
        return ("not found: pydotprint writes DOT source instead of pictures "
                "(install graphviz, e.g. apt-get install graphviz)")
    try:  # `dot -V` prints its version on stderr
        done = subprocess.run([dot, "-V"], capture_output=True, text=True, timeout=10,
                              check=False)
        version = (done.stderr or done.stdout).strip()
    except (OSError, subprocess.SubprocessError):
        version = ""
    return f"{dot}" + (f" ({version})" if version else "")


def info(out=None) -> None:
    """Print versions, configuration flags and optional tools."""
    import numpy

    import eggflow
    from eggflow.frontend.config import config

    out = out or sys.stdout
    rows = [
        ("eggflow", eggflow.__version__),
        ("python", f"{platform.python_version()} ({sys.executable})"),
        ("numpy", numpy.__version__),
        ("egglog", _version("egglog")),
        ("pydot", _version("pydot")),
        ("graphviz dot", _graphviz()),
    ]
    rows += [(f"config.{name}", str(value)) for name, value in vars(config).items()]
    rows.append(("EGGFLOW_FLAGS", os.environ.get("EGGFLOW_FLAGS") or "(not set)"))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        out.write(f"{name:<{width}}  {value}\n")


def main(argv=None) -> int:
    """Entry point of the ``eggflow`` console script; returns the exit status."""
    import eggflow

    parser = argparse.ArgumentParser(
        prog="eggflow", description="eggflow: a Theano-style tensor compiler optimized by an "
                                    "e-graph.")
    parser.add_argument("--version", action="version", version=f"eggflow {eggflow.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("info", help="versions, configuration flags (EGGFLOW_FLAGS), graphviz")
    commands.add_parser("bench", help="the benchmark harness (eggflow bench --help)",
                        add_help=False)
    commands.add_parser("rules", help="check rule files, list rules (eggflow rules --help)",
                        add_help=False)
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        from eggflow.benchmarks.cli import main as bench

        return bench(argv[1:])
    if argv[:1] == ["rules"]:
        from eggflow.rules_cli import main as rules

        return rules(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "info":
        info()
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
