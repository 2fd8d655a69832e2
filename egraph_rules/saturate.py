"""Running a phase: egglog saturation under budgets, in a guarded worker process.

egglog has no node, time or memory limit of its own, and an out-of-memory inside it aborts
the whole process. So a phase runs one iteration per ``run-schedule`` call, checks the
budgets between iterations, bounds each iteration's growth with a back-off scheduler (rules
that match too often are banned for a while), and — by default — runs in a persistent worker
process with an address-space limit: if it dies, the caller falls back to the unoptimized
graph with a warning instead of dying with it. The worker is started once and reused, so the
egglog import is paid once per session.
"""

from __future__ import annotations

import atexit
import os
import time
from dataclasses import asdict, dataclass, fields

WORKER_MEMORY = int(os.environ.get("EGGFLOW_EGRAPH_MEMORY_MB", "12000")) * 2**20


@dataclass(frozen=True)
class Budget:
    """Limits of one phase, checked between iterations (stopping on one is normal)."""

    iterations: int = 40
    enodes: int = 200_000
    seconds: float = 10.0
    match_limit: int = 20_000  # per rule and iteration, before back-off bans it
    isolate: bool = True  # run egglog in the guarded worker process

    @classmethod
    def of(cls, value) -> "Budget":
        if value is None:
            return cls()
        if isinstance(value, Budget):
            return value
        if isinstance(value, dict):
            known = {f.name for f in fields(cls)}
            unknown = sorted(set(value) - known)
            if unknown:
                raise ValueError(f"unknown budget field(s) {unknown}; the fields are "
                                 f"{sorted(known)}")
            return cls(**value)
        raise TypeError(f"budget must be a Budget or a dict of its fields, got {value!r}")


@dataclass
class PhaseRecord:
    """One phase of the report: DESIGN.md's fields."""

    name: str
    iterations: int = 0
    eclasses: int = 0
    enodes: int = 0
    seconds: float = 0.0
    stop_reason: str = ""
    rules_fired: dict = None


class WorkerDied(RuntimeError):
    """The e-graph worker process died (out of memory, or killed on its hard time limit)."""


def run_phase(program: str, ctors: list, budget: Budget, name: str, limited=None):
    """Saturate ``program`` (declarations, rules and facts) under ``budget``; returns the
    serialized e-graph (JSON text) and a ``PhaseRecord``. Each iteration runs the ``main``
    ruleset once, then each ruleset of ``limited`` (name -> N) while the iteration is < N."""
    request = (program, list(ctors), asdict(budget), name, dict(limited or {}))
    import importlib.util

    if importlib.util.find_spec("egglog") is None:  # say so, not "the worker died"
        raise ImportError("egglog is not installed (pip install egglog==14.0.0)")
    if not budget.isolate or os.environ.get("EGGFLOW_EGRAPH_INPROCESS") == "1":
        return _saturate(*request)
    return _worker().call(*request)


def _size(egraph, ctors) -> int:
    """The number of e-nodes of the Tensor constructors (not the fact tables)."""
    return sum(n for f, n in egraph.parse_and_run_program("(print-size)")[0].sizes if f in ctors)


_PREFIX = {"text": None, "egraph": None}  # the last declarations + rules, kept loaded


def _load(program: str):
    """An e-graph holding ``program``. Declarations and rules (the text before FACTS_MARK) take
    most of a small graph's time to parse (~40 ms of ~50): the last ones are kept, and a call
    with the same ones only pops back to them (egglog's push/pop) and adds its facts."""
    from egglog.bindings import EGraph

    from .egglog_text import FACTS_MARK

    prefix, mark, facts = program.partition(FACTS_MARK)
    if not mark:
        egraph = EGraph()
        egraph.parse_and_run_program(program)
        return egraph
    if _PREFIX["text"] == prefix:
        egraph = _PREFIX["egraph"]
        egraph.parse_and_run_program("(pop)")
    else:
        _PREFIX["text"] = None  # until the new prefix has loaded
        egraph = EGraph()
        egraph.parse_and_run_program(prefix)
        _PREFIX.update(text=prefix, egraph=egraph)
    egraph.parse_and_run_program("(push)")
    egraph.parse_and_run_program(facts)
    return egraph


