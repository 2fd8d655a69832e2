"""grad / jacobian / hessian: the API around reverse mode (op gradients are tested per family)."""

import warnings

import numpy as np
import pytest

import eggflow as ef
import eggflow.tensor as T
from eggflow.frontend.evaluate import evaluate
from eggflow.frontend.grad import DisconnectedInputError


def test_grad_single_list_and_shared():
    x = T.dvector("x")
    w = ef.shared(np.array([1.0, 2.0, 3.0]), "w")
    cost = T.sum(T.exp(x) * w)
    gx = T.grad(cost, x)
    assert not isinstance(gx, list)
    gx2, gw = T.grad(cost, [x, w])
    xv = np.array([0.1, -0.2, 0.3])
    vx, vw = evaluate([gx2, gw], {x: xv})
    np.testing.assert_allclose(vx, np.exp(xv) * w.get_value())
    np.testing.assert_allclose(vw, np.exp(xv))
    assert gx is gx2  # hash-consing: the same graph twice is the same node
    assert T.grad(cost, (x,))[0] is gx


def test_grad_wrt_intermediate():
    x = T.dvector("x")
    h = T.tanh(x)
    cost = T.sum(h**2)
    gh = T.grad(cost, h)
    xv = np.array([0.3, -1.0])
    np.testing.assert_allclose(evaluate([gh], {x: xv})[0], 2 * np.tanh(xv))


def test_shared_subexpression_contributions_are_summed():
    x = T.dscalar("x")
    y = x * x
    cost = y + T.sin(y) + y * y
    xv = 0.7
    expected = 2 * xv + np.cos(xv**2) * 2 * xv + 4 * xv**3
    assert float(evaluate([T.grad(cost, x)], {x: xv})[0]) == pytest.approx(expected, rel=1e-12)


def test_second_derivative_by_grad_of_grad():
    x = T.dscalar("x")
    y = T.sin(x) * x**3
    g2 = T.grad(T.grad(y, x), x)
    xv = 0.4
    expected = -np.sin(xv) * xv**3 + 6 * np.cos(xv) * xv**2 + 6 * xv * np.sin(xv)
    assert float(evaluate([g2], {x: xv})[0]) == pytest.approx(expected, rel=1e-12)


def test_disconnected_inputs():
    x, y = T.dscalars("x", "y")
    cost = x**2
    with pytest.raises(DisconnectedInputError, match="does not depend on y"):
        T.grad(cost, [x, y])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gx, gy = T.grad(cost, [x, y], disconnected_inputs="warn")
    assert any("disconnected" in str(w.message) for w in caught)
    assert float(evaluate([gy], {x: 1.0, y: 2.0})[0]) == 0.0
    gx, gy = T.grad(cost, [x, y], disconnected_inputs="ignore")
    assert float(evaluate([gx], {x: 3.0})[0]) == 6.0
    assert T.grad(cost, y, disconnected_inputs="ignore", return_disconnected="None") is None
    with pytest.raises(ValueError, match="disconnected_inputs"):
        T.grad(cost, x, disconnected_inputs="sometimes")


def test_grad_errors():
    x = T.dvector("x")
    with pytest.raises(TypeError, match="cost must be a scalar"):
        T.grad(x * 2, x)
    i = T.iscalar("i")
    with pytest.raises(TypeError, match="integer"):
        T.grad(T.cast(i, "float64") * 2, i)
    with pytest.raises(TypeError, match="integer"):
        T.grad(T.sum(T.cast(x, "int64")), x)
    with pytest.raises(TypeError, match="symbolic variables"):
        T.grad(T.sum(x), [x, 3.0])


def test_integer_paths_carry_no_gradient():
    x = T.dvector("x")
    cost = T.sum(x * T.cast(x > 0, "float64"))  # the mask is piecewise constant
    xv = np.array([-1.0, 2.0])
    np.testing.assert_array_equal(evaluate([T.grad(cost, x)], {x: xv})[0], [0.0, 1.0])


def test_consider_constant():
    x = T.dscalar("x")
    y = x**2
    cost = y * x
    g = T.grad(cost, x, consider_constant=[y])
    assert float(evaluate([g], {x: 3.0})[0]) == 9.0


def test_gradient_dtype_follows_wrt():
    x = T.fvector("x")
    cost = T.sum(T.cast(x, "float64") ** 2)
    g = T.grad(cost, x)
    assert g.dtype == "float32"


def test_jacobian_and_hessian():
    x = T.dvector("x")
    y = x**2 * T.sum(x)
    J = ef.jacobian(y, x)
    xv = np.array([0.5, -1.0, 2.0])
    s = xv.sum()
    expected = np.diag(2 * xv * s) + (xv**2)[:, None]
    np.testing.assert_allclose(ef.function([x], J)(xv), expected, rtol=1e-12)
    cost = T.sum(x**3) + T.prod(x)
    H = ef.hessian(cost, x)
    Hv = ef.function([x], H)(xv)
    a, b, c = xv
    expected_h = np.diag(6 * xv) + np.array([[0, c, b], [c, 0, a], [b, a, 0]])
    np.testing.assert_allclose(Hv, expected_h, rtol=1e-12)
    m = T.dmatrix("m")
    Jm = ef.jacobian(T.tanh(m), m)  # a matrix expression is flattened
    mv = np.array([[0.1, 0.2], [0.3, 0.4]])
    out = ef.function([m], Jm)(mv)
    assert out.shape == (4, 2, 2)
    np.testing.assert_allclose(out.reshape(4, 4), np.diag((1 - np.tanh(mv) ** 2).ravel()))
    jl = ef.jacobian(T.sum(x**2), [x])  # scalar expression: the gradient
    np.testing.assert_allclose(ef.function([x], jl[0])(xv), 2 * xv)
    with pytest.raises(TypeError, match="vectors"):
        ef.hessian(T.sum(m), m)
