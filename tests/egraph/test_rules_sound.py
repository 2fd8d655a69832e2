"""Every built-in rule passes the soundness checker: both sides evaluated on random inputs of
many shapes, dtypes and edge values agree (or the right side is more accurate)."""

import pytest

from eggflow import rules

ALL = [r for rs in rules.builtin().values() for r in rs.rules]


def test_every_builtin_rule_is_named_with_a_law_comment():
    """Each rule (or a group of variants written together) follows a ``# law`` comment."""
    names = [r.name for r in ALL]
    assert len(names) == len(set(names)), "two built-in rules share a name"
    for r in ALL:
        path, line = r.source.rsplit(":", 1)
        lines = open(path).read().splitlines()[: int(line) - 1]
        while lines and (lines[-1].startswith(" " * 8) or lines[-1].lstrip().startswith(
                ("rewrite(", "fact(", "*birewrite(", "op(", "fold(", "*[", "return [",
                     "R += ["))):
            lines.pop()  # another rule of the same group, or a continuation line
        assert lines and lines[-1].lstrip().startswith("# "), f"rule {r.name}: no law comment"


@pytest.mark.parametrize("rule", ALL, ids=[r.name for r in ALL])
def test_builtin_rule_is_sound(rule):
    result = rules.check(rule, n_trials=60)
    assert result.ok, result.message
    assert result.results[0].trials >= 5, f"only {result.results[0].trials} instantiations"
