"""A tensor's size facts as PyTorch's: numel, element_size, itemsize, nbytes, stride, on
contiguous tensors and views, every dtype."""

from __future__ import annotations

import pytest

import gpugrad

torch = pytest.importorskip("torch", reason="compares with PyTorch")

DTYPES = ["float16", "bfloat16", "float32", "float64", "int8", "int32", "int64", "bool"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_size_facts_match_torch(device, dtype):
    for make in (
        lambda L, dt: L.zeros(3, 4, dtype=dt),
        lambda L, dt: L.zeros(3, 4, dtype=dt)[:, 1:3],  # a view: its own elements only
        lambda L, dt: L.zeros(3, 4, dtype=dt).T,
        lambda L, dt: L.zeros((), dtype=dt),
        lambda L, dt: L.zeros(0, 5, dtype=dt),
    ):
        if dtype == "bfloat16" and device == "cuda":
            continue  # bfloat16 is CPU-only in gpugrad
        g = make(gpugrad, getattr(gpugrad, dtype)).to(device)
        t = make(torch, getattr(torch, dtype))
        assert (g.numel(), g.element_size(), g.itemsize, g.nbytes, g.stride()) == (
            t.numel(),
            t.element_size(),
            t.itemsize,
            t.nbytes,
            t.stride(),
        )
