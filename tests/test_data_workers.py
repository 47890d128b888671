"""DataLoader(num_workers=N): worker processes as PyTorch's (seeding, worker info, order,
persistent workers, prefetch, timeouts, errors, a killed worker, shutdown) and pin_memory."""

from __future__ import annotations

import gc
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest

import gpugrad
from gpugrad.utils.data import (
    DataLoader,
    Dataset,
    IterableDataset,
    TensorDataset,
    get_worker_info,
)
from gpugrad.utils.data._utils.worker import generate_state
from tests.utils import host


class Rows(Dataset):
    """Sample i: a float32 row, its label, a string, a float."""

    def __init__(self, n: int = 20) -> None:
        self.n = n
        self.offset = 0

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        return {
            "x": np.full(3, i, dtype=np.float32),
            "y": i + self.offset,
            "name": f"s{i}",
            "w": gpugrad.tensor([i], dtype=gpugrad.float16),
        }


class WhoAmI(Dataset):
    """What the worker sees: its info, its pid and its random streams."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int):
        info = get_worker_info()
        return (
            info.id,
            info.num_workers,
            info.seed,
            os.getpid(),
            random.random(),
            float(np.random.rand()),
            float(gpugrad.rand(()).item()),
            type(info.dataset).__name__,
        )


class Failing(Dataset):
    def __init__(self, exc: type[Exception]) -> None:
        self.exc = exc

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int):
        if i == 5:
            raise self.exc("sample 5 is broken")
        return i


class Killed(Dataset):
    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int):
        if i == 5:
            os.kill(os.getpid(), signal.SIGKILL)
        return i


class Slow(Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int):
        time.sleep(3 if i == 0 else 0)
        return i


class Sharded(IterableDataset):
    """range(start, stop), split between workers as PyTorch's docs show."""

    def __init__(self, start: int, stop: int) -> None:
        self.start, self.stop = start, stop

    def __iter__(self):
        info = get_worker_info()
        if info is None:
            return iter(range(self.start, self.stop))
        per = -(-(self.stop - self.start) // info.num_workers)
        lo = self.start + info.id * per
        return iter(range(lo, min(lo + per, self.stop)))


def shard_offset(worker_id: int) -> None:
    get_worker_info().dataset.offset = 1000 * (worker_id + 1)


def pid_collate(batch):
    return os.getpid(), [s["y"] for s in batch]


def test_map_style_matches_in_process_loading():
    ds = Rows(21)
    want = list(DataLoader(ds, batch_size=4))
    got = list(DataLoader(ds, batch_size=4, num_workers=2))
    assert len(got) == len(want) == 6
    for a, b in zip(got, want):
        assert set(a) == {"x", "y", "name", "w"}
        for key in ("x", "y", "w"):
            assert a[key].dtype == b[key].dtype and a[key].device.type == "cpu"
            np.testing.assert_array_equal(host(a[key]), host(b[key]))
        assert a["name"] == b["name"]


def test_shuffled_order_and_tensor_dataset_fast_path():
    x = gpugrad.arange(60.0).reshape(30, 2)
    ds = TensorDataset(x, gpugrad.arange(30))
    gen = gpugrad.Generator()

    def labels(num_workers):
        gen.manual_seed(5)
        loader = DataLoader(ds, batch_size=4, shuffle=True, generator=gen, num_workers=num_workers)
        return [b[1].tolist() for b in loader]

    single = labels(0)
    assert labels(2) == single and labels(1) == single  # in order, whatever worker loads it
    assert sorted(sum(single, [])) == list(range(30))
    xb, yb = next(iter(DataLoader(ds, batch_size=5, num_workers=2)))
    np.testing.assert_array_equal(host(xb), np.arange(10.0).reshape(5, 2))
    assert xb.dtype == gpugrad.float32 and yb.dtype == gpugrad.int64


def test_collate_fn_and_worker_init_fn_run_in_the_workers():
    ds = Rows(12)
    loader = DataLoader(ds, batch_size=3, num_workers=2, collate_fn=pid_collate)
    got = list(loader)
    pids = {pid for pid, _ in got}
    assert os.getpid() not in pids and len(pids) == 2
    assert [ys for _, ys in got] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]
    loader = DataLoader(ds, batch_size=3, num_workers=2, worker_init_fn=shard_offset)
    ys = [b["y"].tolist() for b in loader]
    # batches alternate between worker 0 and worker 1 (round-robin, returned in order)
    assert ys == [[1000, 1001, 1002], [2003, 2004, 2005], [1006, 1007, 1008], [2009, 2010, 2011]]
    assert ds.offset == 0  # the workers changed their own copies


