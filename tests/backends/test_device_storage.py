"""Shared variables kept on the device, device inputs and outputs: ``function``'s side of the
CUDA backend (issue 7), without a GPU.

These run in the CUDA backend's dry run (``EGGFLOW_CUDA_DRY_RUN=1``): functions are compiled
for the GPU (lowered, CUDA emitted) but the values come from the reference executor on host
copies, and a "device array" is a ``HostDeviceArray`` (a host array behind pycuda GPUArray's
interface). What is tested is everything around the kernels: where values live across calls
and updates, how many uploads happen, what ``get_value`` / ``set_value`` / call arguments
accept and refuse, that a failing call changes nothing. The kernels themselves are tested on
a GPU by tests/backends/test_cuda.py. Every training result is compared with the same program
on the C backend (an independent executor).
"""

from __future__ import annotations

import numpy as np
import pytest

import eggflow as ef
import eggflow.tensor as T
from eggflow.backends import cuda_backend
from eggflow.backends.cuda_backend import HostDeviceArray as FakeGPUArray


class Recorder:
    """Counts uploads (of values from outside a call: the dry run's thunk itself uploads the
    results a GPU would have computed there); records, per call, whether each argument was a
    device array."""

    def __init__(self, monkeypatch):
        self.uploads, self.in_call = 0, False
        self.calls: list[list[str]] = []
        upload, call = cuda_backend.to_device, cuda_backend.HostThunk.__call__

        def to_device(array):
            self.uploads += not self.in_call
            return upload(array)

        def recording_call(thunk, values):
            self.calls.append(["device" if isinstance(v, FakeGPUArray) else "host"
                               for v in values])
            self.in_call = True
            try:
                return call(thunk, values)
            finally:
                self.in_call = False

        monkeypatch.setattr(cuda_backend, "to_device", to_device)
        monkeypatch.setattr(cuda_backend.HostThunk, "__call__", recording_call)


@pytest.fixture
def device(monkeypatch):
    monkeypatch.setenv(cuda_backend.DRY_RUN_ENV, "1")
    return Recorder(monkeypatch)


CUDA = ef.Mode(backend="cuda", optimizer=None)
C = ef.Mode(backend="c", optimizer=None)


def logreg(mode, w0, b0):
    """Theano's logistic-regression training step; returns (train, w, b)."""
    x, y = T.dmatrix("x"), T.dvector("y")
    w, b = ef.shared(w0.copy(), name="w"), ef.shared(b0, name="b")
    p = T.nnet.sigmoid(T.dot(x, w) + b)
    cost = T.mean(T.nnet.binary_crossentropy(p, y)) + 0.01 * (w ** 2).sum()
    gw, gb = T.grad(cost, [w, b])
    train = ef.function([x, y], cost, updates=[(w, w - 0.1 * gw), (b, b - 0.1 * gb)], mode=mode)
    return train, w, b


def data(n=40, k=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, k)), (rng.random(n) > 0.5).astype(float), rng.standard_normal(k)


def test_shared_variables_stay_on_the_device_across_calls_and_updates(device):
    x, y, w0 = data()
    train, w, b = logreg(CUDA, w0, 0.0)
    assert w.on_device and b.on_device
    assert device.uploads == 2  # each value once, when the function was compiled
    ref_train, ref_w, ref_b = logreg(C, w0, 0.0)
    for _ in range(5):
        np.testing.assert_allclose(train(x, y), ref_train(x, y), rtol=1e-12)
    # every call got w and b as device arrays (the last two arguments), never re-uploaded
    assert [c[-2:] for c in device.calls] == [["device", "device"]] * 5
    assert device.uploads == 2
    assert isinstance(w.get_value(borrow=True, return_internal_type=True), FakeGPUArray)
    got = w.get_value()
    assert type(got) is np.ndarray
    np.testing.assert_allclose(got, ref_w.get_value(), rtol=1e-12)
    np.testing.assert_allclose(b.get_value(), ref_b.get_value(), rtol=1e-12)
    # get_value copies: changing the copy changes nothing on the device
    got[:] = 7.0
    assert not np.any(w.get_value() == 7.0)


def test_set_value_uploads_host_values_and_keeps_device_arrays(device):
    x, y, w0 = data()
    train, w, b = logreg(CUDA, w0, 0.0)
    before = device.uploads
    w.set_value(np.ones(5))
    assert device.uploads == before + 1
    assert isinstance(w.get_value(borrow=True, return_internal_type=True), FakeGPUArray)
    np.testing.assert_array_equal(w.get_value(), np.ones(5))
    d = FakeGPUArray(np.full(5, 2.0))
    w.set_value(d, borrow=True)
    assert w.get_value(borrow=True, return_internal_type=True) is d
    w.set_value(d)  # without borrow: a device copy
    assert w.get_value(borrow=True, return_internal_type=True) is not d
    with pytest.raises(TypeError, match="holds float64; got a device array of dtype float32"):
        w.set_value(FakeGPUArray(np.ones(5, np.float32)))
    with pytest.raises(TypeError, match="expected 1 dimensions"):
        w.set_value(FakeGPUArray(np.ones((5, 1))))
    with pytest.raises(TypeError, match="cannot be cast to it without loss"):
        w.set_value(np.ones(5, dtype=complex) * 1j)
    np.testing.assert_array_equal(w.get_value(), np.full(5, 2.0))  # refused values changed nothing


