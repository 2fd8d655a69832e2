"""TensorType, the typed constructors (T.dscalar ... T.ctensor7, plurals, T.tensor), constants,
as_tensor_variable, and the config flags (floatX at run time, EGGFLOW_FLAGS)."""

import os
import subprocess
import sys

import numpy as np
import pytest

import eggflow as ef
import eggflow.tensor as T
from eggflow.frontend.config import Config
from eggflow.frontend.graph import wildcard
from eggflow.frontend.types import TensorType

PREFIXES = {"b": "int8", "w": "int16", "i": "int32", "l": "int64", "f": "float32",
            "d": "float64", "c": "complex128"}
KINDS = {"scalar": (), "vector": (None,), "matrix": (None, None), "row": (1, None),
         "col": (None, 1), "tensor3": (None,) * 3, "tensor4": (None,) * 4,
         "tensor5": (None,) * 5, "tensor6": (None,) * 6, "tensor7": (None,) * 7}
PLURAL = {"matrix": "matrices"}


@pytest.fixture
def floatx32():
    """Switch config.floatX to float32 for one test, and restore it whatever happens."""
    old = ef.config.floatX
    ef.config.floatX = "float32"
    try:
        yield
    finally:
        ef.config.floatX = old


# -- TensorType ----------------------------------------------------------------------------
@pytest.mark.parametrize("spelling,name", [
    ("float64", "float64"), (np.float32, "float32"), (np.dtype("int16"), "int16"),
    ("f8", "float64"), ("i4", "int32"), (float, "float64"), (bool, "bool"),
    (complex, "complex128"), ("uint8", "uint8"), ("complex64", "complex64")])
def test_dtype_normalisation(spelling, name):
    assert TensorType(spelling, ()).dtype == name


def test_floatx_dtype_follows_config(floatx32):
    assert TensorType("floatX", (None,)).dtype == "float32"
    ef.config.floatX = "float64"
    assert TensorType("floatX", (None,)).dtype == "float64"


@pytest.mark.parametrize("bad,match", [("float16", "not supported"), ("foo", "not a dtype"),
                                       (object, "not supported"), ("U3", "not supported"),
                                       ("datetime64", "not supported")])
def test_bad_dtypes(bad, match):
    with pytest.raises(TypeError, match=match):
        TensorType(bad, ())


def test_shape_normalisation_and_properties():
    t = TensorType(np.float64, [None, np.int64(1), 3])
    assert t.shape == (None, 1, 3) and type(t.shape[1]) is int
    assert t.ndim == 3 and t.broadcastable == (False, True, False)
    assert t == TensorType("float64", (None, 1, 3)) and hash(t) == hash(TensorType("f8",
                                                                                   (None, 1, 3)))
    assert t != TensorType("float32", (None, 1, 3)) and t != TensorType("float64", (None, 1, 4))
    assert not t.is_wild()
    wild = TensorType(None, None)
    assert wild.ndim is None and wild.broadcastable is None and wild.is_wild()
    assert TensorType("float64", None).is_wild() and TensorType(None, (2,)).is_wild()
    assert TensorType("int8", ()).broadcastable == ()


@pytest.mark.parametrize("bad,error", [((-1,), ValueError), ((2.5,), ValueError),
                                       (("a",), ValueError), (3, TypeError),
                                       ((True, False), TypeError), ("ab", TypeError)], ids=str)
def test_bad_shapes(bad, error):
    with pytest.raises(error, match="shape"):
        TensorType("float64", bad)


@pytest.mark.parametrize("t,text", [
    (TensorType("float64", ()), "Tensor(float64, ())"),
    (TensorType("float32", (None,)), "Tensor(float32, (?,))"),
    (TensorType("int8", (1, None)), "Tensor(int8, (1, ?))"),
    (TensorType("bool", (2, 3, None)), "Tensor(bool, (2, 3, ?))"),
    (TensorType(None, (None,)), "Tensor(?, (?,))"),
    (TensorType("float64", None), "Tensor(float64, ndim=?)"),
    (TensorType(None, None), "Tensor(?, ndim=?)")])
