"""IEEE edge cases (log(0), x / 0, sqrt(-1), exp overflow, 0 ** -1) give inf/NaN silently,
as in PyTorch; the user's own NumPy warnings are untouched."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

import gpugrad
from tests.utils import host

CASES = {
    "log": (lambda x: x.log(), np.log),
    "log2": (lambda x: x.log2(), np.log2),
    "log1p": (lambda x: (x - 1).log1p(), lambda a: np.log1p(a - 1)),
    "sqrt": (lambda x: (x - 1).sqrt(), lambda a: np.sqrt(a - 1)),
    "rsqrt": (lambda x: x.rsqrt(), lambda a: 1 / np.sqrt(a)),
    "reciprocal": (lambda x: x.reciprocal(), lambda a: 1 / a),
    "div": (lambda x: x / 0.0, lambda a: a / 0.0),
    "rdiv": (lambda x: 1 / x, lambda a: 1 / a),
    "div tensor": (lambda x: x / x, lambda a: a / a),
    "floor div": (
        lambda x: gpugrad.div(x, 0.0, rounding_mode="floor"),
        lambda a: np.floor(a / 0.0),
    ),
    "exp": (lambda x: (x * 1000).exp(), lambda a: np.exp(a * 1000)),
    "expm1": (lambda x: (x * 1000).expm1(), lambda a: np.expm1(a * 1000)),
    "pow -1": (lambda x: x**-1, lambda a: a**-1.0),
    "pow -0.5": (lambda x: x**-0.5, lambda a: a**-0.5),
    "pow 2.5": (lambda x: (x - 1) ** 2.5, lambda a: (a - 1) ** 2.5),
    "rpow": (lambda x: 0.0 ** (x - 1), lambda a: 0.0 ** (a - 1)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_edge_cases_are_silent_and_right(device, name):
    fn, ref = CASES[name]
    a = np.array([0.0, 1.0, 2.0, 0.5])
    x = gpugrad.tensor(a, dtype=gpugrad.float64, device=device, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = fn(x)
        if out.requires_grad:  # the derivatives meet the same domains
            out.backward(gpugrad.ones_like(out))
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(host(out), ref(a), rtol=1e-15)


def test_causal_mask_idiom_prints_nothing():
    code = (
        "import gpugrad as torch\n"
        "print(torch.log(torch.tril(torch.ones(4, 4))))\n"
        "print(gpugrad.tensor([1.]) / 0.0)\n".replace("gpugrad.", "torch.")
    )
    run = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, check=True
    )
    assert run.stderr == ""
    assert "-inf" in run.stdout and "tensor([inf])" in run.stdout


def test_users_numpy_warnings_are_untouched():
    gpugrad.tensor([0.0]).log()
    with pytest.warns(RuntimeWarning, match="divide by zero"):
        np.log(np.zeros(1))
    assert np.geterr()["divide"] == "warn"
