"""The optimized-graph disk cache: ``optimize``'s results survive the process.

A new process compiling a function it compiled before should not run the e-graph again (its
worker alone takes 1-2 s to start). A graph is written as plain data — nodes in topological
order, each ``[op, params, inputs, name]``; leaves that are not constants (function inputs,
shared variables) by their position among the graph's leaves in first-use order and their
type; constants by value — so the same program text gives the same key in every process (and
the same text over other dtypes or ranks another key: rewrites depend on types), and the cached
optimized graph is rebuilt over *this* process's leaf nodes. Entries live in
``config.compiledir/graphs/<key>.json``, are written atomically (temporary file, then
``os.replace``), and an unreadable entry is ignored (and overwritten by the next result).
"""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import os
import tempfile

import numpy as np

from .frontend.graph import constant, toposort
from .frontend.op import apply_node

VERSION = 3  # bump when the encoding, the rules' meaning or the pipeline changes


def _const(node) -> list:
    a = np.array(node.data, order="C")  # (ascontiguousarray would make a 0-d array 1-d)
    return [a.dtype.str, list(a.shape), base64.b64encode(a.tobytes()).decode(),
            bool(node.attrs["weak"])]


def encode_graph(outputs, leaves: list | None = None):
    """(plain data, leaves): ``leaves`` lists the non-constant leaves in first-use order (pass
    the input graph's list to encode an optimized graph over the same leaves)."""
    leaves = [] if leaves is None else leaves
    known = leaves is not None and len(leaves) > 0
    index, rows = {}, []
    for node in toposort(outputs):
        if node.op == "constant":
            rows.append(["const", _const(node)])
        elif not node.inputs:
            if node not in leaves:
                if known:
                    raise KeyError(f"{node} is not a leaf of the input graph")
                leaves.append(node)
            # with its type: the same program over other dtypes/ranks is another graph
            rows.append(["leaf", leaves.index(node), str(node.dtype), list(node.type.shape)])
        else:
            params = repr(node.params)
            if ast.literal_eval(params) != node.params:
                raise ValueError(f"{node.op}'s params cannot be written as data")
            rows.append([node.op, params, [index[i] for i in node.inputs]])
        index[node] = len(rows) - 1
    return {"rows": rows, "outputs": [index[o] for o in outputs]}, leaves


def decode_graph(data, leaves) -> list:
    built = []
    for row in data["rows"]:
        if row[0] == "const":
            dtype, shape, raw, weak = row[1]
            a = np.frombuffer(base64.b64decode(raw), dtype=dtype).reshape(shape)
            built.append(constant(a.item() if weak else a.copy(), dtype=None if weak else
                                  a.dtype.name))
        elif row[0] == "leaf":
            built.append(leaves[row[1]])
        else:
            built.append(apply_node(row[0], tuple(built[i] for i in row[2]),
                                    ast.literal_eval(row[1])))
    return [built[k] for k in data["outputs"]]


_FINGERPRINT: list = []


def code_fingerprint() -> str:
    """A hash of the optimizer's own source (op table, rules, extraction, the pipeline): a
    cached graph from another version of eggflow is never reused."""
    if not _FINGERPRINT:
        from pathlib import Path

        from . import egraph_rules, frontend
        from .codegen import fuse

        h = hashlib.sha256()
        dirs = [Path(frontend.__file__).parent, Path(egraph_rules.__file__).parent]
        files = [f for d in dirs for f in sorted(d.glob("*.py"))]
        here = Path(__file__).parent
        files += [here / "optimize.py", here / "graph_cache.py", Path(fuse.__file__)]
        for f in files:
            if f.exists():
                h.update(f.name.encode() + f.read_bytes())
        _FINGERPRINT.append(h.hexdigest())
    return _FINGERPRINT[0]


def key(graph_data, settings) -> str:
    text = json.dumps([VERSION, code_fingerprint(), graph_data, settings], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _path(k: str) -> str:
    from .frontend.config import config

    return os.path.join(config.compiledir, "graphs", k[:2], k + ".json")


def load(k: str):
    try:
        with open(_path(k)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def store(k: str, value) -> None:
    path = _path(k)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(value, f)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache directory: the cache is an optimisation only
