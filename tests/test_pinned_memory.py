"""Tensor.pin_memory / is_pinned and DataLoader(pin_memory=True): page-locked host memory."""

from __future__ import annotations

import numpy as np
import pytest

import gpugrad
from gpugrad.backend import cuda_status

_NO_CUDA = cuda_status()[0] == 0


def test_a_plain_cpu_tensor_is_not_pinned(device):
    assert gpugrad.ones(3).is_pinned() is False
    assert gpugrad.ones(3, device=device).is_pinned() is False


@pytest.mark.skipif(not _NO_CUDA, reason="checks the machine without a GPU")
def test_pin_memory_without_a_gpu_raises_as_torch_and_changes_nothing():
    t = gpugrad.arange(4.0)
    with pytest.raises(RuntimeError, match="Cannot access accelerator device when none"):
        t.pin_memory()
    assert not t.is_pinned()
    np.testing.assert_array_equal(t.numpy(), np.arange(4.0))


def test_only_dense_cpu_tensors_can_be_pinned(device):
    if device == "cpu":
        s = gpugrad.eye(2).to_sparse()
        with pytest.raises(RuntimeError, match="only dense CPU tensors can be pinned"):
            s.pin_memory()
    else:
        with pytest.raises(RuntimeError, match="only dense CPU tensors can be pinned"):
            gpugrad.ones(2, device=device).pin_memory()


@pytest.mark.skipif(_NO_CUDA, reason="page-locked memory needs a usable CUDA GPU")
def test_pin_memory_copies_into_page_locked_memory_and_keeps_the_gradient():
    x = gpugrad.randn(3, 4, requires_grad=True)
    p = x.pin_memory()
    assert p.is_pinned() and not x.is_pinned()
    assert p.pin_memory() is p
    np.testing.assert_array_equal(p.detach().numpy(), x.detach().numpy())
    assert p.grad_fn is not None
    (p * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((3, 4), 2.0))
    assert p.cuda().cpu().is_pinned() is False


@pytest.mark.skipif(_NO_CUDA, reason="page-locked memory needs a usable CUDA GPU")
def test_data_loader_pin_memory_gives_pinned_batches():
    from gpugrad.utils.data import DataLoader, TensorDataset

    ds = TensorDataset(gpugrad.randn(10, 3), gpugrad.arange(10))
    for xb, yb in DataLoader(ds, batch_size=4, pin_memory=True):
        assert xb.is_pinned() and yb.is_pinned()
