"""float32 matmul precision: PyTorch's set_/get_float32_matmul_precision and
backends.cuda.matmul.allow_tf32 as one setting; on a GPU it switches CuPy's GEMMs to TF32."""

from __future__ import annotations

import numpy as np
import pytest

import gpugrad
from gpugrad.backend import cuda_status

_NO_CUDA = cuda_status()[1]


@pytest.fixture(autouse=True)
def _restore():
    before = gpugrad.get_float32_matmul_precision()
    yield
    gpugrad.set_float32_matmul_precision(before)


def test_precision_and_allow_tf32_are_one_setting():
    m = gpugrad.backends.cuda.matmul
    assert gpugrad.get_float32_matmul_precision() == "highest" and m.allow_tf32 is False
    for p, tf32 in [("high", True), ("medium", True), ("highest", False)]:
        gpugrad.set_float32_matmul_precision(p)
        assert gpugrad.get_float32_matmul_precision() == p and m.allow_tf32 is tf32
    m.allow_tf32 = True
    assert gpugrad.get_float32_matmul_precision() == "high"
    m.allow_tf32 = False
    assert gpugrad.get_float32_matmul_precision() == "highest"


def test_unknown_precision_warns_as_torch_and_changes_nothing():
    torch = pytest.importorskip("torch")
    gpugrad.set_float32_matmul_precision("high")
    with pytest.warns(UserWarning) as got:
        gpugrad.set_float32_matmul_precision("fastest")
    with pytest.warns(UserWarning) as want:
        torch.set_float32_matmul_precision("fastest")
    assert str(got[0].message) in str(want[0].message).replace("currentset", "current set")
    assert gpugrad.get_float32_matmul_precision() == "high"


def test_cpu_matmuls_stay_full_float32():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((64, 256)), rng.standard_normal((256, 32))
    want = (a @ b).astype(np.float32)
    gpugrad.set_float32_matmul_precision("high")
    got = gpugrad.tensor(a, dtype=gpugrad.float32) @ gpugrad.tensor(b, dtype=gpugrad.float32)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-4)


@pytest.mark.skipif(bool(_NO_CUDA), reason=_NO_CUDA or "-")
def test_cuda_tf32_really_switches_the_gemms():
    from gpugrad.backend.cuda.gemm_precision import tf32_enabled

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((1024, 1024)), rng.standard_normal((1024, 1024))
    want = a @ b
    x = gpugrad.tensor(a, dtype=gpugrad.float32, device="cuda")
    y = gpugrad.tensor(b, dtype=gpugrad.float32, device="cuda")

    def err() -> float:
        return float(np.abs((x @ y).cpu().numpy() - want).max() / np.abs(want).max())

    ab, bb = rng.standard_normal((4, 128, 256)), rng.standard_normal((4, 256, 64))
    want_b = ab @ bb
    xb = gpugrad.tensor(ab, dtype=gpugrad.float32, device="cuda")
    yb = gpugrad.tensor(bb, dtype=gpugrad.float32, device="cuda")

    def batched_err() -> float:
        return float(np.abs((xb @ yb).cpu().numpy() - want_b).max() / np.abs(want_b).max())

    gpugrad.set_float32_matmul_precision("highest")
    assert not tf32_enabled(0)
    full, batched_full = err(), batched_err()
    gpugrad.set_float32_matmul_precision("high")
    import cupy

    major = int(cupy.cuda.Device().compute_capability) // 10
    if major >= 8:  # TF32 exists from Ampere on
        assert tf32_enabled(0)
        assert err() > 10 * full  # 10 mantissa bits per product instead of 23
        # batched products (bmm, attention) follow the handle's math mode
        assert batched_err() > 10 * batched_full
    gpugrad.set_float32_matmul_precision("highest")
    assert not tf32_enabled(0) and err() == full
