"""Loading rule files: a plain Python file that builds ``RuleSet``s with the public DSL."""

from __future__ import annotations

import importlib.util
import os
import sys

from .dsl import Rule, RuleSet


class PluginError(ImportError):
    """A rule file could not be loaded (the message names the file and the cause)."""


def load(path) -> list:
    """Run the rule file at ``path`` and return the RuleSets it defines (a module-level
    ``RULES`` list or every RuleSet bound at top level; loose Rules form one set per file)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise PluginError(f"rule file {path!r} does not exist")
    name = "eggflow_rules_" + "".join(c if c.isalnum() else "_" for c in os.path.abspath(path))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # name the file and the line where it failed
        tb = exc.__traceback__
        line = None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == os.path.abspath(path) or \
                    tb.tb_frame.f_code.co_filename == path:
                line = tb.tb_lineno
            tb = tb.tb_next
        where = f"{path}:{line}" if line else path
        raise PluginError(f"rule file {where}: {type(exc).__name__}: {exc}") from exc
    found = getattr(module, "RULES", None)
    if found is None:
        found = [v for v in vars(module).values() if isinstance(v, RuleSet)]
        loose = [v for v in vars(module).values() if isinstance(v, Rule)]
        if loose and not found:
            found = [RuleSet(os.path.splitext(os.path.basename(path))[0], "algebraic", loose)]
    if isinstance(found, RuleSet):
        found = [found]
    if not found:
        raise PluginError(f"rule file {path} defines no RuleSet (bind one at top level or "
                          "list them in RULES)")
    return list(found)
