"""The launcher, ``python -m gpugrad.distributed.run``: torchrun's flags and environment,
started through mpiexec; and its refusals."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from tests.distributed_scripts.launch import HERE, ROOT, free_port, launch, needs_mpi, run_job


def envs(out_dir) -> list[dict]:
    rows = [json.loads(p.read_text()) for p in out_dir.glob("rank*.json")]
    return sorted(rows, key=lambda r: int(r["RANK"]))


@needs_mpi
def test_each_rank_gets_torchruns_environment(tmp_path):
    torchrun = shutil.which("torchrun")
    if torchrun is None or pytest.importorskip("torch") is None:
        pytest.skip("torchrun is not installed")
    script = str(HERE / "launcher_env.py")
    port = ["--master-port", free_port()]
    (tmp_path / "ours").mkdir()
    (tmp_path / "theirs").mkdir()
    ours_cmd = [sys.executable, "-m", "gpugrad.distributed.run", "--nproc-per-node", "3"]
    rc, out, _ = run_job([*ours_cmd, *port, script, "--out", str(tmp_path / "ours")])
    assert rc == 0, out
    theirs_cmd = [torchrun, "--nproc-per-node", "3", *port, script]
    rc, out, _ = run_job([*theirs_cmd, "--out", str(tmp_path / "theirs")], timeout=120)
    assert rc == 0, out
    ours, theirs = envs(tmp_path / "ours"), envs(tmp_path / "theirs")
    for row in ours + theirs:
        row.pop("argv")  # (the two output folders)
    assert len(ours) == 3 and ours == theirs


@needs_mpi
def test_arguments_module_mode_and_joining_the_group(tmp_path):
    d = str(tmp_path)
    rc, out, _ = launch("launcher_env.py", 2, "--init", "--lr", "0.1", "x y", "--out", d)
    assert rc == 0, out
    rows = envs(tmp_path)
    assert [r["RANK"] for r in rows] == ["0", "1"]
    want = ["--init", "--lr", "0.1", "x y", "--out", d]
    assert all(r["argv"] == want and r["launched"] for r in rows)
    assert all(r["name"] == "__main__" for r in rows)
    (tmp_path / "m").mkdir()
    argv = [sys.executable, "-m", "gpugrad.distributed.run", "--nproc_per_node=2", "-m"]
    module = ["tests.distributed_scripts.launcher_env", "--init", "--out", str(tmp_path / "m")]
    rc, out, _ = run_job([*argv, *module])
    assert rc == 0, out
    assert [r["WORLD_SIZE"] for r in envs(tmp_path / "m")] == ["2", "2"]


@needs_mpi
def test_a_user_set_omp_num_threads_is_kept(tmp_path):
    rc, out, _ = launch("launcher_env.py", 2, "--out", str(tmp_path), env={"OMP_NUM_THREADS": "2"})
    assert rc == 0 and [r["OMP_NUM_THREADS"] for r in envs(tmp_path)] == ["2", "2"], out


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--nnodes", "2"], "one node per job"),
        (["--node-rank", "1"], "one node per job"),
        (["--nproc-per-node", "0"], "must be a positive number"),
        (["--nproc-per-node", "two"], "must be a positive number"),
    ],
)
def test_refusals_say_why(flags, message):
    rc, out, _ = run_job(
        [sys.executable, "-m", "gpugrad.distributed.run", *flags, str(HERE / "launcher_env.py")],
        timeout=60,
    )
    assert rc != 0 and message in out, out


def test_mpiexec_is_the_one_next_to_this_python():
    from pathlib import Path

    from gpugrad.distributed.run import _parser, build_command, find_mpiexec

    found = find_mpiexec()
    local = Path(sys.executable).parent / "mpiexec"
    if local.exists():
        assert found == str(local)
    assert Path(found).name == "mpiexec" and Path(found).exists()
    cmd, env = build_command(_parser().parse_args(["--nproc-per-node", "2", "train.py", "-v"]))
    assert cmd[:3] == [found, "-launcher", "fork"]  # local processes: no ssh, fine as root
    assert cmd.count(":") == 1 and cmd.count("train.py") == 2 and cmd[-1] == "-v"
    assert env["WORLD_SIZE"] == "2" and env["MASTER_PORT"] == "29500"
    assert ROOT.is_dir()
