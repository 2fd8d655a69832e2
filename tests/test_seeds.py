"""Every program of the seed tutorials (../shared/seeds/), with its printed result.

Oracles are the printed outputs where they are right, and NumPy where a tutorial misprinted
(the dmatrix dot tutorial prints 25 for 4*3 + 11*1 + 2*6 = 35).
"""

import io
import random
from contextlib import redirect_stdout

import numpy
import numpy as np
import pytest

import eggflow as theano  # the tutorials' spelling
from eggflow import function, tensor
import eggflow.tensor as T


@pytest.fixture(autouse=True, params=["FAST_RUN", "DebugMode"])
def seed_mode(request, monkeypatch):
    """Every seed program runs optimized (FAST_RUN) and in DebugMode, which runs the optimized
    and the unoptimized graph on each call and raises if they disagree."""
    monkeypatch.setattr(theano.config, "mode", request.param)
    return request.param


def test_scalar_addition():
    a = tensor.dscalar()
    b = tensor.dscalar()
    c = a + b
    f = theano.function([a, b], c)
    assert f(1.5, 2.5) == 4.0
    d = f(3.5, 5.5)
    assert isinstance(d, np.ndarray) and d.shape == () and d.dtype == np.float64
    buf = io.StringIO()
    with redirect_stdout(buf):
        print(d)
    assert buf.getvalue() == "9.0\n"


def test_matrix_dot():
    a = tensor.dmatrix()
    b = tensor.dmatrix()
    c = tensor.dot(a, b)
    f = theano.function([a, b], c)
    A, B = [[0, -1, 2], [4, 11, 2]], [[3, -1], [1, 2], [6, 1]]
    d = f(A, B)
    np.testing.assert_array_equal(d, np.dot(np.array(A, float), np.array(B, float)))
    np.testing.assert_array_equal(d, [[11.0, 0.0], [35.0, 20.0]])
    np.testing.assert_array_equal(f(numpy.array(A), numpy.array(B)), d)


def test_plural_constructors_and_elementwise_vs_dot():
    x, y, z = tensor.dmatrices("x", "y", "z")
    assert (x.name, y.name, z.name) == ("x", "y", "z")
    a, b = T.matrix(), T.matrix()
    F1 = theano.function([a, b], a * b)
    F2 = theano.function([a, b], T.dot(a, b))
    A, B, C = [[1, 2], [3, 4]], [[2, 4], [6, 8]], [[1, 2], [3, 4], [5, 6]]
    np.testing.assert_array_equal(F1(A, B), [[2.0, 8.0], [18.0, 32.0]])
    np.testing.assert_array_equal(F2(C, B), [[14.0, 20.0], [30.0, 44.0], [46.0, 68.0]])


def test_batched_dot_shape():
    a = T.tensor3(dtype=theano.config.floatX)
    b = T.tensor3(dtype=theano.config.floatX)
    F = theano.function([a, b], T.batched_dot(a, b))
    A = np.asarray([[[2, 4, 4], [6, 8, 3]]] * 4, dtype=np.float32)
    B = np.asarray([[[1, 2], [3, 4], [5, 6]]] * 4, dtype=np.float32)
    out = F(A, B)
    assert list(out.shape) == [4, 2, 2]
    np.testing.assert_allclose(out, np.matmul(A.astype(float), B.astype(float)))


def test_shared_get_set():
    W = theano.shared(numpy.asarray([0.1, 0.25, 0.15, 0.3]), "W")
    np.testing.assert_array_equal(W.get_value(), [0.1, 0.25, 0.15, 0.3])
    W.set_value([0.5, 0.2, 0.4, 0.2])
    np.testing.assert_array_equal(W.get_value(), [0.5, 0.2, 0.4, 0.2])


TRAINING_PRINTED = [
    ([19.94, 20.09, 19.99, 20.14], 0.8),
    ([23.908, 24.058, 23.958, 24.108], 80.16000000000001),
    ([24.7016, 24.8516, 24.7516, 24.9016], 96.03200000000001),
    ([24.86032, 25.01032, 24.91032, 25.06032], 99.2064),
    ([24.892064, 25.042064, 24.942064, 25.092064], 99.84128),
    ([24.8984128, 25.0484128, 24.9484128, 25.0984128], 99.968256),
    ([24.89968256, 25.04968256, 24.94968256, 25.09968256], 99.9936512),
    ([24.89993651, 25.04993651, 24.94993651, 25.09993651], 99.99873024),
    ([24.8999873, 25.0499873, 24.9499873, 25.0999873], 99.99974604799999),
    ([24.89999746, 25.04999746, 24.94999746, 25.09999746], 99.99994920960002),
]