def test_worker_info_and_seeding_as_pytorch():
    torch = pytest.importorskip("torch")
    assert get_worker_info() is None
    gpugrad.manual_seed(123)
    rows = [s for b in DataLoader(WhoAmI(), batch_size=None, num_workers=2) for s in [b]]
    by_worker: dict[int, list] = {}
    for r in rows:
        by_worker.setdefault(int(r[0]), []).append(r)
    assert sorted(by_worker) == [0, 1]
    seeds = {wid: int(rs[0][2]) for wid, rs in by_worker.items()}
    base_seed = seeds[0]
    assert seeds[1] == base_seed + 1  # base_seed + worker id
    assert 0 <= base_seed < 2**63
    for wid, rs in by_worker.items():
        assert all(int(r[1]) == 2 and r[7] == "WhoAmI" for r in rs)
        assert len({r[3] for r in rs}) == 1 and rs[0][3] != os.getpid()
        # each library's stream starts where PyTorch's worker seeding puts it
        py, nprng = random.Random(seeds[wid]), np.random.RandomState()
        state = torch.utils.data._utils.worker._generate_state(base_seed, wid)
        assert generate_state(base_seed, wid) == state
        nprng.seed(state)
        gpugrad.manual_seed(seeds[wid])
        for r in rs:
            assert r[4] == py.random()
            assert r[5] == nprng.rand()
            assert r[6] == gpugrad.rand(()).item()
    # the base seed comes from the global generator: reseeding repeats it, a new pass changes it
    gpugrad.manual_seed(123)
    again = next(iter(DataLoader(WhoAmI(), batch_size=None, num_workers=2)))
    assert int(again[2]) == base_seed
    gpugrad.manual_seed(124)
    other = next(iter(DataLoader(WhoAmI(), batch_size=None, num_workers=2)))
    assert int(other[2]) != base_seed


def torch_iterable_reference(torch, start, stop, **kw):
    class TorchSharded(torch.utils.data.IterableDataset):
        def __iter__(self):
            info = torch.utils.data.get_worker_info()
            if info is None:
                return iter(range(start, stop))
            per = -(-(stop - start) // info.num_workers)
            lo = start + info.id * per
            return iter(range(lo, min(lo + per, stop)))

    loader = torch.utils.data.DataLoader(TorchSharded(), multiprocessing_context="fork", **kw)
    return [b.tolist() if hasattr(b, "tolist") else b for b in loader]


@pytest.mark.parametrize(
    "kw",
    [
        {"batch_size": 3, "num_workers": 2},
        {"batch_size": 3, "num_workers": 2, "drop_last": True},
        {"batch_size": None, "num_workers": 2},
        {"batch_size": 2, "num_workers": 2, "in_order": False},
    ],
)
def test_iterable_dataset_in_workers_matches_torch(kw):
    torch = pytest.importorskip("torch")
    got = [b.tolist() if hasattr(b, "tolist") else b for b in DataLoader(Sharded(3, 20), **kw)]
    want = torch_iterable_reference(torch, 3, 20, **kw)
    if kw.get("in_order", True):
        assert got == want
    else:
        assert sorted(map(str, got)) == sorted(map(str, want))


def test_persistent_workers_serve_every_epoch():
    loader = DataLoader(
        Rows(10), batch_size=4, num_workers=2, persistent_workers=True, collate_fn=pid_collate
    )
    epochs = [list(loader) for _ in range(3)]
    assert all([ys for _, ys in e] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]] for e in epochs)
    pids = [{pid for pid, _ in e} for e in epochs]
    assert pids[0] == pids[1] == pids[2] and len(pids[0]) == 2
    workers = loader._iterator._workers
    assert all(w.is_alive() for w in workers)
    half = iter(loader)  # a pass abandoned half way: the next pass starts from the beginning
    next(half)
    assert [ys for _, ys in loader] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    stream = DataLoader(Sharded(0, 7), batch_size=2, num_workers=2, persistent_workers=True)
    for _ in range(2):
        assert sorted(sum((b.tolist() for b in stream), [])) == list(range(7))
    loader._iterator._shutdown_workers()
    assert not any(w.is_alive() for w in workers)


