"""A 2-layer MLP training step: tanh hidden layer, softmax output, integer labels. As a pure
float64 function (``mlp_train``) and, issue 5's W3, in float32 on shared parameters updated by
the call (``mlp_train_f32``: 256x784 -> 512 -> 10 at full size)."""

from __future__ import annotations

import numpy as np

import eggflow as ef
import eggflow.tensor as T

from . import Workload, register

N_OUT = 10


def _graph(x, y, params) -> list:
    """[cost, new W1, new b1, new W2, new b2] of one SGD step (learning rate 0.1)."""
    W1, b1, W2, b2 = params
    h = T.tanh(T.dot(x, W1) + b1)
    p = T.nnet.softmax(T.dot(h, W2) + b2)
    cost = T.nnet.categorical_crossentropy(p, y).mean()
    grads = ef.grad(cost, params)
    return [cost, *(v - 0.1 * g for v, g in zip(params, grads))]


def _numpy(x, y, W1, b1, W2, b2):
    h = np.tanh(x @ W1 + b1)
    z = h @ W2 + b2
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    rows = np.arange(len(y))
    cost = -logp[rows, y].mean()
    gz = np.exp(logp)
    gz[rows, y] -= 1
    gz /= len(y)
    gh = (gz @ W2.T) * (1 - h**2)
    return [cost, W1 - 0.1 * (x.T @ gh), b1 - 0.1 * gh.sum(axis=0),
            W2 - 0.1 * (h.T @ gz), b2 - 0.1 * gz.sum(axis=0)]


def _reference(x, y, W1, b1, W2, b2):
    """float64, whatever the inputs' dtype."""
    from scipy.special import log_softmax, softmax

    x, W1, b1, W2, b2 = (np.asarray(v, dtype=np.float64) for v in (x, W1, b1, W2, b2))
    h = np.tanh(np.dot(x, W1) + b1)
    z = np.dot(h, W2) + b2
    onehot = np.eye(N_OUT)[y]
    cost = -np.sum(onehot * log_softmax(z, axis=1)) / len(y)
    gz = (softmax(z, axis=1) - onehot) / len(y)
    gh = np.dot(gz, W2.T) * (1 - h * h)
    return [cost, W1 - 0.1 * np.dot(x.T, gh), b1 - 0.1 * np.sum(gh, axis=0),
            W2 - 0.1 * np.dot(h.T, gz), b2 - 0.1 * np.sum(gz, axis=0)]


def _values(n: int, n_in: int, n_hid: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n, n_in)), rng.integers(0, N_OUT, n),
            rng.standard_normal((n_in, n_hid)) / np.sqrt(n_in), np.zeros(n_hid),
            rng.standard_normal((n_hid, N_OUT)) / np.sqrt(n_hid), np.zeros(N_OUT)]


@register("mlp_train", sizes={"quick": 32, "full": 1024}, tags=("train", "nnet"))
def build(size: int, seed: int) -> Workload:
    """MLP step (batch = inputs = size, size//2 hidden, 10 classes): cost, new W1 b1 W2 b2."""
    x, y = T.dmatrix("x"), T.lvector("y")
    W1, W2 = T.dmatrices("W1", "W2")
    b1, b2 = T.dvectors("b1", "b2")
    params = [W1, b1, W2, b2]
    return Workload("mlp_train", _graph(x, y, params), [x, y, *params],
                    _values(size, size, size // 2, seed), numpy=_numpy, reference=_reference,
                    tags=("train", "nnet"))


F32_TAGS = ("train", "nnet", "issue5")


@register("mlp_train_f32", sizes={"quick": 32, "full": 256}, tags=F32_TAGS)
def build_f32(size: int, seed: int) -> Workload:
    """float32 MLP step on shared parameters updated by the call: batch size, 784*size/256
    inputs, 2*size hidden (256x784 -> 512 -> 10 at 256); returns the cost (and new params)."""
    n, n_in, n_hid = size, 784 * size // 256, 2 * size
    rng = np.random.default_rng(seed)

    def weights(fan_in, fan_out):  # |w| in [0.5, 1.5] / sqrt(fan_in): see the note below
        mag = rng.uniform(0.5, 1.5, (fan_in, fan_out)) / np.sqrt(fan_in)
        return (mag * rng.choice([-1.0, 1.0], (fan_in, fan_out))).astype(np.float32)

    xv, yv = rng.standard_normal((n, n_in)).astype(np.float32), rng.integers(0, N_OUT, n)
    pv = [weights(n_in, n_hid), np.full(n_hid, 0.1, np.float32), weights(n_hid, N_OUT),
          np.full(N_OUT, 0.1, np.float32)]
    x, y = T.fmatrix("x"), T.lvector("y")
    params = [ef.shared(v, name=k) for v, k in zip(pv, ("W1", "b1", "W2", "b2"))]

    def current():
        return [p.get_value(borrow=True) for p in params]

    return Workload("mlp_train_f32", _graph(x, y, params), [x, y], [xv, yv],
                    numpy=lambda x, y: _numpy(x, y, *current()),
                    reference=lambda x, y: _reference(x, y, *current()), tags=F32_TAGS,
                    updates=tuple((p, k + 1) for k, p in enumerate(params)),
                    notes="float32, shared parameters updated by each call; float64 reference. "
                          "Parameters start away from 0 so that each new value is far from 0 "
                          "next to its float32 rounding error: the float32 results are then "
                          "within ~1e-7 of the reference relatively, not only absolutely")
