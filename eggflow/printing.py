"""Printing and drawing graphs: ``debugprint`` (a text tree) and ``pydotprint`` (a picture).

Both follow Theano's ``theano.printing``::

    >>> ef.printing.debugprint(f)                       # f a Function, a variable or a list
    >>> ef.printing.pydotprint(f, outfile="f.png", var_with_name_simple=True)

Both accept a compiled ``eggflow.Function`` (its outputs, then its updates), one variable, or a
list of variables. Walks are iterative, so graphs thousands of nodes deep print fine.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import warnings

import numpy as np

from .frontend.graph import Node, toposort

__all__ = ["debugprint", "op_label", "pydotprint", "var_label"]


# -- labels ---------------------------------------------------------------------------------
def _short_array(array: np.ndarray, limit: int = 40) -> str:
    """A one-line value: ``0.5``, ``[0.1 0.2]``, ``(3, 4) of 0.0`` or ``(100,) float64``."""
    if array.ndim == 0:
        return repr(array.item())
    if array.size and np.all(array == array.flat[0]) and array.size > 1:
        return f"{array.shape} of {array.flat[0].item()!r}"
    text = np.array2string(array, threshold=8, edgeitems=2, precision=4, separator=" ")
    text = " ".join(text.split())
    return text if len(text) <= limit else f"{array.shape} {array.dtype}"


def _short_param(value) -> str:
    if isinstance(value, Node):
        return var_label(value)
    if isinstance(value, tuple):
        inner = ",".join(_short_param(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if hasattr(value, "array") and isinstance(value.array, np.ndarray):  # ConstValue
        return _short_array(value.array)
    return str(value)


def op_label(node: Node) -> str:
    """The op with its params, shortly: ``add``, ``dimshuffle{1,0}``, ``sum{axis=(0,)}``."""
    if node.op == "dimshuffle":
        return "dimshuffle{" + ",".join(str(p) for p in node.attrs["pattern"]) + "}"
    if node.op == "map_index":  # body and free leaves are shown as an inner graph
        return "map_index{index=" + var_label(node.attrs["index"]) + "}"
    if not node.params:
        return node.op
    return node.op + "{" + ",".join(f"{k}={_short_param(v)}" for k, v in node.params) + "}"


def var_label(node: Node) -> str:
    """How a leaf is named: its name, ``constant{0.5}``, ``<input>``, ``<shared>``; an op node
    gives its name or its op label."""
    if node.op == "constant":
        value = "constant{" + _short_array(node.attrs["value"].array) + "}"
        return value
    if node.name:
        return node.name
    if node.op in ("input", "shared", "wild"):
        return f"<{node.op}>"
    return op_label(node)


def _char_id(k: int) -> str:
    """Theano's ids: A..Z, BA, BB, ... (base 26 with A = 0)."""
    digits = ""
    while True:
        digits = chr(ord("A") + k % 26) + digits
        k //= 26
        if k == 0:
            return digits


def _roots(obj) -> tuple[list, list]:
    """(outputs, updates) of a Function, a variable, or a list/tuple of variables."""
    from .function import Function

    if isinstance(obj, Function):  # the graph that runs (optimized), as Theano prints it
        run = list(obj.optimized_outputs)
        n = len(obj.outputs)
        return run[:n], [(var, value) for (var, _), value in zip(obj.updates, run[n:])]
    if isinstance(obj, Node):
        return [obj], []
    if isinstance(obj, (list, tuple)) and all(isinstance(o, Node) for o in obj):
        return list(obj), []
    raise TypeError("expected an eggflow.Function, a symbolic variable or a list of variables, "
                    f"got {type(obj).__name__}")


