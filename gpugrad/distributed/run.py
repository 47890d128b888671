"""``python -m gpugrad.distributed.run`` (also ``gpugrad-run``): torchrun's launcher on MPI.

    python -m gpugrad.distributed.run --nproc-per-node 2 train.py --epochs 3

starts the ranks with MPICH's hydra ``mpiexec`` (its fork launcher: local processes, no
ssh, fine as root and without a terminal), each with torchrun's environment: RANK,
LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK, ROLE_RANK, ROLE_WORLD_SIZE,
MASTER_ADDR, MASTER_PORT, TORCHELASTIC_RUN_ID (and OMP_NUM_THREADS=1 unless set, as
torchrun). One node per job: for several hosts use mpiexec's own host options.
``--as-torch`` runs an unchanged PyTorch script (``import torch ...``) on gpugrad.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gpugrad-run",
        description="Start a data-parallel job (torchrun's flags) through MPI's mpiexec.",
    )

    def flag(name: str, **kw) -> None:  # torchrun takes --a-b and --a_b alike
        p.add_argument(f"--{name}", f"--{name.replace('-', '_')}", **kw)

    flag("nproc-per-node", default="1", help="ranks on this node: N, cpu, gpu or auto")
    flag("nnodes", default="1", help="number of nodes (only 1 here)")
    flag("node-rank", type=int, default=0, help="this node's rank (0)")
    flag("master-addr", default="127.0.0.1", help="exported as MASTER_ADDR")
    flag("master-port", type=int, default=29500, help="exported as MASTER_PORT")
    flag("rdzv-id", default="none", help="job id (TORCHELASTIC_RUN_ID)")
    p.add_argument("--standalone", action="store_true", help="single-node job (the default)")
    p.add_argument("-m", "--module", action="store_true", help="run the script as a module")
    flag(
        "as-torch",
        action="store_true",
        help="run an unchanged PyTorch script with gpugrad standing in for torch "
        "(python -m gpugrad.as_torch)",
    )
    flag("no-python", action="store_true", help="run the script as a program, not with python")
    p.add_argument("training_script", help="the script (or module with -m) every rank runs")
    p.add_argument("training_script_args", nargs=argparse.REMAINDER)
    return p


def _nproc(value: str) -> int:
    if value.isdigit() and int(value) > 0:
        return int(value)
    if value in ("gpu", "auto"):
        from ..backend import cuda_status

        n = cuda_status()[0]
        if n or value == "gpu":
            if not n:
                raise SystemExit("gpugrad-run: --nproc-per-node gpu, but no CUDA GPU is visible")
            return n
        return os.cpu_count() or 1
    if value == "cpu":
        return os.cpu_count() or 1
    raise SystemExit(
        f"gpugrad-run: --nproc-per-node must be a positive number, cpu, gpu or auto, got {value!r}"
    )


def find_mpiexec() -> str:
    """The mpiexec of this Python's environment (the mpich wheel), else the one on PATH."""
    import sysconfig

    folders = [Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))]
    try:  # a `pip install --user` puts the wheel's scripts there
        folders.append(Path(sysconfig.get_path("scripts", f"{os.name}_user")))
    except KeyError:
        pass
    for folder in folders:
        if (folder / "mpiexec").exists():
            return str(folder / "mpiexec")
    found = shutil.which("mpiexec")
    if found is None:
        raise SystemExit(
            "gpugrad-run: mpiexec was not found; install MPI with: "
            'pip install "gpugrad[distributed]"'
        )
    return found


def build_command(args: argparse.Namespace) -> tuple[list[str], dict]:
    """The mpiexec command line (one segment per rank) and the environment it runs in."""
    if args.nnodes not in ("1", "1:1") or args.node_rank != 0:
        raise SystemExit(
            "gpugrad-run: one node per job (--nnodes 1); for several hosts start the job with "
            "mpiexec's own options, e.g. mpiexec -hosts a,b -n 4 python train.py"
        )
    n = _nproc(args.nproc_per_node)
    env = dict(os.environ)
    if n > 1 and "OMP_NUM_THREADS" not in env:
        print(
            "gpugrad-run: setting OMP_NUM_THREADS=1 for each rank (as torchrun does) to avoid "
            "overloading the machine; set it yourself to tune",
            file=sys.stderr,
        )
        env["OMP_NUM_THREADS"] = "1"
    shared = {
        "WORLD_SIZE": str(n),
        "LOCAL_WORLD_SIZE": str(n),
        "ROLE_WORLD_SIZE": str(n),
        "GROUP_RANK": "0",
        "GROUP_WORLD_SIZE": "1",
        "MASTER_ADDR": args.master_addr,
        "MASTER_PORT": str(args.master_port),
        "TORCHELASTIC_RUN_ID": args.rdzv_id,
        "ROLE_NAME": "default",
    }
    env.update(shared)
    if args.no_python:
        program = [args.training_script]
    else:
        program = [sys.executable, "-m", "gpugrad.distributed.launch_rank"]
        if args.as_torch:  # gpugrad's torch alias runs the script (or module)
            program += ["-m", "gpugrad.as_torch"] + (["-m"] if args.module else [])
            program.append(args.training_script)
        else:
            program += ["-m", args.training_script] if args.module else [args.training_script]
    program += args.training_script_args
    cmd = [find_mpiexec(), "-launcher", "fork"]
    for rank in range(n):
        if rank:
            cmd.append(":")
        cmd += ["-n", "1"]
        for k, v in (("RANK", rank), ("LOCAL_RANK", rank), ("ROLE_RANK", rank)):
            cmd += ["-env", k, str(v)]
        cmd += program
    return cmd, env


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    cmd, env = build_command(args)
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)  # hydra passes it on to every rank
        try:
            return proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()


if __name__ == "__main__":
    sys.exit(main())
