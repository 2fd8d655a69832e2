"""A 2-layer MLP training step: tanh hidden layer, softmax output, integer labels."""

from __future__ import annotations

import numpy as np

import eggflow as ef
import eggflow.tensor as T

from . import Workload, register

N_OUT = 10


@register("mlp_train", sizes={"quick": 32, "full": 1024}, tags=("train", "nnet"))
def build(size: int, seed: int) -> Workload:
    """MLP step (batch = inputs = size, size//2 hidden, 10 classes): cost, new W1 b1 W2 b2."""
    n, n_in, n_hid = size, size, size // 2
    rng = np.random.default_rng(seed)
    x, y = T.dmatrix("x"), T.lvector("y")
    W1, W2 = T.dmatrices("W1", "W2")
    b1, b2 = T.dvectors("b1", "b2")
    h = T.tanh(T.dot(x, W1) + b1)
    p = T.nnet.softmax(T.dot(h, W2) + b2)
    cost = T.nnet.categorical_crossentropy(p, y).mean()
    params = [W1, b1, W2, b2]
    grads = ef.grad(cost, params)
    outputs = [cost, *(v - 0.1 * g for v, g in zip(params, grads))]
    values = [rng.standard_normal((n, n_in)), rng.integers(0, N_OUT, n),
              rng.standard_normal((n_in, n_hid)) / np.sqrt(n_in), np.zeros(n_hid),
              rng.standard_normal((n_hid, N_OUT)) / np.sqrt(n_hid), np.zeros(N_OUT)]

    def numpy(x, y, W1, b1, W2, b2):
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

    def reference(x, y, W1, b1, W2, b2):
        from scipy.special import log_softmax, softmax

        h = np.tanh(np.dot(x, W1) + b1)
        z = np.dot(h, W2) + b2
        onehot = np.eye(N_OUT)[y]
        cost = -np.sum(onehot * log_softmax(z, axis=1)) / len(y)
        gz = (softmax(z, axis=1) - onehot) / len(y)
        gh = np.dot(gz, W2.T) * (1 - h * h)
        return [cost, W1 - 0.1 * np.dot(x.T, gh), b1 - 0.1 * np.sum(gh, axis=0),
                W2 - 0.1 * np.dot(h.T, gz), b2 - 0.1 * np.sum(gz, axis=0)]

    return Workload("mlp_train", outputs, [x, y, *params], values, numpy=numpy,
                    reference=reference, tags=("train", "nnet"))
