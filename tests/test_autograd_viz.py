"""gpugrad.viz: DOT text of the backward graph; SVG/PNG only when Graphviz is installed."""

from __future__ import annotations

import re

import pytest

import gpugrad
from gpugrad import viz

needs_dot = pytest.mark.skipif(not viz.have_dot(), reason="Graphviz 'dot' not installed")


def _seed1(device):
    a = gpugrad.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    b = gpugrad.tensor([3.0, 3.0, 3.0], device=device, requires_grad=True)
    d = gpugrad.tensor([4.0, 6.0, 10.0], device=device, requires_grad=True)
    c = a * b
    e = c * d
    return gpugrad.sum(e), dict(a=a, b=b, d=d)


def _labels(dot: str) -> list[str]:
    return re.findall(r'label="([^"]*)"', dot)


def test_draw_seed_graph(device):
    ans, params = _seed1(device)
    dot = viz.draw(ans, params=params)
    assert dot.startswith("digraph")
    labels = _labels(dot)
    assert labels.count("SumBackward0") == 1
    assert labels.count("MulBackward0") == 2
    assert labels.count("AccumulateGrad") == 3
    for name in ("a", "b", "d"):
        assert f"{name}\\n(3)" in labels
    assert dot.count("->") == 1 + 1 + 2 + 2 + 3  # root, sum, muls, leaves


def test_detached_branch_is_cut(device):
    a = gpugrad.tensor([1.0, 2.0], device=device, requires_grad=True)
    d = gpugrad.tensor([4.0, 6.0], device=device, requires_grad=True)
    c = a * 2
    e = c.detach() * d
    labels = _labels(viz.draw(e.sum(), params={"a": a, "d": d}))
    assert labels.count("AccumulateGrad") == 1  # only d
    assert "a\\n(2)" not in labels and "d\\n(2)" in labels


def test_show_saved_and_multiple_roots(device):
    ans, params = _seed1(device)
    other = params["a"].exp().sum()
    dot = viz.draw([ans, other], params=params, show_saved=True)
    labels = _labels(dot)
    assert "ExpBackward0" in labels and labels.count("AccumulateGrad") == 3
    assert sum(lbl.startswith("saved[") for lbl in labels) == 2 + 2 + 1


def test_deep_graph_is_iterative(device):
    x = gpugrad.ones(1, device=device, requires_grad=True)
    h = x
    for _ in range(3000):
        h = h * 1.0
    dot = viz.draw(h)
    assert _labels(dot).count("MulBackward0") == 3000


def test_write_dot_always(tmp_path):
    ans, params = _seed1("cpu")
    path = tmp_path / "g.dot"
    text = viz.draw(ans, params=params, path=str(path))
    assert path.read_text() == text


def test_missing_dot_message(tmp_path, monkeypatch):
    monkeypatch.setattr(viz.shutil, "which", lambda name: None)
    ans, _ = _seed1("cpu")
    with pytest.raises(RuntimeError, match="apt-get install graphviz"):
        viz.draw(ans, path=str(tmp_path / "g.svg"))


@needs_dot
@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_render(tmp_path, fmt):
    ans, params = _seed1("cpu")
    path = tmp_path / f"g.{fmt}"
    viz.draw(ans, params=params, path=str(path))
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG") if fmt == "png" else b"<svg" in data


def test_seed_graphs_example(tmp_path):
    import importlib.util
    import os

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    spec = importlib.util.spec_from_file_location(
        "seed_graphs", os.path.join(here, "examples", "seed_graphs.py")
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    written = mod.main(["--out", str(tmp_path)])
    names = {os.path.basename(p) for p in written}
    assert {"seed_graph1.dot", "seed_graph2.dot", "seed_graph3.dot"} <= names
    if viz.have_dot():
        assert {"seed_graph1.svg", "seed_graph3.png"} <= names
    g3 = (tmp_path / "seed_graph3.dot").read_text()
    # b = B(a.detach()): modelA is reached only through c; three layers' weights drawn.
    assert g3.count("AccumulateGrad") == 6
