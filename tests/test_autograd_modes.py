"""Grad modes, anomaly detection and saved-tensor hooks (PyTorch 2.13's behaviour and texts)."""

from __future__ import annotations

import pytest

import gpugrad
from gpugrad import autograd
from gpugrad.autograd.graph import save_on_cpu, saved_tensors_hooks
from tests.utils import assert_close, t

INFERENCE_SAVED = (
    "Inference tensors cannot be saved for backward. Please do not use Tensors created in "
    "inference mode in computation tracked by autograd. To work around this, you can make a "
    "clone to get a normal tensor and use it in autograd, or use `torch.no_grad()` instead of "
    "`torch.inference_mode()`."
)


def test_no_grad_enable_grad_decorators(device):
    x = t([1.0], device, requires_grad=True)

    @gpugrad.no_grad()
    def f(a):
        return a * 2

    @gpugrad.enable_grad()
    def g(a):
        return a * 2

    assert not f(x).requires_grad
    with gpugrad.no_grad():
        assert g(x).requires_grad
        assert not (x * 2).requires_grad
    assert gpugrad.is_grad_enabled()


def test_no_grad_bare_decorator(device):
    @gpugrad.no_grad
    def h(a):  # bare decorator form, as PyTorch 2.x allows
        return a * 2

    assert not h(t([1.0], device, requires_grad=True)).requires_grad


def test_inference_mode(device):
    x = t([1.0, 2.0], device, requires_grad=True)
    with gpugrad.inference_mode():
        y = x * 2
        assert gpugrad.is_inference_mode_enabled()
    assert not y.requires_grad
    assert not gpugrad.is_inference_mode_enabled()


def test_is_inference(device):
    with gpugrad.inference_mode():
        y = gpugrad.ones(1, device=device)
    assert y.is_inference() and not gpugrad.ones(1, device=device).is_inference()


def test_inference_tensor_saved_for_backward_error(device):
    with gpugrad.inference_mode():
        it = gpugrad.ones(2, device=device)
    a = t([1.0, 2.0], device, requires_grad=True)
    with pytest.raises(RuntimeError) as e:
        a * it  # PyTorch raises when the op records (forward)
    assert str(e.value) == INFERENCE_SAVED


def test_inference_mode_decorator(device):
    @gpugrad.inference_mode()
    def f(a):
        return a * 2

    x = t([1.0], device, requires_grad=True)
    assert not f(x).requires_grad


def test_rare_modes_stay_per_thread(device):
    """Ops check a count of threads with inference mode / anomaly detection / saved-tensor
    hooks on before reading their own thread's flag: a mode on in one thread must still not
    reach another, and leaving the mode must bring the count back."""
    import threading

    from gpugrad.autograd.grad_mode import active

    before = (active.inference, active.anomaly, active.saved_hooks)
    x = t([1.0, 2.0], device, requires_grad=True)
    inside, release = threading.Event(), threading.Event()

    def other():
        with gpugrad.inference_mode(), saved_tensors_hooks(lambda v: v, lambda v: v):
            autograd.set_detect_anomaly(True)
            inside.set()
            release.wait(10)
            autograd.set_detect_anomaly(False)

    th = threading.Thread(target=other)
    th.start()
    try:
        assert inside.wait(10)
        assert (active.inference, active.anomaly, active.saved_hooks) == tuple(
            n + 1 for n in before
        )
        y = x * 2  # this thread: a normal tensor, saved as usual, no forward trace
        assert y.requires_grad and not y.is_inference() and y.grad_fn._trace is None
        assert not gpugrad.is_inference_mode_enabled() and not autograd.is_anomaly_enabled()
        node = (x * x).grad_fn
        assert all(type(s) is tuple for s in node._saved)  # no hooks ran: plain saves
    finally:
        release.set()
        th.join(10)
    assert (active.inference, active.anomaly, active.saved_hooks) == before
    with gpugrad.inference_mode():
        with gpugrad.inference_mode():
            assert gpugrad.ones(1, device=device).is_inference()
        assert active.inference == before[0] + 1
    assert active.inference == before[0]


