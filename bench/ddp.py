"""``python -m bench.ddp``: gpugrad.distributed on this machine's CPU cores (MPI).

1. all_reduce bandwidth: gpugrad's ``dist.all_reduce`` against mpi4py's raw in-place
   ``Allreduce`` on the same NumPy buffers, 2 ranks, interleaved sample by sample (target:
   within 1.1x of raw MPI at 16 MB).
2. DDP step time: an MLP trained with DistributedDataParallel on 2 ranks (batch B each)
   against one process training the same model on batch B alone (half the global batch,
   the same work per process), and against 2 processes training alone at once (what
   sharing the machine costs, communication aside). Communication hidden behind backward:
   the share of the bucket all-reduces' running time (on the communication thread) that
   lay before backward ended; beside it the time the end of backward was blocked on them,
   the same all-reduces run by themselves, and DDP's whole extra time over 2 processes
   alone (bucket copies and .grad write-back included).

The parent starts each measurement through ``gpugrad.distributed.run`` (mpiexec); the
ranks (``--worker``) write their numbers to a JSON file that the parent reports.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

SIZES_MB = (0.0625, 1.0, 16.0)
HIDDEN, LAYERS, FEATURES, CLASSES = 1024, 3, 512, 10


def _median_ms(xs: list[float]) -> float:
    return 1e3 * statistics.median(xs)


def bench_all_reduce(reps: int) -> dict:
    from mpi4py import MPI

    import gpugrad
    import gpugrad.distributed as dist

    comm = MPI.COMM_WORLD
    out = {}
    for mb in SIZES_MB:
        n = int(mb * 2**20 / 4)
        arr = np.ones(n, np.float32)
        t = gpugrad.from_numpy(np.ones(n, np.float32))
        ours, raw = [], []
        for i in range(reps + 2):  # the first two are warm-up
            for which in (0, 1):
                comm.Barrier()
                t0 = time.perf_counter()
                if which == 0:
                    comm.Allreduce(MPI.IN_PLACE, arr)
                else:
                    dist.all_reduce(t)
                dt = time.perf_counter() - t0
                if i >= 2:
                    (raw if which == 0 else ours).append(dt)
            arr.fill(1.0)  # keep the values finite
            t.fill_(1.0)
        # every rank's slowest: a collective ends when its last rank does
        r_ms = comm.allreduce(_median_ms(raw), op=MPI.MAX)
        g_ms = comm.allreduce(_median_ms(ours), op=MPI.MAX)
        out[f"{mb:g} MB"] = {
            "mpi4py_ms": r_ms,
            "gpugrad_ms": g_ms,
            "ratio": g_ms / r_ms,
            "gpugrad_GBps": 4 * n / g_ms / 1e6,
        }
    return out


def _model():
    import gpugrad
    from gpugrad import nn

    gpugrad.manual_seed(0)
    layers, width = [], FEATURES
    for _ in range(LAYERS):
        layers += [nn.Linear(width, HIDDEN), nn.ReLU()]
        width = HIDDEN
    return nn.Sequential(*layers, nn.Linear(width, CLASSES))


def bench_step(batch: int, steps: int, ddp: bool, bucket_cap_mb: float | None) -> dict:
    """Median step time; with DDP also the callback's wait and the comm alone."""
    import gpugrad
    import gpugrad.distributed as dist
    from gpugrad import nn, optim

    world = int(os.environ.get("WORLD_SIZE", "1"))
    model = _model()
    net = model
    waits: list[float] = []
    if world > 1:
        dist.init_process_group("gloo")
    blocked: list[float] = [0.0]
    if ddp:
        net = nn.parallel.DistributedDataParallel(model, bucket_cap_mb=bucket_cap_mb)
        reducer = net.reducer
        finalize = reducer._finalize
        work_wait = dist.Work.wait

        def timed_wait(self, timeout=None):  # instrumentation: time blocked on buckets
            t0 = time.perf_counter()
            try:
                return work_wait(self, timeout)
            finally:
                blocked[0] += time.perf_counter() - t0

        def timed_finalize():  # the end-of-backward callback: waits + writing .grad
            blocked[0] = 0.0
            t0 = time.perf_counter()
            finalize()
            works = [b.work for b in reducer.buckets]
            ran = sum(w._ended - w._started for w in works)
            before = sum(max(0.0, min(w._ended, t0) - w._started) for w in works)
            waits.append((time.perf_counter() - t0, blocked[0], before / ran))

        dist.Work.wait = timed_wait
        reducer._finalize = timed_finalize
    opt = optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(1)
    x = gpugrad.tensor(rng.standard_normal((batch, FEATURES)).astype(np.float32))
    y = gpugrad.tensor(rng.integers(0, CLASSES, batch))
    times = []
    for i in range(steps + 3):
        if world > 1:
            dist.barrier()
        t0 = time.perf_counter()
        opt.zero_grad()
        loss_fn(net(x), y).backward()
        opt.step()
        if i >= 3:
            times.append(time.perf_counter() - t0)
    out = {
        "world": world,
        "batch_per_rank": batch,
        "params": sum(p.numel() for p in model.parameters()),
        "step_ms": _median_ms(times),
    }
    if ddp:
        comm_alone = []
        for _ in range(steps):
            dist.barrier()
            t0 = time.perf_counter()
            for b in net.reducer.buckets:
                dist.all_reduce(b.flat, op=dist.ReduceOp.AVG)
            comm_alone.append(time.perf_counter() - t0)
        out.update(
            buckets=[len(b.indices) for b in net.reducer.buckets],
            bucket_MB=[round(b.numel * 4 / 2**20, 2) for b in net.reducer.buckets],
            callback_ms=_median_ms([c for c, _, _ in waits[3:]]),
            wait_ms=_median_ms([w for _, w, _ in waits[3:]]),
            comm_alone_ms=_median_ms(comm_alone),
            hidden_share=statistics.median(h for _, _, h in waits[3:]),
        )
    if world > 1:
        every = [None] * world
        dist.all_gather_object(every, out)
        out = every[0]
        out["step_ms_per_rank"] = [round(e["step_ms"], 2) for e in every]
        out["step_ms"] = max(e["step_ms"] for e in every)
        dist.destroy_process_group()
    return out


