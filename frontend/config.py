"""Global configuration: ``eggflow.config`` (Theano's ``theano.config``).

Flags are plain attributes, settable in code (``config.floatX = 'float32'``) or through the
environment variable ``EGGFLOW_FLAGS="floatX=float32,mode=FAST_COMPILE"`` read at import.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields

_CHOICES = {
    "floatX": ("float64", "float32"),
    "mode": ("FAST_RUN", "FAST_COMPILE", "DebugMode"),
    "device": ("cpu", "cuda"),
}


def _default_compiledir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "eggflow")


@dataclass
class Config:
    floatX: str = "float64"
    mode: str = "FAST_RUN"
    device: str = "cpu"
    compiledir: str = field(default_factory=_default_compiledir)
    grad_stabilize: bool = True  # grad differentiates the stability-rewritten cost (grad.py)
    # rule plugin files joining the default rules, separated by ':' (also EGGFLOW_RULES)
    rules: str = field(default_factory=lambda: os.environ.get("EGGFLOW_RULES", ""))

    def __setattr__(self, name, value):
        names = {f.name for f in fields(self)}
        if name not in names:
            raise AttributeError(f"eggflow.config has no flag {name!r}; flags are {sorted(names)}")
        if name == "grad_stabilize" and isinstance(value, str):
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(f"config.grad_stabilize must be True or False, got {value!r}")
            value = value.lower() in ("true", "1")
        if name in _CHOICES and value not in _CHOICES[name]:
            raise ValueError(f"config.{name} must be one of {_CHOICES[name]}, got {value!r}")
        object.__setattr__(self, name, value)

    def apply_flags(self, flags: str) -> None:
        """Apply a comma-separated ``name=value`` string, as in ``EGGFLOW_FLAGS``."""
        for item in filter(None, (s.strip() for s in flags.split(","))):
            name, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"EGGFLOW_FLAGS entry {item!r} is not of the form name=value")
            setattr(self, name.strip(), value.strip())


config = Config()
config.apply_flags(os.environ.get("EGGFLOW_FLAGS", ""))
