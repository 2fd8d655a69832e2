"""Lowering: an optimized DAG -> a program of kernels and a buffer plan (plain data).

``lower(inputs, outputs)`` walks the graph the late phase extracted. Each materialised node
becomes one ``Step``:

- ``ew``: a fused elementwise kernel (``kernel``/``kernel_i`` with its inline body, or a bare
  elementwise op) -> C;
- ``reduce`` / ``rowwise``: ``kreduce`` (or a bare reduction / softmax) with its body -> C;
- ``blas``: dot, gemm, gemv, ger (and their inplace forms) on float32/float64 -> cblas;
- ``numpy``: everything else, with the op table's reference implementation (views such as
  dimshuffle, reshape and basic slicing stay NumPy views: free).

A kernel whose body uses something C cannot do (complex numbers, integer powers, ...) runs its
body with the reference evaluator instead, inside the same function.

The buffer plan: each step names the slot it writes and the slots dead after it. The destroy
handler keeps an inplace choice (``kernel_i`` etc.) only where the overwritten buffer was
allocated by an earlier C step of this program (so it is never a function input, a shared
value or a constant), is not an output, is not viewed by any other step, and has no reader
after the destroying step; otherwise the step runs out of place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from eggflow.frontend.graph import Node
from eggflow.frontend.op import OPS, apply_node

from .c_emit import CTYPES, literal, scalar_expr

ROWWISE = ("softmax", "log_softmax", "logsumexp")
REDUCE_C = ("sum", "prod", "max", "min", "all", "any")
BLAS = ("dot", "gemm", "gemv", "ger", "gemm_i", "gemv_i", "ger_i")
VIEWS = ("dimshuffle", "reshape", "subtensor", "load")  # NumPy steps that may return views


@dataclass
class Body:
    """An inline elementwise expression: C statements over loads ``L0..``."""

    loads: list  # top-level nodes read elementwise
    lines: list  # C statements, in order
    result: str  # C expression of the value
    dtype: str
    hoist: list = field(default_factory=list)  # per load: constant along the innermost axis


@dataclass
class Step:
    kind: str  # ew | reduce | rowwise | blas | numpy | body_numpy
    node: Node
    args: tuple  # slots read (for C kernels: the loads, in order)
    out: int
    free: tuple = ()
    name: str = ""  # C function
    body: Body | None = None
    destroy: int | None = None  # position in args whose buffer the step may overwrite
    info: dict = field(default_factory=dict)


@dataclass
class Program:
    inputs: tuple
    outputs: tuple
    constants: tuple
    steps: list
    nslots: int
    source: str = ""  # C source of all kernels
    cdef: str = ""
    kernels: list = field(default_factory=list)  # the source of each kernel


def _is_elemwise(node: Node) -> bool:
    return node.op in OPS and OPS[node.op].family == "elemwise"


def build_body(root: Node, bare: bool = False) -> Body | None:
    """The C form of the inline expression ``root`` (elementwise ops over ``load`` leaves and
    scalar constants; any other node is read as a load). ``bare``: only ``root`` is computed,
    its inputs are loads (an elementwise op outside any kernel). None if C cannot do it."""
    loads: list = []
    lines, names = [], {}

    def load_of(t: Node) -> str:
        if t not in loads:
            loads.append(t)
        return f"L{loads.index(t)}"

    stack = [(root, False)]
    while stack:
        node, ready = stack.pop()
        if node in names:
            continue
        if node.op == "load":
            names[node] = load_of(node.inputs[0])
        elif node.op == "inline" and not bare:
            if node.inputs[0] in names:
                names[node] = names[node.inputs[0]]
            else:
                stack.extend([(node, False), (node.inputs[0], False)])
        elif node.op == "constant" and node.ndim == 0 and node.dtype in CTYPES:
            names[node] = literal(node.data, node.dtype)
        elif not _is_elemwise(node) or (bare and node is not root):
            if node.dtype not in CTYPES:
                return None
            names[node] = load_of(node)
        elif not ready:
            stack.append((node, True))
            stack.extend((i, False) for i in node.inputs if i not in names)
        else:
            expr = scalar_expr(node.op, node.attrs, [names[i] for i in node.inputs],
                               [i.dtype for i in node.inputs], node.dtype)
            if expr is None:
                return None
            var = f"v{len(lines)}"
            lines.append(f"const {CTYPES[node.dtype]} {var} = {expr};")
            names[node] = var
    if root.dtype not in CTYPES or any(t.dtype not in CTYPES for t in loads):
        return None
    out_nd = root.ndim
    hoist = [t.ndim == 0 or (t.ndim == out_nd and t.type.shape[-1] == 1
                             and root.type.shape[-1] != 1) for t in loads]
    return Body(loads, lines, names[root], root.dtype, hoist)


# -- C source of one kernel --------------------------------------------------------------------
def _load_lines(body: Body, unit: bool) -> str:
    out = []
    for k, t in enumerate(body.loads):
        c = CTYPES[t.dtype]
        if body.hoist[k]:
            continue
        idx = "i" if unit else f"i * s{k + 1}"
        out.append(f"const {c} L{k} = P{k + 1}[{idx}];")
    return " ".join(out)


def _prologue(body: Body, out_c: str, nops: int) -> str:
    """Offsets of row ``o`` for every operand, typed pointers, inner strides, hoisted loads."""
    lines = [f"int64_t off[{nops}] = {{0}}; int64_t rem = o;",
             "for (int64_t d = nd - 2; d >= 0; d--) { int64_t ix = rem % shape[d]; "
             f"rem /= shape[d]; for (int k = 0; k < {nops}; k++) off[k] += ix * st[k * nd + d]; }}",
             f"{out_c} *P0 = ({out_c} *)ptrs[0] + off[0]; int64_t s0 = st[nd - 1];"]
    for k, t in enumerate(body.loads):
        c = CTYPES[t.dtype]
        lines.append(f"const {c} *P{k + 1} = (const {c} *)ptrs[{k + 1}] + off[{k + 1}]; "
                     f"int64_t s{k + 1} = st[{k + 1} * nd + nd - 1]; (void)s{k + 1};")
        if body.hoist[k]:
            lines.append(f"const {c} L{k} = P{k + 1}[0];")
    return "\n    ".join(lines)


def _unit_test(body: Body) -> str:
    conds = ["s0 == 1"] + [f"s{k + 1} == 1" for k in range(len(body.loads)) if not body.hoist[k]]
    return " && ".join(conds)


TILE = 4096


def emit_elementwise(name: str, body: Body) -> str:
    out_c = CTYPES[body.dtype]
    nops = len(body.loads) + 1
    code = " ".join(body.lines)
    unit = f"{_load_lines(body, True)} {code} P0[i] = {body.result};"
    strided = f"{_load_lines(body, False)} {code} P0[i * s0] = {body.result};"
    return f"""
