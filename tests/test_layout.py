"""The layout docs/architecture.md describes: one home per op, faces without nodes, the import
layers of pyproject.toml's contracts, no files named for leftovers."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gpugrad.autograd.graph import Node

ROOT = Path(__file__).resolve().parents[1]


def _class_defs() -> list:
    """(module path, class name, base names) of every class defined in gpugrad, read from the
    source (importing every module would run other modules' import-time side effects)."""
    out = []
    for path in (ROOT / "gpugrad").rglob("*.py"):
        tree = ast.parse(path.read_text())
        # imported names under their own names: `from ..graph import Node as _N` bases on Node
        alias = {
            a.asname: a.name
            for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom)
            for a in n.names
            if a.asname
        }
        for n in ast.walk(tree):
            if isinstance(n, ast.ClassDef):
                bases = [ast.unparse(b).split(".")[-1] for b in n.bases]
                bases = [alias.get(b, b) for b in bases]
                out.append((path.relative_to(ROOT).as_posix(), n.name, bases))
    return out


def test_nodes_are_defined_only_in_ops_and_autograd():
    defs = _class_defs()
    nodes = {"Node"}
    grew = True
    while grew:  # subclasses of subclasses of Node, across files
        new = {name for _, name, bases in defs if nodes.intersection(bases)}
        grew = not new <= nodes
        nodes |= new
    homes = ("gpugrad/ops/", "gpugrad/autograd/")
    stray = sorted(
        f"{path}:{name}"
        for path, name, bases in defs
        if nodes.intersection(bases) and not path.startswith(homes)
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