# -- debugprint -----------------------------------------------------------------------------
class _TreePrinter:
    """Prints trees sharing one id namespace, so a node seen before is printed only once."""

    def __init__(self, out, print_type, ids, depth, stop_on_name):
        if ids not in ("CHAR", "int", "id", ""):
            raise ValueError(f"debugprint: ids must be 'CHAR', 'int', 'id' or '', got {ids!r}")
        self.out, self.print_type, self.ids = out, print_type, ids
        self.depth, self.stop_on_name = depth, stop_on_name
        self.names: dict[Node, str] = {}
        self.inner: list[Node] = []  # map_index nodes, whose bodies are printed at the end

    def ident(self, node: Node) -> str:
        if node not in self.names:
            k = len(self.names)
            self.names[node] = {"CHAR": _char_id(k), "int": str(k), "id": hex(id(node)),
                                "": ""}[self.ids]
        return f" [id {self.names[node]}]" if self.ids else ""

    def line(self, node: Node) -> str:
        text = (op_label(node) if node.inputs else var_label(node)) + self.ident(node)
        if node.op == "shared":
            text += " (shared)"
        if self.print_type:
            text += f" <{node.type}>"
        if node.inputs and node.name:
            text += f" '{node.name}'"
        return text

    def tree(self, root: Node, prefix: str = "") -> None:
        # (node, prefix of its line, prefix of its children's lines, remaining depth)
        stack = [(root, prefix, prefix, self.depth)]
        while stack:
            node, pre, pre_child, depth = stack.pop()
            if node in self.names:  # printed before: just its label and id
                label = op_label(node) if node.inputs else var_label(node)
                name = f" '{node.name}'" if node.inputs and node.name else ""
                self.out.write(f"{pre}{label}{self.ident(node)}{name}\n")
                continue
            self.out.write(pre + self.line(node) + "\n")
            if node.op == "map_index":
                self.inner.append(node)
            if depth == 0 or (self.stop_on_name and node.name and node is not root):
                continue
            last = len(node.inputs) - 1
            children = [(child, pre_child + " |", pre_child + ("  " if k == last else " |"),
                         depth - 1) for k, child in enumerate(node.inputs)]
            stack.extend(reversed(children))

    def inner_graphs(self) -> None:
        done = set()
        if self.inner:
            self.out.write("\nInner graphs:\n")
        while self.inner:  # bodies may hold map_index nodes themselves
            node = self.inner.pop(0)
            if node in done:
                continue
            done.add(node)
            self.out.write(f"\n{op_label(node)}{self.ident(node)}\n")
            self.tree(node.attrs["body"], prefix=" >")


def debugprint(obj, file=None, print_type=True, ids="CHAR", depth=-1, stop_on_name=False):
    """Print a graph as a text tree, one line per node (Theano's ``debugprint``).

    obj: a compiled ``Function`` (its outputs, then each update as ``update of W:``), a
        variable, or a list of variables.
    file: None prints to stdout and returns it; ``'str'`` returns the text; a file object is
        written to and returned.
    print_type: show each node's type, as ``<Tensor(float64, (?, ?))>``.
    ids: ``'CHAR'`` (A, B, ...), ``'int'``, ``'id'`` (Python ids) or ``''`` (none). A node seen
        before is printed once; later references show its label and id only.
    depth: stop expanding below this depth (-1: the whole graph).
    stop_on_name: do not expand below named variables.
    """
    outputs, updates = _roots(obj)
    out = io.StringIO() if file == "str" else (sys.stdout if file is None else file)
    printer = _TreePrinter(out, print_type, ids, depth, stop_on_name)
    for node in outputs:
        printer.tree(node)
    for var, value in updates:
        out.write(f"update of {var_label(var)}:\n")
        printer.tree(value)
    printer.inner_graphs()
    return out.getvalue() if file == "str" else out


# -- pydotprint -----------------------------------------------------------------------------
_OP_COLORS = {
    "elemwise": "#FFAABB", "reduce": "#FFCC88", "shape": "#FFAAFF", "index": "#FFAAFF",
    "blas": "#AADDFF", "alloc": "#FFAA22", "nnet": "#FFAABB", "control": "yellow",
}
_LEAF_COLORS = {"input": "limegreen", "shared": "cyan", "constant": "lightgrey",
                "wild": "khaki"}
_OUTPUT_COLOR = "dodgerblue"
_SOURCE_FORMATS = ("dot", "gv", "raw")  # written as DOT text, no graphviz needed
_INSTALL_HINT = ("install graphviz to get pictures (Debian/Ubuntu: sudo apt-get install "
                 "graphviz; macOS: brew install graphviz; conda: conda install graphviz)")


