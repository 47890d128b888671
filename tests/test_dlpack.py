"""Zero-copy exchange: ``gpugrad.from_dlpack`` / ``gpugrad.utils.dlpack`` with NumPy and CuPy
(by device), PyTorch and JAX (cpu, where installed); ``as_tensor`` / ``from_numpy`` sharing
memory as PyTorch's; ``__cuda_array_interface__``. Each test writes through one side and
reads on the other; errors are PyTorch's, checked against torch where it is installed."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gpugrad
import gpugrad._creation
from gpugrad.utils.dlpack import DLDeviceType, from_dlpack, to_dlpack

DTYPES = ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"]


def _xp(device: str):
    """The array library that holds ``device``'s memory (NumPy on cpu, CuPy on cuda)."""
    return np if device == "cpu" else pytest.importorskip("cupy")


def _host(a) -> np.ndarray:
    return a.get() if hasattr(a, "get") else np.asarray(a)


def _message(fn) -> tuple[type, str]:
    with pytest.raises(Exception) as info:
        fn()
    return info.type, str(info.value)


@pytest.mark.parametrize("dtype", DTYPES)
def test_array_to_gpugrad_shares_memory(device, dtype):
    xp = _xp(device)
    a = (xp.arange(12).reshape(3, 4) % 3).astype(dtype)
    t = gpugrad.from_dlpack(a)
    assert t.device.type == device and t.dtype is getattr(
        gpugrad, dtype if dtype != "bool" else "bool"
    )
    assert t.shape == (3, 4) and not t.requires_grad and t.grad_fn is None
    np.testing.assert_array_equal(t.cpu().numpy(), _host(a))
    a[0, 1] = 1  # the library writes, gpugrad reads
    assert t[0, 1].item() == 1
    t[2, 3] = 0  # gpugrad writes, the library reads
    assert _host(a)[2, 3] == 0


def test_strided_views_keep_their_layout(device):
    xp = _xp(device)
    a = xp.arange(24.0).reshape(4, 6)
    view = a[1:, ::2]  # an offset and a step: no copy, PyTorch's strides in elements
    t = from_dlpack(view)
    assert t.shape == (3, 3) and t.stride() == (6, 2)
    t.mul_(-1.0)
    np.testing.assert_array_equal(_host(a)[1:, ::2], -_host(xp.arange(24.0).reshape(4, 6))[1:, ::2])
    assert _host(a)[0, 0] == 0 and _host(a)[1, 1] == 7  # untouched outside the view


@pytest.mark.parametrize("dtype", DTYPES)
def test_gpugrad_to_array_shares_memory(device, dtype):
    xp = _xp(device)
    t = (gpugrad.arange(6, device=device).reshape(2, 3) % 2).to(getattr(gpugrad, dtype))
    a = xp.from_dlpack(t)
    assert a.dtype == np.dtype(dtype) and a.shape == (2, 3)
    a[1, 1] = 0
    assert t[1, 1].item() == 0
    t[0, 0] = 1
    assert _host(a)[0, 0] == 1


def test_capsules_round_trip_and_are_consumed_once(device):
    t = gpugrad.zeros(4, device=device)
    capsule = to_dlpack(t)
    assert type(capsule).__name__ == "PyCapsule" and "dltensor" in repr(capsule)
    u = from_dlpack(capsule)
    u[1] = 5.0
    assert t[1].item() == 5.0
    kind, text = _message(lambda: from_dlpack(capsule))
    assert kind is RuntimeError and "DLTensor capsules can be consumed only once" in text
    # to_dlpack exports a tensor that requires grad (torch's does); __dlpack__ refuses it
    w = gpugrad.ones(2, device=device, requires_grad=True)
    from_dlpack(to_dlpack(w))[0] = 3.0
    assert w[0].item() == 3.0
    with pytest.raises(BufferError, match="Can't export tensors that require gradient"):
        w.__dlpack__()
    with pytest.raises(AssertionError, match="device and copy kwargs not supported"):
        from_dlpack(to_dlpack(t), copy=True)


def test_copy_and_device_arguments(device):
    xp = _xp(device)
    a = xp.zeros(3)
    copied = from_dlpack(a, copy=True)
    shared = from_dlpack(a, copy=False, device=device)
    a[0] = 2.0
    assert copied[0].item() == 0.0 and shared[0].item() == 2.0
    other = "cuda" if device == "cpu" else "cpu"
    if other == "cuda" and not gpugrad.cuda.is_available():
        return
    moved = from_dlpack(a, device=other)  # another device: a copy there
    assert moved.device.type == other and moved.tolist() == [2.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="without copying. Set copy=None or copy=True"):
        from_dlpack(a, device=other, copy=False)


