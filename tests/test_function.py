"""eggflow.function: outputs, updates, givens, input conversion, aliasing, and every error."""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import eggflow as ef
import eggflow.tensor as T


def test_output_forms():
    x = T.dvector("x")
    assert isinstance(ef.function([x], x * 2)([1.0]), np.ndarray)
    outs = ef.function([x], [x * 2, x + 1])([1.0, 2.0])
    assert isinstance(outs, list) and len(outs) == 2
    np.testing.assert_array_equal(outs[1], [2.0, 3.0])
    assert ef.function([x], None, on_unused_input="ignore")([1.0]) == []
    assert ef.function([x], [], on_unused_input="ignore")([1.0]) == []
    np.testing.assert_array_equal(ef.function([x], [x * 2])([3.0])[0], [6.0])


def test_call_by_name_and_errors_on_argument_count():
    x, y = T.dscalars("x", "y")
    f = ef.function([x, y], x - y)
    assert f(y=1.0, x=3.0) == 2.0
    assert f(3.0, y=1.0) == 2.0
    with pytest.raises(TypeError, match=r"takes 2 arguments \(x, y\), got 3"):
        f(1.0, 2.0, 3.0)
    with pytest.raises(TypeError, match="missing: y"):
        f(1.0)
    with pytest.raises(TypeError, match="no input named 'z'"):
        f(1.0, z=2.0)
    with pytest.raises(TypeError, match="given twice"):
        f(1.0, x=2.0)


def test_wrong_ndim_and_static_shape():
    x = T.dmatrix("x")
    f = ef.function([x], x.sum())
    with pytest.raises(TypeError, match=r"input 0 \(x\).*expected 2 dimensions.*shape \(3,\)"):
        f(np.ones(3))
    r = T.drow("r")
    g = ef.function([r], r * 2)
    with pytest.raises(ValueError, match=r"\(r\).*expected size 1 on axis 0"):
        g(np.ones((2, 3)))
    np.testing.assert_array_equal(g(np.ones((1, 3))), 2 * np.ones((1, 3)))


def test_non_broadcastable_shapes_at_call_time():
    x, y = T.dvector("x"), T.dvector("y")
    f = ef.function([x, y], x + y)
    with pytest.raises(ValueError, match=r"add\(x, y\).*x: shape \(2,\).*y: shape \(3,\)"):
        f(np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match="does not declare that axis broadcastable"):
        f(np.ones(1), np.ones(3))  # Theano semantics: only static-1 axes broadcast


def test_input_dtype_conversion_rules():
    xf = T.fvector("xf")
    f = ef.function([xf], xf * 2)
    assert f([1.0, 2.0]).dtype == np.float32  # exact Python floats are accepted
    with pytest.raises(TypeError, match=r"\(xf\).*dtype float64.*allow_input_downcast"):
        f(np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match="without loss"):
        f([0.1])
    g = ef.function([xf], xf * 2, allow_input_downcast=True)
    np.testing.assert_allclose(g(np.array([0.1])), np.float32(0.1) * 2)
    assert f(np.array([1, 2], dtype=np.int8)).dtype == np.float32  # safe upcast
    i = T.ivector("i")
    h = ef.function([i], i + 1)
    assert h([1, 2]).dtype == np.int32
    with pytest.raises(TypeError, match="int64"):
        h(np.array([1, 2], dtype=np.int64))
    with pytest.raises(TypeError, match="without loss"):
        h([1.5])
    with pytest.raises(TypeError, match="expected numbers"):
        h(["a"])
    with pytest.raises(TypeError, match="symbolic variable"):
        h(i)


def test_python_float_into_floatx_is_allowed():
    old = ef.config.floatX
    ef.config.floatX = "float32"
    try:
        x = T.scalar("x")
        f = ef.function([x], x + 1)
        out = f(0.1)
        assert out.dtype == np.float32 and out == np.float32(0.1) + np.float32(1)
        with pytest.raises(TypeError):
            ef.function([x], x + 1, allow_input_downcast=False)(0.1)
    finally:
        ef.config.floatX = old