def _clip(text: str, size: int) -> str:
    """Shorten to ``size`` characters and quote for DOT (so ``<input>`` is not HTML, ``\\`` is
    no escape sequence)."""
    text = text if len(text) <= size else text[: max(size - 3, 1)] + "..."
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _build_dot(outputs, updates, compact, var_with_name_simple, max_label_size):
    import pydot

    from .frontend.op import OPS

    graph = pydot.Dot(graph_type="digraph", rankdir="TB")
    ids: dict = {}

    def new_id(key) -> str:
        ids[key] = f"n{len(ids)}"
        return ids[key]

    def var_text(node: Node) -> str:
        if node.name and var_with_name_simple:
            return node.name
        if node.op == "constant":
            return var_label(node)
        name = node.name or ("shared" if node.op == "shared" else "")
        return f"{name} {node.type}".strip()

    def add_box(key, label, color, **extra):
        graph.add_node(pydot.Node(new_id(key), label=_clip(label, max_label_size), shape="box",
                                  style="filled", fillcolor=color, **extra))

    nodes = toposort(outputs + [value for _, value in updates])
    out_set = set(outputs)
    source = {}  # graph node -> the DOT node its value flows out of
    for node in nodes:
        if not node.inputs:
            add_box(node, var_text(node), _LEAF_COLORS[node.op])
            source[node] = ids[node]
            continue
        family = OPS[node.op].family if node.op in OPS else "elemwise"
        graph.add_node(pydot.Node(new_id(("op", node)), label=_clip(op_label(node),
                                  max_label_size), shape="ellipse", style="filled",
                                  fillcolor=_OP_COLORS.get(family, "white")))
        several = len(node.inputs) > 1
        for k, child in enumerate(node.inputs):
            graph.add_edge(pydot.Edge(source[child], ids[("op", node)],
                                      **({"label": f'"{k}"'} if several else {})))
        source[node] = ids[("op", node)]
        if node in out_set or node.name or not compact:
            add_box(node, var_text(node), _OUTPUT_COLOR if node in out_set else "white")
            graph.add_edge(pydot.Edge(ids[("op", node)], ids[node]))
            source[node] = ids[node]
    for k, node in enumerate(outputs):
        if not node.inputs:  # a leaf returned as is: its own output box
            add_box(("out", k), f"output {k}", _OUTPUT_COLOR)
            graph.add_edge(pydot.Edge(source[node], ids[("out", k)]))
    for k, (var, value) in enumerate(updates):
        add_box(("update", k), f"update of {var_label(var)}", _OUTPUT_COLOR)
        graph.add_edge(pydot.Edge(source[value], ids[("update", k)]))
        if var not in source:  # updated but not read: still draw it
            add_box(var, var_text(var), _LEAF_COLORS["shared"])
            source[var] = ids[var]
        # dashed: where the new value goes; no layout constraint, so no cycle in the ranks
        graph.add_edge(pydot.Edge(ids[("update", k)], source[var], style="dashed", color="grey40",
                                  constraint="false"))
    return graph


def pydotprint(fn_or_vars, outfile=None, format=None, compact=True, var_with_name_simple=False,
               max_label_size=70, return_image=False, print_output_file=True):
    """Draw a graph with pydot/graphviz and return the path written (Theano's ``pydotprint``).

    Ops are ellipses, variables boxes: inputs green, shared variables cyan, constants grey,
    outputs and updates blue; an edge's label is the input position when an op has several.

    fn_or_vars: a compiled ``Function``, a variable, or a list of variables.
    outfile: the file to write; default ``eggflow.pydotprint.<format>`` in the current
        directory. format: ``png``, ``svg``, ``pdf``, ``dot``, ...; default from outfile's
        extension, else png.
    compact: hide unnamed intermediate variables (edges go op to op).
    var_with_name_simple: label named variables by their name only (no type).
    return_image: return the image bytes (or DOT text) instead of writing a file.

    Without graphviz's ``dot`` program, writes the DOT source (outfile with a ``.dot`` suffix),
    warns, and returns that path.
    """
    outputs, updates = _roots(fn_or_vars)
    graph = _build_dot(outputs, updates, compact, var_with_name_simple, max_label_size)
    return write_graph(graph, outfile, format, return_image, print_output_file, "pydotprint")


def write_graph(graph, outfile=None, format=None, return_image=False, announce=True,
                who="pydotprint"):
    """Write a pydot graph: ``format`` from ``outfile``'s extension (default png); without
    graphviz's ``dot``, the DOT source (``.dot``) and a warning. Returns the path (or the
    image bytes / DOT text with ``return_image``)."""
    if format is None:
        ext = os.path.splitext(outfile)[1][1:].lower() if outfile else ""
        format = ext or "png"
    format = format.lower()
    if outfile is None:
        outfile = os.path.join(os.getcwd(), f"eggflow.{who}.{format}")
    elif not os.path.splitext(outfile)[1]:
        outfile = f"{outfile}.{format}"
    source = graph.to_string()
    if format in _SOURCE_FORMATS:
        if return_image:
            return source
        return _write_text(outfile, source, announce)
    if shutil.which("dot") is None:
        dot_file = os.path.splitext(outfile)[0] + ".dot"
        warnings.warn(f"{who}: graphviz's `dot` program was not found, so the DOT source was "
                      f"written to {dot_file} instead of a {format} picture; {_INSTALL_HINT}, then "
                      f"run `dot -T{format} {dot_file} -o {outfile}`", stacklevel=3)
        if return_image:
            return source
        return _write_text(dot_file, source, announce)
    try:
        if return_image:
            return graph.create(prog="dot", format=format)
        graph.write(outfile, prog="dot", format=format)
    except (AssertionError, OSError) as exc:  # pydot reports dot's failures as AssertionError
        raise RuntimeError(f"{who}: graphviz's dot could not write {format!r} to "
                           f"{outfile}: {exc}") from None
    if announce:
        print(f"The output file is available at {outfile}")
    return outfile


def _write_text(path: str, text: str, announce: bool) -> str:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    if announce:
        print(f"The output file is available at {path}")
    return path
