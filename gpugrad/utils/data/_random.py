"""Host-side random indices for samplers and random_split, drawn from a generator or the
global CPU generator (so ``gpugrad.manual_seed`` makes shuffling reproducible).

A ``generator`` may be a CPU ``gpugrad.Generator``, a ``numpy.random.Generator``, or None
(the global stream). Draws are NumPy int64 arrays; they never leave the host.
"""

from __future__ import annotations

import numpy as np

_INT64_HIGH = 2**63 - 1


def _cpu():
    from ...backend import cpu_backend

    return cpu_backend()


def stream(generator=None):
    """The NumPy generator to draw from: ``generator``'s own, or the global CPU one."""
    if generator is None:
        return _cpu()._rng
    if isinstance(generator, np.random.Generator):
        return generator
    from ..._device import canonical
    from ..._generator import rng_for

    return rng_for(generator, canonical("cpu"))


def seed64(generator=None) -> int:
    """One non-negative int64, as ``torch.empty((), dtype=torch.int64).random_(generator)``."""
    return int(stream(generator).integers(0, _INT64_HIGH, dtype=np.int64))


def fresh_stream(generator=None):
    """``generator``'s stream, or without one a new stream seeded by one global draw.

    PyTorch's RandomSampler does the same: one draw from the global generator per pass, so a
    pass's indices do not depend on what else consumes random numbers while it runs.
    """
    if generator is not None:
        return stream(generator)
    return _cpu().new_rng(seed64())


def randperm(n: int, generator=None) -> np.ndarray:
    """A permutation of ``range(n)`` as a NumPy int64 array."""
    return np.asarray(_cpu().randperm(n, np.int64, stream(generator)), dtype=np.int64)


def randint(high: int, size: int, generator=None) -> np.ndarray:
    """``size`` integers uniform in ``[0, high)`` as a NumPy int64 array."""
    return np.asarray(_cpu().randint(0, high, (size,), np.int64, stream(generator)))


def weighted(weights: np.ndarray, size: int, replacement: bool, generator=None) -> np.ndarray:
    """``size`` indices drawn with probabilities proportional to ``weights`` (int64)."""
    p = weights / weights.sum()
    rng = stream(generator)
    return rng.choice(len(weights), size=size, replace=replacement, p=p).astype(np.int64)
