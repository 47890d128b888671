"""Every collective against NumPy on each rank (launched by tests/test_distributed.py).

Each rank builds every rank's input from the rank number, so it can compute the expected
result itself; any difference raises (the job then ends non-zero with the traceback).
"""

import os
import sys

import numpy as np

import gpugrad
import gpugrad.distributed as dist

DTYPES = {"float32": gpugrad.float32, "float64": gpugrad.float64, "int64": gpugrad.int64}
SHAPES = [(), (5,), (3, 4), (2, 3, 2)]


def data(rank: int, shape, dtype: str, salt: int = 0) -> np.ndarray:
    rng = np.random.default_rng(1000 * rank + salt)
    if dtype == "int64":
        return rng.integers(-9, 10, size=shape).astype(np.int64)
    return rng.uniform(-2, 2, size=shape).astype(dtype)


# DIST_DEVICE=cuda: the same checks with backend nccl, one GPU per rank
CUDA = os.environ.get("DIST_DEVICE") == "cuda"


def close(got, want, dtype: str, what: str) -> None:
    got = got.cpu().numpy() if isinstance(got, gpugrad.Tensor) else got
    if dtype == "int64":
        np.testing.assert_array_equal(got, want, err_msg=what)
    else:
        tol = 1e-5 if dtype == "float32" else 1e-12
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=what)
    assert got.dtype == np.dtype(dtype), (what, got.dtype)


