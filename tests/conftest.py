"""One suite for every device: tests taking ``device`` run on cpu, and on cuda when present."""

from __future__ import annotations

import os

import pytest

# the compiled kernels from a name's first call (no tiering), so every dispatch test sees the
# path its predicate chooses; tiering itself is tested in test_kernel_layer.py. Only this
# process: the scripts the tests start (ranks, examples) tier as users' programs do.
_TIER_SET = "GPUGRAD_NUMBA_TIER_UP" not in os.environ
os.environ.setdefault("GPUGRAD_NUMBA_TIER_UP", "0")

import gpugrad  # noqa: E402
from gpugrad.backend import numba_kernels as _numba_kernels  # noqa: E402, F401 - reads it

if _TIER_SET:
    del os.environ["GPUGRAD_NUMBA_TIER_UP"]


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
