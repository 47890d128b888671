"""``DistributedSampler``: each rank's share of a dataset (PyTorch's layout, index for index).

The dataset's indices (a seeded permutation with ``shuffle``, else in order) are padded by
repeating from the start, or cut with ``drop_last``, to a multiple of ``num_replicas``;
rank r takes every ``num_replicas``-th index from position r. Every rank must use the same
seed; ``set_epoch`` before each epoch gives a new permutation.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sized

import gpugrad

from .sampler import Sampler


class DistributedSampler(Sampler):
    """Samples the part of ``dataset`` that belongs to rank ``rank`` of ``num_replicas``."""

    def __init__(
        self,
        dataset: Sized,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        if num_replicas is None or rank is None:
            import gpugrad.distributed as dist

            if not dist.is_initialized():
                raise ValueError(
                    "Default process group has not been initialized, please make sure to call "
                    "init_process_group."
                )
            if num_replicas is None:
                num_replicas = dist.get_world_size()
            if rank is None:
                rank = dist.get_rank()
        if rank >= num_replicas or rank < 0:
            raise ValueError(
                f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]"
            )
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        n = len(dataset)
        if drop_last and n % num_replicas != 0:
            # the smallest share that every rank can fill without repeating an index
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle = shuffle
        self.seed = seed

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        if self.shuffle:
            g = gpugrad.Generator()
            g.manual_seed(self.seed + self.epoch)
            indices = gpugrad.randperm(n, generator=g).tolist()
        else:
            indices = list(range(n))
        if not self.drop_last:
            pad = self.total_size - len(indices)
            if pad <= len(indices):
                indices += indices[:pad]
            else:
                indices += (indices * math.ceil(pad / len(indices)))[:pad]
        else:
            indices = indices[: self.total_size]
        return iter(indices[self.rank : self.total_size : self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch`` in the shuffle's seed: call it before each epoch's iterator."""
        self.epoch = epoch