def test_training_loop_ten_iterations():
    x = tensor.fvector("x")
    target = tensor.fscalar("target")
    W = theano.shared(numpy.asarray([0.1, 0.25, 0.15, 0.3]), "W")
    y = (x * W).sum()
    cost = tensor.sqr(target - y)
    gradients = tensor.grad(cost, [W])
    W_updated = W - (0.1 * gradients[0])
    updates = [(W, W_updated)]
    f = function([x, target], y, updates=updates)
    for i, (weights, out) in enumerate(TRAINING_PRINTED):
        output = f([1.0, 1.0, 1.0, 1.0], 100.0)
        np.testing.assert_allclose(W.get_value(), weights, rtol=0, atol=5e-9)  # printed to 8 digits
        assert float(output) == pytest.approx(out, rel=1e-13), i
    assert W.get_value().dtype == np.float64


def test_grad_examples():
    x = T.scalar("x")
    y = x**2
    f, f_prime = theano.function([x], y), theano.function([x], T.grad(y, x))
    assert f(-2) == 4.0 and f_prime(-2) == -4.0

    x1, x2 = T.scalar(), T.scalar()
    y = x1 * x2
    g = T.grad(y, [x1, x2])
    assert theano.function([x1, x2], y)(2, 4) == 8.0
    gv = theano.function([x1, x2], g)(2, 4)
    assert isinstance(gv, list) and [float(v) for v in gv] == [4.0, 2.0]

    A, B = T.matrix(), T.matrix()
    C = A * B
    D = T.sum(C)
    g = T.grad(D, A)
    a, b = [[1, 2], [3, 4]], [[2, 4], [6, 8]]
    np.testing.assert_array_equal(theano.function([A, B], C)(a, b), [[2, 8], [18, 32]])
    assert theano.function([A, B], D)(a, b) == 60.0
    np.testing.assert_array_equal(theano.function([A, B], g)(a, b), [[2, 4], [6, 8]])


def test_grad_of_power_of_sum():
    x, y = T.dscalars("x", "y")
    z = (x + 2 * y) ** 2
    gx, gy = T.grad(z, x), T.grad(z, y)
    assert theano.function([x, y], gy)(1, 2) == 20.0
    assert theano.function([x, y], gx)(1, 2) == 10.0


def test_neuron_with_float32_inputs():
    x = T.vector(dtype=theano.config.floatX)
    w = T.vector(dtype=theano.config.floatX)
    b = T.scalar(dtype=theano.config.floatX)
    z = T.dot(w, x) + b
    y = 1 / (1 + T.exp(-z))
    neuron = theano.function(inputs=[x, w, b], outputs=[y])
    prng = np.random.RandomState(123456789)
    expected_x = [[0.53283304, 0.5341366], [0.509553, 0.71356404], [0.25699896, 0.7526936],
                  [0.8838792, 0.15489908], [0.6705464, 0.64344513]]
    printed = [0.50032586, 0.5508266, 0.621447, 0.32541856, 0.4932251]  # float32 in the seed
    for i in range(5):
        xv = prng.rand(2).astype(np.float32)
        np.testing.assert_allclose(xv, expected_x[i], rtol=1e-6)
        out = neuron(xv, [-1, 1], 0)
        assert isinstance(out, list) and len(out) == 1
        oracle = 1 / (1 + np.exp(-(np.dot([-1.0, 1.0], xv.astype(float)))))
        np.testing.assert_allclose(out[0], oracle, rtol=1e-12)
        np.testing.assert_allclose(out[0], printed[i], rtol=1e-6)


def test_neuron_with_shared_parameters():
    x = T.vector()
    w = theano.shared(np.array([1.0, 1.0]))
    b = theano.shared(0.0)
    y = 1 / (1 + T.exp(-(T.dot(w, x) + b)))
    neuron = theano.function(inputs=[x], outputs=y)
    w.set_value([0.1, 0.1])
    rnd = random.Random(0)
    for _ in range(5):
        xv = np.asarray([rnd.random(), rnd.random()], dtype=np.float32)
        np.testing.assert_array_equal(w.get_value(), [0.1, 0.1])
        np.testing.assert_allclose(neuron(xv), 1 / (1 + np.exp(-np.dot([0.1, 0.1], xv))))


def test_neuron_training_updates():
    x, y_hat = T.vector("x"), T.scalar("y_hat")
    w = theano.shared(np.array([1.0, 1.0]))
    b = theano.shared(0.0)
    y = 1 / (1 + T.exp(-(T.dot(w, x) + b)))
    cost = T.sum((y - y_hat) ** 2)
    dw, db = T.grad(cost, [w, b])
    gradient = theano.function(inputs=[x, y_hat], updates=[(w, w - 0.1 * dw), (b, b - 0.1 * db)])
    xv, target = np.array([0.3, 0.7]), 1.0
    wv, bv = np.array([1.0, 1.0]), 0.0
    for _ in range(3):
        assert gradient(xv, target) == []
        s = 1 / (1 + np.exp(-(wv @ xv + bv)))
        common = 2 * (s - target) * s * (1 - s)
        wv, bv = wv - 0.1 * common * xv, bv - 0.1 * common
        np.testing.assert_allclose(w.get_value(), wv, rtol=1e-12)
        np.testing.assert_allclose(b.get_value(), bv, rtol=1e-12)


