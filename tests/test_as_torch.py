"""gpugrad standing in for torch: ``python -m gpugrad.as_torch script.py args...`` and
``gpugrad.as_torch.install()``.

Every run is a subprocess: one with the runner, where ``torch`` is gpugrad, and one plain,
where real torch imports (where it is installed). The PyTorch programs under
tests/torch_scripts/ run unchanged through the runner; where real torch is installed the same
script runs under it too and prints the same text, numbers to float tolerance.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import gpugrad

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "tests" / "torch_scripts"
# one thread each: the runner and real torch run side by side
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=cwd,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen) -> subprocess.CompletedProcess:
    out, err = proc.communicate(timeout=240)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _run(args: list[str], cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return _finish(_start(args, cwd))


def as_torch(script: Path | str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return _run(["-m", "gpugrad.as_torch", str(script), *args], cwd)


def _both(script: Path, *args: str) -> tuple[str, str]:
    """The script's stdout under the runner and under real torch (run side by side)."""
    pytest.importorskip("torch")
    ours = _start(["-m", "gpugrad.as_torch", str(script), *args], ROOT)
    theirs = _start([str(script), *args], ROOT)
    ours, theirs = _finish(ours), _finish(theirs)
    assert ours.returncode == 0, ours.stderr
    assert theirs.returncode == 0, theirs.stderr
    return ours.stdout, theirs.stdout


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def assert_same_output(ours: str, theirs: str, rtol: float = 2e-5, atol: float = 2e-6) -> int:
    """The same lines, word for word, with every number equal to float tolerance; returns how
    many numbers were compared."""
    a, b = ours.splitlines(), theirs.splitlines()
    assert len(a) == len(b), (ours, theirs)
    compared = 0
    for line_a, line_b in zip(a, b):
        assert _NUMBER.sub("#", line_a) == _NUMBER.sub("#", line_b), (line_a, line_b)
        xs = [float(v) for v in _NUMBER.findall(line_a)]
        ys = [float(v) for v in _NUMBER.findall(line_b)]
        np.testing.assert_allclose(xs, ys, rtol=rtol, atol=atol, err_msg=line_a)
        compared += len(xs)
    return compared


def _write(tmp_path: Path, name: str, code: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(code))
    return path


# ---- the import hook ----------------------------------------------------------------------


