"""Snapshots of the generated C for small graphs: a fused chain, a fused reduction, a gemm.

Each snapshot (``snapshots/<name>.c``) is a comment with the lowered program's steps, then the
C source ``codegen.lower.lower`` generates for the e-graph-optimized graph (with its late
phase). A change of the generated code fails the comparison; after checking the diff, rewrite
the files with ``EGGFLOW_UPDATE_SNAPSHOTS=1 pytest tests/backends/test_c_snapshots.py``. Every
stored snapshot must also compile (with the prelude, as the C backend compiles it).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import eggflow as ef
import eggflow.tensor as T
from eggflow.backends.c_backend import compiler_available
from eggflow.codegen.lower import lower
from opsuite import assert_matches_snapshot

SNAPSHOTS = Path(__file__).parent / "snapshots"


def _w1():
    x = T.dvector("x")
    return [x], [T.exp(-x**2 / 2) * T.sin(3 * x) + T.log1p(x * x)], "W1: fused chain"


def _reduction():
    x = T.dmatrix("x")
    return [x], [T.sum(T.exp(x), axis=1)], "sum(exp(x), axis=1): producer fused into the sum"


def _gemm():
    x, y, z = T.dmatrices("x", "y", "z")
    return [x, y, z], [z + T.dot(x, y)], "z + dot(x, y): one BLAS gemm, no generated kernel"


GRAPHS = {"w1_fused_chain": _w1, "reduction_sum_exp": _reduction, "gemm": _gemm}


def program_of(name):
    inputs, outputs, title = GRAPHS[name]()
    program = lower(inputs, ef.optimize(outputs, fusion="egraph").outputs)
    return program, title


def snapshot_text(name) -> str:
    program, title = program_of(name)
    lines = [f"/* eggflow C snapshot {name!r}: {title}",
             " * (tests/backends/test_c_snapshots.py; EGGFLOW_UPDATE_SNAPSHOTS=1 rewrites it)"]
    for k, s in enumerate(program.steps):
        extra = f" {s.name}" if s.name else ""
        extra += f", destroys arg {s.destroy}" if s.destroy is not None else ""
        lines.append(f" * step {k}: {s.kind} {s.node.op}{extra}: slots {s.args} -> {s.out}")
    lines.append(" */")
    return "\n".join(lines) + "\n" + program.source


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_generated_c_matches_snapshot(name):
    assert_matches_snapshot(SNAPSHOTS / f"{name}.c", snapshot_text(name),
                            f"the generated C for {name!r}")


@pytest.mark.skipif(not compiler_available(), reason="no C compiler")
@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_snapshot_compiles(name, tmp_path):
    from eggflow.backends.c_compile import load_module
    from eggflow.codegen.c_emit import prelude
    from eggflow.codegen.cmath import FLAGS, LINK_FLAGS

    path = SNAPSHOTS / f"{name}.c"
    if not path.exists():
        pytest.fail(f"no snapshot {path}; create it with EGGFLOW_UPDATE_SNAPSHOTS=1")
    program, _ = program_of(name)
    cdef, source = program.cdef, prelude() + path.read_text()
    if not cdef:  # BLAS calls only: nothing generated; the module still has to build
        cdef, source = "void ef_none(void);", source + "void ef_none(void) {}\n"
    _, lib = load_module(cdef, source, extra_compile_args=FLAGS + LINK_FLAGS,
                         compiledir=str(tmp_path))
    for step in program.steps:
        if step.name:
            assert hasattr(lib, step.name)
            if step.kind == "ew":
                assert hasattr(lib, step.name + "_flat")
