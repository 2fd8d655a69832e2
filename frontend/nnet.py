"""Neural-network ops (``T.nnet``): softmax, log_softmax and logsumexp are primitives (stable
kernels with their own gradients); the activations and losses are compositions of existing ops,
as in Theano, so the optimizer sees through them.
"""

from __future__ import annotations

import numpy as np

from .elemwise import clip, expm1, log, minimum, relu, sigmoid, softplus, switch
from .graph import Node, as_tensor_variable
from .op import Op, apply, declare, normalize_axis, upgrade_to_float
from .reduction import keep_dims
from .reduction import sum as _sum
from .shape import arange, shape_i
from .subtensor import subtensor
from .types import TensorType, kind


# -- primitives ----------------------------------------------------------------------------
def _float_dtype(x: Node, what: str) -> str | None:
    if x.dtype is not None and kind(x.dtype) == "c":
        raise TypeError(f"{what}: complex input {x} ({x.type}) is not supported")
    return upgrade_to_float(x.dtype)


def _check_axes(what, x: Node, axis):
    """Axes must exist; negative ones (from a pattern built on an unknown ndim) count from the
    end."""
    if axis is not None and x.ndim is not None and any(not -x.ndim <= a < x.ndim for a in axis):
        raise ValueError(f"{what}: axis {axis} is out of range for {x} of type {x.type}")


def _as_float(x) -> np.ndarray:
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(upgrade_to_float(x.dtype.name))


def _shift(x, axis):
    """The max over ``axis`` (kept), replaced by 0 where it is not finite: subtracting it keeps
    exp() in range, and an all -inf (or +inf) slice is left to the arithmetic's own answer."""
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    return np.where(np.isfinite(m), m, 0).astype(x.dtype)


def _softmax_impl(x, axis):
    x = _as_float(x)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        e = np.exp(x - np.max(x, axis=axis, keepdims=True, initial=-np.inf))
        return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax_impl(x, axis):
    x = _as_float(x)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        shifted = x - _shift(x, axis)
        return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _logsumexp_impl(x, axis):
    x = _as_float(x)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        m = _shift(x, axis)
        out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out.reshape(np.sum(x, axis=axis).shape)


def _softmax_grad(node, g):
    axis = node.attrs["axis"]
    return [(g - _sum(g * node, axis=axis, keepdims=True)) * node]


def _log_softmax_grad(node, g):
    axis = node.attrs["axis"]
    return [g - apply("exp", node) * _sum(g, axis=axis, keepdims=True)]


def _logsumexp_grad(node, g):
    """g * softmax(x), as exp(x - logsumexp(x)): it reuses the output (x - out <= 0)."""
    x, axis = node.inputs[0], node.attrs["axis"]
    if axis is not None and x.ndim is not None:
        axis = tuple(sorted(a % x.ndim for a in axis))  # a pattern's negative axes
    return [keep_dims(g, x, axis) * apply("exp", x - keep_dims(node, x, axis))]


def _same_shape_infer(name):
    def infer(inputs, axis):
        x = inputs[0]
        _check_axes(name, x, axis)
        return TensorType(_float_dtype(x, name), x.type.shape)

    return infer


def _logsumexp_infer(inputs, axis):
    x = inputs[0]
    _check_axes("logsumexp", x, axis)
    if axis is None:
        shape = ()
    elif x.type.shape is None:
        shape = None
    else:
        axis = {a % x.ndim for a in axis}
        shape = tuple(d for i, d in enumerate(x.type.shape) if i not in axis)
    return TensorType(_float_dtype(x, "logsumexp"), shape)


declare(Op("softmax", "nnet", _same_shape_infer("softmax"), _softmax_impl, _softmax_grad,
           params=("axis",), nin=1, doc="exp(x - max) / sum(exp(x - max)) over axis"))
declare(Op("log_softmax", "nnet", _same_shape_infer("log_softmax"), _log_softmax_impl,
           _log_softmax_grad, params=("axis",), nin=1,
           doc="x - max - log(sum(exp(x - max))) over axis"))
declare(Op("logsumexp", "nnet", _logsumexp_infer, _logsumexp_impl, _logsumexp_grad,
           params=("axis",), nin=1, doc="max + log(sum(exp(x - max))) over axis (reduces)"))


def _axes(x: Node, axis, what):
    """Canonical axes: a sorted tuple of non-negative axes; with an unknown ndim, the axes as
    given (None: all)."""
    if x.ndim is None:
        return None if axis is None else normalize_axis(axis, None, what)
    return normalize_axis(axis, x.ndim, what)


