"""``Mode``: how a function is optimized and run.

Named modes: ``FAST_RUN`` (default: e-graph optimizer + generated code once those stages
exist), ``FAST_COMPILE`` (no optimization, reference executor) and ``DebugMode`` (reference
executor that also checks every intermediate value against its static type).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

BACKENDS = ("numpy", "c", "cuda")


@dataclass(frozen=True)
class Mode:
    optimizer: str | None = "egraph"
    backend: str = "numpy"
    rules: tuple = ("default",)
    excluding: tuple = ()
    cost: object = None
    extractor: object = None
    budget: object = None
    check_types: bool = False  # DebugMode: check every intermediate against its type
    name: str = field(default="custom", compare=False)

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ValueError(f"Mode: backend must be one of {BACKENDS}, got {self.backend!r}")
        for attr in ("rules", "excluding"):
            value = getattr(self, attr)
            if isinstance(value, str):
                value = (value,)
            object.__setattr__(self, attr, tuple(value))

    def excluding_(self, *names) -> "Mode":
        return replace(self, excluding=self.excluding + names)


NAMED = {
    "FAST_RUN": Mode(name="FAST_RUN"),
    "FAST_COMPILE": Mode(optimizer=None, name="FAST_COMPILE"),
    "DebugMode": Mode(optimizer=None, check_types=True, name="DebugMode"),
}


def get_mode(mode) -> Mode:
    """``None`` (config.mode), a name, or a ``Mode``."""
    from .frontend.config import config

    if mode is None:
        mode = config.mode
    if isinstance(mode, Mode):
        return mode
    if mode not in NAMED:
        raise ValueError(f"unknown mode {mode!r}; named modes are {sorted(NAMED)} "
                         "(or pass an eggflow.Mode)")
    return NAMED[mode]