def test_str(t, text):
    assert str(t) == text


def test_check_value():
    t = TensorType("float64", (None, 3))
    t.check_value(np.zeros((5, 3)), "x")
    t.check_value(np.zeros((0, 3)), "x")
    with pytest.raises(TypeError, match=r"x: expected 2 dimensions .*shape \(3,\)"):
        t.check_value(np.zeros(3), "x")
    with pytest.raises(ValueError, match=r"input y: expected size 3 on axis 1.*\(5, 4\)"):
        t.check_value(np.zeros((5, 4)), "input y")
    TensorType("float64", None).check_value(np.zeros((2, 2, 2)), "any")  # wildcard: anything
    TensorType("float64", ()).check_value(np.float64(1.0), "s")


# -- typed constructors --------------------------------------------------------------------
CONSTRUCTORS = [(p + k, d, s) for p, d in PREFIXES.items() for k, s in KINDS.items()]


@pytest.mark.parametrize("name,dtype,shape", CONSTRUCTORS, ids=[c[0] for c in CONSTRUCTORS])
def test_prefixed_constructor(name, dtype, shape):
    make = getattr(T, name)
    x = make("x")
    assert x.dtype == dtype and x.type.shape == shape and x.ndim == len(shape)
    assert x.op == "input" and x.name == "x" and repr(x) == "x"
    assert make.__name__ == name
    y = make()
    assert y.name is None and y is not make() and repr(y) == f"<input {y.type}>"
    assert make(name="z", dtype=dtype).dtype == dtype  # its own dtype may be repeated
    other = "float64" if dtype != "float64" else "float32"
    with pytest.raises(TypeError, match=f"makes {dtype} variables"):
        make("x", dtype=other)


@pytest.mark.parametrize("prefix", list(PREFIXES))
@pytest.mark.parametrize("kind", list(KINDS))
def test_plural_constructor(prefix, kind):
    plural = getattr(T, prefix + PLURAL.get(kind, kind + "s"))
    a, b, c = plural("a", "b", "c")
    assert [v.name for v in (a, b, c)] == ["a", "b", "c"]
    assert len({a, b, c}) == 3
    for v in (a, b, c):
        assert v.dtype == PREFIXES[prefix] and v.type.shape == KINDS[kind]
    (single,) = plural("only")  # always a list, even for one name
    assert single.name == "only"
    unnamed = plural(2)  # Theano: an int gives that many unnamed variables
    assert len(unnamed) == 2 and all(v.name is None for v in unnamed)
    assert len(plural(n=3)) == 3 and plural() == []


def test_common_plural_spellings():
    x, y = T.dscalars("x", "y")
    assert (x.dtype, y.dtype, x.ndim, x.name, y.name) == ("float64", "float64", 0, "x", "y")
    a, b, c = T.dmatrices("a", "b", "c")
    assert a.type == TensorType("float64", (None, None)) and c.name == "c"
    u, v = T.fvectors(2)
    assert u.type == TensorType("float32", (None,)) and u is not v
    p, q = T.irows("p", "q")
    assert p.type.shape == (1, None) and q.dtype == "int32"
    with pytest.raises(TypeError, match="must be a string"):
        T.dscalars("x", 3)


@pytest.mark.parametrize("kind", list(KINDS))
def test_generic_constructor_follows_floatx(kind, floatx32):
    make = getattr(T, kind)
    assert make("x").dtype == "float32" and make("x").type.shape == KINDS[kind]
    assert make("x", dtype="int32").dtype == "int32"
    assert make(name="x", dtype="floatX").dtype == "float32"
    assert make(dtype=np.float64).dtype == "float64"
    assert getattr(T, PLURAL.get(kind, kind + "s"))("a", "b")[1].dtype == "float32"
    ef.config.floatX = "float64"  # read at call time, not at import
    assert make().dtype == "float64"
    assert getattr(T, "f" + kind)().dtype == "float32"  # prefixed ones never change


