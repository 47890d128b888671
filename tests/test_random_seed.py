"""manual_seed, seed and initial_seed as PyTorch's."""

from __future__ import annotations

import subprocess
import sys

import pytest

import gpugrad


def test_initial_seed_is_the_last_manual_seed_and_replays_the_stream(device):
    gpugrad.manual_seed(1234)
    assert gpugrad.initial_seed() == 1234
    a = gpugrad.rand(5, device=device)
    gpugrad.manual_seed(gpugrad.initial_seed())
    assert gpugrad.equal(a, gpugrad.rand(5, device=device))


def test_seed_draws_a_new_seed_and_reports_it():
    s = gpugrad.seed()
    assert isinstance(s, int) and 0 <= s < 2**64
    assert gpugrad.initial_seed() == s
    a = gpugrad.rand(4)
    gpugrad.manual_seed(s)
    assert gpugrad.equal(a, gpugrad.rand(4))


def test_negative_and_overflowing_seeds_as_torch():
    torch = pytest.importorskip("torch")
    gpugrad.manual_seed(-5)
    torch.manual_seed(-5)
    assert gpugrad.initial_seed() == torch.initial_seed() == 2**64 - 5
    with pytest.raises(ValueError, match="Overflow when unpacking long long"):
        torch.manual_seed(2**64)
    with pytest.raises(ValueError, match="Overflow when unpacking long long"):
        gpugrad.manual_seed(2**64)


def test_an_unseeded_process_has_an_initial_seed_that_replays_its_draws():
    code = (
        "import gpugrad as g\n"
        "s = g.initial_seed(); a = g.rand(3); g.manual_seed(s)\n"
        "assert s == g.initial_seed() and g.equal(a, g.rand(3)), s\n"
        "print(s)\n"
    )
    seeds = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(2)
    }
    assert len(seeds) == 2  # drawn from the OS: two processes differ
