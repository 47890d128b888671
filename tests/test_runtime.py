"""Process-wide switches and constants that PyTorch scripts use: threads, determinism,
compile, backends flags, finfo/iinfo, gpugrad.utils.data, cuda.empty_cache, inf/nan/pi/e."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

import gpugrad


def test_constants():
    assert gpugrad.inf == math.inf and math.isnan(gpugrad.nan)
    assert gpugrad.pi == math.pi and gpugrad.e == math.e


def test_finfo_iinfo_match_pytorch():
    f = gpugrad.finfo(gpugrad.float32)
    assert f.eps == float(np.finfo(np.float32).eps) and f.bits == 32 and f.dtype == "float32"
    assert f.tiny == f.smallest_normal == float(np.finfo(np.float32).smallest_normal)
    assert repr(f) == (  # PyTorch 2.13's repr
        "finfo(resolution=1e-06, min=-3.40282e+38, max=3.40282e+38, eps=1.19209e-07, "
        "smallest_normal=1.17549e-38, tiny=1.17549e-38, dtype=float32)"
    )
    assert gpugrad.finfo().dtype == gpugrad.get_default_dtype().name
    assert gpugrad.finfo(gpugrad.float16).tiny == 6.103515625e-05
    i = gpugrad.iinfo(gpugrad.int64)
    assert (i.max, i.min, i.bits) == (2**63 - 1, -(2**63), 64)
    assert (
        repr(gpugrad.iinfo(gpugrad.int32))
        == "iinfo(min=-2.14748e+09, max=2.14748e+09, dtype=int32)"
    )
    with pytest.raises(TypeError, match=r"finfo\(\) requires a floating point input type"):
        gpugrad.finfo(gpugrad.int32)
    with pytest.raises(TypeError, match=r"iinfo\(\) requires an integer input type"):
        gpugrad.iinfo(gpugrad.float32)


def test_compile_wraps_and_the_decorator_form_works():
    m = gpugrad.nn.Linear(2, 2)
    c = gpugrad.compile(m)
    x = gpugrad.ones(3, 2)
    np.testing.assert_array_equal(c(x).detach().numpy(), m(x).detach().numpy())
    f = gpugrad.compile(mode="max-autotune")(lambda t: t * 2)  # decorator form
    np.testing.assert_array_equal(f(x).numpy(), (x * 2).numpy())


def test_deterministic_switch_is_recorded():
    try:
        gpugrad.use_deterministic_algorithms(True, warn_only=True)
        assert gpugrad.are_deterministic_algorithms_enabled()
        assert gpugrad.is_deterministic_algorithms_warn_only_enabled()
    finally:
        gpugrad.use_deterministic_algorithms(False)
    assert not gpugrad.are_deterministic_algorithms_enabled()


def test_backends_flags_are_settable():
    cudnn = gpugrad.backends.cudnn
    prev = (cudnn.benchmark, cudnn.deterministic)
    try:
        cudnn.benchmark, cudnn.deterministic = True, True
        assert gpugrad.backends.cudnn.benchmark and gpugrad.backends.cudnn.deterministic
    finally:
        cudnn.benchmark, cudnn.deterministic = prev
    assert gpugrad.backends.cudnn.is_available() is False  # gpugrad does not use cuDNN
    gpugrad.backends.cuda.matmul.allow_tf32 = gpugrad.backends.cuda.matmul.allow_tf32


def test_set_num_threads_limits_blas():
    pytest.importorskip("threadpoolctl")
    before = gpugrad.get_num_threads()
    try:
        gpugrad.set_num_threads(1)
        assert gpugrad.get_num_threads() == 1
    finally:
        gpugrad.set_num_threads(before)
    assert gpugrad.get_num_threads() == before
    with pytest.raises(RuntimeError, match="positive integer, got 0"):
        gpugrad.set_num_threads(0)


def test_utils_data_after_plain_import():
    """`import torch; torch.utils.data.DataLoader` works with gpugrad too (a fresh process:
    other tests may have imported the submodule already)."""
    code = (
        "import gpugrad as torch\n"
        "dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(4, 2)),"
        " batch_size=2)\n"
        "print(len(dl), torch.utils.checkpoint.checkpoint.__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["2", "checkpoint"]
    with pytest.raises(AttributeError, match="module 'gpugrad.utils' has no attribute 'nope'"):
        gpugrad.utils.nope  # noqa: B018


def test_cuda_empty_cache(device):
    x = gpugrad.ones(1024, device=device)
    del x
    gpugrad.cuda.empty_cache()  # frees CuPy's cached blocks; a no-op without CUDA
    assert gpugrad.ones(2, device=device).sum().item() == 2.0
