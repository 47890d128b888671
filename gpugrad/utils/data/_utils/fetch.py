"""Fetchers: an index (or a batch of indices) in, a collated sample or batch out.

The same fetchers run in the main process (``num_workers=0``) and in worker processes.
A TensorDataset (or a Subset of one) with the default collate takes a fast path: each batch
is one gather per tensor with an index array on the tensors' device, so a dataset held on
cuda yields cuda batches without per-sample work.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..dataset import Subset, TensorDataset
from .collate import default_collate


def _batch_gather(ds) -> Callable | None:
    """A function (int64 index array -> collated batch) for datasets that can gather in bulk."""
    t = type(ds)
    if isinstance(ds, TensorDataset) and t.__getitem__ is TensorDataset.__getitem__:
        return ds._get_batch
    if (
        isinstance(ds, Subset)
        and t.__getitem__ is Subset.__getitem__
        and t.__getitems__ is Subset.__getitems__
    ):
        inner = _batch_gather(ds.dataset)
        if inner is not None:
            mapping = np.asarray(ds.indices, dtype=np.int64)
            return lambda idx: inner(mapping[idx])
    return None


class MapDatasetFetcher:
    """``dataset[i]`` for each index of a batch (``__getitems__`` when the dataset has it)."""

    def __init__(self, dataset, auto_collation: bool, collate_fn: Callable, drop_last: bool):
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.gather = _batch_gather(dataset) if collate_fn is default_collate else None

    def fetch(self, index):
        if not self.auto_collation:
            return self.collate_fn(self.dataset[index])
        if self.gather is not None:
            return self.gather(np.asarray(index, dtype=np.int64))
        if isinstance(index, np.ndarray):
            index = index.tolist()
        getitems = getattr(self.dataset, "__getitems__", None)
        if callable(getitems):
            return self.collate_fn(getitems(index))
        return self.collate_fn([self.dataset[i] for i in index])


class IterableDatasetFetcher:
    """The next sample, or the next ``len(index)`` samples, of the dataset's stream."""

    def __init__(self, dataset, auto_collation: bool, collate_fn: Callable, drop_last: bool):
        self.dataset_iter = iter(dataset)
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self.ended = False

    def fetch(self, index):
        if self.ended:
            raise StopIteration
        if not self.auto_collation:
            return self.collate_fn(next(self.dataset_iter))
        data = []
        for _ in range(len(index)):
            try:
                data.append(next(self.dataset_iter))
            except StopIteration:
                self.ended = True
                break
        if not data or (self.drop_last and len(data) < len(index)):
            raise StopIteration
        return self.collate_fn(data)


def create_fetcher(iterable: bool, dataset, auto_collation, collate_fn, drop_last):
    cls = IterableDatasetFetcher if iterable else MapDatasetFetcher
    return cls(dataset, auto_collation, collate_fn, drop_last)
