"""Render the three backward graphs of the seed article (autograd engine walkthrough).

    python examples/seed_graphs.py --out docs/

Writes ``seed_graph{1,2,3}.dot`` always, and ``.svg`` + ``.png`` when Graphviz's ``dot`` is
installed (``apt-get install graphviz``).

1. c = a * b; e = c * d; ans = sum(e)              the full graph down to three leaves
2. the same with e = c.detach() * d                 the graph stops at the detached c
3. three Linear layers, b = B(a.detach()), c = C(a)  modelA is only reached through c
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(
    0, os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)  # run from a checkout

import gpugrad as torch  # noqa: E402
from gpugrad import viz  # noqa: E402


def graph1() -> tuple:
    a = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = torch.tensor([3.0, 3.0, 3.0], requires_grad=True)
    d = torch.tensor([4.0, 6.0, 10.0], requires_grad=True)
    c = a * b
    e = c * d
    ans = torch.sum(e)
    return ans, {"a": a, "b": b, "c": c, "d": d, "e": e, "ans": ans}


def graph2() -> tuple:
    a = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = torch.tensor([3.0, 3.0, 3.0], requires_grad=True)
    d = torch.tensor([4.0, 6.0, 10.0], requires_grad=True)
    c = a * b
    e = c.detach() * d
    ans = torch.sum(e)
    return ans, {"a": a, "b": b, "d": d, "e": e, "ans": ans}


def _linear_layers(n: int) -> list:
    """Three 10->10 layers: gpugrad.nn.Linear when available, else explicit leaves."""
    nn = getattr(torch, "nn", None)
    if nn is not None and hasattr(nn, "Linear"):
        return [nn.Linear(10, 10) for _ in range(n)]

    class _Linear:
        def __init__(self) -> None:
            bound = 10**-0.5
            self.weight = (torch.rand(10, 10) * 2 - 1).mul_(bound).requires_grad_()
            self.bias = (torch.rand(10) * 2 - 1).mul_(bound).requires_grad_()

        def __call__(self, x):
            return torch.ops.linear(x, self.weight, self.bias)

    return [_Linear() for _ in range(n)]


def graph3() -> tuple:
    model_a, model_b, model_c = _linear_layers(3)
    x = torch.randn(1, 10)
    a = model_a(x)
    b = model_b(a.detach())
    c = model_c(a)
    b_mean, c_mean = b.mean(), c.mean()
    names = {"a": a, "b": b, "c": c, "b.mean()": b_mean, "c.mean()": c_mean}
    for tag, m in (("A", model_a), ("B", model_b), ("C", model_c)):
        names[f"model{tag}.weight"] = m.weight
        names[f"model{tag}.bias"] = m.bias
    return [b_mean, c_mean], names


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/", help="folder for the pictures (default docs/)")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(0)
    written = []
    for i, build in enumerate((graph1, graph2, graph3), start=1):
        roots, names = build()
        base = os.path.join(args.out, f"seed_graph{i}")
        text = viz.draw(roots, params=names, path=base + ".dot")
        written.append(base + ".dot")
        if viz.have_dot():
            for fmt in ("svg", "png"):
                viz.render(text, f"{base}.{fmt}")
                written.append(f"{base}.{fmt}")
    if not viz.have_dot():
        print("Graphviz 'dot' not found: wrote .dot files only (apt-get install graphviz).")
    for p in written:
        print(p)
    return written


if __name__ == "__main__":
    main()