def test_updates_use_old_values_and_apply_together():
    a, b = ef.shared(1.0, "a"), ef.shared(2.0, "b")
    swap = ef.function([], [a, b], updates=[(a, b), (b, a)])
    out = swap()
    assert [float(o) for o in out] == [1.0, 2.0]
    assert a.get_value() == 2.0 and b.get_value() == 1.0
    swap()
    assert a.get_value() == 1.0 and b.get_value() == 2.0


def test_update_type_errors():
    w = ef.shared(np.zeros(3), "w")
    v = T.fvector("v")
    with pytest.raises(TypeError, match=r"update for w must have type .*float64.*float32"):
        ef.function([v], updates=[(w, v)])
    m = T.dmatrix("m")
    with pytest.raises(TypeError, match="update for w"):
        ef.function([m], updates={w: m})
    with pytest.raises(TypeError, match="not a shared variable"):
        ef.function([v], updates=[(v, v)])
    with pytest.raises(ValueError, match="updated twice"):
        ef.function([], updates=[(w, w + 1), (w, w * 2)])
    with pytest.raises(TypeError, match="dict or a list"):
        ef.function([], updates=5)
    c = ef.shared(0)
    f = ef.function([], updates={c: 7})  # a number becomes a constant of the shared's type
    f()
    assert c.get_value() == 7 and c.get_value().dtype == np.int64


def test_failed_call_leaves_shared_values_unchanged():
    w = ef.shared(np.arange(3.0), "w")
    b = ef.shared(np.arange(2.0), "b")
    x = T.dvector("x")
    f = ef.function([x], (w * x).sum(), updates=[(b, b + 1), (w, w * x)])
    f(np.ones(3))
    np.testing.assert_array_equal(b.get_value(), [1.0, 2.0])
    before_w, before_b = w.get_value(), b.get_value()
    with pytest.raises(ValueError):
        f(np.ones(4))  # w * x fails after b + 1 could have been computed
    np.testing.assert_array_equal(w.get_value(), before_w)
    np.testing.assert_array_equal(b.get_value(), before_b)
    with pytest.raises(TypeError):
        f(np.ones(3, dtype=np.complex128))  # refused at conversion
    np.testing.assert_array_equal(b.get_value(), before_b)