def test_refusals_name_what_is_wrong():
    with pytest.raises(TypeError, match="can't convert a DLPack tensor of type uint16"):
        from_dlpack(np.zeros(2, np.uint16))
    with pytest.raises(TypeError, match="of type complex64"):
        from_dlpack(np.zeros(2, np.complex64))

    class OpenCL:  # a producer on a device gpugrad has no backend for
        def __dlpack__(self, **kwargs):
            raise AssertionError("not asked for memory it cannot hold")

        def __dlpack_device__(self):
            return (DLDeviceType.kDLOpenCL, 0)

    with pytest.raises(BufferError, match="Unsupported device_type: 4"):
        from_dlpack(OpenCL())
    kind, text = _message(lambda: from_dlpack([1, 2]))
    assert kind is RuntimeError and "invalid capsule" in text
    with pytest.raises(TypeError, match="must be Tensor, not numpy.ndarray"):
        to_dlpack(np.zeros(2))
    sparse = gpugrad.sparse_coo_tensor([[0, 1]], [1.0, 2.0], (3,))
    with pytest.raises(BufferError, match="layout other than torch.strided"):
        sparse.__dlpack__()
    with pytest.raises(RuntimeError, match="doesn't have storage"):
        to_dlpack(sparse)


def test_torch_reads_and_writes_gpugrad_memory():
    torch = pytest.importorskip("torch")
    for dtype in DTYPES:
        t = (gpugrad.arange(6).reshape(2, 3) % 2).to(getattr(gpugrad, dtype))
        theirs = torch.from_dlpack(t)
        assert str(theirs.dtype) == f"torch.{dtype}" and theirs.shape == (2, 3)
        theirs[0, 2] = 1
        assert t[0, 2].item() == 1
        t[1, 0] = 0
        assert theirs[1, 0].item() == 0
    x = gpugrad.arange(5.0)
    via_capsule = torch.utils.dlpack.from_dlpack(to_dlpack(x))
    via_capsule.add_(1.0)
    assert x.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_gpugrad_reads_and_writes_torch_memory():
    torch = pytest.importorskip("torch")
    for dtype in DTYPES:
        theirs = torch.arange(6).reshape(3, 2).remainder(2).to(getattr(torch, dtype))
        ours = from_dlpack(theirs)
        assert ours.dtype is getattr(gpugrad, dtype) and ours.shape == (3, 2)
        ours[2, 1] = 0
        assert theirs[2, 1].item() == 0
        theirs[0, 0] = 1
        assert ours[0, 0].item() == 1
    theirs = torch.zeros(3)
    from_dlpack(torch.utils.dlpack.to_dlpack(theirs)).fill_(4.0)  # a legacy capsule: writable
    assert theirs.tolist() == [4.0, 4.0, 4.0]
    from_dlpack(theirs[::2]).fill_(-1.0)
    assert theirs.tolist() == [-1.0, 4.0, -1.0]


def test_errors_are_torchs():
    torch = pytest.importorskip("torch")
    pairs = [
        (
            lambda: gpugrad.ones(2, requires_grad=True).__dlpack__(),
            lambda: torch.ones(2, requires_grad=True).__dlpack__(),
        ),
        (
            lambda: gpugrad.sparse_coo_tensor([[0]], [1.0], (2,)).__dlpack__(),
            lambda: torch.sparse_coo_tensor([[0]], [1.0], (2,), check_invariants=True).__dlpack__(),
        ),
        (
            lambda: gpugrad.ones(2).__cuda_array_interface__,
            lambda: torch.ones(2).__cuda_array_interface__,
        ),
        (lambda: from_dlpack(b"not a capsule"), lambda: torch.from_dlpack(b"not a capsule")),
        (
            lambda: from_dlpack(to_dlpack(gpugrad.ones(1)), device="cpu"),
            lambda: torch.from_dlpack(torch.utils.dlpack.to_dlpack(torch.ones(1)), device="cpu"),
        ),
        (lambda: to_dlpack(np.ones(2)), lambda: torch.utils.dlpack.to_dlpack(np.ones(2))),
    ]
    for ours, theirs in pairs:
        assert _message(ours) == _message(theirs)
    capsule, torch_capsule = to_dlpack(gpugrad.ones(1)), torch.utils.dlpack.to_dlpack(torch.ones(1))
    from_dlpack(capsule), torch.from_dlpack(torch_capsule)
    assert _message(lambda: from_dlpack(capsule)) == _message(
        lambda: torch.from_dlpack(torch_capsule)
    )


def test_jax_exchange():
    jnp = pytest.importorskip("jax.numpy")
    j = jnp.arange(6.0, dtype=jnp.float32).reshape(2, 3)
    ours = gpugrad.from_dlpack(j)  # JAX arrays are immutable: read in place, read-only
    assert ours.dtype is gpugrad.float32 and ours.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert ours.numpy().ctypes.data == j.unsafe_buffer_pointer()
    with pytest.raises(ValueError, match="read-only"):
        ours.fill_(0.0)
    # XLA reads host memory in place when it is 64-byte aligned (it copies otherwise)
    raw = np.zeros(16 + 16, np.float32)
    start = (-raw.ctypes.data % 64) // 4
    t = gpugrad.from_numpy(raw[start : start + 16])
    t.copy_(gpugrad.arange(16.0))
    theirs = jnp.from_dlpack(t)
    assert theirs.unsafe_buffer_pointer() == t.numpy().ctypes.data
    t[3] = -7.0
    assert float(theirs[3]) == -7.0
    np.testing.assert_array_equal(np.asarray(theirs), t.numpy())