def test_a_failing_call_leaves_device_values_unchanged(device):
    x, y, w0 = data()
    train, w, b = logreg(CUDA, w0, 0.0)
    train(x, y)
    w_before, b_before = w.get_value(), b.get_value()
    with pytest.raises(Exception, match="shape|align|broadcast|size"):
        train(x[:, :3], y)  # x @ w with mismatched sizes fails inside the thunk
    with pytest.raises(TypeError, match="expected Tensor\\(float64.*device array of dtype float32"):
        train(FakeGPUArray(x.astype(np.float32)), y)  # a device argument of the wrong dtype
    np.testing.assert_array_equal(w.get_value(), w_before)
    np.testing.assert_array_equal(b.get_value(), b_before)


def test_device_inputs_go_to_the_device_thunk_as_they_are(device):
    x, y, w0 = data()
    train, w, b = logreg(CUDA, w0, 0.0)
    ref_train, _, _ = logreg(C, w0, 0.0)
    got = train(FakeGPUArray(x), y)
    assert device.calls[-1] == ["device", "host", "device", "device"]
    np.testing.assert_allclose(got, ref_train(x, y), rtol=1e-12)


def test_outputs_come_back_as_numpy_unless_asked(device):
    v = T.dvector("v")
    f = ef.function([v], [T.exp(v), v * 2], mode=CUDA)
    out = f(np.arange(3.0))
    assert all(type(o) is np.ndarray for o in out)
    f.outputs_on_device = True
    out = f(np.arange(3.0))
    assert all(isinstance(o, FakeGPUArray) for o in out)
    np.testing.assert_allclose(out[0].get(), np.exp(np.arange(3.0)))
    f.outputs_on_device = False
    assert type(f(np.arange(3.0))[1]) is np.ndarray
    g = ef.function([v], v + 1, mode=C)
    with pytest.raises(ValueError, match="runs on the 'c' backend, not on a GPU"):
        g.outputs_on_device = True


def test_a_variable_on_the_device_also_works_in_a_cpu_function(device):
    x, y, w0 = data()
    train, w, b = logreg(CUDA, w0, 0.0)
    train(x, y)
    decay = ef.function([], [], updates=[(w, w * 0.5)], mode=C)
    expect = w.get_value() * 0.5
    decay()
    assert w.on_device  # a CPU function reads a host copy and uploads the update
    assert isinstance(w.get_value(borrow=True, return_internal_type=True), FakeGPUArray)
    np.testing.assert_array_equal(w.get_value(), expect)
    # and a device array given to a CPU function is copied to the host
    v = T.dvector("v")
    g = ef.function([v], v * 3, mode=C)
    np.testing.assert_array_equal(g(FakeGPUArray(np.arange(3.0))), [0.0, 3.0, 6.0])


def test_without_a_gpu_shared_variables_stay_on_the_host():
    w = ef.shared(np.zeros(3), name="w")
    f = ef.function([], [], updates=[(w, w + 1)], mode=C)
    f()
    assert not w.on_device
    assert type(w.get_value(borrow=True, return_internal_type=True)) is np.ndarray
    np.testing.assert_array_equal(w.get_value(), np.ones(3))


def test_the_dry_run_emits_the_cuda_module_and_says_it_is_a_dry_run(device):
    v = T.fvector("v")
    f = ef.function([v], T.exp(v) * 2 + T.sin(v), mode=ef.Mode(backend="cuda"))
    assert f.report.backend == "cuda"
    assert any("CUDA dry run" in n for n in f.report.notes), f.report.notes
    source = f._thunk.source
    assert source.count("__global__") >= 1 and "expf" in source and "sinf" in source
    x = np.linspace(-2, 2, 7, dtype=np.float32)
    np.testing.assert_allclose(f(x), np.exp(x) * 2 + np.sin(x), rtol=1e-6)


def test_compare_mode_on_the_device(device):
    """Mode(compare=True) (DebugMode's check) on the CUDA backend compares on host copies."""
    x, y, w0 = data()
    train, w, b = logreg(ef.Mode(backend="cuda", compare=True), w0, 0.0)
    ref_train, ref_w, _ = logreg(C, w0, 0.0)
    for _ in range(2):
        np.testing.assert_allclose(train(FakeGPUArray(x), y), ref_train(x, y), rtol=1e-12)
    np.testing.assert_allclose(w.get_value(), ref_w.get_value(), rtol=1e-12)


def test_config_device_cuda_places_new_shared_variables_at_once(device, monkeypatch):
    monkeypatch.setattr(ef.config, "device", "cuda")
    w = ef.shared(np.arange(3.0), name="w")
    assert w.on_device and device.uploads == 1
    np.testing.assert_array_equal(w.get_value(), [0.0, 1.0, 2.0])
    f = ef.function([], [], updates=[(w, w * 2)])  # FAST_RUN on config.device: the GPU
    f()
    assert f.report.backend == "cuda" and device.uploads == 1
    np.testing.assert_array_equal(w.get_value(), [0.0, 2.0, 4.0])


def test_config_device_cuda_without_a_gpu_keeps_shared_values_on_the_host(monkeypatch):
    monkeypatch.delenv(cuda_backend.DRY_RUN_ENV, raising=False)
    monkeypatch.setattr(cuda_backend, "available", lambda: (False, "no GPU here (test)"))
    monkeypatch.setattr(ef.config, "device", "cuda")
    w = ef.shared(np.arange(3.0), name="w")
    assert not w.on_device
    f = ef.function([], [], updates=[(w, w + 1)])
    f()
    assert f.report.backend == "c" and any("no GPU here" in n for n in f.report.notes)
    np.testing.assert_array_equal(w.get_value(), [1.0, 2.0, 3.0])