static void {name}_tile(int64_t o, int64_t i0, int64_t i1, int64_t nd, const int64_t *shape,
                        char **ptrs, const int64_t *st) {{
    {_prologue(body, out_c, nops)}
    if ({_unit_test(body)}) {{
        #pragma omp simd
        for (int64_t i = i0; i < i1; i++) {{ {unit} }}
    }} else {{
        for (int64_t i = i0; i < i1; i++) {{ {strided} }}
    }}
}}
{_flat(name, body)}
void {name}(int64_t nd, const int64_t *shape, char **ptrs, const int64_t *st) {{
    int64_t inner = shape[nd - 1], outer = 1;
    for (int64_t d = 0; d < nd - 1; d++) outer *= shape[d];
    int64_t per = (inner + {TILE} - 1) / {TILE}, tiles = outer * per;
    if (outer * inner < EF_MIN_PAR) {{
        for (int64_t o = 0; o < outer; o++) {name}_tile(o, 0, inner, nd, shape, ptrs, st);
        return;
    }}
    #pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < tiles; t++) {{
        int64_t o = t / per, i0 = (t % per) * {TILE};
        {name}_tile(o, i0, i0 + {TILE} < inner ? i0 + {TILE} : inner, nd, shape, ptrs, st);
    }}
}}
"""


def scalar_loads(body: Body) -> list:
    """Per load: statically one element (0-d, or every axis a static 1)."""
    return [t.ndim == 0 or (t.type.shape is not None and all(d == 1 for d in t.type.shape))
            for t in body.loads]


def _flat(name: str, body: Body) -> str:
    """``{name}_flat(n, out, load0, ...)``: every load C-contiguous with the output's shape,
    or one element (read once): one flat loop, the common case, with the least call overhead."""
    out_c = CTYPES[body.dtype]
    scalar = scalar_loads(body)
    params = ", ".join([f"{out_c} *restrict P0"] + [
        f"const {CTYPES[t.dtype]} *restrict P{k + 1}" for k, t in enumerate(body.loads)])
    hoisted = " ".join(f"const {CTYPES[t.dtype]} L{k} = P{k + 1}[0];"
                       for k, t in enumerate(body.loads) if scalar[k])
    loads = " ".join(f"const {CTYPES[t.dtype]} L{k} = P{k + 1}[i];"
                     for k, t in enumerate(body.loads) if not scalar[k])
    code = " ".join(body.lines)
    loop = f"for (int64_t i = 0; i < n; i++) {{ {loads} {code} P0[i] = {body.result}; }}"
    return f"""
