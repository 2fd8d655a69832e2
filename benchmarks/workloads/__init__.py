"""The workload registry: each workload builds its graph and inputs at a size and a seed.

A workload file registers a builder:

    @register("softmax_xent", sizes={"quick": 64, "full": 1024}, tags=("nnet",))
    def build(size: int, seed: int) -> Workload: ...

``Workload`` is plain data: eggflow outputs and inputs, input values, a hand-written NumPy
version (the ``numpy`` peer), a float64-or-better reference, and optional numexpr text.

A training step may keep its parameters in shared variables, as Theano's tutorials do:
``updates`` pairs a shared variable with the index of the output holding its new value. Every
implementation still returns all the outputs (new values included), and the runner writes
each new value back after the call (eggflow: ``function(..., updates=...)``); ``reset()`` puts
the initial values back, so that every run starts from the same state.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Workload:
    name: str
    outputs: list  # eggflow output variables (what is compiled and timed)
    inputs: list  # eggflow input variables, in call order
    values: list  # one NumPy array (or scalar) per input
    numpy: Callable | None = None  # hand-written NumPy: numpy(*values) -> list (like outputs)
    reference: Callable | None = None  # accurate reference (float64, mpmath where needed)
    numexpr: list | None = None  # numexpr expression text per output (elementwise only)
    tags: tuple = ()
    notes: str = ""
    updates: tuple = ()  # (shared variable, index of the output that is its new value), ...
    initial: list = field(default=None, repr=False)  # the shared values at build time

    def __post_init__(self):
        self.updates = tuple(self.updates)
        if self.initial is None:
            self.initial = [s.get_value(borrow=False) for s, _ in self.updates]

    def reset(self) -> None:
        """Give the updated shared variables their values at build time back."""
        for (s, _), value in zip(self.updates, self.initial):
            s.set_value(value, borrow=False)


@dataclass
class WorkloadSpec:
    name: str
    build: Callable  # (size, seed) -> Workload
    sizes: dict = field(default_factory=dict)  # suite name ("quick", "full") -> size
    tags: tuple = ()
    doc: str = ""


REGISTRY: dict[str, WorkloadSpec] = {}


def register(name: str, sizes: dict, tags=()):
    """Decorator: register ``build(size, seed) -> Workload`` under ``name``."""

    def deco(fn):
        if name in REGISTRY:
            raise ValueError(f"workload {name!r} is registered twice")
        REGISTRY[name] = WorkloadSpec(name, fn, dict(sizes), tuple(tags),
                                      (fn.__doc__ or "").strip().split("\n")[0])
        return fn

    return deco


def load_all() -> dict:
    """Import every workload module of this package (each registers itself)."""
    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")
    return REGISTRY


def get(name: str) -> WorkloadSpec:
    load_all()
    if name not in REGISTRY:
        raise KeyError(f"unknown workload {name!r}; known: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def names(tags=None) -> list:
    load_all()
    return sorted(n for n, s in REGISTRY.items() if not tags or set(tags) & set(s.tags))
