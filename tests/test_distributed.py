"""gpugrad.distributed: every collective against NumPy on 1, 2 and 3 ranks (MPI), failures
that end the job, and the API's errors and backend selection in this process."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import gpugrad
import gpugrad.distributed as dist
from tests.distributed_scripts.launch import HERE, launch, needs_mpi, needs_nccl, run_job


@needs_mpi
@pytest.mark.parametrize("nproc", [1, 2, 3])
def test_every_collective_matches_numpy(nproc):
    rc, out, _ = launch("collectives.py", nproc)
    assert rc == 0, out
    for r in range(nproc):
        assert f"OK rank {r} of {nproc}: 136 checks" in out, out


@needs_nccl
def test_every_collective_on_nccl_with_cuda_tensors():
    rc, out, _ = launch("collectives.py", 2, env={"DIST_DEVICE": "cuda"})
    assert rc == 0, out
    assert "OK rank 0 of 2" in out and "OK rank 1 of 2" in out, out


@needs_mpi
@pytest.mark.parametrize("mode", ["raise", "raise-before-init"])
def test_a_rank_that_raises_ends_the_job_with_its_traceback(mode):
    rc, out, seconds = launch("failures.py", 2, mode, timeout=60)
    assert rc != 0, out
    assert "Traceback (most recent call last)" in out, out
    assert "ValueError: planned failure on rank 1" in out, out
    assert "rank 0 finished" not in out and "rank 1 finished" not in out
    assert seconds < 20, seconds  # the others did not wait for their timeout


@needs_mpi
def test_a_rank_that_exits_non_zero_ends_the_job_with_its_status():
    rc, out, seconds = launch("failures.py", 2, "exit3", timeout=60)
    assert rc == 3, out
    assert "rank 1 exited with 3" in out and seconds < 20


@needs_mpi
def test_mismatched_shapes_give_every_rank_an_error_naming_the_collective():
    rc, out, _ = launch("failures.py", 2, "mismatch", timeout=60)
    assert rc != 0, out
    assert "Detected mismatch between collectives on ranks" in out, out
    assert "OpType=ALLREDUCE, TensorShape=[4], TensorDtypes=Float" in out, out
    assert "OpType=ALLREDUCE, TensorShape=[8], TensorDtypes=Float" in out, out


@needs_mpi
def test_a_collective_some_rank_never_calls_times_out_naming_it():
    rc, out, seconds = launch("failures.py", 2, "skip", timeout=60)
    assert rc != 0, out
    assert "DistTimeoutError: ProcessGroupMPI: all_reduce (collective number 1" in out, out
    assert "timed out after 3 s" in out, out
    assert seconds < 30, seconds


@needs_mpi
def test_an_async_collective_some_rank_never_calls_times_out_in_wait():
    rc, out, seconds = launch("failures.py", 2, "skip-async", timeout=60)
    assert rc != 0, out
    assert "DistTimeoutError: ProcessGroupMPI: all_reduce timed out after 3 s (Work.wait)" in out
    assert seconds < 30, seconds


@needs_mpi
def test_a_script_under_plain_mpiexec_runs_and_a_raising_rank_still_ends_the_job():
    from gpugrad.distributed.run import find_mpiexec

    mpiexec = [find_mpiexec(), "-launcher", "fork", "-n", "2", sys.executable]
    rc, out, _ = run_job([*mpiexec, str(HERE / "collectives.py")], timeout=90)
    assert rc == 0 and "OK rank 1 of 2" in out, out
    rc, out, seconds = run_job([*mpiexec, str(HERE / "failures.py"), "raise"], timeout=60)
    assert rc != 0 and "ValueError: planned failure on rank 1" in out, out
    assert "rank 1 raised ValueError; ending job" in out and seconds < 20


# ---- in this process: API and selection logic (no other rank needed) ---------------------


def test_import_loads_no_engine_and_names_match_pytorch():
    import subprocess

    code = (
        "import sys, gpugrad, gpugrad.distributed as d; "
        "print('mpi4py' in sys.modules, 'cupyx.distributed' in sys.modules, d.is_available())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "True"]
    torch = pytest.importorskip("torch")
    for name in ("SUM", "AVG", "PRODUCT", "MIN", "MAX", "BAND", "BOR", "BXOR"):
        ours, theirs = getattr(dist.ReduceOp, name), getattr(torch.distributed.ReduceOp, name)
        assert ours.value == int(theirs) and ours.name == theirs.name
    assert dist.Backend("GLOO") == "gloo" and dist.Backend.MPI == "mpi"
    assert dist.default_pg_timeout == torch.distributed.default_pg_timeout
    with pytest.raises(ValueError, match="Invalid backend"):
        dist.Backend("tcp")


def test_calls_before_init_raise_pytorchs_error():
    if dist.is_initialized():
        pytest.skip("a group is initialized in this process")
    torch = pytest.importorskip("torch")
    for fn in (dist.get_rank, dist.get_world_size, lambda: dist.all_reduce(gpugrad.ones(1))):
        with pytest.raises(ValueError) as ours:
            fn()
        with pytest.raises(ValueError) as theirs:
            (
                torch.distributed.get_rank
                if fn is dist.get_rank
                else torch.distributed.get_world_size
            )()
        assert str(ours.value) == str(theirs.value)


def test_backend_mappings_and_their_errors():
    from gpugrad.distributed.process_group import _engines_by_device

    assert _engines_by_device("gloo") == {"cpu": "mpi"}
    assert _engines_by_device("mpi") == {"cpu": "mpi"}
    assert _engines_by_device("nccl") == {"cuda": "nccl"}
    assert _engines_by_device("cpu:gloo,cuda:nccl") == {"cpu": "mpi", "cuda": "nccl"}
    with pytest.raises(ValueError, match="cuda tensors with nccl"):
        _engines_by_device("cpu:nccl")


def test_nccl_without_its_library_or_a_gpu_says_what_to_install():
    from gpugrad.distributed.nccl_engine import nccl_status

    why = nccl_status()
    if not why:
        pytest.skip("NCCL can run here; the multi-GPU job covers it")
    assert "gpugrad[cuda12,distributed]" in why or "GPU" in why
    assert dist.is_nccl_available() is False
    if have_group():
        pytest.skip("a group is initialized in this process")
    with pytest.raises(RuntimeError, match="the nccl backend cannot start"):
        dist.init_process_group("nccl")
    assert not dist.is_initialized()  # nothing half set up


def have_group() -> bool:
    return dist.is_initialized()


@needs_mpi
def test_one_rank_group_in_this_process_checks_arguments_as_pytorch():
    if have_group():
        pytest.skip("a group is initialized in this process")
    before = sys.getswitchinterval()
    dist.init_process_group("gloo")
    try:
        # the communication thread must get the interpreter soon after work is queued
        assert sys.getswitchinterval() <= 0.0005
        with pytest.raises(
            ValueError, match="trying to initialize the default process group twice!"
        ):
            dist.init_process_group("gloo")
        with pytest.raises(TypeError, match="Expected parameter `tensor` of type gpugrad.Tensor"):
            dist.all_reduce([1, 2])
        with pytest.raises(TypeError, match="ReduceOp"):
            dist.all_reduce(gpugrad.ones(2), op="sum")
        with pytest.raises(RuntimeError, match="ProcessGroupMPI::broadcast: invalid root rank: 3"):
            dist.broadcast(gpugrad.ones(2), src=3)
        with pytest.raises(
            RuntimeError,
            match=r"tensor list at index 0 \(expected length 1, got 2\)",
        ):
            dist.all_gather([gpugrad.ones(2), gpugrad.ones(2)], gpugrad.ones(2))
        with pytest.raises(RuntimeError, match=r"size at index 0 \(expected \(2\), got \(3\)\)"):
            dist.all_gather([gpugrad.ones(3)], gpugrad.ones(2))
        with pytest.raises(ValueError, match="world_size times input tensor size"):
            dist.all_gather_into_tensor(gpugrad.ones(3), gpugrad.ones(2))
        with pytest.raises(RuntimeError, match="ReduceOp.AVG needs floating point"):
            dist.all_reduce(gpugrad.ones(2, dtype=gpugrad.int64), op=dist.ReduceOp.AVG)
        with pytest.raises(ValueError, match="Invalid destination rank"):
            dist.send(gpugrad.ones(2), dst=0)
        with pytest.raises(RuntimeError, match="world_size is 2 but MPI started 1 process"):
            from gpugrad.distributed.process_group import _check_launch

            _check_launch(1, 0, 2, -1)
        # the backend serves cpu tensors only: a cuda tensor's collective names both
        pg = dist.GroupMember.WORLD
        with pytest.raises(
            RuntimeError,
            match=r"device type cuda.*'gloo' serves cpu tensors \(mpi\)",
        ):
            pg.engine_for("cuda", "all_reduce")
        t = gpugrad.tensor([1.0, 2.0])
        v = t._version
        work = dist.all_reduce(t, async_op=True)
        assert work.wait() and work.is_success() and work.result()[0] is t
        assert t._version > v  # written in place, as an in-place op
        np.testing.assert_array_equal(t.numpy(), [1.0, 2.0])
        assert dist.get_backend() == "gloo" and dist.get_world_size() == 1
    finally:
        dist.destroy_process_group()
    assert not dist.is_initialized()
    assert sys.getswitchinterval() == before  # restored
