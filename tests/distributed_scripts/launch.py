"""Start a job of the scripts in this folder for the tests, bounded in time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def have_mpi() -> bool:
    import importlib.util

    if importlib.util.find_spec("mpi4py") is None:
        return False
    from gpugrad.distributed.run import find_mpiexec

    try:
        find_mpiexec()
    except SystemExit:
        return False
    return True


needs_mpi = pytest.mark.skipif(
    not have_mpi(), reason='needs mpi4py and mpiexec: pip install "gpugrad[distributed]"'
)


def nccl_skip_reason() -> str:
    """'' when NCCL can run a 2-rank job here (two GPUs), else why not."""
    from gpugrad.backend import cuda_status
    from gpugrad.distributed.nccl_engine import nccl_status

    why = nccl_status()
    if why:
        return why
    if cuda_status()[0] < 2:
        return "NCCL refuses two ranks on one GPU: needs a machine with two or more GPUs"
    return ""


def needs_nccl(fn):
    why = nccl_skip_reason() if have_mpi() else "needs mpi4py and mpiexec"
    return pytest.mark.skipif(bool(why), reason=why or "-")(fn)


def free_port() -> str:
    """A TCP port nothing listens on now (for real torch's rendezvous in the tests)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def run_job(argv: list[str], timeout: float = 90, env: dict | None = None):
    """Run ``argv`` from the repository root; (returncode, output, seconds). A job that
    outlives ``timeout`` is killed with all its ranks and fails the test."""
    full_env = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    start = time.monotonic()
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=full_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: a hung job is killed whole
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"the job hung (killed after {timeout} s): {' '.join(argv)}\n{out}")
    return proc.returncode, out, time.monotonic() - start


def launch(script: str, nproc: int, *args: str, timeout: float = 90, env: dict | None = None):
    """``python -m gpugrad.distributed.run --nproc-per-node N script args``."""
    argv = [sys.executable, "-m", "gpugrad.distributed.run", "--nproc-per-node", str(nproc)]
    return run_job([*argv, str(HERE / script), *args], timeout, env)
