"""Prints what the launcher gave this rank (tests/test_distributed_launcher.py reads it)."""

import json
import os
import sys

import gpugrad.distributed as dist

keys = [
    "RANK",
    "LOCAL_RANK",
    "WORLD_SIZE",
    "LOCAL_WORLD_SIZE",
    "GROUP_RANK",
    "ROLE_RANK",
    "ROLE_WORLD_SIZE",
    "MASTER_ADDR",
    "MASTER_PORT",
    "TORCHELASTIC_RUN_ID",
    "OMP_NUM_THREADS",
]
dist.init_process_group()  # env:// style: everything from the launcher's environment
info = {k: os.environ.get(k) for k in keys}
info.update(
    rank=dist.get_rank(),
    world=dist.get_world_size(),
    argv=sys.argv[1:],
    launched=dist.is_torchelastic_launched(),
    name=__name__,
)
every = [None] * dist.get_world_size()
dist.all_gather_object(every, info)
if dist.get_rank() == 0:
    print("ENV " + json.dumps(every), flush=True)
dist.destroy_process_group()
