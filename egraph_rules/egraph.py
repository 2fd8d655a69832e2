"""The e-graph as plain data, read from egglog's serialized JSON (egraph-serialize format).

Extraction, type inference and costs work on this structure only, so they can be tested on
hand-made e-graphs and never touch egglog. An e-node's ``op`` is a frontend op name (or a
leaf kind: ``input``, ``constant``); its ``params`` are the frontend params; its
``children`` are e-class indices.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ENode:
    op: str  # frontend op name, or "leaf" for inputs/constants/opaque nodes
    params: tuple  # ((name, value), ...) as in Node.params; for leaves (("key", key),)
    children: tuple  # e-class indices
    eclass: int


@dataclass
class EGraph:
    nodes: list  # list[ENode]
    nclasses: int
    roots: list = field(default_factory=list)  # e-class indices of the outputs
    class_names: list = field(default_factory=list)  # egglog's e-class ids (for export)
    node_ids: list = field(default_factory=list)  # egglog's e-node ids, parallel to nodes
    origin: dict = field(default_factory=dict)  # index of an encoded graph node -> its e-class

    def classes(self) -> list:
        """e-class index -> list of its e-node indices."""
        out = [[] for _ in range(self.nclasses)]
        for i, n in enumerate(self.nodes):
            out[n.eclass].append(i)
        return out
