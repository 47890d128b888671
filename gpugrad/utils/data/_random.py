"""Host-side random indices for samplers and random_split, drawn from a generator or the
global CPU generator (so ``gpugrad.manual_seed`` makes shuffling reproducible)."""

from __future__ import annotations

import numpy as np


def _global():
    from ...backend import cpu_backend

    return cpu_backend()


def randperm(n: int, generator=None) -> np.ndarray:
    """A permutation of ``range(n)`` as a NumPy int64 array."""
    if generator is None:
        return np.asarray(_global().randperm(n, np.int64), dtype=np.int64)
    if isinstance(generator, np.random.Generator):
        return generator.permutation(n).astype(np.int64, copy=False)
    import gpugrad

    return np.asarray(gpugrad.randperm(n, generator=generator).numpy(), dtype=np.int64)


def randint(high: int, size: int, generator=None) -> np.ndarray:
    """``size`` integers uniform in ``[0, high)`` as a NumPy int64 array."""
    if generator is None:
        return np.asarray(_global().randint(0, high, (size,), np.int64), dtype=np.int64)
    if isinstance(generator, np.random.Generator):
        return generator.integers(0, high, size, dtype=np.int64)
    import gpugrad

    out = gpugrad.randint(0, high, (size,), generator=generator, dtype=gpugrad.int64)
    return np.asarray(out.numpy(), dtype=np.int64)


def weighted(weights: np.ndarray, size: int, replacement: bool, generator=None) -> np.ndarray:
    """``size`` indices drawn with probabilities proportional to ``weights`` (int64)."""
    if generator is None:
        rng = _global()._rng
    elif isinstance(generator, np.random.Generator):
        rng = generator
    else:
        rng = generator._rng  # a CPU gpugrad.Generator holds a NumPy one
    p = weights / weights.sum()
    return rng.choice(len(weights), size=size, replace=replacement, p=p).astype(np.int64)