def test_lscalar_times_two():
    x = T.lscalar("x")
    f = theano.function([x], x * 2)
    out = f(3)
    assert out == 6 and out.dtype == np.int64
    z = T.exp(x)
    assert theano.function([x], z)(1) == pytest.approx(np.e)
    xs = T.scalar()
    assert theano.function([xs], 2 * xs)(-2) == -4.0


def test_givens():
    x = T.dscalar()
    y = T.dscalar()
    c = T.dscalar()
    ff = theano.function([c], x * 2 + y, givens=[(x, c * 10), (y, 5)])
    out = ff(2)
    assert out == 45.0 and out.dtype == np.float64


def test_shared_in_expression_and_resize():
    x = T.dscalar("x")
    b = theano.shared(numpy.array([1, 2, 3, 4, 5]))
    f = theano.function([x], b * x)
    np.testing.assert_array_equal(f(2), [2.0, 4.0, 6.0, 8.0, 10.0])
    np.testing.assert_array_equal(b.get_value(), [1, 2, 3, 4, 5])
    b.set_value([10, 11, 12])
    np.testing.assert_array_equal(f(2), [20.0, 22.0, 24.0])


def test_counter_updates():
    c = theano.shared(0)
    f = theano.function([], c, updates={c: c + 1})
    outs = [f(), f(), f()]
    assert [int(o) for o in outs] == [0, 1, 2]
    assert all(o.shape == () for o in outs)
    assert c.get_value() == 3


def test_gradient_descent_on_c():
    x = T.dvector("x")
    c = theano.shared(0.0)
    y = T.sum((x - c) ** 2)
    gc = T.grad(y, c)
    d2 = theano.function([x], y, updates={c: c - 0.05 * gc})
    printed = [(55.0, 1.5), (21.25, 2.25), (12.8125, 2.625)]
    for cost, cval in printed:
        assert d2([1, 2, 3, 4, 5]) == cost
        assert c.get_value() == cval


def test_lookup_table_with_inc_subtensor():
    rng = np.random.default_rng(0)
    table0 = rng.standard_normal((6, 3))
    lookup_table = theano.shared(table0.copy(), name="lookup_table")
    vector_of_indices = T.lvector("idx")
    subset = lookup_table[vector_of_indices]
    target = T.dmatrix("target")
    cost = T.sum((subset - target) ** 2)
    g = T.grad(cost, subset)
    lr = 0.1
    f = theano.function([vector_of_indices, target], cost,
                        updates=[(lookup_table, T.inc_subtensor(subset, -lr * g))])
    f2 = theano.function([vector_of_indices, target], cost,
                         updates=[(lookup_table, T.set_subtensor(subset, subset - lr * g))])
    idx = np.array([1, 4, 1])  # a repeated row accumulates, like numpy.add.at
    tgt = rng.standard_normal((3, 3))
    expected_cost = np.sum((table0[idx] - tgt) ** 2)
    assert f(idx, tgt) == pytest.approx(expected_cost)
    oracle = table0.copy()
    np.add.at(oracle, idx, -lr * 2 * (table0[idx] - tgt))
    np.testing.assert_allclose(lookup_table.get_value(), oracle, rtol=1e-12)
    untouched = [0, 2, 3, 5]
    np.testing.assert_array_equal(lookup_table.get_value()[untouched], table0[untouched])

    lookup_table.set_value(table0.copy())
    idx2 = np.array([0, 3])
    f2(idx2, tgt[:2])
    oracle2 = table0.copy()
    oracle2[idx2] = table0[idx2] - lr * 2 * (table0[idx2] - tgt[:2])
    np.testing.assert_allclose(lookup_table.get_value(), oracle2, rtol=1e-12)


def test_neuron_prints_float32_array_under_floatx_float32():
    old = theano.config.floatX
    theano.config.floatX = "float32"
    try:
        x = T.vector(dtype=theano.config.floatX)
        w = T.vector(dtype=theano.config.floatX)
        b = T.scalar(dtype=theano.config.floatX)
        y = 1 / (1 + T.exp(-(T.dot(w, x) + b)))
        neuron = theano.function(inputs=[x, w, b], outputs=[y])
        xv = np.random.RandomState(123456789).rand(2).astype(np.float32)
        out = neuron(xv, [-1, 1], 0)
        assert isinstance(out, list) and out[0].dtype == np.float32 and out[0].shape == ()
        # The seed prints 0.50032586: Theano's C code evaluates exp of a float32 in double.
        np.testing.assert_allclose(out[0], 0.50032586, rtol=2e-7)
        g = T.grad(T.scalar() * T.scalar(), [])  # empty wrt list is allowed
        assert g == []
    finally:
        theano.config.floatX = old
