"""Reductions along the last axis: sum, mean and max (rows of 1024 elements)."""

from __future__ import annotations

from ..case import Step, Workload, pow2_label, randn
from .elementwise import element_ladder, shape_of


class Reductions(Workload):
    name = "reductions"
    variants = ("sum", "mean", "max")

    def ladder(self, device, level):
        return [
            (v, pow2_label(n), float(n), {"n": n, "shape": shape_of(n)})
            for v in self.variants
            for n in element_ladder(device, level)
        ]

    def cost(self, variant, p, mode):
        n, rows = p["n"], p["shape"][0]
        once = 4.0 * (n + rows)  # read x, write one value per row (backward: the reverse)
        return float(n), once * (2 if mode == "fwd+bwd" else 1), "memory"

    def batch(self, case, rng):
        r, c = case.params["shape"]
        out = {"x": randn(rng, r, c)}
        if case.mode == "fwd+bwd":
            out["g"] = randn(rng, r)
        return out

    def framework(self, lib, case, state, batches):
        bwd = case.mode == "fwd+bwd"
        xs = [lib.tensor(b["x"], bwd) for b in batches]
        gs = [lib.tensor(b["g"]) for b in batches] if bwd else None
        v = case.variant
        last: dict = {}

        def call(i):
            x = xs[i]
            if v == "sum":
                y = x.sum(dim=-1)
            elif v == "mean":
                y = x.mean(dim=-1)
            else:
                y = x.max(dim=-1)[0]
            if bwd:
                x.grad = None
                y.backward(gs[i])
            last["i"], last["y"] = i, y

        def result():
            out = {"y": lib.host(last["y"])}
            if bwd:
                out["gx"] = lib.host(xs[last["i"]].grad)
            return out

        return Step(call, result)

    def floor(self, fx, case, state, batches):
        xp = fx.xp
        bwd = case.mode == "fwd+bwd"
        sets = [{k: fx.array(v) for k, v in b.items()} for b in batches]
        rows, cols = case.params["shape"]
        ar = xp.arange(rows)
        v = case.variant
        last: dict = {}

        def call(i):
            x, g = sets[i]["x"], sets[i].get("g")
            if v == "max":
                idx = x.argmax(axis=-1)
                y = x[ar, idx]
            else:
                y = x.sum(axis=-1) if v == "sum" else x.mean(axis=-1)
            last["y"] = y
            if bwd:  # the gradient as a real array, as a framework's .grad is
                if v == "max":
                    gx = xp.zeros_like(x)
                    gx[ar, idx] = g
                else:
                    gx = xp.empty_like(x)
                    gx[...] = (g if v == "sum" else g * (1.0 / cols))[:, None]
                last["gx"] = gx

        return Step(call, lambda: {k: fx.host(v) for k, v in last.items()})


WORKLOAD = Reductions()
