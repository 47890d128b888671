"""format(tensor, spec) / f-strings as PyTorch's Tensor.__format__: a 0-d tensor formats
its Python number; any other tensor formats as an object."""

from __future__ import annotations

import pytest

import gpugrad

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("spec", ["", ".3f", "8.2e", ">10", "+", "g"])
@pytest.mark.parametrize("value", [2.0, -1.25, 3, True])
def test_zero_dim_formats_its_number(value, spec):
    if isinstance(value, bool) and spec in (".3f", "8.2e", "+", "g"):
        spec = ""
    g, t = gpugrad.tensor(value), torch.tensor(value)
    assert format(g, spec) == format(t, spec)
    assert f"{g}" == f"{t}"


def test_requires_grad_zero_dim_and_other_shapes():
    g = gpugrad.tensor(2.5, requires_grad=True)
    assert f"{g:.2f}" == f"{torch.tensor(2.5, requires_grad=True):.2f}" == "2.50"
    v, tv = gpugrad.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0])
    assert f"{v}" == str(v) and f"{tv}" == str(tv)
    with pytest.raises(TypeError) as eg:
        format(v, ".3f")
    with pytest.raises(TypeError) as et:
        format(tv, ".3f")
    assert str(eg.value) == str(et.value)