def test_workers_stop_at_the_end_of_a_pass_and_on_deletion():
    it = iter(DataLoader(Rows(10), batch_size=2, num_workers=2))
    workers = list(it._workers)
    assert len(list(it)) == 5
    assert not any(w.is_alive() for w in workers)
    it = iter(DataLoader(Rows(40), batch_size=2, num_workers=2, prefetch_factor=3))
    next(it)
    workers = list(it._workers)
    assert all(w.is_alive() for w in workers)
    del it
    gc.collect()
    deadline = time.monotonic() + 10
    while any(w.is_alive() for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(w.is_alive() for w in workers)


@pytest.mark.parametrize("exc", [ValueError, KeyError, IndexError])
def test_worker_exception_is_reraised_with_its_traceback(exc):
    loader = DataLoader(Failing(exc), batch_size=2, num_workers=2)
    with pytest.raises(exc) as info:
        list(loader)
    text = str(info.value)
    assert "Caught " + exc.__name__ + " in DataLoader worker process 0." in text
    assert "Original Traceback (most recent call last):" in text
    assert "sample 5 is broken" in text and "__getitem__" in text
    assert "\\n" not in text  # KeyError's message is not repr-escaped


def test_killed_worker_is_an_error_not_a_hang():
    start = time.monotonic()
    with pytest.raises(
        RuntimeError, match=r"DataLoader worker \(pid\(s\) \d+\) exited unexpectedly"
    ):
        list(DataLoader(Killed(), batch_size=2, num_workers=2))
    assert time.monotonic() - start < 15


def test_timeout():
    with pytest.raises(RuntimeError, match=r"DataLoader timed out after 0.5 seconds"):
        list(DataLoader(Slow(), batch_size=1, num_workers=1, timeout=0.5))


def test_non_leaf_tensor_cannot_cross_processes():
    class Graph(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return gpugrad.ones(2, requires_grad=True) * 2

    with pytest.raises(RuntimeError, match="Cowardly refusing to serialize non-leaf tensor"):
        list(DataLoader(Graph(), batch_size=None, num_workers=1, multiprocessing_context="fork"))


def test_spawn_context():
    loader = DataLoader(Rows(6), batch_size=3, num_workers=1, multiprocessing_context="spawn")
    assert [b["y"].tolist() for b in loader] == [[0, 1, 2], [3, 4, 5]]
    ds = TensorDataset(gpugrad.arange(6.0))  # the dataset is pickled to the worker
    out = list(DataLoader(ds, batch_size=3, num_workers=1, multiprocessing_context="spawn"))
    assert [b[0].tolist() for b in out] == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]


def error_of(fn):
    try:
        fn()
    except Exception as e:
        return type(e), str(e)
    return None


@pytest.mark.parametrize(
    "kw",
    [
        {"prefetch_factor": 2},
        {"num_workers": 2, "prefetch_factor": -1},
        {"persistent_workers": True},
        {"multiprocessing_context": "fork"},
        {"num_workers": 1, "multiprocessing_context": "nope"},
        {"num_workers": 1, "multiprocessing_context": 3},
        {"num_workers": -1},
        {"timeout": -1},
    ],
)
def test_argument_errors_match_torch(kw):
    torch = pytest.importorskip("torch")
    want = error_of(lambda: torch.utils.data.DataLoader(list(range(4)), **kw))
    got = error_of(lambda: DataLoader(list(range(4)), **kw))
    assert want is not None and got == want


def test_more_workers_than_cpus_warns_and_frozen_attributes():
    n = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()) + 1
    with pytest.warns(UserWarning, match=f"This DataLoader will create {n} worker processes"):
        loader = DataLoader(Rows(4), num_workers=n)
    with pytest.raises(ValueError, match="batch_size attribute should not be set after"):
        loader.batch_size = 3
    loader.num_workers = 0  # not frozen, as in PyTorch


def test_pin_memory_without_an_accelerator_warns_and_changes_nothing():
    if gpugrad.cuda.is_available():
        pytest.skip("a GPU is present: pinning takes effect")
    torch = pytest.importorskip("torch")
    with warnings.catch_warnings(record=True) as want:
        warnings.simplefilter("always")
        next(iter(torch.utils.data.DataLoader(list(range(4)), pin_memory=True)))
    for workers in (0, 2):
        loader = DataLoader(Rows(6), batch_size=3, pin_memory=True, num_workers=workers)
        with warnings.catch_warnings(record=True) as got:
            warnings.simplefilter("always")
            ys = [b["y"].tolist() for b in loader]
        assert ys == [[0, 1, 2], [3, 4, 5]]
        pin = [str(w.message) for w in got if "pin" in str(w.message)]
        assert pin == [str(w.message) for w in want] and len(pin) == 1


def test_exit_with_live_workers_does_not_hang(tmp_path):
    script = tmp_path / "exit_with_workers.py"
    script.write_text(
        textwrap.dedent(
            """
            import gpugrad
            from gpugrad.utils.data import DataLoader, TensorDataset
            ds = TensorDataset(gpugrad.arange(1000.0))
            a = DataLoader(ds, batch_size=2, num_workers=2, persistent_workers=True)
            b = DataLoader(ds, batch_size=2, num_workers=2)
            next(iter(a)); it = iter(b); next(it)
            print("done")
            """
        )
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "done"


def failing_init(worker_id: int) -> None:
    if worker_id == 1:
        raise ZeroDivisionError("init of worker 1")


def test_worker_init_fn_error_is_reraised():
    loader = DataLoader(Rows(8), batch_size=2, num_workers=2, worker_init_fn=failing_init)
    with pytest.raises(
        ZeroDivisionError, match="Caught ZeroDivisionError in DataLoader worker process 1"
    ) as info:
        list(loader)
    assert "init of worker 1" in str(info.value) and "failing_init" in str(info.value)
