"""Tensor types: a dtype and a static shape (``None`` = unknown size, ``1`` = broadcastable).

A *wildcard* type leaves the dtype and/or the number of dimensions open (``None``); rule
patterns are built from wildcard-typed variables and every type rule propagates the
unknowns instead of failing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Theano's one-letter prefixes of the typed constructors (bscalar, wvector, ...).
PREFIX_DTYPES = {
    "b": "int8", "w": "int16", "i": "int32", "l": "int64",
    "f": "float32", "d": "float64", "c": "complex128",
}
SUPPORTED_DTYPES = (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float32", "float64", "complex64", "complex128",
)


def as_dtype(dtype) -> str:
    """Normalise a dtype spelling (``np.float32``, ``'floatX'``, ``'f8'``) to its name."""
    from .config import config

    if dtype is None:
        return None
    if dtype == "floatX":
        return config.floatX
    try:
        name = np.dtype(dtype).name
    except TypeError as exc:
        raise TypeError(f"{dtype!r} is not a dtype") from exc
    if name not in SUPPORTED_DTYPES:
        raise TypeError(f"dtype {name} is not supported; supported: {', '.join(SUPPORTED_DTYPES)}")
    return name


def kind(dtype: str | None) -> str | None:
    """'b' bool, 'i' signed int, 'u' unsigned, 'f' float, 'c' complex (None if unknown)."""
    return None if dtype is None else np.dtype(dtype).kind


def is_int(dtype) -> bool:
    return kind(dtype) in ("b", "i", "u")


def is_float(dtype) -> bool:
    return kind(dtype) in ("f", "c")


def _check_shape(shape) -> tuple:
    """A static shape: a tuple of non-negative ints or None (unknown size)."""
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"shape must be a tuple of sizes (None for unknown), got {shape!r}")
    if shape and all(isinstance(d, (bool, np.bool_)) for d in shape):  # Theano habit
        raise TypeError(f"shape {tuple(shape)} is a broadcastable pattern; give sizes instead "
                        "(1 for broadcastable, None for unknown) or use broadcastable=")
    for d in shape:
        if d is not None and (isinstance(d, (bool, np.bool_))
                              or not isinstance(d, (int, np.integer)) or d < 0):
            raise ValueError(f"shape {tuple(shape)}: each entry must be None (unknown) or a "
                             f"non-negative int, got {d!r}")
    return tuple(None if d is None else int(d) for d in shape)


@dataclass(frozen=True)
class TensorType:
    dtype: str | None
    shape: tuple | None  # None: unknown ndim (wildcard)

    def __post_init__(self):
        object.__setattr__(self, "dtype", as_dtype(self.dtype))
        if self.shape is not None:
            object.__setattr__(self, "shape", _check_shape(self.shape))

    @property
    def ndim(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    @property
    def broadcastable(self) -> tuple | None:
        return None if self.shape is None else tuple(d == 1 for d in self.shape)

    def is_wild(self) -> bool:
        return self.dtype is None or self.shape is None

    def __str__(self):
        if self.shape is None:
            return f"Tensor({self.dtype or '?'}, ndim=?)"
        dims = ", ".join("?" if d is None else str(d) for d in self.shape)
        return f"Tensor({self.dtype or '?'}, ({dims}{',' if len(self.shape) == 1 else ''}))"

    def check_value(self, value: np.ndarray, what: str) -> None:
        """Raise a clear error if ``value`` (already of our dtype) does not fit the static shape."""
        if self.shape is None:
            return
        if value.ndim != len(self.shape):
            raise TypeError(f"{what}: expected {len(self.shape)} dimensions ({self}), "
                            f"got an array of shape {value.shape} ({value.ndim} dimensions)")
        for axis, (want, got) in enumerate(zip(self.shape, value.shape)):
            if want is not None and want != got:
                raise ValueError(f"{what}: expected size {want} on axis {axis} ({self}), "
                                 f"got an array of shape {value.shape}")


WILD = TensorType(None, None)
