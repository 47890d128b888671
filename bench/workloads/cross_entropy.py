"""Softmax cross-entropy (mean over the batch) of (N, 1000) logits."""

from __future__ import annotations

import numpy as np

from ..case import Step, Workload, randn

CLASSES = 1000


class CrossEntropy(Workload):
    name = "cross_entropy"
    variants = ("mean",)

    def ladder(self, device, level):
        if level == "test":
            rows, c = [8], 10
        else:
            c = CLASSES
            if device == "cuda":
                rows = [256, 4096, 65536] if level == "quick" else [4**e for e in range(2, 10)]
            else:
                rows = [16, 256, 4096] if level == "quick" else [4**e for e in range(2, 8)]
        return [("mean", f"{n}x{c}", float(n * c), {"n": n, "c": c}) for n in rows]

    def cost(self, variant, p, mode):
        e = p["n"] * p["c"]
        # forward reads the logits; backward reads them again and writes the gradient
        return 4.0 * e * (1 + (mode != "fwd")), 4.0 * e * (1 if mode == "fwd" else 3), "memory"

    def batch(self, case, rng):
        n, c = case.params["n"], case.params["c"]
        return {"x": randn(rng, n, c, scale=2.0), "t": rng.integers(0, c, n, dtype=np.int64)}

    def framework(self, lib, case, state, batches):
        bwd = case.mode == "fwd+bwd"
        xs = [lib.tensor(b["x"], bwd) for b in batches]
        ts = [lib.tensor(b["t"]) for b in batches]
        F = lib.F
        last: dict = {}

        def call(i):
            loss = F.cross_entropy(xs[i], ts[i])
            if bwd:
                xs[i].grad = None
                loss.backward()
            last["i"], last["loss"] = i, loss

        def result():
            out = {"loss": lib.host(last["loss"])}
            if bwd:
                out["gx"] = lib.host(xs[last["i"]].grad)
            return out

        return Step(call, result)

    def floor(self, fx, case, state, batches):
        xp = fx.xp
        bwd = case.mode == "fwd+bwd"
        sets = [{k: fx.array(v) for k, v in b.items()} for b in batches]
        n = case.params["n"]
        ar = xp.arange(n)
        last: dict = {}

        def call(i):
            x, t = sets[i]["x"], sets[i]["t"]
            shifted = x - x.max(axis=1, keepdims=True)
            e = xp.exp(shifted)
            s = e.sum(axis=1, keepdims=True)
            last["loss"] = (xp.log(s[:, 0]) - shifted[ar, t]).mean()
            if bwd:
                e /= s
                e[ar, t] -= 1
                e *= 1.0 / n
                last["gx"] = e

        return Step(call, lambda: {k: fx.host(v) for k, v in last.items()})


WORKLOAD = CrossEntropy()
