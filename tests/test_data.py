"""gpugrad.utils.data: datasets, samplers, DataLoader batching, shuffling, collation, splits."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest

import gpugrad
from gpugrad.utils.data import (
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    default_collate,
    random_split,
)
from tests.utils import host


def make_ds(n=10, device="cpu"):
    x = gpugrad.arange(n * 2, dtype=gpugrad.float32, device=device).reshape(n, 2)
    y = gpugrad.arange(n, device=device)
    return TensorDataset(x, y)


def labels(loader):
    return [host(b[1]).tolist() for b in loader]


def test_tensor_dataset_sequential_batches(device):
    ds = make_ds(10, device)
    assert len(ds) == 10
    x3, y3 = ds[3]
    assert host(x3).tolist() == [6.0, 7.0] and int(y3) == 3
    loader = DataLoader(ds, batch_size=4)
    assert len(loader) == 3
    batches = list(loader)
    assert isinstance(batches[0], list) and len(batches[0]) == 2
    assert [tuple(b[0].shape) for b in batches] == [(4, 2), (4, 2), (2, 2)]
    assert labels(batches) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    for xb, yb in batches:
        assert xb.device.type == device and yb.device.type == device
        assert xb.dtype == gpugrad.float32 and yb.dtype == gpugrad.int64
    np.testing.assert_array_equal(host(batches[1][0]), np.arange(8, 16).reshape(4, 2))


def test_drop_last(device):
    loader = DataLoader(make_ds(10, device), batch_size=4, drop_last=True)
    assert len(loader) == 2
    assert labels(loader) == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_shuffle_reproducible_with_manual_seed(device):
    ds = make_ds(20, device)
    gpugrad.manual_seed(7)
    a = labels(DataLoader(ds, batch_size=6, shuffle=True))
    gpugrad.manual_seed(7)
    loader = DataLoader(ds, batch_size=6, shuffle=True)
    b = labels(loader)
    c = labels(loader)  # a new permutation each epoch
    assert a == b
    assert a != c
    flat = sorted(sum(a, []))
    assert flat == list(range(20))


def test_shuffle_with_generator_is_independent_of_global_seed():
    ds = make_ds(20)
    gpugrad.manual_seed(1)
    a = labels(DataLoader(ds, batch_size=5, shuffle=True, generator=np.random.default_rng(3)))
    gpugrad.manual_seed(2)
    b = labels(DataLoader(ds, batch_size=5, shuffle=True, generator=np.random.default_rng(3)))
    assert a == b


def test_gpugrad_generator_if_available():
    gen_cls = getattr(gpugrad, "Generator", None)
    if gen_cls is None:
        pytest.skip("gpugrad.Generator is not provided by the core")
    ds = make_ds(20)
    a = labels(DataLoader(ds, batch_size=5, shuffle=True, generator=gen_cls().manual_seed(3)))
    gpugrad.manual_seed(99)
    b = labels(DataLoader(ds, batch_size=5, shuffle=True, generator=gen_cls().manual_seed(3)))
    assert a == b


def test_subset_and_random_split(device):
    ds = make_ds(10, device)
    gpugrad.manual_seed(0)
    a, b = random_split(ds, [7, 3])
    assert len(a) == 7 and len(b) == 3
    assert sorted(a.indices + b.indices) == list(range(10))
    got = sum(labels(DataLoader(a, batch_size=3)), [])
    assert got == list(a.indices)
    assert next(iter(DataLoader(a, batch_size=3)))[0].device.type == device
    parts = random_split(ds, [0.5, 0.3, 0.2], generator=np.random.default_rng(0))
    assert [len(p) for p in parts] == [5, 3, 2]
    parts = random_split(range(11), [0.5, 0.5], generator=np.random.default_rng(0))
    assert [len(p) for p in parts] == [6, 5]
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(ds, [5, 4])
    gpugrad.manual_seed(5)
    s1 = random_split(ds, [5, 5])[0].indices
    gpugrad.manual_seed(5)
    assert random_split(ds, [5, 5])[0].indices == s1
    sub = Subset(ds, [9, 0, 4])
    assert int(sub[0][1]) == 9 and len(sub) == 3
    assert labels(DataLoader(sub, batch_size=2)) == [[9, 0], [4]]


class Squares(Dataset):
    def __len__(self):
        return 7

    def __getitem__(self, i):
        return {"x": np.full(3, i, dtype=np.float32), "y": i * i, "name": f"s{i}", "w": 0.5}


def test_generic_dataset_dict_collate():
    loader = DataLoader(Squares(), batch_size=3)
    b = next(iter(loader))
    assert set(b) == {"x", "y", "name", "w"}
    assert tuple(b["x"].shape) == (3, 3) and b["x"].dtype == gpugrad.float32
    assert host(b["y"]).tolist() == [0, 1, 4] and b["y"].dtype == gpugrad.int64
    assert b["w"].dtype == gpugrad.float64
    assert b["name"] == ["s0", "s1", "s2"]
    assert len(list(loader)) == 3


def test_default_collate_rules():
    P = namedtuple("P", "a b")
    out = default_collate([P(1, 2.0), P(3, 4.0)])
    assert isinstance(out, P) and host(out.a).tolist() == [1, 3]
    out = default_collate([(1, [True, 2]), (3, [False, 4])])
    assert isinstance(out, list) and host(out[0]).tolist() == [1, 3]
    assert out[1][0].dtype == gpugrad.bool
    t = default_collate([gpugrad.ones(2), gpugrad.zeros(2)])
    assert tuple(t.shape) == (2, 2)
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="default_collate"):
        default_collate([object(), object()])


def test_batch_size_none_and_custom_collate():
    loader = DataLoader(Squares(), batch_size=None)
    first = next(iter(loader))
    assert isinstance(first["x"], gpugrad.Tensor) and first["y"] == 0
    loader = DataLoader(make_ds(5), batch_size=2, collate_fn=lambda b: len(b))
    assert list(loader) == [2, 2, 1]


def test_samplers():
    assert list(SequentialSampler(range(3))) == [0, 1, 2]
    gpugrad.manual_seed(0)
    r = list(RandomSampler(range(6)))
    assert sorted(r) == list(range(6))
    r = list(RandomSampler(range(4), num_samples=10))
    assert len(r) == 10 and all(0 <= i < 4 for i in r)
    r = list(RandomSampler(range(4), replacement=True, num_samples=9))
    assert len(r) == 9 and all(0 <= i < 4 for i in r)
    assert sorted(SubsetRandomSampler([5, 7, 9])) == [5, 7, 9]
    bs = BatchSampler(SequentialSampler(range(5)), 2, drop_last=False)
    assert list(bs) == [[0, 1], [2, 3], [4]] and len(bs) == 3
    assert list(BatchSampler(range(5), 2, drop_last=True)) == [[0, 1], [2, 3]]
    loader = DataLoader(make_ds(6), batch_sampler=[[5, 0], [1]])
    assert labels(loader) == [[5, 0], [1]]
    loader = DataLoader(make_ds(6), sampler=[3, 2, 1], batch_size=2)
    assert labels(loader) == [[3, 2], [1]]


class Stream(IterableDataset):
    def __iter__(self):
        return iter(range(7))


def test_iterable_dataset():
    assert [host(b).tolist() for b in DataLoader(Stream(), batch_size=3)] == [
        [0, 1, 2],
        [3, 4, 5],
        [6],
    ]
    assert len(list(DataLoader(Stream(), batch_size=3, drop_last=True))) == 2
    with pytest.raises(ValueError, match="shuffle"):
        DataLoader(Stream(), shuffle=True)


def test_concat_dataset():
    cd = ConcatDataset([make_ds(3), make_ds(2)])
    assert len(cd) == 5 and int(cd[3][1]) == 0 and int(cd[-1][1]) == 1
    assert labels(DataLoader(cd, batch_size=4)) == [[0, 1, 2, 0], [1]]


def test_argument_errors():
    ds = make_ds(4)
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        DataLoader(ds, sampler=[0, 1], shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        DataLoader(ds, batch_sampler=[[0]], batch_size=2)
    with pytest.raises(ValueError, match="positive integer"):
        DataLoader(ds, batch_size=0)
    with pytest.raises(ValueError, match="num_workers"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(ValueError, match="Size mismatch"):
        TensorDataset(gpugrad.zeros(3), gpugrad.zeros(4))
    with pytest.raises(IndexError, match="out of bounds"):
        list(DataLoader(ds, sampler=[0, 9], batch_size=2))


def test_batches_do_not_alias_the_dataset():
    ds = make_ds(4)
    xb, _ = next(iter(DataLoader(ds, batch_size=2)))
    xb.add_(100)
    assert host(ds.tensors[0])[0, 0] == 0.0


def test_weighted_random_sampler(device):
    from gpugrad.utils.data import WeightedRandomSampler, get_worker_info

    gpugrad.manual_seed(0)
    sampler = WeightedRandomSampler([0.1, 0.0, 0.9], 4000)
    counts = np.bincount(list(sampler), minlength=3)
    assert len(sampler) == 4000 and counts[1] == 0 and abs(counts[2] / 4000 - 0.9) < 0.03
    weights = gpugrad.tensor([1.0, 1.0, 2.0], device=device)  # a tensor, on any device
    data = TensorDataset(gpugrad.arange(3.0, device=device))
    loader = DataLoader(data, batch_size=4, sampler=WeightedRandomSampler(weights, 8))
    assert [len(b[0]) for b in loader] == [4, 4]
    g = gpugrad.Generator().manual_seed(3)
    first = list(WeightedRandomSampler([1, 2, 3], 6, generator=g))
    g.manual_seed(3)
    assert list(WeightedRandomSampler([1, 2, 3], 6, generator=g)) == first
    assert sorted(WeightedRandomSampler([1, 2, 3], 3, replacement=False)) == [0, 1, 2]
    with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
        WeightedRandomSampler([1, 2], 0)
    with pytest.raises(ValueError, match="weights should be a 1d sequence"):
        WeightedRandomSampler([[1, 2]], 2)
    with pytest.raises(RuntimeError, match="cannot sample n_sample > prob_dist.size"):
        WeightedRandomSampler([1, 2], 3, replacement=False)
    assert get_worker_info() is None