def worker(args: argparse.Namespace) -> None:
    rank = int(os.environ.get("RANK", "0"))
    if args.what == "all_reduce":
        import gpugrad.distributed as dist

        dist.init_process_group("gloo")
        result = bench_all_reduce(args.reps)
        dist.destroy_process_group()
    else:
        result = bench_step(args.batch, args.steps, args.what == "ddp", args.bucket_cap_mb)
    if rank == 0:
        with open(args.out, "w") as f:
            json.dump(result, f)


def _launch(nproc: int, *worker_args: str) -> dict:
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "result.json")
        cmd = [sys.executable, "-m", "gpugrad.distributed.run", "--nproc-per-node", str(nproc)]
        cmd += ["-m", "bench.ddp", "--worker", *worker_args, "--out", out]
        env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
        subprocess.run(cmd, check=True, env=env, timeout=600)
        with open(out) as f:
            return json.load(f)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ddp", description=__doc__.splitlines()[0])
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--reps", type=int, default=15, help="all_reduce samples per size")
    p.add_argument("--steps", type=int, default=15, help="timed training steps")
    p.add_argument("--batch", type=int, default=64, help="batch per rank")
    p.add_argument("--bucket-cap-mb", type=float, default=None, help="DDP's (default 25)")
    p.add_argument("--json", metavar="PATH", help="also write the numbers here")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--what", default="all_reduce", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    common = ["--reps", str(args.reps), "--steps", str(args.steps), "--batch", str(args.batch)]
    if args.bucket_cap_mb is not None:
        common += ["--bucket-cap-mb", str(args.bucket_cap_mb)]
    ar = _launch(args.ranks, "--what", "all_reduce", *common)
    ddp = _launch(args.ranks, "--what", "ddp", *common)
    alone = _launch(args.ranks, "--what", "step", *common)
    one = _launch(1, "--what", "step", *common)
    exposed = ddp["step_ms"] - alone["step_ms"]
    hidden = ddp["hidden_share"]
    print(f"all_reduce, float32, {args.ranks} ranks (median of {args.reps}, slowest rank):")
    print(f"  {'size':>9}  {'mpi4py':>9}  {'gpugrad':>9}  {'ratio':>6}  {'GB/s':>6}")
    for size, r in ar.items():
        print(
            f"  {size:>9}  {r['mpi4py_ms']:7.3f}ms  {r['gpugrad_ms']:7.3f}ms  {r['ratio']:6.3f}"
            f"  {r['gpugrad_GBps']:6.2f}"
        )
    print(
        f"DDP step, MLP {FEATURES}-{HIDDEN}x{LAYERS}-{CLASSES} ({one['params']:,} parameters), "
        f"SGD, batch {args.batch} per rank:"
    )
    n = args.ranks
    print(f"  1 process, batch {args.batch}:                 {one['step_ms']:8.2f} ms/step")
    print(
        f"  {n} processes alone at once, batch {args.batch}:  {alone['step_ms']:8.2f} ms/step "
        f"(x{alone['step_ms'] / one['step_ms']:.2f}: the machine shared)"
    )
    print(
        f"  {n} ranks DDP, batch {args.batch} each:         {ddp['step_ms']:8.2f} ms/step "
        f"(x{ddp['step_ms'] / one['step_ms']:.2f}; ranks {ddp['step_ms_per_rank']})"
    )
    print(
        f"  buckets {ddp['bucket_MB']} MB: {100 * hidden:.0f}% of their all-reduce time ran "
        f"before backward ended; the end of backward then waited {ddp['wait_ms']:.2f} ms "
        f"(the same all-reduces alone: {ddp['comm_alone_ms']:.2f} ms)"
    )
    print(
        f"  DDP's extra time over {n} processes alone: {exposed:.2f} ms/step (the end-of-"
        f"backward callback {ddp['callback_ms']:.2f} ms: waits and writing .grad)"
    )
    if args.json:
        result = {"all_reduce": ar, "ddp": ddp, "alone": alone, "one_rank": one}
        result["hidden_share"] = hidden
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
