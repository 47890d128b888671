"""Samplers draw lazily (memory bounded by the batch, for any num_samples), follow their
generator or the global seed reproducibly, and draw with replacement 32 at a time."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import gpugrad
from gpugrad.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
)
from tests.utils import host

HUGE = 10**12


class Huge(Dataset):
    """A dataset of 10^12 samples (computed, not stored)."""

    def __len__(self) -> int:
        return HUGE

    def __getitem__(self, i: int):
        return i % 1000


def peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def take(it, n: int) -> list:
    out = []
    for _ in range(n):
        out.append(next(it))
    return out


def test_infinite_loader_idiom_is_lazy(device):
    """The "infinite loader": replacement=True, num_samples=10**12, inside a DataLoader."""
    ds = TensorDataset(gpugrad.arange(200.0, device=device).reshape(100, 2), gpugrad.arange(100))
    sampler = RandomSampler(ds, replacement=True, num_samples=HUGE)
    loader = DataLoader(ds, batch_size=256, sampler=sampler)
    assert len(loader) == -(-HUGE // 256)
    batches: list = []
    peak = peak_bytes(lambda: batches.extend(take(iter(loader), 5)))
    assert peak < 1 << 20, f"iterating 5 batches of a 10^12-sample sampler took {peak} bytes"
    assert [tuple(b[0].shape) for b in batches] == [(256, 2)] * 5
    y = np.concatenate([host(b[1]) for b in batches])
    assert y.min() >= 0 and y.max() < 100 and len(np.unique(y)) > 50


@pytest.mark.parametrize(
    "make",
    [
        lambda ds: SequentialSampler(ds),
        lambda ds: RandomSampler(ds, replacement=True),
        lambda ds: RandomSampler(range(1000), num_samples=HUGE),
        lambda ds: WeightedRandomSampler([1.0, 2.0, 3.0], HUGE),
    ],
    ids=["sequential", "random-replacement", "random-permutations", "weighted"],
)
def test_every_sampler_is_lazy(make):
    ds = Huge()
    sampler = make(ds)
    assert len(sampler) == HUGE
    got: list = []

    def run():
        got.extend(take(iter(DataLoader(ds, batch_size=64, sampler=sampler)), 4))
        got.extend(take(iter(BatchSampler(sampler, 64, drop_last=True)), 4))
        got.append(take(iter(sampler), 100))

    assert peak_bytes(run) < 1 << 20
    assert [len(b) for b in got] == [64] * 8 + [100]


def test_replacement_draws_come_32_at_a_time_from_the_generator():
    n = 10
    g = gpugrad.Generator().manual_seed(11)
    ref = gpugrad.Generator().manual_seed(11)
    got = list(RandomSampler(range(n), replacement=True, num_samples=100, generator=g))
    want = [gpugrad.randint(0, n, (32,), generator=ref).tolist() for _ in range(3)]
    want.append(gpugrad.randint(0, n, (4,), generator=ref).tolist())
    assert got == sum(want, [])
    # the stream does not depend on how it is batched
    g.manual_seed(11)
    s = RandomSampler(range(n), replacement=True, num_samples=100, generator=g)
    for bs in (7, 64):
        g.manual_seed(11)
        assert sum(BatchSampler(s, bs, drop_last=False), []) == got
        g.manual_seed(11)
        flat = np.concatenate(
            [
                host(b[0])
                for b in DataLoader(TensorDataset(gpugrad.arange(n)), batch_size=bs, sampler=s)
            ]
        ).tolist()
        assert flat == got


def test_permutations_follow_the_generator():
    g = gpugrad.Generator().manual_seed(4)
    ref = gpugrad.Generator().manual_seed(4)
    got = list(RandomSampler(range(6), num_samples=15, generator=g))
    want = [gpugrad.randperm(6, generator=ref).tolist() for _ in range(3)]
    assert got == want[0] + want[1] + want[2][:3]
    g.manual_seed(4)
    ref.manual_seed(4)
    perm = gpugrad.randperm(3, generator=ref).tolist()
    assert list(SubsetRandomSampler([10, 20, 30], generator=g)) == [[10, 20, 30][i] for i in perm]


def test_global_seed_reproducible_and_one_draw_per_pass():
    """Without a generator a pass seeds its own stream from one global draw (as PyTorch), so
    random numbers consumed between batches do not change the indices."""
    ds = TensorDataset(gpugrad.arange(50))

    def run(interleave: bool):
        gpugrad.manual_seed(3)
        out = []
        loader = DataLoader(ds, batch_size=8, sampler=RandomSampler(ds, True, 200))
        for (b,) in loader:
            out.append(b.tolist())
            if interleave:
                gpugrad.rand(5)  # e.g. dropout in the training step
        return out

    a, b = run(False), run(True)
    assert a == b and len(a) == 25
    gpugrad.manual_seed(4)
    c = [b[0].tolist() for b in DataLoader(ds, batch_size=8, sampler=RandomSampler(ds, True, 200))]
    assert c != a


def test_weighted_draws_match_the_probabilities():
    gpugrad.manual_seed(0)
    w = np.array([0.5, 0.0, 2.0, 1.5])
    counts = np.bincount(list(WeightedRandomSampler(w, 40000)), minlength=4)
    np.testing.assert_allclose(counts / 40000, w / w.sum(), atol=0.015)
    assert counts[1] == 0


def test_subclass_overriding_iter_is_respected():
    class Reversed(SequentialSampler):
        def __iter__(self):
            return iter(range(len(self.data_source) - 1, -1, -1))

    ds = TensorDataset(gpugrad.arange(5))
    assert list(BatchSampler(Reversed(ds), 2, False)) == [[4, 3], [2, 1], [0]]
    assert [b[0].tolist() for b in DataLoader(ds, batch_size=2, sampler=Reversed(ds))] == [
        [4, 3],
        [2, 1],
        [0],
    ]


def test_batch_sampler_matches_torch():
    torch = pytest.importorskip("torch")
    for n, bs, drop in [(10, 3, False), (10, 3, True), (9, 3, True), (1, 4, False)]:
        want = list(torch.utils.data.BatchSampler(range(n), bs, drop))
        assert list(BatchSampler(range(n), bs, drop)) == want
        assert list(BatchSampler(SequentialSampler(range(n)), bs, drop)) == want
        assert len(BatchSampler(range(n), bs, drop)) == len(want)


def test_base_classes_are_generic_as_in_torch():
    class Lengths(Sampler[int]):
        def __init__(self, n: int) -> None:
            self.n = n

        def __iter__(self):
            return iter(range(self.n - 1, -1, -1))

        def __len__(self) -> int:
            return self.n

    class Pairs(Dataset[tuple]):
        def __len__(self) -> int:
            return 3

        def __getitem__(self, i: int) -> tuple:
            return (i, -i)

    loader = DataLoader(Pairs(), batch_size=2, sampler=Lengths(3))
    assert [[t.tolist() for t in b] for b in loader] == [[[2, 1], [-2, -1]], [[0], [0]]]
