"""Presenting benchmark rows: a table, a markdown report, plots, drawings, and comparing runs."""

from __future__ import annotations

import math
from pathlib import Path

COLUMNS = ("workload", "size", "run", "median ms", "vs numpy", "max error", "model cost",
           "e-nodes", "stop", "compile s", "status")


def _run_name(row) -> str:
    name = f"peer {row['peer']}" if row["peer"] else f"{row['config']} ({row['backend']})"
    return f"{name} {row['variant']}" if row.get("variant") else name


def _fmt(v, spec="{:.3g}") -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    return spec.format(v)


def table_rows(rows) -> list:
    """One list of strings per row, in ``COLUMNS`` order; 'vs numpy' is the NumPy peer's
    median time over this row's (> 1: faster than NumPy)."""
    numpy_time = {(r["workload"], r["size"]): r["runtime"]["median"] for r in rows
                  if r["peer"] == "numpy" and r["runtime"]}
    out = []
    for r in rows:
        rt = r["runtime"]["median"] if r["runtime"] else None
        base = numpy_time.get((r["workload"], r["size"]))
        eg = r["egraph"] or {}
        ex = r["extracted"] or {}
        cs = r["compile_seconds"] or {}
        status = r["status"] if r["status"] == "ok" else f"{r['status']}: {r['reason']}"
        out.append([r["workload"], str(r["size"]), _run_name(r), _fmt(rt and rt * 1e3),
                    _fmt(base / rt if base and rt else None, "{:.2f}x"),
                    _fmt(r["max_error"], "{:.1e}"), _fmt(ex.get("cost")),
                    _fmt(eg.get("enodes"), "{}"), ",".join(eg.get("stop_reasons") or []) or "-",
                    _fmt(cs.get("total"), "{:.3f}"), status[:60]])
    return out


def print_table(rows, console=None, title="eggflow benchmarks"):
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title)
    for c in COLUMNS:
        t.add_column(c, justify="right" if c not in ("workload", "run", "stop", "status")
                     else "left")
    for cells in table_rows(rows):
        t.add_row(*cells)
    (console or Console()).print(t)


def markdown(doc) -> str:
    m = doc["machine"]
    lines = [f"# eggflow benchmarks ({doc['suite']} suite, {doc['created']})", "",
             f"Machine: {m['platform']}, {m['cpus']} CPUs, Python {m['python']}, "
             f"NumPy {m['numpy']}, eggflow {m['eggflow']}; peers: "
             + ", ".join(f"{k} {v or 'missing'}" for k, v in (m.get("peers") or {}).items()),
             "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in cells) + " |"
              for cells in table_rows(doc["rows"])]
    return "\n".join(lines) + "\n"


# -- ratios: one table per workload -------------------------------------------------------------
RATIO_COLUMNS = ("run", "time", "vs numpy", "vs fastest peer", "max error", "compile s", "note")


def fmt_seconds(t) -> str:
    """A duration with a unit that keeps 3 significant digits readable (ns, µs, ms, s)."""
    if t is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if t >= scale:
            return f"{t / scale:.3g} {unit}"
    return f"{t * 1e9:.3g} ns"


def ratios(rows, stat="median", tolerance=1e-4, by_variant=False, exclude=()) -> list:
    """One dict per row: ``seconds`` (its runtime[stat]), ``vs_numpy`` (the NumPy peer's time
    over this one: > 1 is faster than NumPy) and ``vs_fastest_peer`` (the same against the
    fastest peer whose max error is within ``tolerance``: a wrong answer is not a fast one),
    with ``fastest_peer`` naming it. Rows are compared within their (workload, size), and with
    ``by_variant`` also within their variant (cold with cold, warm with warm); the peers in
    ``exclude`` are never the fastest."""
    def key(r):
        return (r["workload"], str(r["size"])) + ((r.get("variant"),) if by_variant else ())

    def t(r):
        return r["runtime"].get(stat) if r["status"] == "ok" and r["runtime"] else None

    numpy_time, fastest = {}, {}
    for r in rows:
        if not r["peer"] or t(r) is None:
            continue
        if r["peer"] == "numpy":
            numpy_time[key(r)] = t(r)
        err = r["max_error"]
        if r["peer"] in exclude:
            continue
        if (err is None or err <= tolerance) and (key(r) not in fastest
                                                  or t(r) < fastest[key(r)][1]):
            fastest[key(r)] = (_run_name(r), t(r))
    out = []
    for r in rows:
        mine, base = t(r), numpy_time.get(key(r))
        best = fastest.get(key(r), (None, None))
        out.append({"workload": r["workload"], "size": r["size"], "run": _run_name(r),
                    "group": r.get("group"), "variant": r.get("variant"), "status": r["status"],
                    "seconds": mine, "vs_numpy": base / mine if base and mine else None,
                    "fastest_peer": best[0],
                    "vs_fastest_peer": best[1] / mine if best[1] and mine else None,
                    "max_error": r["max_error"],
                    "compile_seconds": (r["compile_seconds"] or {}).get("total"),
                    "note": r["reason"] or ""})
    return out