def test_torch_and_its_submodules_are_gpugrads(tmp_path):
    script = _write(
        tmp_path,
        "check.py",
        """
        import os
        import sys
        import torch
        import torch.nn.functional as F
        import torch.distributed as dist
        import torch.utils.data
        import torch.utils.dlpack
        from torch.optim.lr_scheduler import StepLR
        from torch.utils.data import DataLoader
        from torch import nn, optim
        import gpugrad, gpugrad.nn.functional, gpugrad.distributed, gpugrad.optim.lr_scheduler

        checks = {
            "name": torch.__name__ == "gpugrad",
            "tensor": torch.tensor is gpugrad.tensor,
            "nn": torch.nn is gpugrad.nn and nn is gpugrad.nn,
            "F": F is gpugrad.nn.functional,
            "dist": dist is gpugrad.distributed,
            "StepLR": StepLR is gpugrad.optim.lr_scheduler.StepLR,
            "DataLoader": DataLoader is gpugrad.utils.data.DataLoader,
            "optim": optim is gpugrad.optim,
            "sys.modules": sys.modules["torch.nn.functional"] is gpugrad.nn.functional,
            "own spec": gpugrad.nn.functional.__spec__.name == "gpugrad.nn.functional",
            "own spec pkg": gpugrad.nn.__spec__.name == "gpugrad.nn",
            "main": __name__ == "__main__" and sys.modules["__main__"].__dict__ is globals(),
            "file": __file__ == os.path.join(os.getcwd(), "check.py"),
            "argv0": sys.argv[0] == "check.py",
            "path0": sys.path[0] == os.getcwd(),
            "argv": sys.argv[1:] == ["--flag", "value"],
            "prints": repr(torch.float32) == "torch.float32",
            "dlpack": torch.utils.dlpack.from_dlpack is torch.from_dlpack is gpugrad.from_dlpack,
        }
        print(sorted(k for k, ok in checks.items() if not ok))
        """,
    )
    out = as_torch(script.name, "--flag", "value", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_missing_torch_module_names_itself_and_the_stand_in(tmp_path):
    script = _write(
        tmp_path,
        "missing.py",
        """
        try:
            import torch._dynamo
        except ModuleNotFoundError as e:
            print(e.name, "|", e)
        try:
            from torch.nn.functional import not_a_module
        except ImportError as e:
            print(type(e).__name__)
        import torch.nn.no_such_thing
        """,
    )
    out = as_torch(script, cwd=tmp_path)
    lines = out.stdout.splitlines()
    assert lines[0].startswith("torch._dynamo | No module named 'torch._dynamo'")
    assert "gpugrad is standing in for torch" in lines[0]
    assert lines[1] == "ImportError"
    assert out.returncode == 1
    assert "ModuleNotFoundError: No module named 'torch.nn.no_such_thing'" in out.stderr


def test_script_runs_as_python_runs_it(tmp_path):
    """Tracebacks start in the script, exit codes pass through, classes defined in the
    script pickle (its ``__main__`` stays registered), ``-m`` and ``-c`` work as python's."""
    _write(
        tmp_path,
        "fails.py",
        """
        import pickle
        import torch


        class Point:
            def __init__(self, x):
                self.x = x


        assert pickle.loads(pickle.dumps(Point(torch.tensor(2.0).item()))).x == 2.0
        print("before")


        def inner():
            raise ValueError("from the script")


        inner()
        """,
    )
    out = as_torch("fails.py", cwd=tmp_path)
    assert out.returncode == 1 and out.stdout == "before\n"
    frames = re.findall(r'File "([^"]+)", line (\d+)', out.stderr)
    assert [Path(f).name for f, _ in frames] == ["fails.py", "fails.py"], out.stderr
    assert frames[0][0] == str(tmp_path / "fails.py")
    assert out.stderr.rstrip().endswith("ValueError: from the script")

    _write(tmp_path, "exits.py", "import sys, torch\nsys.exit(3)\n")
    assert as_torch("exits.py", cwd=tmp_path).returncode == 3

    _write(
        tmp_path,
        "mod_main.py",
        "import sys, torch\nprint(__name__, torch.__name__, sys.argv[1:])\n",
    )
    out = _run(["-m", "gpugrad.as_torch", "-m", "mod_main", "a"], tmp_path)
    assert out.stdout == "__main__ gpugrad ['a']\n", out.stderr
    out = _run(
        ["-m", "gpugrad.as_torch", "-c", "import torch; print(torch.ones(2).dtype)"], tmp_path
    )
    assert out.stdout == "torch.float32\n", out.stderr
    out = _run(["-m", "gpugrad.as_torch", "no_such_file.py"], tmp_path)
    assert out.returncode == 2 and "can't open file" in out.stderr
    out = _run(["-m", "gpugrad.as_torch"], tmp_path)
    assert out.returncode == 2 and out.stderr.startswith("usage: python -m gpugrad.as_torch")


def test_spawned_children_import_gpugrad_as_torch(tmp_path):
    """'spawn' and 'forkserver' children re-import the script: with the alias installed first,
    so their ``import torch`` is gpugrad too (DataLoader workers, multiprocessing pools)."""
    _write(
        tmp_path,
        "spawns.py",
        """
        import multiprocessing as mp
        import torch
        from torch.utils.data import DataLoader, Dataset


        class Squares(Dataset):  # defined in the script: the child finds it in __mp_main__
            def __len__(self):
                return 4

            def __getitem__(self, i):
                return torch.tensor([float(i * i)])


        def child(queue):
            queue.put((torch.__name__, repr(torch.ones(1).dtype)))


        if __name__ == "__main__":
            for method in ("spawn", "forkserver"):
                ctx = mp.get_context(method)
                queue = ctx.Queue()
                p = ctx.Process(target=child, args=(queue,))
                p.start()
                print(method, *queue.get(timeout=60))
                p.join()
            kwargs = {"num_workers": 1, "multiprocessing_context": "spawn"}
            loader = DataLoader(Squares(), batch_size=2, **kwargs)
            print([b.tolist() for b in loader])
        """,
    )
    out = as_torch("spawns.py", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "spawn gpugrad torch.float32",
        "forkserver gpugrad torch.float32",
        "[[[0.0], [1.0]], [[4.0], [9.0]]]",
    ]


def test_torch_modules_run_with_dash_m(tmp_path):
    """``-m torch.X`` runs gpugrad's module; ``-m torch.distributed.run`` (torchrun) starts
    ranks that run the script as torch too."""
    out = _run(["-m", "gpugrad.as_torch", "-m", "torch.utils.collect_env"], tmp_path)
    assert out.returncode == 0 and "gpugrad: " in out.stdout, out.stderr
    pytest.importorskip("mpi4py")
    try:
        from gpugrad.distributed.run import find_mpiexec

        find_mpiexec()
    except SystemExit as e:
        pytest.skip(str(e))
    _write(
        tmp_path,
        "ranks.py",
        """
        import torch
        import torch.distributed as dist

        dist.init_process_group("gloo")
        t = torch.tensor([float(dist.get_rank() + 1)])
        dist.all_reduce(t)
        print(f"rank {dist.get_rank()}: {torch.__name__} {t.item()} {t.dtype}", flush=True)
        dist.destroy_process_group()
        """,
    )
    args = ["-m", "gpugrad.as_torch", "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    out = _run([*args, "ranks.py"], tmp_path)
    assert out.returncode == 0, out.stderr
    # two ranks share one pipe through mpiexec's forwarder: their lines may arrive interleaved
    assert sorted(re.findall(r"rank \d: \w+ [\d.]+ [\w.]+?float32", out.stdout)) == [
        "rank 0: gpugrad 3.0 torch.float32",
        "rank 1: gpugrad 3.0 torch.float32",
    ]


def test_real_torch_stays_importable_in_plain_runs():
    pytest.importorskip("torch")
    out = _run(
        ["-c", "import torch; print(torch.__name__, torch.tensor is not None, torch.__file__)"]
    )
    name, _, path = out.stdout.split()
    assert name == "torch" and "gpugrad" not in path


def test_install_and_uninstall_in_one_process():
    code = """
    import importlib.util, sys
    import gpugrad, gpugrad.as_torch as as_torch
    print(repr(gpugrad.float64), as_torch.is_installed())
    as_torch.install()
    as_torch.install()  # twice is once
    import torch, torch.nn
    print(torch is gpugrad, torch.nn is gpugrad.nn, repr(torch.float64), torch.zeros(1, 2).shape)
    print(sum(type(f).__name__ == "TorchAlias" for f in sys.meta_path))
    as_torch.uninstall()
    print(repr(gpugrad.float64), "torch" in sys.modules, as_torch.is_installed())
    real = importlib.util.find_spec("torch")
    if real is not None:
        import torch as real_torch
        print(real_torch is not gpugrad, real_torch.__name__)
        try:
            as_torch.install()
        except RuntimeError as e:
            print("refused:", "already imported" in str(e), as_torch.is_installed())
    """
    out = _run(["-c", textwrap.dedent(code)])
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[:4] == [
        "gpugrad.float64 False",
        "True True torch.float64 torch.Size([1, 2])",
        "1",
        "gpugrad.float64 False False",
    ]
    if len(lines) > 4:
        assert lines[4:] == ["True torch", "refused: True False"]


# ---- printing as torch ---------------------------------------------------------------------

PRINTS = """
import torch
x = torch.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])
for obj in (
    torch.float32, torch.float64, torch.int64, torch.bool, torch.uint8, torch.half, torch.long,
    x.dtype, x.shape, x.size(), torch.Size([2, 3]), torch.strided, torch.LongTensor,
    x.max(dim=1), x.min(1), x.sort(dim=1), x.topk(2), x.median(dim=0), x.kthvalue(1, 1),
    x.cummax(1), torch.aminmax(x, dim=0), x.mode(1),
    x.to(torch.float64), x.to(torch.int32), x.to(torch.float16),
    torch.zeros(0, 2, dtype=torch.int64), torch.arange(3, dtype=torch.int8),
    x.requires_grad_() * 2,
):
    print(repr(obj))
    print(str(obj))
print(f"{x.dtype}", [torch.float16, torch.int16], {"d": torch.bool})
for obj in (
    torch.device("cpu"), torch.finfo(torch.float32), torch.iinfo(torch.int32),
    torch.nn.Linear(2, 3), torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU()),
    torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1),
    torch.nn.Parameter(torch.ones(2)), torch.tensor(2.5, dtype=torch.float64), torch.empty(0),
    torch.tensor([1e10, 1.0]), torch.arange(12).view(3, 4).float() / 7, torch.Size([]),
    torch.tensor([1, 2]).type(), torch.FloatTensor, torch.get_default_dtype(),
):
    print(repr(obj))
"""


def test_dtypes_sizes_and_return_types_print_as_torchs(tmp_path):
    script = _write(tmp_path, "prints.py", PRINTS)
    ours, theirs = _both(script)
    assert ours == theirs
    assert "torch.return_types.max(" in ours and "torch.Size([2, 3])" in ours


def test_gpugrad_prints_its_own_names_outside_the_runner():
    x = gpugrad.tensor([[1.0, 5.0], [7.0, 0.0]])
    assert repr(gpugrad.float64) == "gpugrad.float64" and repr(x.shape) == "gpugrad.Size([2, 2])"
    assert repr(x.max(1)).startswith("gpugrad.return_types.max(\nvalues=tensor([5., 7.])")
    assert repr(x.double()) == "tensor([[1., 5.],\n        [7., 0.]], dtype=gpugrad.float64)"
    assert repr(gpugrad.LongTensor) == "<class 'gpugrad.LongTensor'>"


# ---- PyTorch programs, unchanged ------------------------------------------------------------


def test_seed_article_prints_what_torch_prints():
    ours, theirs = _both(SCRIPTS / "seed_article.py")
    assert ours == theirs
    assert "c: tensor([3., 6., 9.], grad_fn=<MulBackward0>)" in ours


def test_pytorch_tutorials_give_torchs_losses():
    ours, theirs = _both(SCRIPTS / "pytorch_tutorials.py")
    assert assert_same_output(ours, theirs) >= 25
    losses = [float(v) for v in re.findall(r"lenet step \d+: loss (\S+)", ours)]
    assert len(losses) == 10 and losses[-1] < losses[0]


def test_mnist_example_gives_torchs_losses():
    args = ["--compare", "--no-accel", "--train-size", "64", "--batch-size", "16"]
    ours, theirs = _both(SCRIPTS / "mnist_cnn.py", *args, "--test-size", "50")
    assert assert_same_output(ours, theirs) >= 20
    accuracy = re.findall(r"Accuracy: (\d+)/50", ours)
    assert len(accuracy) == 2 and int(accuracy[-1]) > int(accuracy[0])


def test_nanogpt_gives_torchs_losses_and_greedy_sample():
    ours, theirs = _both(SCRIPTS / "nanogpt.py", "--compare", "--device", "cpu")
    assert assert_same_output(ours, theirs) >= 90
    assert "using fused AdamW: False" in ours  # inspect.signature found AdamW's `fused`
    assert [line for line in ours.splitlines() if line.startswith("sample:")] == [
        line for line in theirs.splitlines() if line.startswith("sample:")
    ]
    losses = [float(v) for v in re.findall(r"loss (\S+),", ours)]
    assert len(losses) == 30 and losses[-1] < losses[0] - 0.5


@pytest.mark.parametrize("script", ["mnist_cnn.py", "nanogpt.py"])
def test_scripts_train_as_written(device, script):
    """The scripts' own path (torch's initialisation, dropout, shuffling, top-k sampling),
    on each device: it runs and the loss falls."""
    args = ["--no-accel"] if device == "cpu" and script == "mnist_cnn.py" else []
    if script == "nanogpt.py":
        args = ["--device", device]
    out = as_torch(SCRIPTS / script, *args)
    assert out.returncode == 0, out.stderr
    losses = [float(v) for v in re.findall(r"[Ll]oss:? (\d+\.\d+)", out.stdout)]
    assert len(losses) >= 4 and losses[-1] < losses[0]
