"""Jobs that go wrong on purpose; tests/test_distributed.py checks how they end.

failures.py raise | raise-before-init | mismatch | skip | exit3
"""

import sys
import time
from datetime import timedelta

import gpugrad
import gpugrad.distributed as dist

mode = sys.argv[1]
if mode == "raise-before-init" and __import__("os").environ.get("RANK") == "1":
    raise ValueError("planned failure on rank 1 before init")
dist.init_process_group("gloo", timeout=timedelta(seconds=3))
rank = dist.get_rank()
t = gpugrad.ones(4)
dist.all_reduce(t)
if mode == "raise" and rank == 1:
    raise ValueError("planned failure on rank 1")
if mode == "exit3" and rank == 1:
    sys.exit(3)
if mode == "mismatch":
    dist.all_reduce(gpugrad.ones(4 * (rank + 1)))  # every rank raises the same error
if mode == "skip-async":
    if rank == 1:
        time.sleep(6)  # never calls it: rank 0's Work.wait must time out
        sys.exit(0)
    dist.all_reduce(t, async_op=True).wait()
if mode == "skip" and rank == 1:
    time.sleep(6)  # never calls the next all_reduce: rank 0 must time out, not hang
    sys.exit(0)
dist.all_reduce(t)  # the others wait here for the failed rank
dist.barrier()
print(f"rank {rank} finished", flush=True)