def _ratio_cells(x) -> list:
    status = "" if x["status"] == "ok" else f"{x['status']}: "
    return [x["run"], fmt_seconds(x["seconds"]), _fmt(x["vs_numpy"], "{:.2f}x"),
            _fmt(x["vs_fastest_peer"], "{:.2f}x"), _fmt(x["max_error"], "{:.1e}"),
            _fmt(x["compile_seconds"], "{:.3f}"), (status + x["note"])[:90]]


def _by_table(ratio_rows) -> dict:
    tables: dict = {}
    for x in ratio_rows:
        tables.setdefault((x["group"], x["workload"], str(x["size"])), []).append(x)
    return tables


def _title(group, workload, size, rows) -> str:
    fastest = list(dict.fromkeys(x["fastest_peer"] for x in rows if x["fastest_peer"]))
    head = f"{group}: " if group else ""
    return f"{head}{workload} ({size})" + (
        f"; fastest peer{'s' if len(fastest) > 1 else ''}: {', '.join(fastest)}"
        if fastest else "")


def print_ratio_tables(ratio_rows, console=None, time_label="time"):
    """One rich table per (group, workload, size) of ``ratios`` rows."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    for (group, workload, size), rows in _by_table(ratio_rows).items():
        t = Table(title=_title(group, workload, size, rows), title_justify="left")
        for c in RATIO_COLUMNS:
            t.add_column(time_label if c == "time" else c,
                         justify="left" if c in ("run", "note") else "right")
        for x in rows:
            t.add_row(*_ratio_cells(x))
        console.print(t)


def ratio_markdown(ratio_rows) -> str:
    """The same tables in markdown."""
    lines = []
    for (group, workload, size), rows in _by_table(ratio_rows).items():
        lines += [f"### {_title(group, workload, size, rows)}", "",
                  "| " + " | ".join(RATIO_COLUMNS) + " |", "|" + "---|" * len(RATIO_COLUMNS)]
        lines += ["| " + " | ".join(c.replace("|", "/") for c in _ratio_cells(x)) + " |"
                  for x in rows]
        lines.append("")
    return "\n".join(lines)


# -- plots ---------------------------------------------------------------------------------------
def plots(doc, out: Path) -> list:
    """Speedup bars per workload, optimization time vs graph size, model cost vs measured time
    (PNG files in ``out``); returns their paths (none without matplotlib)."""
    try:
        import matplotlib
    except ImportError:  # the bench extra is not installed
        return []
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    rows = [r for r in doc["rows"] if r["status"] == "ok" and r["runtime"]]
    paths = []
    numpy_time = {r["workload"]: r["runtime"]["median"] for r in rows if r["peer"] == "numpy"}
    runs = sorted({_run_name(r) for r in rows if r["peer"] != "numpy"})
    wls = sorted(w for w in {r["workload"] for r in rows} if w in numpy_time)
    if wls and runs:
        fig, ax = plt.subplots(figsize=(max(6, len(wls) * 0.9), 4))
        width = 0.8 / len(runs)
        for k, run in enumerate(runs):
            ys = [next((numpy_time[w] / r["runtime"]["median"] for r in rows
                        if r["workload"] == w and _run_name(r) == run), 0) for w in wls]
            ax.bar([i + k * width for i in range(len(wls))], ys, width, label=run)
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(wls))], wls, rotation=40,
                      ha="right")
        ax.set_ylabel("speedup over NumPy (x)")
        ax.legend(fontsize="small")
        fig.tight_layout()
        paths.append(out / "speedup.png")
        fig.savefig(paths[-1])
        plt.close(fig)
    dags = [r for r in rows if r["workload"].startswith("random_dag") and r["egraph"]
            and r["compile_seconds"]]
    if dags:
        fig, ax = plt.subplots(figsize=(5, 4))
        for cfg in sorted({r["config"] for r in dags}):
            pts = sorted((r["size"], r["compile_seconds"]["total"]) for r in dags
                         if r["config"] == cfg)
            ax.plot(*zip(*pts), marker="o", label=cfg)
        ax.set(xscale="log", yscale="log", xlabel="graph size (nodes)",
               ylabel="compile (optimization) seconds")
        ax.legend(fontsize="small")
        fig.tight_layout()
        paths.append(out / "optimization_time.png")
        fig.savefig(paths[-1])
        plt.close(fig)
    est = [(r["extracted"]["cost"], r["runtime"]["median"]) for r in rows
           if r["extracted"] and r["extracted"].get("cost")]
    if est:
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.scatter(*zip(*est))
        ax.set(xscale="log", yscale="log", xlabel="cost model estimate (ns)",
               ylabel="measured median (s)")
        fig.tight_layout()
        paths.append(out / "cost_vs_time.png")
        fig.savefig(paths[-1])
        plt.close(fig)
    return paths


def drawings(workload, out: Path, config=None) -> Path:
    """The graph before and after extraction, drawn with pydotprint, side by side in one
    markdown file (``<name>.md`` next to ``<name>-before.*`` and ``<name>-after.*``)."""
    import warnings

    import eggflow as ef

    out.mkdir(parents=True, exist_ok=True)
    res = ef.optimize(workload.outputs, **({} if config is None else config))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no graphviz: .dot files instead of pictures
        before = ef.printing.pydotprint(workload.outputs, outfile=str(out / f"{workload.name}"
                                                                       "-before.png"))
        after = ef.printing.pydotprint(res.outputs, outfile=str(out / f"{workload.name}"
                                                                  "-after.png"))
    md = out / f"{workload.name}.md"
    md.write_text(f"# {workload.name}: before and after extraction\n\n| before | after |\n"
                  f"|---|---|\n| ![]({Path(before).name}) | ![]({Path(after).name}) |\n\n"
                  f"```\n{res.report}\n```\n")
    return md


# -- comparing two runs ----------------------------------------------------------------------------
def _key(r):
    return (r["workload"], r["size"], r["config"], r["backend"], r["peer"])


def compare(a: dict, b: dict, threshold: float = 0.10) -> list:
    """Rows present in both runs: (key, time a, time b, ratio b/a, flags). Flags: 'slower' when
    b's median is more than ``threshold`` above a's, 'less accurate' when the error grew ten-
    fold (and above 1e-12), 'costlier' when the model cost grew, 'failed' when b is not ok."""
    old = {_key(r): r for r in a["rows"]}
    out = []
    for r in b["rows"]:
        p = old.get(_key(r))
        if p is None:
            continue
        ta = p["runtime"]["median"] if p["runtime"] else None
        tb = r["runtime"]["median"] if r["runtime"] else None
        ratio = tb / ta if ta and tb else None
        flags = []
        if ratio is not None and ratio > 1 + threshold:
            flags.append("slower")
        ea, eb = p["max_error"], r["max_error"]
        if ea is not None and eb is not None and eb > max(10 * ea, 1e-12):
            flags.append("less accurate")
        ca = (p["extracted"] or {}).get("cost")
        cb = (r["extracted"] or {}).get("cost")
        if ca is not None and cb is not None and cb > ca * (1 + 1e-9):
            flags.append("costlier")
        if p["status"] == "ok" and r["status"] != "ok":
            flags.append("failed")
        out.append((_key(r), ta, tb, ratio, flags))
    return out


def print_compare(result, console=None):
    from rich.console import Console
    from rich.table import Table

    t = Table(title="comparison (b / a)")
    for c in ("workload", "size", "run", "a ms", "b ms", "b/a", "flags"):
        t.add_column(c)
    for (wl, size, cfg, backend, peer), ta, tb, ratio, flags in result:
        run = f"peer {peer}" if peer else f"{cfg} ({backend})"
        t.add_row(wl, str(size), run, _fmt(ta and ta * 1e3), _fmt(tb and tb * 1e3),
                  _fmt(ratio, "{:.2f}"), ", ".join(flags) or "ok",
                  style="red" if flags else None)
    (console or Console()).print(t)