def _saturate(program: str, ctors: list, budget: dict, name: str, limited: dict):
    started = time.perf_counter()
    ctors = set(ctors)
    egraph = _load(program)
    egraph.parse_and_run_program(
        f"(let-scheduler bo (back-off :match-limit {budget['match_limit']}))")
    record = PhaseRecord(name, rules_fired={})
    stop = None
    while stop is None:
        if record.iterations >= budget["iterations"]:
            stop = "iteration budget"
            break
        reports = [egraph.parse_and_run_program(f"(run-schedule (run-with bo {rs}))")[0].report
                   for rs in ["main", *(r for r, n in limited.items() if record.iterations < n)]]
        record.iterations += 1
        for report in reports:
            for rule, n in report.num_matches_per_rule.items():
                if n and not rule.startswith(("type-", "bpat-")):  # type facts, not rewrites
                    record.rules_fired[rule] = record.rules_fired.get(rule, 0) + n
        record.enodes = _size(egraph, ctors)
        elapsed = time.perf_counter() - started
        if not any(r.updated for r in reports) and all(r.can_stop for r in reports):
            stop = "saturated"
        elif record.enodes > budget["enodes"]:
            stop = "e-node budget"
        elif elapsed > budget["seconds"]:
            stop = "time budget"
    record.stop_reason = stop
    serialized = egraph.serialize([]).to_json()
    record.seconds = time.perf_counter() - started
    return serialized, record


# -- the guarded worker ------------------------------------------------------------------------
def _worker_main(read_fd: int, write_fd: int, memory: int):
    """The worker's loop: receive (program, ctors, budget, name), send back the result."""
    import resource
    from multiprocessing.connection import Connection

    try:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    except (ValueError, OSError):
        pass
    import egglog.bindings  # noqa: F401  (paid once per worker)

    inbox, outbox = Connection(read_fd, writable=False), Connection(write_fd, readable=False)
    while True:
        try:
            request = inbox.recv()
        except EOFError:
            return
        try:
            outbox.send(("ok", _saturate(*request)))
        except Exception as exc:  # an egglog error (bad rule text ...) is the caller's to report
            outbox.send(("error", f"{type(exc).__name__}: {exc}"))


class _Worker:
    """A child Python running ``_worker_main`` over two pipes. A plain subprocess, not
    multiprocessing's spawn: that re-runs the user's ``__main__`` script in the child, which
    breaks scripts without an ``if __name__ == '__main__'`` guard (Theano users' scripts)."""

    def __init__(self):
        import subprocess
        import sys
        from multiprocessing.connection import Connection

        to_child, from_parent = os.pipe()
        to_parent, from_child = os.pipe()
        code = (f"from eggflow.egraph_rules.saturate import _worker_main; "
                f"_worker_main({to_child}, {from_child}, {WORKER_MEMORY})")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        self.process = subprocess.Popen([sys.executable, "-c", code], env=env,
                                        pass_fds=(to_child, from_child), stdin=subprocess.DEVNULL)
        os.close(to_child)
        os.close(from_child)
        self.conn = Connection(from_parent, readable=False)
        self.inbox = Connection(to_parent, writable=False)

    def call(self, *request):
        hard_limit = request[2]["seconds"] * 2 + 20  # one iteration can overrun the budget
        try:
            self.conn.send(request)
            if not self.inbox.poll(hard_limit):
                self.close()
                raise WorkerDied(f"the e-graph worker exceeded its hard time limit "
                                 f"({hard_limit:.0f} s) and was stopped")
            status, result = self.inbox.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError, OSError) as exc:
            self.close()
            raise WorkerDied(f"the e-graph worker died (exit code {self.process.returncode}; "
                             f"likely out of memory under its {WORKER_MEMORY >> 20} MiB limit)"
                             ) from exc
        if status == "error":
            raise RuntimeError(f"egglog rejected the program: {result}")
        return result

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self):
        if self.alive():
            self.process.kill()
        try:
            self.process.wait(5)
        except Exception:  # noqa: BLE001 - best effort at shutdown
            pass
        self.conn.close()
        self.inbox.close()


_WORKER: _Worker | None = None


def _worker() -> _Worker:
    global _WORKER
    if _WORKER is None or not _WORKER.alive():
        _WORKER = _Worker()
    return _WORKER


@atexit.register
def _shutdown():
    if _WORKER is not None:
        _WORKER.close()