def test_generic_constructor_default_and_shape():
    assert T.matrix().dtype == ef.config.floatX == "float64"
    x = T.matrix("x", shape=(3, None))
    assert x.type.shape == (3, None)
    assert T.dvector(shape=(4,)).type.shape == (4,)
    with pytest.raises(ValueError, match="2 entries"):
        T.matrix(shape=(3,))
    with pytest.raises(TypeError, match="must be a string"):
        T.vector(3)
    with pytest.raises(TypeError, match="not supported"):
        T.vector("x", dtype="float16")


def test_tensor_constructor(floatx32):
    x = T.tensor("float64", shape=(None, 1), name="x")
    assert x.type == TensorType("float64", (None, 1)) and x.broadcastable == (False, True)
    assert repr(x) == "x"
    assert T.tensor(shape=(2, None)).dtype == "float32"  # floatX
    assert T.tensor((None, None, 1)).type == TensorType("float32", (None, None, 1))
    assert T.tensor("int8", broadcastable=(True, False)).type.shape == (1, None)
    assert T.tensor(np.int16, shape=()).type == TensorType("int16", ())
    with pytest.raises(TypeError, match="shape"):
        T.tensor("float64")
    # Theano's positional broadcastable pattern
    assert T.tensor("float64", (True, False)).type == TensorType("float64", (1, None))
    with pytest.raises(ValueError, match="non-negative"):
        T.tensor("float64", shape=(-2,))


def test_node_type_facts():
    r = T.frow("r")
    assert (r.dtype, r.ndim, r.broadcastable) == ("float32", 2, (True, False))
    w = wildcard("w")
    assert w.dtype is None and w.ndim is None and w.broadcastable is None


# -- constants and as_tensor_variable ------------------------------------------------------
@pytest.mark.parametrize("value,dtype,weak", [
    (2, "int64", True), (2.5, "float64", True), (1j, "complex128", True),
    (True, "bool", False), (np.float32(2.5), "float32", False), (np.int8(3), "int8", False),
    ([1, 2], "int64", False), (np.zeros((2, 3), np.float32), "float32", False)], ids=repr)
def test_constant_weak_and_strong(value, dtype, weak):
    c = T.constant(value)
    assert c.op == "constant" and c.dtype == dtype and c.attrs["weak"] is weak
    assert c.type.shape == np.shape(value)
    np.testing.assert_array_equal(c.data, value)
    assert c.data.dtype == dtype


@pytest.mark.parametrize("value,dtype", [(2, "float32"), (0.1, "float32"), (2.0, "int32"),
                                         ([1, 0], "bool"), (np.float64(0.5), "float32"),
                                         (3, "uint8"), (1e30, "float32"), (1 + 0j, "float64"),
                                         (float("inf"), "float32"), (np.arange(3.0), "int16")],
                         ids=repr)
def test_constant_with_dtype_is_strong(value, dtype):
    c = T.constant(value, dtype=dtype)
    assert c.dtype == dtype and c.attrs["weak"] is False
    expected = np.asarray(value).real if np.dtype(dtype).kind != "c" else np.asarray(value)
    np.testing.assert_allclose(c.data, expected.astype(dtype), rtol=1e-7)
    assert (T.fvector() + c).dtype == np.result_type(np.float32, np.dtype(dtype)).name


@pytest.mark.parametrize("value,dtype", [(300, "int8"), (-1, "uint8"), (0.5, "int32"),
                                         (1e40, "float32"), (float("nan"), "int64"),
                                         ([1, 2.5], "int64"), (1 + 2j, "float64"),
                                         (np.array([1 + 1j]), "float32"), (2, "int8x"),
                                         (np.array(300), "int8"), (2, "float16")], ids=repr)
def test_lossy_constant_refused(value, dtype):
    with pytest.raises(TypeError):
        T.constant(value, dtype=dtype)