def test_cuda_array_interface(device):
    t = gpugrad.arange(6.0, device=device).reshape(2, 3)
    if device == "cpu":
        assert not hasattr(t, "__cuda_array_interface__")
        with pytest.raises(AttributeError, match="on non-CUDA tensor type: torch.FloatTensor"):
            _ = t.__cuda_array_interface__
        return
    cp = pytest.importorskip("cupy")
    iface = t.__cuda_array_interface__
    assert iface["shape"] == (2, 3) and iface["typestr"] == "<f4"
    a = cp.asarray(t)  # CuPy reads the interface in place
    a[0, 0] = 9.0
    assert t[0, 0].item() == 9.0
    back = gpugrad.as_tensor(a[:, 1:])  # as_tensor shares what exposes the interface
    back.fill_(-1.0)
    assert t.tolist() == [[9.0, -1.0, -1.0], [3.0, -1.0, -1.0]]
    assert back.device == t.device
    with pytest.raises(RuntimeError, match="on Variable that requires grad"):
        _ = t.clone().requires_grad_().__cuda_array_interface__


def test_as_tensor_and_from_numpy_share_memory():
    a = np.zeros((2, 3), np.float32)
    for t in (
        gpugrad.from_numpy(a),
        gpugrad.as_tensor(a),
        gpugrad.as_tensor(a, dtype=gpugrad.float32),
    ):
        t[0, 0] += 1.0
    assert a[0, 0] == 3.0
    a[1, 2] = 5.0
    assert gpugrad.as_tensor(a)[1, 2].item() == 5.0
    copied = gpugrad.as_tensor(a, dtype=gpugrad.float64)  # another dtype: a copy, as torch
    copied.zero_()
    assert a[0, 0] == 3.0
    t = gpugrad.ones(2)
    assert gpugrad.as_tensor(t) is t and gpugrad.as_tensor(t, dtype=gpugrad.float32) is t
    ints = gpugrad.as_tensor(np.arange(3))
    assert ints.dtype is gpugrad.int64
    ints[0] = 7
    assert gpugrad.as_tensor([1, 2]).dtype is gpugrad.int64  # lists are copied


def test_from_numpy_refusals_match_torch(monkeypatch):
    torch = pytest.importorskip("torch")
    cases = [
        np.arange(4.0)[::-1],  # negative strides
        np.arange(4.0).astype(">f8"),  # byte order
        np.float64(1.0),  # a NumPy scalar is not an array
        [1.0, 2.0],
    ]
    for arr in cases:
        assert _message(lambda a=arr: gpugrad.from_numpy(a)) == _message(
            lambda a=arr: torch.from_numpy(a)
        )
    for arr in cases[:2]:  # as_tensor reads arrays through from_numpy, as torch's
        assert _message(lambda a=arr: gpugrad.as_tensor(a)) == _message(
            lambda a=arr: torch.as_tensor(a)
        )
    monkeypatch.setattr(gpugrad._creation._Warned, "read_only", False)
    ro = np.arange(3.0)
    ro.flags.writeable = False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gpugrad.from_numpy(ro)
        gpugrad.from_numpy(ro)  # once per program, as PyTorch
    assert len(caught) == 1 and caught[0].category is UserWarning
    assert str(caught[0].message).startswith("The given NumPy array is not writable")


def test_torch_cuda_exchange():
    """On a GPU, with a CUDA build of torch: DLPack both ways and ``__cuda_array_interface__``
    share device memory."""
    torch = pytest.importorskip("torch")
    if not (torch.cuda.is_available() and gpugrad.cuda.is_available()):
        pytest.skip("needs a GPU and a CUDA build of torch")
    t = gpugrad.zeros(4, device="cuda")
    theirs = torch.from_dlpack(t)
    assert theirs.device.type == "cuda"
    theirs[1] = 2.0
    torch.cuda.synchronize()
    assert t[1].item() == 2.0
    theirs = torch.zeros(3, device="cuda")
    ours = from_dlpack(theirs)
    ours.fill_(5.0)
    gpugrad.cuda.synchronize()
    assert theirs.tolist() == [5.0, 5.0, 5.0]
    viewed = gpugrad.as_tensor(theirs)  # through __cuda_array_interface__
    viewed[0] = -1.0
    gpugrad.cuda.synchronize()
    assert theirs[0].item() == -1.0
