"""One suite for every device: tests taking ``device`` run on cpu, and on cuda when present."""

from __future__ import annotations

import os

import pytest

# the compiled kernels from a name's first call (no tiering), so every dispatch test sees the
# path its predicate chooses; tiering itself is tested in test_kernel_layer.py
os.environ.setdefault("GPUGRAD_NUMBA_TIER_UP", "0")

import gpugrad  # noqa: E402


def _cuda_skip_reason() -> str:
    from gpugrad.backend import cuda_status

    n, why = cuda_status()
    return "" if n else why


_CUDA_SKIP = _cuda_skip_reason()

DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(bool(_CUDA_SKIP), reason=_CUDA_SKIP or "-")),
]


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    """The device name a test runs on: 'cpu', then 'cuda' (skipped with a reason if absent)."""
    return request.param


@pytest.fixture(autouse=True)
def _seed():
    gpugrad.manual_seed(0)
    yield