void {name}_flat(int64_t n, {params}) {{
    {hoisted}
    if (n < EF_MIN_PAR) {{
        #pragma omp simd
        {loop}
    }} else {{
        #pragma omp parallel for simd schedule(static)
        {loop}
    }}
}}
"""


_IDENT = {"sum": "0", "prod": "1", "all": "1", "any": "0"}


def _combine(op: str, acc: str, v: str) -> str:
    return {"sum": f"{acc} + {v}", "prod": f"{acc} * {v}",
            "max": f"(({v}) > {acc} || ({v}) != ({v})) ? ({v}) : {acc}",
            "min": f"(({v}) < {acc} || ({v}) != ({v})) ? ({v}) : {acc}",
            "all": f"{acc} && ({v})", "any": f"{acc} || ({v})"}[op]


def _identity(op: str, dtype: str) -> str:
    if op in _IDENT:
        return _IDENT[op]
    kind = np.dtype(dtype).kind
    if kind == "f":
        return "-INFINITY" if op == "max" else "INFINITY"
    info = np.iinfo(dtype) if kind in "iu" else None
    if info is None:  # bool
        return "0" if op == "max" else "1"
    return literal(info.min if op == "max" else info.max, dtype)


def emit_reduce(name: str, body: Body, op: str, out_dtype: str) -> str:
    out_c = CTYPES[out_dtype]
    acc_c = "double" if out_dtype == "float32" and op in ("sum", "prod") else out_c
    nops = len(body.loads) + 1
    code = " ".join(body.lines)
    v = f"(({body.result}) != 0)" if op in ("all", "any") else f"(({acc_c})({body.result}))"
    # the innermost axis reduced: a register accumulator (sum/prod vectorise: omp simd
    # reduction); kept: accumulate into the output, unit-stride loops vectorise
    simd = {"sum": "#pragma omp simd reduction(+:acc)",
            "prod": "#pragma omp simd reduction(*:acc)"}.get(op, "")
    unit_in = _unit_test(body).replace("s0 == 1 && ", "").replace("s0 == 1", "1")
    acc_unit = f"{_load_lines(body, True)} {code} acc = {_combine(op, 'acc', v)};"
    acc_any = f"{_load_lines(body, False)} {code} acc = {_combine(op, 'acc', v)};"
    into_unit = (f"{_load_lines(body, True)} {code} "
                 f"P0[i] = ({out_c})({_combine(op, 'P0[i]', v)});")
    into_any = (f"{_load_lines(body, False)} {code} "
                f"P0[i * s0] = ({out_c})({_combine(op, 'P0[i * s0]', v)});")
    return f"""
