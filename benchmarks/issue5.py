"""Issue 5's benchmarks, W1-W7: eggflow (NumPy and C backends) against its peers, in one run.

    python -m eggflow.benchmarks.issue5 [--quick] [--out DIR] [--only W1,W6] [--repeats N]
                                        [--peers numpy,numexpr,pytensor,jax] [--configs numpy,c]
    python benchmarks/issue5.py ...                     (the same)

W1  exp(-x**2/2)*sin(3*x) + log1p(x*x), 1e7 elements, float64 and float32
W2  logistic regression step, X 10000x100 float64, shared w and b updated by the call
W3  MLP step float32, 256x784 -> 512 tanh -> 10, softmax cross-entropy, SGD on shared params
W4  naive row-wise log(sum(exp(x), axis=1)), 2000x2000 with one entry = 1000 (must be exact)
W5  A(100x1000) . B(1000x1000) . C(1000x10), written left to right
W6  per-call overhead of x + 1 on a 0-d and a 10-element float64 input (timeit, best of 5)
W7  compile time of the W3 graph, function(...) to first result, cold and warm, each in a
    fresh subprocess (eggflow: a fresh ``config.compiledir``, then the same one again)

W1-W5 are workloads (benchmarks/workloads) run by the harness; ``--quick`` takes their quick
sizes. Configurations: eggflow ``Mode(backend='numpy')`` and ``Mode(backend='c')`` (a row
"skipped" with the reason while the C backend does not import). Peers: hand-written NumPy,
numexpr (elementwise only), PyTensor with its C linker (and a BLAS, see
``peers.setup_pytensor_blas``; its default linker if C fails) and JAX (jit). Every table gives
the time, the ratio against NumPy and against the fastest peer (> 1: faster) and the max
error against the workload's float64 reference. Writes ``issue5.json`` (the harness's
document: rows and machine, plus an ``issue5`` section with the ratio tables) and
``issue5.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import timeit
import warnings
from pathlib import Path

import numpy as np

from eggflow.benchmarks import harness, report
from eggflow.benchmarks import peers as P
from eggflow.benchmarks import workloads as W
from eggflow.benchmarks.harness import Config
from eggflow.benchmarks.workloads import logsumexp_naive

GROUPS = {  # the harness's workloads of W1-W5
    "W1": ["exp_sin_log1p", "exp_sin_log1p_f32"],
    "W2": ["logreg_step"],
    "W3": ["mlp_train_f32"],
    "W4": [logsumexp_naive.SPEC],
    "W5": ["matrix_chain_abc"],
}
ALL = ("W1", "W2", "W3", "W4", "W5", "W6", "W7")
CONFIGS = [Config("eggflow", backend="numpy", doc="FAST_RUN, Mode(backend='numpy')"),
           Config("eggflow", backend="c", doc="FAST_RUN, Mode(backend='c')")]
PEER_NAMES = ("numpy", "numexpr", "pytensor", "jax")
COMPILE_WORKLOAD = "mlp_train_f32"  # W7 compiles W3's graph
TOLERANCE = 1e-4  # "fastest peer": among peers whose max error is within this


def make_peers(names) -> list:
    """Peer objects for ``harness.run``: "pytensor" is PyTensor's C linker (with a BLAS)."""
    out = []
    for name in names:
        if name == "pytensor":
            out.append(P.pytensor_c_peer() if P.PEERS["pytensor"].available()[0]
                       else P.PEERS["pytensor"])
        else:
            out.append(P.PEERS[name])
    return out