def test_constant_errors_and_identity():
    x = T.dvector("x")
    with pytest.raises(TypeError, match="needs a value"):
        T.constant(x)
    for bad in ("abc", None, [1, "a"], {"a": 1}):
        with pytest.raises(TypeError, match="cannot make a tensor constant"):
            T.constant(bad)
    source = np.array([1.0, 2.0])
    c = T.constant(source)
    source[0] = 9.0  # the constant keeps its own read-only copy
    assert c.data[0] == 1.0 and not c.data.flags.writeable
    assert T.constant(np.array([1.0, 2.0])) is c  # hash-consed by value
    assert T.constant(np.array([1.0, 2.0], np.float32)) is not c
    with pytest.raises(AttributeError, match="only constants"):
        x.data


def test_constant_names_and_repr():
    assert repr(T.constant(2.5)) == "2.5" and repr(T.constant(np.zeros((2, 3)))) == "array(2, 3)"
    named = T.constant(123.25, name="k")
    assert repr(named) == "k" and str(named + T.dscalar("s")) == "add(k, s)"
    x, y = T.dmatrices("x", "y")
    assert repr(T.exp(x) * y) == "mul(exp(x), y)"
    assert repr(T.round(x, "half_away_from_zero")) == "round(x, mode='half_away_from_zero')"
    assert repr(x.copy(name="x_copy")) == "x_copy"


def test_as_tensor_variable():
    x = T.dmatrix("x")
    assert T.as_tensor_variable(x) is x
    assert T.as_tensor_variable(x, ndim=2) is x
    with pytest.raises(TypeError, match="expected a 1-d tensor"):
        T.as_tensor_variable(x, ndim=1)
    assert T.as_tensor_variable(1.5) is T.constant(1.5)
    v = T.as_tensor_variable([[1, 2], [3, 4]])
    assert v.op == "constant" and v.type == TensorType("int64", (2, 2))
    s = T.as_tensor_variable(3, dtype="float32")
    assert s.dtype == "float32" and s.attrs["weak"] is False
    with pytest.raises(TypeError, match="expected a 0-d tensor"):
        T.as_tensor_variable([1.0, 2.0], ndim=0)
    w = wildcard("w")
    assert T.as_tensor_variable(w, ndim=3) is w  # unknown ndim: nothing to check


# -- config --------------------------------------------------------------------------------
def test_apply_flags():
    cfg = Config()
    assert (cfg.floatX, cfg.mode, cfg.device) == ("float64", "FAST_RUN", "cpu")
    cfg.apply_flags("floatX=float32,mode=FAST_COMPILE")
    assert (cfg.floatX, cfg.mode) == ("float32", "FAST_COMPILE")
    cfg.apply_flags(" device = cuda , , compiledir=/tmp/eggflow-test ,")
    assert (cfg.device, cfg.compiledir) == ("cuda", "/tmp/eggflow-test")
    cfg.apply_flags("")
    assert cfg.floatX == "float32"


@pytest.mark.parametrize("flags,error,match", [
    ("floatX=float16", ValueError, "floatX must be one of"),
    ("mode=FAST", ValueError, "mode must be one of"),
    ("device=tpu", ValueError, "device must be one of"),
    ("optimizer=fast", AttributeError, "no flag 'optimizer'"),
    ("floatX", ValueError, "not of the form name=value"),
    ("floatX=float32,mode", ValueError, "'mode' is not of the form")], ids=str)
def test_apply_flags_errors(flags, error, match):
    with pytest.raises(error, match=match):
        Config().apply_flags(flags)


def test_setting_bad_values_on_global_config():
    old = ef.config.floatX
    with pytest.raises(ValueError, match="float64"):
        ef.config.floatX = "float16"
    with pytest.raises(ValueError, match="FAST_RUN"):
        ef.config.mode = "fast"
    with pytest.raises(AttributeError, match="no flag"):
        ef.config.floatx = "float32"  # a typo must not pass silently
    assert ef.config.floatX == old
    assert T.config is ef.config


def test_eggflow_flags_environment_variable():
    code = ("import eggflow as ef, eggflow.tensor as T; "
            "print(ef.config.floatX, ef.config.mode, T.vector().dtype)")
    env = dict(os.environ, EGGFLOW_FLAGS="floatX=float32,mode=FAST_COMPILE")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.split() == ["float32", "FAST_COMPILE", "float32"]
