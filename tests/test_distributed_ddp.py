"""DistributedDataParallel: on 2 and 3 ranks against one process on the global batch, an
unchanged PyTorch DDP script against real torch's DDP, and its construction in this process."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import gpugrad
import gpugrad.distributed as dist
from gpugrad import nn
from tests.distributed_scripts.launch import (
    HERE,
    free_port,
    launch,
    needs_mpi,
    needs_nccl,
    run_job,
)


@needs_mpi
@pytest.mark.parametrize("nproc", [2, 3])
def test_ddp_equals_one_process_on_the_global_batch(nproc):
    """SGD with momentum and Adam, one and many buckets, gradients as bucket views, no_sync,
    unused parameters with and without find_unused_parameters, buffers broadcast."""
    rc, out, _ = launch("ddp.py", nproc, timeout=120)
    assert rc == 0, out
    for r in range(nproc):
        assert f"OK rank {r}" in out, out


@needs_nccl
def test_ddp_on_nccl_with_cuda_tensors_equals_one_process():
    rc, out, _ = launch("ddp.py", 2, timeout=180, env={"DIST_DEVICE": "cuda"})
    assert rc == 0, out
    assert "OK rank 0" in out and "OK rank 1" in out, out


@needs_mpi
def test_an_unchanged_pytorch_script_trains_as_torch_ddp_does(tmp_path):
    """tests/distributed_scripts/torch_ddp.py imports torch only: run with real torch under
    the launcher (gloo, the launcher's MASTER_ADDR/PORT), then with --as-torch on gpugrad."""
    pytest.importorskip("torch")
    results = {}
    for lib, flags in (("torch", ["--master-port", free_port()]), ("gpugrad", ["--as-torch"])):
        out_file = tmp_path / f"{lib}.npz"
        argv = [sys.executable, "-m", "gpugrad.distributed.run", "--nproc-per-node", "2"]
        script = [str(HERE / "torch_ddp.py"), "--optim", "adam", "--out", str(out_file)]
        rc, out, _ = run_job([*argv, *flags, *script], timeout=120)
        assert rc == 0, out
        results[lib] = np.load(out_file)
    ours, theirs = results["gpugrad"], results["torch"]
    assert sorted(ours.files) == sorted(theirs.files)
    assert all(k.startswith("module.") for k in ours.files)
    for k in theirs.files:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-6, atol=1e-12, err_msg=k)


@pytest.fixture
def one_rank_group():
    pytest.importorskip("mpi4py")
    if dist.is_initialized():
        pytest.skip("a group is initialized in this process")
    dist.init_process_group("gloo")
    yield
    dist.destroy_process_group()


def test_wrapper_attributes_and_state_dict_keys_as_pytorch(one_rank_group):
    torch = pytest.importorskip("torch")
    inner = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    ddp = nn.parallel.DistributedDataParallel(inner)
    assert ddp.module is inner
    keys = list(ddp.state_dict())
    tinner = torch.nn.Sequential(
        torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2)
    )
    assert keys == ["module." + k for k in tinner.state_dict()]
    assert [n for n, _ in ddp.named_parameters()] == [
        "module." + n for n, _ in tinner.named_parameters()
    ]
    # one rank: the averaged gradient is the gradient itself
    x = gpugrad.randn(5, 3)
    ddp(x).pow(2).sum().backward()
    ref = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    ref.load_state_dict(inner.state_dict())
    ref.zero_grad()
    # the same forward again on the copy: BatchNorm's batch statistics give equal outputs
    ref(x).pow(2).sum().backward()
    for p, q in zip(inner.parameters(), ref.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-6)


def test_construction_errors(one_rank_group):
    with pytest.raises(ValueError, match="device_ids and output_device arguments only work"):
        nn.parallel.DistributedDataParallel(nn.Linear(2, 2), device_ids=[0])
    frozen = nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(RuntimeError, match="doesn't have any parameter that requires a gradient"):
        nn.parallel.DistributedDataParallel(frozen)


@pytest.mark.parametrize(
    "sizes",
    [(300_000, 10, 200_000, 5), (100, 200_000, 100_000, 50, 300_000), (7,) * 5, (400_000,) * 4],
)
@pytest.mark.parametrize("limits", [(2**20, 25 * 2**20), (2**19, 2**19), (4000, 4000)])
def test_bucket_assignment_equals_pytorchs(sizes, limits):
    """Reverse parameter order; a bucket closes once it holds its limit; with the default
    cap the first limit is 1 MiB; one dtype per bucket."""
    torch = pytest.importorskip("torch")
    from gpugrad.nn.parallel.reducer import Reducer

    dtypes = [gpugrad.float32, gpugrad.float64] if len(sizes) == 5 else [gpugrad.float32]
    params = [
        nn.Parameter(gpugrad.zeros(n, dtype=dtypes[i % len(dtypes)])) for i, n in enumerate(sizes)
    ]
    reducer = Reducer(params, None, limits[1], limits[0], False, False)
    ours = [b.indices for b in reducer.buckets]
    reducer.remove()
    tdt = {gpugrad.float32: torch.float32, gpugrad.float64: torch.float64}
    rev = [torch.zeros(p.numel(), dtype=tdt[p.dtype]) for p in reversed(params)]
    theirs, _ = torch.distributed._compute_bucket_assignment_by_size(rev, list(limits))
    n = len(params)
    assert ours == [[n - 1 - j for j in b] for b in theirs]


def test_no_group_no_ddp():
    if dist.is_initialized():
        pytest.skip("a group is initialized in this process")
    with pytest.raises(ValueError, match="init_process_group"):
        nn.parallel.DistributedDataParallel(nn.Linear(2, 2))


assert HERE.is_dir()
