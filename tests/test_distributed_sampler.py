"""DistributedSampler: shards against torch.utils.data.DistributedSampler's."""

from __future__ import annotations

import pytest

import gpugrad
from gpugrad.utils.data.distributed import DistributedSampler

torch = pytest.importorskip("torch")
from torch.utils.data import DistributedSampler as TorchSampler  # noqa: E402

CASES = [(10, 3), (12, 4), (7, 2), (3, 5), (1, 2), (16, 1), (11, 4)]


def shards(cls, n: int, world: int, **kw) -> list:
    return [list(cls(range(n), num_replicas=world, rank=r, **kw)) for r in range(world)]


@pytest.mark.parametrize("n,world", CASES)
@pytest.mark.parametrize("drop_last", [False, True])
def test_unshuffled_layout_equals_pytorchs(n, world, drop_last):
    ours = shards(DistributedSampler, n, world, shuffle=False, drop_last=drop_last)
    theirs = shards(TorchSampler, n, world, shuffle=False, drop_last=drop_last)
    assert ours == theirs
    for r in range(world):
        s, t = (
            DistributedSampler(range(n), world, r, drop_last=drop_last),
            TorchSampler(range(n), world, r, drop_last=drop_last),
        )
        assert (len(s), s.num_samples, s.total_size) == (len(t), t.num_samples, t.total_size)


@pytest.mark.parametrize("n,world", CASES)
def test_shuffled_shards_are_disjoint_cover_the_dataset_and_pad_as_pytorch(n, world):
    got = shards(DistributedSampler, n, world, shuffle=True, seed=5)
    total = [i for s in got for i in s]
    assert sorted(set(total)) == list(range(n))  # covers everything
    assert len({len(s) for s in got}) == 1  # equal shares
    if n % world == 0:
        assert len(total) == len(set(total)) == n  # disjoint
    else:  # the padding repeats the permutation's first indices, as PyTorch's
        assert len(total) == len(got[0]) * world
    # the shards are the interleaving of one permutation: the same seed on every rank
    perm = [got[j % world][j // world] for j in range(len(total))]
    assert sorted(perm[:n]) == list(range(n))
    assert perm[n:] == (perm[:n] * world)[: len(total) - n]


def test_drop_last_keeps_only_whole_rounds_without_repeats():
    got = shards(DistributedSampler, 11, 4, shuffle=True, drop_last=True)
    total = [i for s in got for i in s]
    assert len(total) == 8 and len(set(total)) == 8


def test_set_epoch_reshuffles_and_is_deterministic():
    s = DistributedSampler(range(50), num_replicas=2, rank=1, seed=3)
    e0 = list(s)
    assert list(s) == e0  # same epoch, same order
    s.set_epoch(1)
    e1 = list(s)
    assert e1 != e0 and sorted(set(e0) | set(e1)) != []  # a new permutation
    s.set_epoch(0)
    assert list(s) == e0
    other = DistributedSampler(range(50), num_replicas=2, rank=1, seed=4)
    assert list(other) != e0  # the seed matters


def test_with_a_dataloader_each_rank_sees_its_share():
    ds = gpugrad.utils.data.TensorDataset(gpugrad.arange(10))
    seen = []
    for r in range(3):
        sampler = DistributedSampler(ds, num_replicas=3, rank=r, shuffle=False)
        loader = gpugrad.utils.data.DataLoader(ds, batch_size=2, sampler=sampler)
        seen.append([int(v) for (batch,) in loader for v in batch.tolist()])
    theirs = shards(TorchSampler, 10, 3, shuffle=False)
    assert seen == theirs


def test_errors_as_pytorch():
    with pytest.raises(ValueError) as ours:
        DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(ValueError) as theirs:
        TorchSampler(range(4), num_replicas=2, rank=2)
    assert str(ours.value) == str(theirs.value)
    import gpugrad.distributed as dist

    if not dist.is_initialized():
        with pytest.raises(ValueError, match="init_process_group"):
            DistributedSampler(range(4))
