"""``Mode``: how a function is optimized and run.

Named modes: ``FAST_RUN`` (default: the e-graph optimizer with its late phase — fusion, BLAS
forms, inplace — then generated C; the reference executor where no C compiler exists),
``FAST_COMPILE`` (no optimization,
reference executor) and ``DebugMode`` (runs the optimized and the unoptimized graph on every
call, raises on a mismatch naming the outputs, and checks every intermediate against its type).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

BACKENDS = ("numpy", "c", "cuda")


@dataclass(frozen=True)
class Mode:
    optimizer: str | None = "egraph"
    backend: str = "numpy"
    fusion: str | None = "egraph"  # the late phase for compiled backends: 'egraph', 'greedy', None
    rules: tuple = ("default",)
    excluding: tuple = ()
    cost: object = None
    extractor: object = None
    budget: object = None
    check_types: bool = False  # DebugMode: check every intermediate against its type
    compare: bool = False  # DebugMode: run the unoptimized graph too and compare outputs
    rtol: float = 1e-5  # DebugMode tolerances (float32 outputs use max(rtol, 1e-3))
    atol: float = 1e-8
    name: str = field(default="custom", compare=False)

    def __post_init__(self):
        if self.optimizer not in (None, "egraph"):
            raise ValueError(f"Mode: optimizer must be 'egraph' or None, got {self.optimizer!r}")
        if self.backend not in BACKENDS:
            raise ValueError(f"Mode: backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.fusion not in (None, "egraph", "greedy"):
            raise ValueError(f"Mode: fusion must be 'egraph', 'greedy' or None, "
                             f"got {self.fusion!r}")
        for attr in ("rules", "excluding"):
            value = getattr(self, attr)
            if isinstance(value, str):
                value = (value,)
            object.__setattr__(self, attr, tuple(value))

    def excluding_(self, *names) -> "Mode":
        return replace(self, excluding=self.excluding + names)


NAMED = {
    "FAST_RUN": Mode(backend="c", name="FAST_RUN"),
    "FAST_COMPILE": Mode(optimizer=None, name="FAST_COMPILE"),
    "DebugMode": Mode(check_types=True, compare=True, name="DebugMode"),
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
