"""``eggflow rules check FILE ...`` and ``eggflow rules list [FILE ...]``.

``check`` loads each rule file and reports every rule as a table row: it parses (the file
imports and the rule builds), its sides have the same types, the random-input checker finds it
sound (else the counterexample), and on which benchmark workloads (quick sizes) it fires when
it joins the default rules. Exit status 1 if any rule fails to parse, type or check.
``list`` shows the built-in rules (and those of the given files) by family, with their laws.
"""

from __future__ import annotations

import argparse
import sys

TYPE_WORDS = ("types differ", "does not build", "no well-typed")


def _load(path):
    from eggflow.egraph_rules.plugins import PluginError, load

    try:
        return load(path), None
    except PluginError as exc:
        return [], str(exc)


def firing(rulesets, workloads=None) -> dict:
    """rule name -> workloads (quick size) on which it fires, joined to the default rules."""
    import warnings

    import eggflow as ef
    from eggflow.benchmarks import workloads as W
    from eggflow.egraph_rules.library import LATE_FAMILIES

    names = {r.name for rs in rulesets for r in rs}
    late = any(rs.family in LATE_FAMILIES for rs in rulesets)
    out = {n: [] for n in names}
    for name in workloads or W.names():
        spec = W.get(name)
        if "large" in spec.tags:
            continue
        size = spec.sizes.get("quick", next(iter(spec.sizes.values())))
        wl = spec.build(size[0] if isinstance(size, (list, tuple)) else size, 0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                res = ef.optimize(wl.outputs, rules=["default", *rulesets],
                                  fusion="egraph" if late else None)
            except Exception:  # noqa: BLE001 - a workload the rules break is reported below
                continue
        for rule, n in res.report.rules_fired.items():
            base = rule.removesuffix("-weak")
            if n and base in out:
                out[base].append(name)
    return out


def check_files(paths, out=None, workloads=None) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from eggflow.egraph_rules.check import check
    from eggflow.egraph_rules.library import law_of

    console = Console(file=out or sys.stdout, width=140)
    failed = False
    for path in paths:
        rulesets, error = _load(path)
        table = Table(title=f"rules check {path}", show_lines=False)
        for col in ("rule", "family", "parses", "types", "sound", "fires on", "law / problem"):
            table.add_column(col, overflow="fold")
        if error:
            table.add_row("-", "-", "no", "-", "-", "-", escape(error))
            console.print(table)
            failed = True
            continue
        fires = firing(rulesets, workloads)
        for rs in rulesets:
            for r in rs:
                res = check(r)
                typed = res.ok or not any(w in res.message for w in TYPE_WORDS)
                sound = res.ok
                failed |= not sound
                where = ", ".join(fires.get(r.name, [])) or "never"
                detail = law_of(r) if sound else f"{r.source}: {res.message}"
                table.add_row(escape(r.name), rs.family, "yes", "ok" if typed else "NO",
                              "ok" if sound else ("-" if not typed else "NO"), where,
                              escape(detail))
        console.print(table)
    return 1 if failed else 0


def list_rules(paths=(), out=None) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from eggflow.egraph_rules.library import builtin, law_of

    console = Console(file=out or sys.stdout, width=140)
    groups = [(f"built-in {fam}", rs) for fam, rs in builtin().items()]
    for path in paths:
        rulesets, error = _load(path)
        if error:
            console.print(f"[red]{escape(error)}[/red]")
            return 1
        groups += [(f"{path}: {rs.name} ({rs.family})", rs) for rs in rulesets]
    for title, rs in groups:
        table = Table(title=escape(f"{title}: {len(rs)} rules"))
        table.add_column("rule")
        table.add_column("law", overflow="fold")
        table.add_column("assumes")
        for r in rs:
            table.add_row(escape(r.name), escape(law_of(r)), ", ".join(r.assumes))
        console.print(table)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="eggflow rules", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", metavar="COMMAND")
    c = sub.add_parser("check", help="load rule files and check every rule (exit 1 on failure)")
    c.add_argument("files", nargs="+")
    c.add_argument("-w", "--workload", action="append", help="only these workloads (firing)")
    ls = sub.add_parser("list", help="the built-in rules (and those of FILES) with their laws")
    ls.add_argument("files", nargs="*")
    args = parser.parse_args(argv)
    if args.cmd == "check":
        return check_files(args.files, workloads=args.workload)
    if args.cmd == "list":
        return list_rules(args.files)
    parser.print_help()
    return 2
