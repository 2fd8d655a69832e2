"""The built-in rule sets by family, and resolving a ``Mode(rules=..., excluding=...)``."""

from __future__ import annotations

from .dsl import Rule, RuleSet

MAIN_FAMILIES = ("algebraic", "stability")  # the main phase
LATE_FAMILIES = ("layout", "fusion", "inplace")  # the late phase, on the main phase's result


def builtin() -> dict:
    """family -> RuleSet of the built-in rules."""
    from . import algebraic, fusion, inplace, layout, stability

    return {"algebraic": algebraic.RULES, "stability": stability.RULES, "layout": layout.RULES,
            "fusion": fusion.RULES, "inplace": inplace.RULES}


def law_of(rule) -> str:
    """A rule's law: its ``law=`` text, else the comment line written above it."""
    if rule.law:
        return rule.law
    if not rule.source:
        return ""
    path, _, line = rule.source.rpartition(":")
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()[: int(line) - 1]
    except (OSError, ValueError):
        return ""
    while lines and not lines[-1].lstrip().startswith("#"):
        if not lines[-1].startswith(" " * 8) and not lines[-1].lstrip().startswith(
                ("rewrite(", "fact(", "*", "op(", "fold(", "return [", "R += [", ")")):
            return ""
        lines.pop()
    comment = []
    while lines and lines[-1].lstrip().startswith("#"):  # the whole comment, in order
        comment.insert(0, lines.pop().strip().lstrip("#").strip())
    return " ".join(comment)


def resolve(rules=None, excluding=()) -> RuleSet:
    """``rules``: None or 'default' (every built-in family), a family name, a RuleSet, a Rule,
    or a list of these; ``excluding``: rule names, family names or assumptions ('finite')."""
    families = builtin()
    out = RuleSet("rules", "algebraic")
    items = ["default"] if rules is None else [rules] if isinstance(rules, (str, Rule, RuleSet)) \
        else list(rules)
    for item in items:
        if item == "default":
            for fam in MAIN_FAMILIES + LATE_FAMILIES:
                out = out + families[fam]
            from .plugins import configured  # config.rules / EGGFLOW_RULES, entry points

            for rs in configured():
                out = out + rs
        elif isinstance(item, str) and item in families:
            out = out + families[item]
        elif isinstance(item, RuleSet):
            out = out + item
        elif isinstance(item, Rule):
            out = out + RuleSet(item.name, item.family or "algebraic", [item])
        elif isinstance(item, str) and item.endswith(".py"):
            from .plugins import load

            for rs in load(item, check=True):
                out = out + rs
        else:
            raise ValueError(f"unknown rules entry {item!r}: expected 'default', a family name "
                             f"({', '.join(families)}), a RuleSet, a Rule or a plugin .py path")
    return out.without(excluding) if excluding else out