static void {name}_row(int64_t o, int64_t inner, int64_t nd, const int64_t *shape, char **ptrs,
                       const int64_t *st) {{
    {_prologue(body, out_c, nops)}
    if (s0 == 0) {{
        {acc_c} acc = ({acc_c})P0[0];
        if ({unit_in}) {{
            {simd}
            for (int64_t i = 0; i < inner; i++) {{ {acc_unit} }}
        }} else {{
            for (int64_t i = 0; i < inner; i++) {{ {acc_any} }}
        }}
        P0[0] = ({out_c})acc;
    }} else if ({_unit_test(body)}) {{
        #pragma omp simd
        for (int64_t i = 0; i < inner; i++) {{ {into_unit} }}
    }} else {{
        for (int64_t i = 0; i < inner; i++) {{ {into_any} }}
    }}
}}
void {name}(int64_t nd, const int64_t *shape, char **ptrs, const int64_t *st, int64_t nout,
            int64_t parallel) {{
    {out_c} *out = ({out_c} *)ptrs[0];
    for (int64_t j = 0; j < nout; j++) out[j] = {_identity(op, out_dtype)};
    int64_t inner = shape[nd - 1], outer = 1;
    for (int64_t d = 0; d < nd - 1; d++) outer *= shape[d];
    if (parallel && outer * inner >= EF_MIN_PAR && outer > 1) {{
        #pragma omp parallel for schedule(static)
        for (int64_t o = 0; o < outer; o++) {name}_row(o, inner, nd, shape, ptrs, st);
    }} else {{
        for (int64_t o = 0; o < outer; o++) {name}_row(o, inner, nd, shape, ptrs, st);
    }}
}}
"""


def emit_rowwise(name: str, body: Body, op: str, out_dtype: str) -> str:
    """softmax / log_softmax / logsumexp over the innermost iteration axis (stride s1..)."""
    out_c = CTYPES[out_dtype]
    nops = len(body.loads) + 1
    code = " ".join(body.lines)
    v = f"(({out_c})({body.result}))"
    loads = _load_lines(body, False)
    unit_loads = _load_lines(body, True)
    guard = "" if op == "softmax" else "if (!isfinite(m)) m = 0;"
    exp = "expf" if out_dtype == "float32" else "exp"
    log = "logf" if out_dtype == "float32" else "log"
    if op == "logsumexp":
        final = f"P0[0] = ({out_c})(m + {log}(s));"
    elif op == "softmax":
        final = (f"for (int64_t i = 0; i < inner; i++) {{ {loads} {code} "
                 f"P0[i * s0] = ({out_c})({exp}({v} - m) / s); }}")
    else:
        final = (f"{out_c} ls = ({out_c}){log}(s); for (int64_t i = 0; i < inner; i++) {{ "
                 f"{loads} {code} P0[i * s0] = ({out_c})(({v} - m) - ls); }}")
    return f"""
