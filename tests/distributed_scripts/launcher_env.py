"""Writes the launcher's environment for this rank as JSON to OUT_DIR/rank<RANK>.json
(read by tests/test_distributed_launcher.py); with --init also joins the group."""

import json
import os
import sys

KEYS = [
    "RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "GROUP_WORLD_SIZE",
    "ROLE_RANK", "ROLE_WORLD_SIZE", "ROLE_NAME", "MASTER_ADDR", "MASTER_PORT",
    "TORCHELASTIC_RUN_ID", "OMP_NUM_THREADS",
]  # fmt: skip
info = {k: os.environ.get(k) for k in KEYS}
if "--init" in sys.argv:
    import gpugrad.distributed as dist

    dist.init_process_group()  # env:// style: all from the launcher
    assert dist.get_rank() == int(os.environ["RANK"])
    assert dist.get_world_size() == int(os.environ["WORLD_SIZE"])
    info["launched"] = dist.is_torchelastic_launched()
    dist.barrier()
    dist.destroy_process_group()
info["argv"] = sys.argv[1:]
info["name"] = __name__
out_dir = sys.argv[sys.argv.index("--out") + 1]
with open(os.path.join(out_dir, f"rank{os.environ['RANK']}.json"), "w") as f:
    json.dump(info, f)
