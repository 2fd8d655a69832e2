"""Rule plugins: plain Python files (or installed packages) that build ``RuleSet``s with the
public DSL, and may register cost models and extractors.

A plugin file binds RuleSets at top level (or lists them in ``RULES``; loose Rules form one set
named after the file); ``COST_MODELS = {name: class}`` and ``EXTRACTORS = {name: callable}``
register names for ``Mode(cost=name)`` / ``Mode(extractor=name)``. Routes: ``rules.load(path)``,
``Mode(rules=['default', 'path/to/file.py'])``, ``config.rules`` / ``EGGFLOW_RULES=a.py:b.py``
(joining 'default'), and installed packages' entry points in the group ``eggflow.rules`` (an
entry point names a module, or an object that is a RuleSet or a list of them).

Rules from files that join the defaults (``Mode(rules=[... path])``, the config flag, entry
points) are checked first with the random-input checker: an unsound or ill-typed rule raises
``PluginError`` naming the file, line and rule, with the counterexample; it is never used
silently. (Rules in egglog's own language are not supported: the checker could not vouch for
them.)"""

from __future__ import annotations

import importlib.util
import os
import sys

from .dsl import Rule, RuleSet


class PluginError(ImportError):
    """A rule file could not be loaded (the message names the file and the cause)."""


COST_MODELS: dict = {}  # name -> cost model class, registered by plugins
_CHECKED: dict = {}  # (path, mtime) -> RuleSets already loaded and checked


def load(path, check: bool = False) -> list:
    """Run the rule file at ``path`` and return the RuleSets it defines (a module-level
    ``RULES`` list or every RuleSet bound at top level; loose Rules form one set per file).
    ``check``: run the soundness checker on every rule and raise ``PluginError`` on the first
    unsound one (``Mode`` and the config flag do; ``rules check`` reports instead)."""
    path = os.fspath(path)
    stamp = (os.path.abspath(path), os.path.getmtime(path)) if os.path.isfile(path) else None
    if check and stamp in _CHECKED:
        return list(_CHECKED[stamp])
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
    _register(module, path)
    found = list(found)
    if check:
        verify(found, path)
        _CHECKED[stamp] = found
    return found


def _register(module, where) -> None:
    from .extract import EXTRACTORS

    for name, fn in dict(getattr(module, "EXTRACTORS", {}) or {}).items():
        if not callable(fn):
            raise PluginError(f"{where}: EXTRACTORS[{name!r}] is not callable")
        EXTRACTORS[name] = fn
    for name, cls in dict(getattr(module, "COST_MODELS", {}) or {}).items():
        COST_MODELS[name] = cls


def verify(rulesets, where) -> None:
    """Raise PluginError for the first rule the checker finds unsound (file, line, rule and
    the counterexample)."""
    from .check import check as run_check

    for rs in rulesets:
        for r in rs:
            res = run_check(r)
            if not res.ok:
                raise PluginError(f"{r.source or where}: rule {r.name!r} (RuleSet {rs.name}, "
                                  f"family {rs.family}) failed the soundness check and is not "
                                  f"used: {res.message}")


def configured() -> list:
    """The RuleSets that join 'default': files in ``config.rules`` (EGGFLOW_RULES) and the
    ``eggflow.rules`` entry points of installed packages; each checked."""
    from importlib import metadata

    from eggflow.frontend.config import config

    out = []
    for path in filter(None, (config.rules or "").split(os.pathsep)):
        out += load(path, check=True)
    if "entry points" not in _CHECKED:  # scanning installed packages costs ~5 ms: once
        _CHECKED["entry points"] = list(metadata.entry_points(group="eggflow.rules"))
    for ep in _CHECKED["entry points"]:
        key = ("entry point", ep.value)
        if key not in _CHECKED:
            try:
                obj = ep.load()
            except Exception as exc:
                raise PluginError(f"entry point {ep.name} ({ep.value}) of group eggflow.rules "
                                  f"failed to import: {type(exc).__name__}: {exc}") from exc
            if isinstance(obj, RuleSet):
                found = [obj]
            elif isinstance(obj, (list, tuple)):
                found = list(obj)
            else:  # a module
                _register(obj, ep.value)
                found = getattr(obj, "RULES", None) or [
                    v for v in vars(obj).values() if isinstance(v, RuleSet)]
                found = [found] if isinstance(found, RuleSet) else list(found)
            verify(found, f"entry point {ep.name} ({ep.value})")
            _CHECKED[key] = found
        out += _CHECKED[key]
    return out
