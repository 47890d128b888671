"""DistributedDataParallel against one process training on the global batch (every rank
computes that reference itself). Launched by tests/test_distributed_ddp.py.
"""

import os
import sys

import numpy as np

import gpugrad
import gpugrad.distributed as dist
from gpugrad import nn, optim

FEATURES, HIDDEN, CLASSES, PER_RANK, STEPS = 6, 9, 4, 5, 3
CUDA = os.environ.get("DIST_DEVICE") == "cuda"  # backend nccl, one GPU per rank


def host(t) -> np.ndarray:
    return t.detach().cpu().numpy()


def model(seed: int, extra: bool = False) -> nn.Module:
    gpugrad.manual_seed(seed)
    m = nn.Sequential(
        nn.Linear(FEATURES, HIDDEN),
        nn.Tanh(),
        nn.Linear(HIDDEN, HIDDEN),
        nn.Tanh(),
        nn.Linear(HIDDEN, CLASSES),
    )
    return m.double()


def batches(world: int, step: int):
    rng = np.random.default_rng(100 + step)
    x = rng.normal(size=(world * PER_RANK, FEATURES))
    y = rng.integers(0, CLASSES, size=world * PER_RANK)
    return gpugrad.tensor(x), gpugrad.tensor(y)


def params_close(a: nn.Module, b: nn.Module, what: str, rtol: float = 1e-6) -> None:
    for (n, p), q in zip(a.named_parameters(), b.parameters()):
        np.testing.assert_allclose(host(p), host(q), rtol=rtol, atol=1e-12, err_msg=f"{what}: {n}")


def same_on_every_rank(arrays: list, what: str) -> None:
    every = [None] * dist.get_world_size()
    dist.all_gather_object(every, [np.asarray(a) for a in arrays])
    for r, other in enumerate(every):
        for x, y in zip(arrays, other):
            np.testing.assert_array_equal(np.asarray(x), y, err_msg=f"{what}: rank {r} differs")


def train_matches(make_opt, bucket_cap_mb, as_view: bool) -> None:
    rank, world = dist.get_rank(), dist.get_world_size()
    local = model(seed=rank + 1)  # different on every rank before wrapping
    before = [p.detach().cpu().numpy().copy() for p in local.parameters()]
    ddp = nn.parallel.DistributedDataParallel(
        local, bucket_cap_mb=bucket_cap_mb, gradient_as_bucket_view=as_view
    )
    if world > 1:
        assert rank == 0 or any(
            not np.array_equal(b, host(p)) for b, p in zip(before, local.parameters())
        ), "rank 0's parameters were not broadcast"
    ref = model(seed=1)  # rank 0's initial weights: one process on the global batch
    params_close(ddp.module, ref, "after wrapping", rtol=0)
    opt, ref_opt = make_opt(ddp.parameters()), make_opt(ref.parameters())
    loss_fn = nn.CrossEntropyLoss()
    for step in range(STEPS):
        x, y = batches(world, step)
        mine = slice(rank * PER_RANK, (rank + 1) * PER_RANK)
        opt.zero_grad()
        loss_fn(ddp(x[mine]), y[mine]).backward()
        opt.step()
        ref_opt.zero_grad()
        loss_fn(ref(x), y).backward()
        ref_opt.step()
        params_close(ddp.module, ref, f"step {step} ({type(opt).__name__}, cap {bucket_cap_mb})")
    same_on_every_rank([p.detach().cpu().numpy() for p in ddp.parameters()], "parameters")
    if bucket_cap_mb is not None and bucket_cap_mb < 0.001:
        assert len(ddp.reducer.buckets) > 2, len(ddp.reducer.buckets)
    if as_view and not CUDA:
        b = ddp.reducer.buckets[0]
        p = ddp.module[-1].bias  # the last parameter is in the first bucket
        assert p.grad._data.base is not None and np.shares_memory(p.grad._data, b.flat._data)


def no_sync_accumulates() -> None:
    rank, world = dist.get_rank(), dist.get_world_size()
    ddp = nn.parallel.DistributedDataParallel(model(seed=rank + 7))
    ref = model(seed=7)
    loss_fn = nn.CrossEntropyLoss()
    mine = slice(rank * PER_RANK, (rank + 1) * PER_RANK)
    with ddp.no_sync():
        for step in range(2):
            x, y = batches(world, step)
            loss_fn(ddp(x[mine]), y[mine]).backward()
    local_only = ddp.module[0].weight.grad.cpu().numpy().copy()
    probe = model(seed=7)  # this rank's own micro-batches alone: what no_sync must leave
    for step in range(2):
        x, y = batches(world, step)
        loss_fn(probe(x[mine]), y[mine]).backward()
    np.testing.assert_allclose(local_only, probe[0].weight.grad.cpu().numpy(), rtol=1e-10)
    x, y = batches(world, 2)
    loss_fn(ddp(x[mine]), y[mine]).backward()  # synced: the accumulated sum is averaged
    for step in range(3):
        x, y = batches(world, step)
        loss_fn(ref(x), y).backward()
    for p, q in zip(ddp.module.parameters(), ref.parameters()):
        np.testing.assert_allclose(host(p.grad), host(q.grad), rtol=1e-6, atol=1e-12)


