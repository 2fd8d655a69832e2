"""``eggflow.tensor`` (``T``): typed constructors and every op of the op table, Theano-spelled.

This module only gathers names; each op family lives in its own module.
"""

from __future__ import annotations

import builtins  # this module's all/any/sum/max/... are the tensor ops

from .config import config
from .graph import (Node, SharedVariable, Variable, as_tensor_variable,  # noqa: F401
                    constant, input_variable, shared, wildcard)
from .types import PREFIX_DTYPES, TensorType, as_dtype

from .elemwise import *  # noqa: F401,F403  (each family module declares __all__)
from .shape import *  # noqa: F401,F403
from .reduction import *  # noqa: F401,F403
from .blas import *  # noqa: F401,F403
from .control import *  # noqa: F401,F403
from .subtensor import *  # noqa: F401,F403
from . import nnet  # noqa: F401  (T.nnet.softmax, ...)
from . import kernel  # noqa: F401  (the late phase's ops: fused kernels, BLAS/inplace forms)
from .nnet import *  # noqa: F401,F403
from .grad import grad, hessian, jacobian  # noqa: F401
from .gradcheck import verify_grad  # noqa: F401

# -- typed constructors --------------------------------------------------------------------
_KINDS = {  # name -> static shape pattern
    "scalar": (), "vector": (None,), "matrix": (None, None), "row": (1, None), "col": (None, 1),
    **{f"tensor{n}": (None,) * n for n in range(3, 8)},
}


def tensor(dtype=None, shape=None, name=None, broadcastable=None) -> Node:
    """A symbolic input of any type: ``T.tensor('float32', shape=(None, 1))``; Theano's
    ``T.tensor('float32', (False, True))`` (a broadcastable pattern) is accepted too."""
    if isinstance(dtype, (list, tuple)) and shape is None:  # T.tensor(shape) spelling
        dtype, shape = None, dtype
    if shape and broadcastable is None and builtins.all(isinstance(b, bool) for b in shape):
        shape, broadcastable = None, shape
    if shape is None and broadcastable is not None:
        shape = tuple(1 if b else None for b in broadcastable)
    if shape is None:
        raise TypeError("tensor(): give shape= (a tuple of sizes, None for unknown)")
    return input_variable(TensorType(as_dtype(dtype or config.floatX), tuple(shape)), name)


def _make(kind, fixed_dtype=None):
    pattern = _KINDS[kind]

    def make(name=None, dtype=None, shape=None):
        if fixed_dtype is not None and dtype is not None and as_dtype(dtype) != fixed_dtype:
            raise TypeError(f"this constructor makes {fixed_dtype} variables; use "
                            f"T.{kind}(dtype={dtype!r}) for another dtype")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"the name of a variable must be a string, got {name!r}")
        dtype = fixed_dtype or as_dtype(dtype or config.floatX)
        if shape is not None:
            if len(shape) != len(pattern):
                raise ValueError(f"{kind}: shape {shape} must have {len(pattern)} entries")
            return input_variable(TensorType(dtype, tuple(shape)), name)
        return input_variable(TensorType(dtype, pattern), name)

    make.__name__ = kind
    make.__doc__ = (f"A symbolic {kind} input of dtype {fixed_dtype or 'config.floatX'}; "
                    "``name`` is shown by printing and in error messages.")
    return make


def _plural(name: str) -> str:
    return name[: -len("matrix")] + "matrices" if name.endswith("matrix") else name + "s"


def _make_plural(single):
    def make(*names, n=None):
        if n is None and len(names) == 1 and isinstance(names[0], int):
            n = names[0]
        if n is not None:
            if n < 0:
                raise ValueError(f"{_plural(single.__name__)}: cannot make {n} variables")
            return [single() for _ in range(n)]
        return [single(name) for name in names]

    make.__name__ = _plural(single.__name__)
    make.__doc__ = (f"Several {single.__name__} inputs at once: "
                    f"``x, y = {make.__name__}('x', 'y')``.")
    return make


for _kind in _KINDS:
    globals()[_kind] = _make(_kind)
    for _prefix, _dtype in PREFIX_DTYPES.items():
        _single = _make(_kind, _dtype)
        _single.__name__ = _prefix + _kind
        globals()[_prefix + _kind] = _single
        globals()[_plural(_prefix + _kind)] = _make_plural(_single)
    globals()[_plural(_kind)] = _make_plural(globals()[_kind])
