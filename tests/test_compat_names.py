"""torch.version / torch.__version__ under gpugrad.as_torch, and torch.cuda's legacy
typed constructors (FloatTensor ...) without a GPU."""

from __future__ import annotations

import subprocess
import sys

import pytest

import gpugrad
import gpugrad.cuda
from gpugrad.version import TorchVersion

SCRIPT = """
import torch
assert torch.__version__ >= "2" and torch.__version__ >= (2, 0), torch.__version__
assert torch.__version__ < "100" and torch.version.__version__ >= "2.1"
assert torch.version.cuda is None or isinstance(torch.version.cuda, str)
assert (torch.version.cuda is None) == (not torch.cuda.is_available())
assert str(torch.__version__).startswith("2.13.0+gpugrad")
print("ok")
"""


def test_torch_version_under_the_runner(tmp_path):
    script = tmp_path / "check_version.py"
    script.write_text(SCRIPT)
    r = subprocess.run(
        [sys.executable, "-m", "gpugrad.as_torch", str(script)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_torch_version_compares_numerically():
    v = TorchVersion("2.13.0+gpugrad0.1.0")
    assert v >= "2" and v > "2.9" and v < "2.14" and v == "2.13" and v != "2.12"
    assert v >= (2, 13) and v < (3,)
    assert isinstance(v, str) and v.startswith("2.13")
    with pytest.raises(ValueError, match="invalid version"):
        v < "abc"  # noqa: B015 - the comparison raises


@pytest.mark.skipif(gpugrad.cuda.is_available(), reason="checks the no-GPU error")
@pytest.mark.parametrize("name", ["FloatTensor", "DoubleTensor", "LongTensor", "HalfTensor"])
def test_cuda_typed_constructors_without_gpu(name):
    cls = getattr(gpugrad.cuda, name)
    with pytest.raises(TypeError, match=f"type gpugrad.cuda.{name} not available. CUDA is not"):
        cls(3)
    assert not isinstance(gpugrad.ones(2), cls)
    assert repr(cls) == f"<class 'gpugrad.cuda.{name}'>"
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        gpugrad.ones(2).type(cls)


@pytest.mark.skipif(not gpugrad.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_typed_constructors_on_gpu():
    t = gpugrad.cuda.FloatTensor([1, 2])
    assert t.device.type == "cuda" and t.dtype == gpugrad.float32
    assert isinstance(t, gpugrad.cuda.FloatTensor)
    assert gpugrad.cuda.LongTensor(2, 3).shape == (2, 3)