def softmax(x, axis=-1) -> Node:
    """``exp(x) / sum(exp(x), axis)``, computed stably (shifted by the max); ``axis`` an int,
    a tuple or None (all axes)."""
    x = as_tensor_variable(x)
    return apply("softmax", x, axis=_axes(x, axis, "softmax"))


def log_softmax(x, axis=-1) -> Node:
    """``log(softmax(x, axis))``, computed stably (no exp overflow, no log of 0 underflow)."""
    x = as_tensor_variable(x)
    return apply("log_softmax", x, axis=_axes(x, axis, "log_softmax"))


def logsumexp(x, axis=None, keepdims=False) -> Node:
    """``log(sum(exp(x), axis))``, stable (shifted by the max; -inf for all -inf slices)."""
    x = as_tensor_variable(x)
    axes = _axes(x, axis, "logsumexp")
    if keepdims and x.ndim is None:
        raise TypeError(f"logsumexp: keepdims needs the number of dimensions of {x} ({x.type})")
    out = apply("logsumexp", x, axis=axes)
    return keep_dims(out, x, axes) if keepdims else out


# -- compositions --------------------------------------------------------------------------
def softmax_with_bias(x, b) -> Node:
    """Theano's ``softmax_with_bias``: ``softmax(x + b)`` over the last axis."""
    return softmax(as_tensor_variable(x) + b)


def hard_sigmoid(x) -> Node:
    """Theano's piecewise-linear sigmoid: ``clip(0.2 * x + 0.5, 0, 1)``."""
    return clip(0.2 * as_tensor_variable(x) + 0.5, 0, 1)


def ultra_fast_sigmoid(x) -> Node:
    """Theano's fast approximate sigmoid; here the exact ``sigmoid`` (the optimizer and code
    generator choose how to compute it)."""
    return sigmoid(x)


def elu(x, alpha=1.0) -> Node:
    """Exponential linear unit: ``x`` where ``x > 0``, else ``alpha * (exp(x) - 1)``."""
    x = as_tensor_variable(x)
    # expm1 of min(x, 0): the unused branch never overflows, so its gradient stays finite
    return switch(x > 0, x, alpha * expm1(minimum(x, 0)))


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(x) -> Node:
    """Scaled exponential linear unit (Klambauer et al. 2017)."""
    return _SELU_SCALE * elu(x, _SELU_ALPHA)


def categorical_crossentropy(coding_dist, true_dist) -> Node:
    """Cross-entropy between predicted distributions and targets, one value per row.

    ``true_dist`` is either the integer class index of each row (``-log(p[arange(n), y])``) or
    a one-hot / probability tensor of ``coding_dist``'s shape (``-sum(t * log(p), axis=-1)``).
    """
    p, t = as_tensor_variable(coding_dist), as_tensor_variable(true_dist)
    known = p.ndim is not None and t.ndim is not None
    if t.dtype is None:  # a wildcard: the ndims tell the two forms apart
        index_form = known and t.ndim == p.ndim - 1
    else:
        index_form = kind(t.dtype) in "iu"
    if index_form:
        if known and t.ndim != p.ndim - 1:
            raise ValueError(f"categorical_crossentropy: integer targets {t} ({t.type}) must "
                             f"have one dimension less than the distributions {p} ({p.type})")
        if p.ndim == 1:
            return -log(subtensor(p, t))
        if p.ndim not in (2, None):
            raise ValueError(f"categorical_crossentropy: integer targets need a matrix of "
                             f"distributions, got {p} ({p.type})")
        return -log(subtensor(p, (arange(shape_i(p, 0)), t)))
    if known and t.ndim != p.ndim:
        raise ValueError(f"categorical_crossentropy: target distributions {t} ({t.type}) must "
                         f"have the shape of the predicted ones {p} ({p.type})")
    return -_sum(t * log(p), axis=-1)


def binary_crossentropy(output, target) -> Node:
    """``-(target * log(output) + (1 - target) * log(1 - output))``, elementwise."""
    output = as_tensor_variable(output)
    return -(target * log(output) + (1 - target) * log(1 - output))


def sigmoid_binary_crossentropy(logits, target) -> Node:
    """``binary_crossentropy(sigmoid(logits), target)`` computed from the logits, stably:
    ``softplus(logits) - target * logits``."""
    logits = as_tensor_variable(logits)
    return softplus(logits) - target * logits


logsoftmax = log_softmax  # Theano's spelling

__all__ = ["softmax", "log_softmax", "logsoftmax", "logsumexp", "softmax_with_bias",
           "hard_sigmoid", "ultra_fast_sigmoid", "elu", "selu", "categorical_crossentropy",
           "binary_crossentropy", "sigmoid_binary_crossentropy", "relu", "sigmoid", "softplus"]