def test_anomaly_nan_names_node_and_forward_trace(device):
    a = t([-1.0, 2.0], device, requires_grad=True)
    with pytest.warns(UserWarning, match="Anomaly Detection has been enabled"):
        with autograd.detect_anomaly():
            y = (a.sqrt() * 0).sum()
            with pytest.raises(RuntimeError) as e:
                y.backward()
    msg = str(e.value)
    assert msg.splitlines()[0] == "Function 'SqrtBackward0' returned nan values in its 0th output."
    assert "test_autograd_modes.py" in msg  # the forward traceback points at this file
    assert not autograd.is_anomaly_enabled()


def test_set_detect_anomaly(device):
    autograd.set_detect_anomaly(True)
    try:
        assert autograd.is_anomaly_enabled()
        a = t([0.0], device, requires_grad=True)
        with pytest.raises(
            RuntimeError, match="Function 'DivBackward0' returned nan values in its 1th output."
        ):
            (a / a).sum().backward()
    finally:
        autograd.set_detect_anomaly(False)
    assert not autograd.is_anomaly_enabled()


def test_anomaly_off_no_error(device):
    a = t([-1.0], device, requires_grad=True)
    (a.sqrt() * 0).sum().backward()  # nan gradient, no error without anomaly mode


def test_saved_tensors_hooks_pack_unpack(device):
    packed, unpacked = [], []

    def pack(x):
        packed.append(tuple(x.shape))
        return ("box", x * 1)

    def unpack(box):
        unpacked.append(box[0])
        return box[1]

    a = t([1.0, 2.0], device, requires_grad=True)
    with saved_tensors_hooks(pack, unpack):
        y = (a * a).sum()
    assert packed == [(2,), (2,)]
    y.backward()
    assert unpacked == ["box", "box"]
    assert_close(a.grad, [2.0, 4.0])


def test_saved_tensors_hooks_can_change_values(device):
    a = t([1.0, 2.0], device, requires_grad=True)
    with saved_tensors_hooks(lambda x: x, lambda x: x * 0 + 10):
        y = a.exp()  # ExpBackward0 saves its result
    y.sum().backward()
    assert_close(a.grad, [10.0, 10.0])


def test_save_on_cpu(device):
    a = t([1.0, 2.0, 3.0], device, requires_grad=True)
    w = t([4.0, 5.0, 6.0], device, requires_grad=True)
    with save_on_cpu():
        y = (a * w).sin().sum()
    for node in (
        y.grad_fn.next_functions[0][0],
        y.grad_fn.next_functions[0][0].next_functions[0][0],
    ):
        for s in node._saved:
            dev, host = s.packed
            assert host.device.type == "cpu"  # activations wait in host memory
            assert dev.type == device
    y.backward()
    assert a.grad.device.type == device
    ref_a = t([1.0, 2.0, 3.0], device, requires_grad=True)
    ref_w = t([4.0, 5.0, 6.0], device, requires_grad=True)
    (ref_a * ref_w).sin().sum().backward()
    assert_close(a.grad, ref_a.grad)
    assert_close(w.grad, ref_w.grad)


def test_linear_saves_through_hooks_and_checks_versions(device):
    # F.linear records its node inline (the training loop's hottest op): saved-tensor
    # hooks, inference tensors and version checks must behave as for any other op.
    x = t([[1.0, 2.0]], device, requires_grad=True)
    w = t([[3.0, 4.0], [5.0, 6.0]], device, requires_grad=True)
    b = t([0.5, 0.5], device, requires_grad=True)
    packed = []
    with saved_tensors_hooks(lambda v: packed.append(tuple(v.shape)) or v, lambda v: v):
        y = gpugrad.nn.functional.linear(x, w, b)
    assert packed == [(1, 2), (2, 2)]
    y.sum().backward()
    assert_close(x.grad, [[8.0, 10.0]])
    assert_close(w.grad, [[1.0, 2.0], [1.0, 2.0]])
    with gpugrad.inference_mode():
        wi = gpugrad.ones(2, 2, device=device, dtype=x.dtype)
    with pytest.raises(RuntimeError) as e:
        gpugrad.nn.functional.linear(x, wi)
    assert str(e.value) == INFERENCE_SAVED
    y = gpugrad.nn.functional.linear(x, w)
    with gpugrad.no_grad():
        w.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
