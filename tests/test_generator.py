"""Random generators: seeded streams are reproducible and independent."""

from __future__ import annotations

import gpugrad
from tests.utils import assert_close


def test_generator_streams_are_reproducible_and_independent(device):
    g1 = gpugrad.Generator(device).manual_seed(7)
    g2 = gpugrad.Generator(device).manual_seed(7)
    a = gpugrad.randn(5, device=device, generator=g1)
    gpugrad.randn(5, device=device)  # the global stream does not disturb g2
    b = gpugrad.randn(5, device=device, generator=g2)
    assert_close(a, b)
    assert g1.initial_seed() == 7
    p = gpugrad.randperm(6, device=device, generator=gpugrad.Generator(device).manual_seed(3))
    assert sorted(p.tolist()) == list(range(6))