static void {name}_row(int64_t o, int64_t inner, int64_t nd, const int64_t *shape, char **ptrs,
                       const int64_t *st) {{
    {_prologue(body, out_c, nops)}
    {out_c} m = -INFINITY;
    for (int64_t i = 0; i < inner; i++) {{ {loads} {code} {out_c} x = {v};
        m = (x > m || x != x) ? x : m; }}
    {guard}
    double s = 0;
    if ({_unit_test(body).replace("s0 == 1 && ", "").replace("s0 == 1", "1")}) {{
        #pragma omp simd reduction(+:s)
        for (int64_t i = 0; i < inner; i++) {{ {unit_loads} {code} s += {exp}({v} - m); }}
    }} else {{
        for (int64_t i = 0; i < inner; i++) {{ {loads} {code} s += {exp}({v} - m); }}
    }}
    {final}
}}
void {name}(int64_t nd, const int64_t *shape, char **ptrs, const int64_t *st) {{
    int64_t inner = shape[nd - 1], outer = 1;
    for (int64_t d = 0; d < nd - 1; d++) outer *= shape[d];
    if (outer * inner >= EF_MIN_PAR && outer > 1) {{
        #pragma omp parallel for schedule(static)
        for (int64_t o = 0; o < outer; o++) {name}_row(o, inner, nd, shape, ptrs, st);
    }} else {{
        for (int64_t o = 0; o < outer; o++) {name}_row(o, inner, nd, shape, ptrs, st);
    }}
}}
"""


# -- lowering ----------------------------------------------------------------------------------
def _axes(node: Node, ndim: int):
    axis = node.attrs.get("axis")
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    return tuple(sorted(a % ndim for a in axis))


def _kernel_step(node: Node):
    """(kind, body, info) for a node codegen can run in C, or None."""
    op = node.op
    if op in ("kernel", "kernel_i"):
        body = build_body(node.inputs[0])
        return ("ew", body, {}) if body else None
    if _is_elemwise(node):
        body = build_body(node, bare=True)
        if body is None or not body.lines:
            return None
        return "ew", body, {}
    if op == "kreduce" or (op in REDUCE_C + ROWWISE and OPS[op].family in ("reduce", "nnet")):
        inner_op = node.attrs["op"] if op == "kreduce" else op
        src = node.inputs[0]
        body = build_body(src if op == "kreduce" else apply_node("load", (src,), ()))
        if body is None or src.ndim is None or src.ndim == 0 or inner_op not in REDUCE_C + ROWWISE:
            return None
        if inner_op in ROWWISE and np.dtype(node.dtype).kind != "f":
            return None
        if inner_op in REDUCE_C and node.dtype not in CTYPES:
            return None
        axes = _axes(node, src.ndim)
        kind = "rowwise" if inner_op in ROWWISE else "reduce"
        return kind, body, {"op": inner_op, "axes": axes, "ndim": src.ndim}
    if op in BLAS and node.dtype in ("float32", "float64") and all(
            i.dtype == node.dtype or (i.op == "constant" and i.ndim == 0) for i in node.inputs):
        return "blas", None, {}
    return None


def lower(inputs, outputs, updates=()) -> Program:
    """The program for ``outputs`` given values for ``inputs`` (see the module docstring).
    ``updates``: (output index, input index) pairs — that output is the new value of a shared
    variable whose storage is that input; its kernel may write into the storage (see
    ``_commit``)."""
    inputs, outputs = list(inputs), list(outputs)
    slot = {n: i for i, n in enumerate(inputs)}
    constants, steps = [], []
    cprog: list = []
    order: list = []
    state: dict = {}
    # the graph of materialised nodes: a kernel's dependencies are its body's loads
    deps_of = {}

    def deps(node):
        if node not in deps_of:
            found = _kernel_step(node) if node not in slot else None
            deps_of[node] = (found, list(found[1].loads) if found and found[1] is not None
                             else list(node.inputs))
        return deps_of[node][1]

    for root in outputs:
        stack = [(root, False)]
        while stack:
            node, ready = stack.pop()
            if state.get(node) == 2:
                continue
            if ready:
                state[node] = 2
                order.append(node)
                continue
            state[node] = 1
            stack.append((node, True))
            if node in slot or not node.inputs:
                continue
            stack.extend((d, False) for d in deps(node) if state.get(d) != 2)
    for node in order:
        if node in slot:
            continue
        if not node.inputs:
            if node.op != "constant":
                raise ValueError(f"the graph needs a value for the {node.op} "
                                 f"{node.name or node.type}, which is not among the inputs")
            slot[node] = len(slot)
            array = node.attrs["value"].array
            constants.append((slot[node], array.item() if node.attrs["weak"] else array))
            continue
        found, args = deps_of[node]
        slot[node] = len(slot)
        if found is None:
            steps.append(Step("numpy", node, tuple(slot[i] for i in node.inputs), slot[node]))
            continue
        kind, body, info = found
        name = f"k{len(cprog)}"
        if kind == "ew":
            cprog.append(emit_elementwise(name, body))
        elif kind == "reduce":
            cprog.append(emit_reduce(name, body, info["op"], node.dtype))
        elif kind == "rowwise":
            cprog.append(emit_rowwise(name, body, info["op"], node.dtype))
        else:
            name = ""
        steps.append(Step(kind, node, tuple(slot[a] for a in args), slot[node], name=name,
                          body=body, info=info))
    out_slots = tuple(slot[o] for o in outputs)
    _destroy_handler(steps, set(range(len(inputs))), set(out_slots))
    steps = _commit(steps, [(out_slots[o], i) for o, i in updates], out_slots)
    _plan_frees(steps, set(out_slots) | set(range(len(inputs))))
    source = "".join(cprog)
    cdef = "".join(
        f"void {s.name}(int64_t, const int64_t *, char **, const int64_t *"
        + (", int64_t, int64_t" if s.kind == "reduce" else "") + ");\n"
        + (f"void {s.name}_flat(int64_t{', void *' * (len(s.body.loads) + 1)});\n"
           if s.kind == "ew" else "")
        for s in steps if s.name)
    return Program(tuple(inputs), out_slots, tuple(constants), steps, len(slot), source, cdef,
                   list(cprog))


def _destroy_handler(steps, input_slots, output_slots) -> None:
    """Keep an inplace choice only where it is legal (module docstring); record it as
    ``step.destroy`` (a position in ``step.args``)."""
    fresh = {s.out for s in steps if s.kind in ("ew", "reduce", "rowwise", "blas")}
    readers: dict = {}
    viewed = set()
    for k, s in enumerate(steps):
        for a in s.args:
            readers.setdefault(a, []).append(k)
        if s.kind == "numpy" and s.node.op in VIEWS and s.args:
            viewed.add(s.args[0])
    for k, s in enumerate(steps):
        destroy = OPS[s.node.op].extra.get("destroy")
        if destroy is None or s.kind == "numpy":
            continue
        candidates = range(len(s.args)) if destroy == "load" else [destroy]
        for pos in candidates:
            a = s.args[pos]
            src = next((t.node for t in steps if t.out == a), None)
            if (a in input_slots or a in output_slots or a not in fresh or a in viewed
                    or src is None or src.dtype != s.node.dtype or src.ndim != s.node.ndim
                    or any(r > k for r in readers[a]) or s.args.count(a) > 1 and destroy != "load"):
                continue
            if destroy == "load" and [d == 1 for d in src.type.shape] != [
                    d == 1 for d in s.node.type.shape]:
                continue
            s.destroy = pos
            break


def _commit(steps, updates, out_slots) -> list:
    """Shared-variable updates written into the variable's storage: a fused kernel computing
    the new value of shared ``s`` from a load of ``s`` itself (``w - lr*g``), or a gemm/gemv/ger
    updating ``s`` (``w + alpha*dot(x, y)``), may overwrite
    ``s``'s buffer when no other step reads ``s`` after it and its value is used nowhere else.
    Such steps (``info['commit']`` = the position of that load) move to the end of the
    program; the runtime checks them all before any writes, so a call that fails leaves every
    shared value unchanged."""
    commits, written = [], set()
    for out, storage in updates:
        k = next((k for k, s in enumerate(steps) if s.out == out), None)
        if k is None or storage not in steps[k].args:
            continue
        s = steps[k]
        blas = s.kind == "blas" and s.node.op != "dot" and s.args[0] == storage \
            and s.args.count(storage) == 1
        if not (s.kind == "ew" or blas):
            continue
        readers = [j for j, t in enumerate(steps) if out in t.args]
        others = [t for j, t in enumerate(steps) if j != k and storage in t.args]
        viewed = any(t.kind == "numpy" and OPS[t.node.op].family in ("shape", "index", "kernel")
                     for t in others)  # a view of the old value must not change
        if readers or out_slots.count(out) > 1 or storage in out_slots or viewed or any(
                t in commits for t in others):
            continue
        if any(storage in t.args for t in commits) or written & set(s.args):
            continue
        s.info["commit"] = s.args.index(storage)
        commits.append(s)
        written.add(storage)
    return [s for s in steps if s not in commits] + commits


def _plan_frees(steps, keep) -> None:
    last = {}
    for k, s in enumerate(steps):
        for a in s.args:
            last[a] = k
    frees: dict = {}
    for a, k in last.items():
        if a not in keep:
            frees.setdefault(k, []).append(a)
    for k, s in enumerate(steps):
        s.free = tuple(frees.get(k, ()))
