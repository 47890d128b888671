"""Samplers: the order in which a DataLoader visits dataset indices.

Every sampler draws lazily: ``_index_chunks`` yields the indices of one pass as small int64
arrays (at most ``max(len(dataset), _CHUNK)`` long), so ``RandomSampler(ds, replacement=True,
num_samples=10**12)`` costs memory for one chunk, not for 10^12 indices. ``BatchSampler``
cuts those chunks into batches and ``__iter__`` turns them into Python ints.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sized
from typing import Generic, TypeVar

import numpy as np

from . import _random

__all__ = [
    "BatchSampler",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "SubsetRandomSampler",
    "WeightedRandomSampler",
]

_CHUNK = 32  # draws with replacement come 32 at a time, as in PyTorch's RandomSampler
_SEQUENTIAL_CHUNK = 1024  # arange is cheap: small chunks keep a pass in small memory


_T_co = TypeVar("_T_co", covariant=True)


class Sampler(Generic[_T_co]):
    """Base class: iterates over dataset indices (or, for batch samplers, lists of them)."""

    def __init__(self, data_source: Sized | None = None) -> None:
        pass

    def __iter__(self) -> Iterator:
        raise NotImplementedError

    def _index_chunks(self) -> Iterator[np.ndarray] | None:
        """One pass as a lazy stream of int64 arrays, or None if this sampler cannot."""
        return None


def _chunks_of(sampler) -> Iterator[np.ndarray] | None:
    """``sampler``'s index chunks, unless a subclass overrides ``__iter__`` (then its own
    ``__iter__`` is what defines the order, and the chunks would bypass it)."""
    if not isinstance(sampler, Sampler):
        return None
    for cls in type(sampler).__mro__:
        if "_index_chunks" in cls.__dict__:
            if type(sampler).__iter__ is not cls.__iter__:
                return None
            return sampler._index_chunks()
    return None


class _ChunkedSampler(Sampler):
    """A sampler whose ``__iter__`` is its chunk stream, as Python ints."""

    def __iter__(self) -> Iterator[int]:
        for chunk in self._index_chunks():
            yield from chunk.tolist()

    def _index_chunks(self) -> Iterator[np.ndarray]:
        raise NotImplementedError


class SequentialSampler(_ChunkedSampler):
    """Indices 0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def _index_chunks(self) -> Iterator[np.ndarray]:
        n = len(self.data_source)
        for start in range(0, n, _SEQUENTIAL_CHUNK):
            yield np.arange(start, min(start + _SEQUENTIAL_CHUNK, n), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(_ChunkedSampler):
    """Shuffled indices (a fresh permutation each pass), or draws with replacement.

    Without a ``generator`` each pass seeds a stream of its own from one draw of the global
    generator, as PyTorch does; draws with replacement come 32 at a time.
    """

    def __init__(
        self,
        data_source: Sized,
        replacement: bool = False,
        num_samples: int | None = None,
        generator=None,
    ) -> None:
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(replacement, bool):
            raise TypeError(
                f"replacement should be a boolean value, but got replacement={replacement}"
            )
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError(
                "num_samples should be a positive integer value, but got "
                f"num_samples={self.num_samples}"
            )

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def _index_chunks(self) -> Iterator[np.ndarray]:
        n, k = len(self.data_source), self.num_samples
        rng = _random.fresh_stream(self.generator)
        if self.replacement:
            for _ in range(k // _CHUNK):
                yield _random.randint(n, _CHUNK, rng)
            if k % _CHUNK:
                yield _random.randint(n, k % _CHUNK, rng)
            return
        for _ in range(k // n):
            yield _random.randperm(n, rng)
        if k % n:
            yield _random.randperm(n, rng)[: k % n]

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(_ChunkedSampler):
    """The given indices in a random order (a fresh one each pass)."""

    def __init__(self, indices, generator=None) -> None:
        self.indices = indices
        self.generator = generator

    def _index_chunks(self) -> Iterator[np.ndarray]:
        idx = np.asarray(self.indices, dtype=np.int64)
        yield idx[_random.randperm(len(idx), self.generator)]

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(_ChunkedSampler):
    """``num_samples`` indices drawn with probabilities proportional to ``weights`` (with
    replacement by default): oversampling for imbalanced classes."""

    def __init__(self, weights, num_samples: int, replacement: bool = True, generator=None) -> None:
        if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples <= 0:
            raise ValueError(
                f"num_samples should be a positive integer value, but got num_samples={num_samples}"
            )
        if not isinstance(replacement, bool):
            raise ValueError(
                f"replacement should be a boolean value, but got replacement={replacement}"
            )
        w = weights.detach().cpu().numpy() if hasattr(weights, "detach") else weights
        w = np.asarray(w, dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(
                f"weights should be a 1d sequence but given weights have shape {tuple(w.shape)}"
            )
        if (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
            raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
        if not replacement and num_samples > int((w > 0).sum()):
            raise RuntimeError(
                "cannot sample n_sample > prob_dist.size(-1) samples without replacement"
            )
        self.weights, self.num_samples = w, num_samples
        self.replacement, self.generator = replacement, generator

    def _index_chunks(self) -> Iterator[np.ndarray]:
        if not self.replacement:  # num_samples <= len(weights): bounded by the dataset
            yield _random.weighted(self.weights, self.num_samples, False, self.generator)
            return
        # inverse-CDF draws, a chunk at a time: the CDF is built once, not per chunk
        cdf = np.cumsum(self.weights)
        rng = _random.stream(self.generator)
        last = len(cdf) - 1
        for start in range(0, self.num_samples, _CHUNK):
            u = rng.random(min(_CHUNK, self.num_samples - start)) * cdf[-1]
            idx = np.searchsorted(cdf, u, side="right")
            yield np.minimum(idx, last).astype(np.int64, copy=False)

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Groups another sampler's indices into lists of ``batch_size``."""

    def __init__(self, sampler: Sampler | Iterable[int], batch_size: int, drop_last: bool) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(
                f"batch_size should be a positive integer value, but got batch_size={batch_size}"
            )
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        for b in self._index_batches():
            yield b.tolist() if isinstance(b, np.ndarray) else b

    def _index_batches(self) -> Iterator:
        """Batches as int64 arrays when the sampler streams index chunks, else as lists."""
        chunks = _chunks_of(self.sampler)
        if chunks is not None:
            yield from _rebatch(chunks, self.batch_size, self.drop_last)
            return
        it = iter(self.sampler)
        while batch := list(itertools.islice(it, self.batch_size)):
            if len(batch) < self.batch_size and self.drop_last:
                return
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


def _rebatch(chunks: Iterator[np.ndarray], size: int, drop_last: bool) -> Iterator[np.ndarray]:
    """Cut a stream of index arrays into arrays of ``size`` (the last one shorter)."""
    pending: list[np.ndarray] = []
    count = 0
    for chunk in chunks:
        pending.append(chunk)
        count += len(chunk)
        if count < size:
            continue
        buf = np.concatenate(pending) if len(pending) > 1 else pending[0]
        stop = len(buf) - len(buf) % size
        for i in range(0, stop, size):
            yield buf[i : i + size]
        pending = [buf[stop:]] if stop < len(buf) else []
        count = len(buf) - stop
    if count and not drop_last:
        yield np.concatenate(pending)


class _InfiniteConstantSampler(Sampler):
    """None, forever: the DataLoader's sampler for an IterableDataset (the stream decides
    where it ends; a BatchSampler over this only counts out each batch's size)."""

    def __iter__(self) -> Iterator[None]:
        return itertools.repeat(None)
