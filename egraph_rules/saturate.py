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
import multiprocessing
import os
import time
from dataclasses import asdict, dataclass

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


def run_phase(program: str, ctors: list, budget: Budget, name: str):
    """Saturate ``program`` (declarations, rules and facts) under ``budget``; returns the
    serialized e-graph (JSON text) and a ``PhaseRecord``."""
    if not budget.isolate or os.environ.get("EGGFLOW_EGRAPH_INPROCESS") == "1":
        return _saturate(program, ctors, asdict(budget), name)
    return _worker().call(program, ctors, asdict(budget), name)


def _size(egraph, ctors) -> int:
    """The number of e-nodes of the Tensor constructors (not the fact tables)."""
    return sum(n for f, n in egraph.parse_and_run_program("(print-size)")[0].sizes if f in ctors)


def _saturate(program: str, ctors: list, budget: dict, name: str):
    from egglog.bindings import EGraph

    started = time.perf_counter()
    ctors = set(ctors)
    egraph = EGraph()
    egraph.parse_and_run_program(program)
    egraph.parse_and_run_program(
        f"(let-scheduler bo (back-off :match-limit {budget['match_limit']}))")
    record = PhaseRecord(name, rules_fired={})
    stop = None
    while stop is None:
        if record.iterations >= budget["iterations"]:
            stop = "iteration budget"
            break
        report = egraph.parse_and_run_program("(run-schedule (run-with bo main))")[0].report
        record.iterations += 1
        for rule, n in report.num_matches_per_rule.items():
            if n and not rule.startswith("type-"):
                record.rules_fired[rule] = record.rules_fired.get(rule, 0) + n
        record.enodes = _size(egraph, ctors)
        elapsed = time.perf_counter() - started
        if not report.updated and report.can_stop:
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
def _worker_main(conn, memory: int):
    import resource

    try:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    except (ValueError, OSError):
        pass
    import egglog.bindings  # noqa: F401  (paid once per worker)

    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        try:
            conn.send(("ok", _saturate(*request)))
        except Exception as exc:  # an egglog error (bad rule text ...) is the caller's to report
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class _Worker:
    def __init__(self):
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, WORKER_MEMORY), daemon=True,
                                   name="eggflow-egraph")
        self.process.start()
        child.close()

    def call(self, program, ctors, budget, name):
        hard_limit = budget["seconds"] * 3 + 60  # one iteration can overrun the time budget
        try:
            self.conn.send((program, list(ctors), budget, name))
            if not self.conn.poll(hard_limit):
                self.close()
                raise WorkerDied(f"the e-graph worker exceeded its hard time limit "
                                 f"({hard_limit:.0f} s) and was stopped")
            status, result = self.conn.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError, OSError) as exc:
            code = self.process.exitcode
            self.close()
            raise WorkerDied(f"the e-graph worker died (exit code {code}; likely out of memory "
                             f"under its {WORKER_MEMORY >> 20} MiB limit)") from exc
        if status == "error":
            raise RuntimeError(f"egglog rejected the program: {result}")
        return result

    def alive(self) -> bool:
        return self.process.is_alive()

    def close(self):
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()


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