# -- W6: per-call overhead ---------------------------------------------------------------------
def _best_per_call(fn, x, number: int, repeat: int) -> dict:
    times = timeit.Timer(lambda: fn(x)).repeat(repeat=repeat, number=number)
    per = sorted(t / number for t in times)
    return {"median": per[len(per) // 2], "min": per[0], "max": per[-1], "repeats": repeat,
            "number": number}


def overhead_runners(configs, peers) -> list:
    """(config, backend, peer, variant, make(x_node_kind) -> fn | reason) for W6."""
    import eggflow as ef
    import eggflow.tensor as T

    runners = []
    for cfg in configs:
        ok, why = harness.backend_available(cfg.backend)

        def make(ndim, cfg=cfg, ok=ok, why=why, trust=False):
            if not ok:
                return why
            x = T.tensor("float64", shape=(None,) * ndim, name="x")
            f = ef.function([x], x + 1, mode=cfg.mode())
            f.trust_input = trust
            return f

        runners.append((cfg.name, cfg.backend, None, "input checks", make))
        runners.append((cfg.name, cfg.backend, None, "trust_input",
                        lambda ndim, make=make: make(ndim, trust=True)))
    for peer in peers:
        ok, why = peer.available()
        if peer.name.startswith("pytensor"):
            def make(ndim, peer=peer, ok=ok, why=why, trust=False):
                if not ok:
                    return why
                import pytensor
                import pytensor.tensor as pt

                x = pt.tensor(dtype="float64", shape=(None,) * ndim, name="x")
                fn = pytensor.function([x], x + 1, mode=peer._mode()[0])
                fn.trust_input = trust
                return fn

            runners.append((None, None, peer.name, "input checks", make))
            runners.append((None, None, peer.name, "trust_input",
                            lambda ndim, make=make: make(ndim, trust=True)))
        elif peer.name == "jax":
            def make(ndim, ok=ok, why=why):
                if not ok:
                    return why
                import jax

                jax.config.update("jax_enable_x64", True)  # float64, as everywhere here
                jitted = jax.jit(lambda x: x + 1)
                return lambda x: jitted(x).block_until_ready()

            runners.append((None, None, "jax", "jit", make))
        elif peer.name == "numpy":
            runners.append((None, None, "numpy", "x + 1", lambda ndim: (lambda x: x + 1)))
    return runners


def run_overhead(configs, peers, number: int, repeat: int, progress=None) -> list:
    """W6 rows: microseconds per call of x + 1 (best of ``repeat`` timeit runs of ``number``
    calls) on a 0-d and a 10-element float64 array."""
    rows = []
    for label, shape in (("0-d", ()), ("10", (10,))):
        xv = np.full(shape, 0.5)
        for config, backend, peer, variant, make in overhead_runners(configs, peers):
            kw = dict(variant=variant, group="W6")
            try:
                fn = make(len(shape))
                if isinstance(fn, str):
                    row = harness._row("add_one", label, config or "peer", backend, peer,
                                       status="skipped", reason=fn, **kw)
                else:
                    got = fn(xv)
                    err = harness.max_error([got], [xv + 1]) if got is not None else None
                    row = harness._row("add_one", label, config or "peer", backend, peer,
                                       runtime=_best_per_call(fn, xv, number, repeat),
                                       max_error=err, **kw)
            except Exception as exc:  # noqa: BLE001 - a failing runner is a row
                row = harness._row("add_one", label, config or "peer", backend, peer,
                                   status="error", reason=f"{type(exc).__name__}: {exc}", **kw)
            rows.append(row)
            if progress:
                progress(f"W6 add_one {label} / {peer or config} {variant}")
    return rows


# -- W7: compile time in fresh subprocesses --------------------------------------------------------
def compile_child(system: str, size: int, compiledir: str) -> dict:
    """In a fresh process: build W3's graph, then time function(...) to the first result."""
    warnings.simplefilter("ignore")
    import eggflow as ef

    wl = W.get(COMPILE_WORKLOAD).build(size, 0)
    ref = wl.reference(*wl.values)  # before the call updates the shared parameters
    out = {"system": system}
    if system.startswith("eggflow-"):
        ef.config.compiledir = compiledir
        cfg = _config_of(system, CONFIGS)
        ok, why = harness.backend_available(cfg.backend)
        if not ok:
            return {**out, "status": "skipped", "reason": why}
        started = time.perf_counter()
        f, call = harness.compile_workload(wl, cfg.mode())
        got = call(*wl.values)
        out["seconds"] = time.perf_counter() - started
        out["stages"] = dict(f.report.seconds)
        out["backend_ran"] = f.report.backend
        out["notes"] = [str(n) for n in f.report.notes]
        optimization = f.report.optimization
        out["optimize_cached"] = getattr(optimization, "cached", None)
    else:
        started = time.perf_counter()
        (peer,) = make_peers([system.split("-")[0]])
        ok, why = peer.available()  # PyTensor: BLAS setup, a C smoke test (not in "seconds")
        out["setup_seconds"] = time.perf_counter() - started
        out["version"] = why
        if not ok:
            return {**out, "status": "skipped", "reason": why}
        started = time.perf_counter()
        run = peer.prepare(wl)  # translate, compile, and one call (its warm-up)
        out["seconds"] = time.perf_counter() - started
        if run is None:
            return {**out, "status": "skipped", "reason": peer.last_reason}
        wl.reset()
        got = run(*wl.values)
    out["max_error"] = harness.max_error(got, ref)
    return {**out, "status": "ok"}


def _config_of(system: str, configs):
    """The configuration a W7 system "eggflow-<backend>" names (None for a peer)."""
    return next((c for c in configs if f"eggflow-{c.backend}" == system), None)


def _child(system: str, size: int, compiledir: str, env: dict) -> dict:
    cmd = [sys.executable, "-m", "eggflow.benchmarks.issue5", "--compile-child", system,
           "--size", str(size), "--compiledir", compiledir]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"system": system, "status": "error",
                "reason": f"exit {proc.returncode}: {tail[0][:300]}"}
    return json.loads(lines[-1])


