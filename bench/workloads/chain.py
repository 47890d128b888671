"""Per-op overhead: a chain of 100 elementwise ops on a small tensor, then sum and backward.

The ops cycle through multiply by a tensor, add a tensor, tanh and exp (values stay bounded).
On 16 elements this times the framework's bookkeeping per op, not arithmetic.
"""

from __future__ import annotations

from ..case import Step, Workload, randn

LENGTH = 100


class Chain(Workload):
    name = "chain"
    variants = ("100 ops",)
    compilable = True

    def ladder(self, device, level):
        sizes = [16] if level in ("test", "quick") else [16, 1024, 65536]
        return [("100 ops", str(n), float(n), {"n": n, "length": LENGTH}) for n in sizes]

    def cost(self, variant, p, mode):
        n, k = p["n"], p["length"]
        return (
            float(n * k * (1 + (mode != "fwd"))),
            8.0 * n * k * (1 + 2 * (mode != "fwd")),
            "memory",
        )

    def batch(self, case, rng):
        n = case.params["n"]
        return {
            "x": randn(rng, n),
            "c": 1 + randn(rng, n, scale=0.05),
            "d": randn(rng, n, scale=0.1),
        }

    def framework(self, lib, case, state, batches):
        bwd = case.mode == "fwd+bwd"
        k = case.params["length"]
        sets = [(lib.tensor(b["x"], bwd), lib.tensor(b["c"]), lib.tensor(b["d"])) for b in batches]
        last: dict = {}

        def run(x, c, d):
            y = x
            for _ in range(k // 4):
                y = (y * c + d).tanh().exp()
            s = y.sum()
            if bwd:
                x.grad = None
                s.backward()
            return s

        run = lib.compile(run)

        def call(i):
            last["i"], last["s"] = i, run(*sets[i])

        def result():
            out = {"s": lib.host(last["s"])}
            if bwd:
                out["gx"] = lib.host(sets[last["i"]][0].grad)
            return out

        return Step(call, result)

    def floor(self, fx, case, state, batches):
        xp = fx.xp
        bwd = case.mode == "fwd+bwd"
        k = case.params["length"]
        sets = [{key: fx.array(v) for key, v in b.items()} for b in batches]
        last: dict = {}

        def call(i):
            x, c, d = sets[i]["x"], sets[i]["c"], sets[i]["d"]
            saved = []
            y = x
            for _ in range(k // 4):
                t = xp.tanh(y * c + d)
                y = xp.exp(t)
                saved.append((t, y))
            last["s"] = y.sum()
            if bwd:
                g = xp.ones_like(x)
                for t, e in reversed(saved):
                    g = g * e  # exp
                    g = g * (1 - t * t)  # tanh
                    g = g * c  # add passes g through; multiply scales it
                last["gx"] = g

        return Step(call, lambda: {key: fx.host(v) for key, v in last.items()})


WORKLOAD = Chain()