def main() -> None:
    if CUDA:
        local = int(os.environ["LOCAL_RANK"])
        gpugrad.cuda.set_device(local)
        gpugrad.set_default_device(f"cuda:{local}")
    dist.init_process_group("nccl" if CUDA else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    assert dist.is_initialized() and dist.get_backend() == ("nccl" if CUDA else "gloo")
    checked = 0
    for dtype, gdt in DTYPES.items():
        for si, shape in enumerate(SHAPES):
            for async_op in (False, True):
                salt = si * 10 + async_op
                every = [data(r, shape, dtype, salt) for r in range(world)]
                mine = every[rank]
                ops = {
                    dist.ReduceOp.SUM: np.sum(every, axis=0),
                    dist.ReduceOp.MAX: np.max(every, axis=0),
                    dist.ReduceOp.MIN: np.min(every, axis=0),
                    dist.ReduceOp.PRODUCT: np.prod(every, axis=0),
                }
                if dtype != "int64":
                    ops[dist.ReduceOp.AVG] = np.mean(np.array(every, np.float64), axis=0)
                for op, want in ops.items():
                    t = gpugrad.tensor(mine, dtype=gdt)
                    w = dist.all_reduce(t, op=op, async_op=async_op)
                    if async_op:
                        assert isinstance(w, dist.Work)
                        assert w.wait() is True and w.is_completed()
                    else:
                        assert w is None
                    close(t, want.astype(dtype), dtype, f"all_reduce {op} {dtype} {shape}")
                    checked += 1
                for src in range(world):
                    t = gpugrad.tensor(mine, dtype=gdt)
                    w = dist.broadcast(t, src=src, async_op=async_op)
                    if w is not None:
                        w.wait()
                    close(t, every[src], dtype, f"broadcast from {src} {dtype} {shape}")
                dst = world - 1
                t = gpugrad.tensor(mine, dtype=gdt)
                w = dist.reduce(t, dst=dst, op=dist.ReduceOp.SUM, async_op=async_op)
                if w is not None:
                    w.wait()
                if rank == dst:
                    close(t, np.sum(every, axis=0).astype(dtype), dtype, "reduce")
                outs = [gpugrad.zeros(shape, dtype=gdt) for _ in range(world)]
                w = dist.all_gather(outs, gpugrad.tensor(mine, dtype=gdt), async_op=async_op)
                if w is not None:
                    w.wait()
                for r in range(world):
                    close(outs[r], every[r], dtype, f"all_gather slot {r}")
                if shape:
                    out = gpugrad.zeros((world * shape[0],) + shape[1:], dtype=gdt)
                    w = dist.all_gather_into_tensor(
                        out, gpugrad.tensor(mine, dtype=gdt), async_op=async_op
                    )
                    if w is not None:
                        w.wait()
                    close(out, np.concatenate(every), dtype, "all_gather_into_tensor")
                    wide = (world * shape[0],) + shape[1:]
                    big = [data(r, wide, dtype, salt + 5) for r in range(world)]
                    out = gpugrad.zeros(shape, dtype=gdt)
                    w = dist.reduce_scatter_tensor(
                        out, gpugrad.tensor(big[rank], dtype=gdt), async_op=async_op
                    )
                    if w is not None:
                        w.wait()
                    block = np.sum(big, axis=0)[rank * shape[0] : (rank + 1) * shape[0]]
                    close(out, block.astype(dtype), dtype, "reduce_scatter_tensor")
                    if dtype != "int64":
                        out = gpugrad.zeros(shape, dtype=gdt)
                        dist.reduce_scatter_tensor(
                            out, gpugrad.tensor(big[rank], dtype=gdt), op=dist.ReduceOp.AVG
                        )
                        want = np.mean(np.array(big, np.float64), axis=0)
                        mine_block = want[rank * shape[0] : (rank + 1) * shape[0]]
                        close(out, mine_block.astype(dtype), dtype, "reduce_scatter avg")
                root = 1 % world
                glist = None
                if rank == root:
                    glist = [gpugrad.zeros(shape, dtype=gdt) for _ in range(world)]
                w = dist.gather(gpugrad.tensor(mine, dtype=gdt), glist, dst=root, async_op=async_op)
                if w is not None:
                    w.wait()
                if rank == root:
                    for r in range(world):
                        close(glist[r], every[r], dtype, "gather")
                parts = [data(r, shape, dtype, salt + 7) for r in range(world)]
                slist = [gpugrad.tensor(p, dtype=gdt) for p in parts] if rank == root else None
                out = gpugrad.zeros(shape, dtype=gdt)
                w = dist.scatter(out, slist, src=root, async_op=async_op)
                if w is not None:
                    w.wait()
                close(out, parts[rank], dtype, "scatter")
                checked += 1
    # many async all-reduces in flight at once, waited in reverse: results stay in order
    ts = [gpugrad.full((7,), float(rank + i)) for i in range(6)]
    works = [dist.all_reduce(t, async_op=True) for t in ts]
    for w in reversed(works):
        w.wait()
    for i, t in enumerate(ts):
        close(t, np.full(7, sum(r + i for r in range(world)), np.float32), "float32", "in flight")
    if CUDA:  # NCCL: no non-contiguous tensors, no bool sums, no any-source recv
        finish(rank, world, checked)
        return
    # a non-contiguous tensor is reduced in place through a copy
    base = gpugrad.tensor(data(rank, (4, 6), "float64"))
    view = base.t()
    dist.all_reduce(view)
    want = np.sum([data(r, (4, 6), "float64") for r in range(world)], axis=0)
    close(base, want, "float64", "non-contiguous")
    # bool: SUM is a logical or
    b = gpugrad.tensor([rank == 0, False, True])
    dist.all_reduce(b)
    assert b.tolist() == [True, False, True], b.tolist()
    # point to point: a ring, blocking and not
    right, left = (rank + 1) % world, (rank - 1) % world
    if world > 1:
        got = gpugrad.zeros(3, dtype=gpugrad.int64)
        if rank % 2 == 0:
            dist.send(gpugrad.tensor([rank, rank, 1]), dst=right)
            src = dist.recv(got, src=left)
        else:
            src = dist.recv(got, src=left)
            dist.send(gpugrad.tensor([rank, rank, 1]), dst=right)
        assert src == left and got.tolist() == [left, left, 1], (src, got.tolist())
        got = gpugrad.zeros(2)
        reqs = [dist.isend(gpugrad.full((2,), float(rank)), dst=right), dist.irecv(got, src=left)]
        for r in reqs:
            r.wait()
        assert got.tolist() == [float(left)] * 2
        got = gpugrad.zeros(2)
        if rank == 0:
            senders = sorted(dist.recv(got) for _ in range(world - 1))
            assert senders == list(range(1, world)), senders
        else:
            dist.send(gpugrad.full((2,), float(rank)), dst=0)
    # objects
    objs = [None] * world
    dist.all_gather_object(objs, {"rank": rank, "name": f"r{rank}"})
    assert objs == [{"rank": r, "name": f"r{r}"} for r in range(world)], objs
    lst = [rank, "x", None] if rank == 0 else [None, None, None]
    dist.broadcast_object_list(lst, src=0)
    assert lst == [0, "x", None], lst
    got = [None]
    ins = [{"for": r} for r in range(world)] if rank == world - 1 else None
    dist.scatter_object_list(got, ins, src=world - 1)
    assert got == [{"for": rank}], got
    gathered = [None] * world if rank == 0 else None
    dist.gather_object(("from", rank), gathered, dst=0)
    if rank == 0:
        assert gathered == [("from", r) for r in range(world)], gathered
    # a group of the whole world, and one of ranks 0 and 1
    g = dist.new_group()
    t = gpugrad.ones(2)
    dist.all_reduce(t, group=g)
    assert t.tolist() == [float(world)] * 2
    if world > 2:
        g01 = dist.new_group([0, 1])
        if rank < 2:
            assert dist.get_world_size(g01) == 2 and dist.get_rank(g01) == rank
            t = gpugrad.ones(2)
            dist.all_reduce(t, group=g01)
            assert t.tolist() == [2.0, 2.0]
        else:
            assert g01 is dist.GroupMember.NON_GROUP_MEMBER and dist.get_rank(g01) == -1
    finish(rank, world, checked)


def finish(rank: int, world: int, checked: int) -> None:
    dist.barrier()
    dist.destroy_process_group()
    assert not dist.is_initialized()
    print(f"OK rank {rank} of {world}: {checked} checks", flush=True)


if __name__ == "__main__":
    main()
    sys.exit(0)