def run_compile_time(configs, peers, size: int, progress=None) -> list:
    """W7 rows: for eggflow per configuration, and for the graph peers (PyTensor, JAX), a cold
    run (fresh compile directory) then a warm one (the same directory), each in a fresh
    subprocess. PyTensor gets a fresh ``base_compiledir`` too; JAX has no disk cache by
    default, so its warm run is a second cold one."""
    systems = [f"eggflow-{c.backend}" for c in configs] + [p.name for p in peers
                                           if p.name.split("-")[0] in ("pytensor", "jax")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="eggflow-issue5-") as tmp:
        for system in systems:
            compiledir = os.path.join(tmp, system)
            env = dict(os.environ)
            if system.startswith("pytensor"):
                flags = env.get("PYTENSOR_FLAGS", "")
                env["PYTENSOR_FLAGS"] = ",".join(
                    filter(None, [flags, f"base_compiledir={compiledir}"]))
            for variant in ("cold", "warm"):
                res = _child(system, size, compiledir, env)
                eggflow = system.startswith("eggflow-")
                cfg = _config_of(system, configs)
                note = "; ".join(filter(None, [
                    res.get("reason"),
                    f"ran on {res['backend_ran']}" if eggflow and res.get("backend_ran")
                    not in (None, cfg.backend) else None,
                    *(res.get("notes") or []),
                    "optimize() result cached" if res.get("optimize_cached") else None,
                    f"setup {res['setup_seconds']:.2f} s before (BLAS, smoke test)"
                    if system.startswith("pytensor") and "setup_seconds" in res else None,
                    "no disk cache: warm = a second cold run" if system == "jax"
                    and variant == "warm" else None]))
                seconds = res.get("seconds")
                row = harness._row(
                    f"compile {COMPILE_WORKLOAD}", size, cfg.name if eggflow else "peer",
                    cfg.backend if eggflow else None, None if eggflow else system,
                    status=res["status"], reason=note or None, variant=variant, group="W7",
                    runtime={"median": seconds, "min": seconds, "max": seconds, "repeats": 1}
                    if seconds is not None else None,
                    compile_seconds={"total": seconds, **(res.get("stages") or {})}
                    if seconds is not None else None, max_error=res.get("max_error"))
                rows.append(row)
                if progress:
                    progress(f"W7 compile / {system} {variant}")
    return rows


# -- the whole run ---------------------------------------------------------------------------------
def run(quick=False, only=ALL, peer_names=PEER_NAMES, repeats=None, seed=0, progress=None,
        configs=CONFIGS) -> tuple:
    """(rows, the peers' versions). Rows are harness rows with ``group`` (W1..W7)."""
    suite = "quick" if quick else "full"
    repeats = repeats or (3 if quick else 10)
    peers = make_peers(peer_names)
    rows = []
    for group in [g for g in ALL if g in only and g in GROUPS]:
        got = harness.run(GROUPS[group], configs, peers, suite=suite, seed=seed,
                          repeats=repeats, progress=progress and (
                              lambda done, total, label, g=group: progress(f"{g} {label}")))
        rows += [{**r, "group": group} for r in got]
    if "W6" in only:
        rows += run_overhead(configs, peers, number=1000 if quick else 10000,
                             repeat=3 if quick else 5, progress=progress)
    if "W7" in only:
        spec = W.get(COMPILE_WORKLOAD)
        rows += run_compile_time(configs, peers, spec.sizes[suite], progress=progress)
    versions = {}
    for p in peers:
        ok, what = p.available()
        versions[p.name] = what if ok else f"missing: {what}"
    return rows, versions


