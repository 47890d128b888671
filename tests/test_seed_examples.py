"""The seed article's three examples give the article's values (examples/seed_examples.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

import gpugrad as torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
import seed_examples  # noqa: E402


def test_example_1_values_and_graph():
    a, b, d = seed_examples.example_1()
    assert a.grad.tolist() == [12.0, 18.0, 30.0]
    assert b.grad.tolist() == [4.0, 12.0, 30.0]
    assert d.grad.tolist() == [3.0, 6.0, 9.0]
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    c = x * torch.tensor([3.0, 3.0, 3.0], requires_grad=True)
    ans = torch.sum(c * torch.tensor([4.0, 6.0, 10.0], requires_grad=True))
    assert repr(x) == "tensor([1., 2., 3.], requires_grad=True)"
    assert repr(c) == "tensor([3., 6., 9.], grad_fn=<MulBackward0>)"
    assert repr(ans) == "tensor(138., grad_fn=<SumBackward0>)"


def test_example_2_detach():
    a, b, d = seed_examples.example_2()
    assert a.grad is None and b.grad is None
    assert d.grad.tolist() == [3.0, 6.0, 9.0]


def test_example_3_linear_detach_sgd():
    torch.manual_seed(0)
    modelA, before = seed_examples.example_3()
    assert modelA.weight.grad is not None
    expected = before.numpy() - 0.01 * modelA.weight.grad.numpy()
    np.testing.assert_allclose(modelA.weight.detach().numpy(), expected, rtol=1e-6)


def test_example_3_grad_is_none_after_detached_backward():
    modelA, modelB = torch.nn.Linear(10, 10), torch.nn.Linear(10, 10)
    a = modelA(torch.randn(1, 10))
    modelB(a.detach()).mean().backward()
    assert modelA.weight.grad is None
    assert modelB.weight.grad is not None


def test_script_runs():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "seed_examples.py")],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=env,
    )
    assert "grad = tensor([12., 18., 30.])" in out.stdout