def test_outputs_never_alias_storage():
    w = ef.shared(np.arange(3.0), "w")
    x = T.dvector("x")
    f = ef.function([x], [w, x, w.T, x.dimshuffle(0, "x")], on_unused_input="ignore")
    xv = np.ones(3)
    outs = f(xv)
    for o in outs:
        o[...] = -5
    np.testing.assert_array_equal(w.get_value(), [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(xv, np.ones(3))
    g = ef.function([x], [x + 1, x + 1])  # one node, two outputs: two arrays
    o1, o2 = g(xv)
    assert o1 is not o2
    c = ef.shared(np.zeros(2))
    h = ef.function([], c + 1, updates={c: c + 1})  # output and update are the same node
    out = h()
    out[...] = 99
    np.testing.assert_array_equal(c.get_value(), [1.0, 1.0])


def test_givens_rules():
    x, y = T.dscalars("x", "y")
    z = T.dscalar("z")
    with pytest.raises(ValueError, match="z is not in the graph"):
        ef.function([x], x * 2, givens={z: x})
    v = T.dvector("v")
    with pytest.raises(TypeError, match="givens replacement for y must have type"):
        ef.function([x, v], x * y, givens={y: v})
    f = ef.function([x], x * y, givens={y: x + 1})
    assert f(2.0) == 6.0
    w = ef.shared(3.0, "w")
    g = ef.function([x], x * w, givens=[(w, x)])
    assert g(4.0) == 16.0


def test_missing_and_unused_inputs():
    x, y = T.dscalars("x", "y")
    with pytest.raises(ef.MissingInputError, match="depend on y"):
        ef.function([x], x + y)
    with pytest.raises(ef.UnusedInputError, match="y are not used"):
        ef.function([x, y], x * 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = ef.function([x, y], x * 2, on_unused_input="warn")
    assert any("not used" in str(w.message) for w in caught)
    assert f(1.0, 5.0) == 2.0
    assert ef.function([x, y], x * 2, on_unused_input="ignore")(1.0, 2.0) == 2.0
    with pytest.raises(ValueError, match="on_unused_input"):
        ef.function([x], x, on_unused_input="maybe")


def test_bad_inputs_lists():
    x = T.dscalar("x")
    w = ef.shared(1.0, "w")
    with pytest.raises(TypeError, match="shared variable"):
        ef.function([w], w * 2)
    with pytest.raises(TypeError, match="symbolic input variable"):
        ef.function([x * 2], x)
    with pytest.raises(ValueError, match="more than once"):
        ef.function([x, x], x)
    with pytest.raises(TypeError, match="must be a list"):
        ef.function(x, x)


def test_shared_variable_semantics():
    value = np.arange(4.0)
    s = ef.shared(value, "s")
    value[0] = 100  # shared copied the value (borrow=False)
    assert s.get_value()[0] == 0
    got = s.get_value()
    got[1] = 100
    assert s.get_value()[1] == 1
    assert s.get_value(borrow=True) is s.get_value(borrow=True)
    s.set_value([1, 2, 3, 4, 5, 6])  # ints cast to float64; the length may change
    assert s.get_value().dtype == np.float64 and s.get_value().shape == (6,)
    with pytest.raises(TypeError, match="expected 1 dimensions"):
        s.set_value(np.ones((2, 2)))
    i = ef.shared(np.arange(3), "i")
    with pytest.raises(TypeError, match="without loss"):
        i.set_value([1.5, 2.0])
    i.set_value([1.0, 2.0])
    assert i.get_value().dtype == np.int64
    p = ef.shared(0.5)
    assert p.get_value().shape == () and p.get_value().dtype == np.float64
    assert ef.shared(3).get_value().dtype == np.int64
    with pytest.raises(TypeError):
        ef.shared("text")
    with pytest.raises(TypeError, match="unexpected keyword"):
        ef.shared(1.0, strictly=True)
    bias = ef.shared(np.zeros((1, 3)), "bias", broadcastable=(True, False))
    x = T.dmatrix("x")
    np.testing.assert_array_equal(ef.function([x], x + bias)(np.ones((2, 3))), np.ones((2, 3)))
    with pytest.raises(ValueError, match="expected size 1"):
        bias.set_value(np.zeros((2, 3)))


def test_trust_input_skips_conversion():
    x = T.dvector("x")
    f = ef.function([x], x * 2)
    f.trust_input = True
    np.testing.assert_array_equal(f(np.array([1.0, 2.0])), [2.0, 4.0])


def test_modes():
    x = T.dvector("x")
    for mode in ["FAST_RUN", "FAST_COMPILE", "DebugMode", ef.Mode(optimizer=None)]:
        np.testing.assert_allclose(ef.function([x], T.exp(x), mode=mode)([0.0, 1.0]),
                                   [1.0, np.e])
    with pytest.raises(ValueError, match="unknown mode"):
        ef.function([x], x, mode="FASTEST")
    with pytest.raises(ValueError, match="backend"):
        ef.Mode(backend="fortran")
    f = ef.function([x], x + 1)
    assert "mode FAST_RUN" in str(f.report)


def test_config_flags_from_environment():
    code = ("import eggflow as ef, eggflow.tensor as T; "
            "print(ef.config.floatX, ef.config.mode, T.scalar().dtype)")
    env = dict(os.environ, EGGFLOW_FLAGS="floatX=float32,mode=FAST_COMPILE")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["float32", "FAST_COMPILE", "float32"]
    env["EGGFLOW_FLAGS"] = "floatX=float16"
    bad = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "floatX must be one of" in bad.stderr
    with pytest.raises(AttributeError, match="no flag"):
        ef.config.floatx = "float32"


def test_eval_shortcut():
    x = T.dscalar("x")
    assert (x * 3).eval({x: 2.0}) == 6.0
