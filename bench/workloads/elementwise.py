"""Elementwise ops: unary (exp) and binary with broadcasting (a matrix times a row vector)."""

from __future__ import annotations

from ..case import Step, Workload, pow2_label, randn

COLS = 1024


def element_ladder(device: str, level: str) -> list[int]:
    """Element counts from launch-bound to bandwidth-bound sizes."""
    if level == "test":
        return [2**10]
    if device == "cuda":
        exps = [12, 16, 20, 24, 26] if level == "quick" else list(range(10, 29, 2))
    else:
        exps = [10, 14, 18, 22] if level == "quick" else list(range(10, 25, 2))
    return [2**e for e in exps]


def shape_of(n: int) -> tuple[int, int]:
    cols = min(n, COLS)
    return n // cols, cols


class Elementwise(Workload):
    name = "elementwise"
    variants = ("unary", "binary")

    def ladder(self, device, level):
        return [
            (v, pow2_label(n), float(n), {"n": n, "shape": shape_of(n)})
            for v in self.variants
            for n in element_ladder(device, level)
        ]

    def cost(self, variant, p, mode):
        n = p["n"]
        # arrays of n elements read or written: unary y=exp(x); gx=g*y. binary y=x*b;
        # gx=g*b; gb=sum(g*x)
        moved = {"unary": (2, 5), "binary": (2, 6)}[variant][mode == "fwd+bwd"]
        return float(n * (1 + (mode != "fwd"))), 4.0 * n * moved, "memory"

    def batch(self, case, rng):
        r, c = case.params["shape"]
        out = {"x": randn(rng, r, c)}
        if case.mode == "fwd+bwd":
            out["g"] = randn(rng, r, c)
        if case.variant == "binary":
            out["b"] = randn(rng, c)
        return out

    def framework(self, lib, case, state, batches):
        bwd = case.mode == "fwd+bwd"
        xs = [lib.tensor(b["x"], bwd) for b in batches]
        gs = [lib.tensor(b["g"]) for b in batches] if bwd else None
        bs = [lib.tensor(b["b"], bwd) for b in batches] if case.variant == "binary" else None
        last: dict = {}

        def call(i):
            x = xs[i]
            y = x.exp() if bs is None else x * bs[i]
            if bwd:
                x.grad = None
                if bs is not None:
                    bs[i].grad = None
                y.backward(gs[i])
            last["i"], last["y"] = i, y

        def result():
            i = last["i"]
            out = {"y": lib.host(last["y"])}
            if bwd:
                out["gx"] = lib.host(xs[i].grad)
                if bs is not None:
                    out["gb"] = lib.host(bs[i].grad)
            return out

        return Step(call, result)

    def floor(self, fx, case, state, batches):
        bwd = case.mode == "fwd+bwd"
        sets = [{k: fx.array(v) for k, v in b.items()} for b in batches]
        unary = case.variant == "unary"
        last: dict = {}

        def call(i):
            s = sets[i]
            x = s["x"]
            out = {"y": fx.xp.exp(x) if unary else x * s["b"]}
            if bwd:
                g = s["g"]
                if unary:
                    out["gx"] = g * out["y"]
                else:
                    out["gx"] = g * s["b"]
                    out["gb"] = (g * x).sum(axis=0)
            last.update(out)

        return Step(call, lambda: {k: fx.host(v) for k, v in last.items()})


WORKLOAD = Elementwise()
