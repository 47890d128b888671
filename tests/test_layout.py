"""The layout docs/architecture.md describes: one home per op, faces without nodes, the import
layers of pyproject.toml's contracts, no files named for leftovers."""

from __future__ import annotations

import importlib
import pkgutil
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import gpugrad
from gpugrad.autograd.graph import Node

ROOT = Path(__file__).resolve().parents[1]
# packages whose import needs optional extras; the checks below read what imports here
_OPTIONAL = ("gpugrad.distributed", "gpugrad.nn.parallel", "gpugrad.utils.tensorboard")


def _import_all() -> None:
    for info in pkgutil.walk_packages(gpugrad.__path__, "gpugrad."):
        if info.name.startswith(_OPTIONAL):
            continue
        importlib.import_module(info.name)


def _subclasses(cls) -> set:
    out = set()
    for sub in cls.__subclasses__():
        out.add(sub)
        out |= _subclasses(sub)
    return out


def test_nodes_are_defined_only_in_ops_and_autograd():
    _import_all()
    homes = ("gpugrad.ops.", "gpugrad.autograd.")
    stray = sorted(
        f"{c.__module__}.{c.__qualname__}"
        for c in _subclasses(Node)
        if c.__module__.startswith("gpugrad.") and not c.__module__.startswith(homes)
    )
    assert not stray, f"node classes outside gpugrad/ops and gpugrad/autograd: {stray}"


def test_the_faces_define_no_node():
    import gpugrad.linalg
    import gpugrad.nn.functional as F

    for face in (F, gpugrad.linalg):
        nodes = [n for n, v in vars(face).items() if isinstance(v, type) and issubclass(v, Node)]
        assert not nodes, f"{face.__name__} defines nodes {nodes}"


def test_no_file_is_named_for_leftovers():
    leftover = re.compile(r"(^|_)(extra|misc|more|other|stuff)(_|$)")
    bad = sorted(
        str(p.relative_to(ROOT))
        for top in ("gpugrad", "bench", "tests")
        for p in (ROOT / top).rglob("*.py")
        if leftover.search(p.stem)
    )
    assert not bad, f"files named for what was left over rather than what they hold: {bad}"


def test_import_contracts_hold():
    pytest.importorskip("importlinter")
    exe = shutil.which("lint-imports")
    if exe is None:
        pytest.skip("the lint-imports command is not on PATH")
    run = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
