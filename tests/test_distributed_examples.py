"""examples/train_digits.py --nproc 2: data-parallel training reaches one process's accuracy."""

from __future__ import annotations

import re
import sys

import pytest

from tests.distributed_scripts.launch import ROOT, needs_mpi, run_job

pytest.importorskip("sklearn", reason="train_digits needs scikit-learn")
pytest.importorskip("tqdm", reason="train_digits needs tqdm")


def final_test_accuracy(out: str) -> float:
    found = re.findall(r"test acc\s+([\d.]+)%", out)
    assert found, out
    return float(found[-1])


@needs_mpi
def test_train_digits_on_two_processes_matches_one(tmp_path):
    script = str(ROOT / "examples" / "train_digits.py")
    common = [script, "--epochs", "3", "--no-progress"]
    ck = tmp_path / "ddp.safetensors"
    rc, out, _ = run_job([sys.executable, *common, "--nproc", "2", "--checkpoint", str(ck)], 180)
    assert rc == 0, out
    assert "on cpu x 2 processes" in out and out.count("epoch   3/3") == 1, out  # rank 0 prints
    assert ck.is_file()  # written by rank 0
    rc, single, _ = run_job([sys.executable, *common], 180)
    assert rc == 0, single
    ddp, one = final_test_accuracy(out), final_test_accuracy(single)
    assert ddp > 92.0 and abs(ddp - one) < 2.5, (ddp, one)


def test_batch_must_divide_among_the_processes():
    script = str(ROOT / "examples" / "train_digits.py")
    rc, out, _ = run_job([sys.executable, script, "--nproc", "3", "--batch-size", "32"], 60)
    assert rc == 2 and "--batch-size 32 must divide among 3 processes" in out, out