class Branchy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(FEATURES, CLASSES).double()
        self.extra = nn.Linear(FEATURES, CLASSES).double()
        self.never = nn.Linear(FEATURES, CLASSES).double()

    def forward(self, x, use_extra: bool):
        out = self.body(x)
        return out + self.extra(x) if use_extra else out


def unused_parameters() -> None:
    rank, world = dist.get_rank(), dist.get_world_size()
    loss_fn = nn.CrossEntropyLoss()
    x, y = batches(world, 0)
    mine = slice(rank * PER_RANK, (rank + 1) * PER_RANK)
    # without find_unused_parameters: PyTorch's error at the next forward
    gpugrad.manual_seed(3)
    ddp = nn.parallel.DistributedDataParallel(Branchy())
    loss_fn(ddp(x[mine], True), y[mine]).backward()
    try:
        ddp(x[mine], True)
    except RuntimeError as e:
        assert "Expected to have finished reduction in the prior iteration" in str(e), e
        assert f"did not receive grad for rank {rank}: 4 5" in str(e), e
    else:
        raise AssertionError("no error for parameters without gradients")
    # with it: extra is used on rank 0 only, never nowhere
    gpugrad.manual_seed(3)
    ddp = nn.parallel.DistributedDataParallel(Branchy(), find_unused_parameters=True)
    gpugrad.manual_seed(3)
    ref = Branchy()
    for _ in range(2):  # twice: the second iteration must not raise
        ddp.zero_grad()
        loss_fn(ddp(x[mine], rank == 0), y[mine]).backward()
    ref.zero_grad()
    total = 0
    for r in range(world):  # the average of the ranks' losses, each its own branch
        part = slice(r * PER_RANK, (r + 1) * PER_RANK)
        total = total + loss_fn(ref(x[part], r == 0), y[part]) / world
    total.backward()
    for name in ("body", "extra"):
        for p, q in zip(getattr(ddp.module, name).parameters(), getattr(ref, name).parameters()):
            np.testing.assert_allclose(host(p.grad), host(q.grad), rtol=1e-6, atol=1e-12)
    assert ddp.module.never.weight.grad is None and ddp.module.never.bias.grad is None


def buffers_broadcast() -> None:
    rank, world = dist.get_rank(), dist.get_world_size()
    gpugrad.manual_seed(rank)
    net = nn.Sequential(nn.Linear(FEATURES, 3), nn.BatchNorm1d(3)).double()
    with gpugrad.no_grad():
        net[1].running_mean.fill_(float(rank))  # differs across ranks before wrapping
    ddp = nn.parallel.DistributedDataParallel(net)
    assert net[1].running_mean.tolist() == [0.0] * 3, net[1].running_mean.tolist()
    rng = np.random.default_rng(rank)
    ddp(gpugrad.tensor(rng.normal(size=(8, FEATURES)) + rank)).sum().backward()
    stats = net[1].running_mean.cpu().numpy().copy()
    every = [None] * world
    dist.all_gather_object(every, stats)
    if world > 1:
        assert not np.array_equal(every[0], every[1]), "local batches update local stats"
    ddp.eval()
    with gpugrad.no_grad():
        ddp(gpugrad.zeros(2, FEATURES, dtype=gpugrad.float64))  # broadcasts rank 0's first
    np.testing.assert_array_equal(net[1].running_mean.cpu().numpy(), every[0])
    same_on_every_rank([b.cpu().numpy() for b in net.buffers()], "buffers")


def main() -> None:
    if CUDA:
        local = int(os.environ["LOCAL_RANK"])
        gpugrad.cuda.set_device(local)
        gpugrad.set_default_device(f"cuda:{local}")
    dist.init_process_group("nccl" if CUDA else "gloo")

    def sgd(ps):
        return optim.SGD(ps, lr=0.1, momentum=0.9)

    def adam(ps):
        return optim.Adam(ps, lr=0.01)

    for make_opt in (sgd, adam):
        train_matches(make_opt, None, False)
    train_matches(sgd, 0.0002, False)  # many small buckets
    train_matches(adam, 0.0002, True)  # gradients as views of the buckets
    no_sync_accumulates()
    unused_parameters()
    buffers_broadcast()
    dist.destroy_process_group()
    print(f"OK rank {dist_rank}", flush=True)


if __name__ == "__main__":
    import os

    dist_rank = os.environ.get("RANK", "0")
    main()
    sys.exit(0)
