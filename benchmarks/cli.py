"""``eggflow bench`` / ``python -m benchmarks``: run suites, list what exists, compare runs.

    eggflow bench run [--suite quick|full] [-w WORKLOAD ...] [-c CONFIG ...] [-p PEER ...]
                      [--repeats N] [--seed S] [--out DIR] [--no-plots] [--draw WORKLOAD ...]
    eggflow bench list
    eggflow bench compare A.json B.json [--threshold 0.1]   (exit 1 on a regression)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import harness, report
from . import workloads as W


def _run(args) -> int:
    from rich.console import Console
    from rich.progress import Progress

    console = Console(width=None if sys.stdout.isatty() else 200)  # files: no wrapping
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("benchmarks", total=None)

        def progress(done, total, label):
            bar.update(task, completed=done, total=total, description=label)
            if not console.is_terminal:  # logs: one line per finished row
                print(f"[{done}/{total}] {label}", file=sys.stderr, flush=True)

        rows = harness.run(args.workload, args.config, args.peer, args.suite, seed=args.seed,
                           repeats=args.repeats, progress=progress)
    doc = harness.document(rows, args.suite)
    report.print_table(rows, console, title=f"eggflow benchmarks ({args.suite})")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(doc, indent=1, default=str))
    (out / "report.md").write_text(report.markdown(doc))
    written = [out / "results.json", out / "report.md"]
    if not args.no_plots:
        written += report.plots(doc, out)
    for name in args.draw or []:
        spec = W.get(name)
        written.append(report.drawings(spec.build(spec.sizes.get(args.suite, 8), args.seed),
                                       out / "drawings"))
    console.print("wrote " + ", ".join(str(p) for p in written))
    return 0 if all(r["status"] != "error" for r in rows) else 1


def _list(_args) -> int:
    print("workloads:")
    for name in W.names():
        spec = W.get(name)
        print(f"  {name:<22} sizes {spec.sizes}  {', '.join(spec.tags)}  {spec.doc}")
    print("configurations:")
    for c in harness.CONFIGS.values():
        print(f"  {c.name:<22} {c.doc}")
    print("peers: numpy, numexpr, pytensor, jax")
    print("suites: " + ", ".join(harness.SUITES))
    return 0


def _compare(args) -> int:
    a, b = (json.loads(Path(p).read_text()) for p in (args.a, args.b))
    result = report.compare(a, b, args.threshold)
    report.print_compare(result)
    bad = [r for r in result if r[4]]
    print(f"{len(result)} rows compared, {len(bad)} flagged")
    return 1 if bad else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="eggflow bench", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run a suite (default: quick)")
    r.add_argument("--suite", choices=list(harness.SUITES), default="quick")
    r.add_argument("-w", "--workload", action="append", help="workload name (repeatable)")
    r.add_argument("-c", "--config", action="append", help="configuration name (repeatable)")
    r.add_argument("-p", "--peer", action="append", help="peer name (repeatable); "
                   "--peer none for no peers")
    r.add_argument("--repeats", type=int, default=None)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--out", default="bench-results")
    r.add_argument("--no-plots", action="store_true")
    r.add_argument("--draw", action="append", help="draw this workload before/after")
    sub.add_parser("list", help="workloads, configurations, peers, suites")
    c = sub.add_parser("compare", help="diff two results.json files, flag regressions")
    c.add_argument("a")
    c.add_argument("b")
    c.add_argument("--threshold", type=float, default=0.10)
    args = p.parse_args(argv)
    if args.command == "run":
        for name in args.config or []:
            if name not in harness.CONFIGS:
                p.error(f"unknown configuration {name!r}; known: {', '.join(harness.CONFIGS)}")
        if args.peer == ["none"]:
            args.peer = []
        return _run(args)
    return {"list": _list, "compare": _compare}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