def summary(rows) -> list:
    """The ratio rows of every table (W6 compares best-of-5 times, and its fastest peer is not
    NumPy's bare ``x + 1``, the floor; W7 compares cold with cold, warm with warm)."""
    out = []
    for group in ALL:
        mine = [r for r in rows if r.get("group") == group]
        out += report.ratios(mine, stat="min" if group == "W6" else "median",
                             tolerance=TOLERANCE, by_variant=group == "W7",
                             exclude=("numpy",) if group == "W6" else ())
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m eggflow.benchmarks.issue5",
                                description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="the workloads' quick sizes, few calls")
    p.add_argument("--out", default="bench-results/issue5")
    p.add_argument("--only", default=",".join(ALL), help="comma-separated subset of W1..W7")
    p.add_argument("--peers", default=",".join(PEER_NAMES),
                   help="comma-separated subset of numpy,numexpr,pytensor,jax ('' for none)")
    p.add_argument("--configs", default="numpy,c",
                   help="comma-separated eggflow backends among numpy,c ('' for none)")
    p.add_argument("--repeats", type=int, default=None, help="timed calls per W1-W5 row")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--compile-child", help=argparse.SUPPRESS)  # W7's subprocess
    p.add_argument("--size", type=int, help=argparse.SUPPRESS)
    p.add_argument("--compiledir", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.compile_child:
        print(json.dumps(compile_child(args.compile_child, args.size, args.compiledir),
                         default=str))
        return 0
    only = [g.strip().upper() for g in args.only.split(",") if g.strip()]
    peer_names = [n.strip() for n in args.peers.split(",") if n.strip()]
    backends = [n.strip() for n in args.configs.split(",") if n.strip()]
    for b in backends:
        if b not in [c.backend for c in CONFIGS]:
            p.error(f"unknown eggflow backend {b!r}; known: numpy, c")
    configs = [c for c in CONFIGS if c.backend in backends]
    for g in only:
        if g not in ALL:
            p.error(f"unknown benchmark {g!r}; known: {', '.join(ALL)}")
    for n in peer_names:
        if n not in PEER_NAMES:
            p.error(f"unknown peer {n!r}; known: {', '.join(PEER_NAMES)}")

    from rich.console import Console

    console = Console(width=None if sys.stdout.isatty() else 160)
    warnings.simplefilter("ignore")  # PyTensor's BLAS and JAX's x64 warnings: noise here

    started = time.perf_counter()

    def progress(label):
        print(f"[issue5 {time.perf_counter() - started:6.1f}s] {label}", file=sys.stderr,
              flush=True)

    rows, versions = run(args.quick, only, peer_names, args.repeats, args.seed, progress,
                         configs)
    table = summary(rows)
    report.print_ratio_tables(table, console)
    doc = harness.document(rows, "issue5-quick" if args.quick else "issue5")
    doc["issue5"] = {"groups": {g: [s if isinstance(s, str) else s.name for s in GROUPS[g]]
                                for g in GROUPS}, "only": only, "peers": versions,
                     "configs": {f"{c.name} ({c.backend})": c.doc for c in configs},
                     "tolerance": TOLERANCE,
                     "tables": table}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "issue5.json").write_text(json.dumps(doc, indent=1, default=str))
    peers_line = "; ".join(f"{k}: {v}" for k, v in versions.items())
    (out / "issue5.md").write_text(f"# Issue 5 benchmarks ({doc['suite']}, {doc['created']})\n\n"
                                   f"Peers: {peers_line}\n\n" + report.ratio_markdown(table))
    console.print(f"peers: {peers_line}")
    console.print(f"wrote {out / 'issue5.json'}, {out / 'issue5.md'}")
    return 0 if all(r["status"] != "error" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
