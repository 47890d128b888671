"""gpugrad's warnings point at the user's line (as PyTorch's do), whatever wrappers (the quiet
faces, Tensor methods, modules, optimizers) lie between the user's call and the warning."""

from __future__ import annotations

import warnings

import pytest

import gpugrad
import gpugrad.nn.functional as F


def _calls():
    x = gpugrad.ones(4, 3)
    leaf = gpugrad.ones(2, requires_grad=True)
    model = gpugrad.nn.Linear(2, 2)
    opt = gpugrad.optim.SGD(model.parameters(), lr=0.1)
    sched = gpugrad.optim.lr_scheduler.StepLR(opt, 1)
    return {
        "dropout2d of 2-D input": lambda: F.dropout2d(x, 0.5),
        "Tensor.dropout2d-like method path": lambda: gpugrad.nn.Dropout2d(0.5)(x),
        "non-leaf .grad": lambda: (leaf * 2).grad,
        "size_average": lambda: F.mse_loss(x, x, size_average=True),
        "scheduler before optimizer": sched.step,
        "mse_loss broadcast": lambda: F.mse_loss(gpugrad.ones(3, 1), gpugrad.ones(3)),
        "uint8 index": lambda: x[gpugrad.tensor([1, 0, 1, 0], dtype=gpugrad.uint8)],
    }


@pytest.mark.parametrize("name", list(_calls()))
def test_warning_points_at_the_callers_line(name):
    call = _calls()[name]
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        call()
    assert got, f"{name}: no warning"
    for w in got:
        assert w.filename == __file__, f"{name}: {w.filename}:{w.lineno}: {w.message}"
