"""docs/api_coverage.md is generated from the code (python -m gpugrad.utils.api_coverage) and
current: regenerated with the torch it was written from, it is the same page; and every name
it calls covered is there in gpugrad (checked without torch too)."""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gpugrad.utils import api_coverage

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "api_coverage.md"
ROW = re.compile(r"^\| `([\w.]+)` \| `(\w+)` \| (covered|missing) \| (.*) \|$")


def _rows() -> list[tuple[str, str, str, str]]:
    return [m.groups() for line in PAGE.read_text().splitlines() if (m := ROW.match(line))]


def _page_torch_version() -> str:
    return re.search(r"PyTorch (\S+)'s namespaces", PAGE.read_text()).group(1)


def test_page_is_current():
    torch = pytest.importorskip("torch")
    if torch.__version__.split("+")[0] != _page_torch_version():
        pytest.skip(
            f"the page lists torch {_page_torch_version()}'s names; torch {torch.__version__} here"
        )
    out = subprocess.run(
        [sys.executable, "-m", "gpugrad.utils.api_coverage", "--check", "--output", str(PAGE)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
    )
    assert out.returncode == 0, (
        out.stdout + out.stderr + "\nregenerate: python -m gpugrad.utils.api_coverage"
    )


def test_every_covered_name_is_there():
    rows = _rows()
    assert len(rows) > 2000
    gpugrad_path = dict(api_coverage.NAMESPACES)
    for module, name, status, note in rows:
        if status != "covered":
            continue
        path = gpugrad_path[module]
        if note.startswith("module"):
            assert importlib.util.find_spec(f"{path}.{name}") is not None, f"{module}.{name}"
        else:
            assert hasattr(api_coverage._resolve(path), name), f"{module}.{name} -> {path}.{name}"


def test_totals_add_up():
    rows = _rows()
    text = PAGE.read_text()
    for namespace, _ in api_coverage.NAMESPACES:
        mine = [r for r in rows if r[0] == namespace]
        covered = sum(r[2] == "covered" for r in mine)
        assert f"| {covered} | {len(mine) - covered} | {len(mine)} |" in text, namespace


def test_generator_lists_the_api_and_nothing_else():
    pytest.importorskip("torch")
    rows = {(r.module, r.name): r for r in api_coverage.rows()}
    for key in [
        ("torch", "from_dlpack"),
        ("torch", "tensor"),
        ("torch", "set_grad_enabled"),  # not in torch.__all__, public all the same
        ("torch.Tensor", "backward"),
        ("torch.nn.functional", "scaled_dot_product_attention"),
        ("torch.optim", "AdamW"),
        ("torch.optim.lr_scheduler", "StepLR"),
        ("torch.utils.data", "DataLoader"),
        ("torch.nn", "functional"),
    ]:
        assert rows[key].covered, key
    assert not rows["torch", "fft"].covered and rows["torch", "fft"].note == "module"
    assert rows["torch", "bfloat16"].covered
    assert rows["torch", "compile"].note.startswith("CPU: records")
    for foreign in [
        ("torch", "os"),
        ("torch", "sys"),
        ("torch.nn.functional", "math"),
        ("torch.nn.functional", "Tensor"),
        ("torch.nn.functional", "Optional"),
        ("torch", "TYPE_CHECKING"),
        ("torch.nn.functional", "tf32_notes"),
    ]:
        assert foreign not in rows, foreign
