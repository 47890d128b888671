"""Layer norm over the last axis (width 1024) with weight and bias, eps 1e-5."""

from __future__ import annotations

from ..case import Step, Workload, randn

WIDTH = 1024
EPS = 1e-5


class LayerNorm(Workload):
    name = "layer_norm"
    variants = ("affine",)

    def ladder(self, device, level):
        if level == "test":
            rows, d = [4], 32
        else:
            d = WIDTH
            if device == "cuda":
                rows = [256, 4096, 65536] if level == "quick" else [4**e for e in range(1, 10)]
            else:
                rows = [16, 256, 4096] if level == "quick" else [4**e for e in range(1, 8)]
        return [("affine", f"{n}x{d}", float(n * d), {"n": n, "d": d}) for n in rows]

    def cost(self, variant, p, mode):
        e = p["n"] * p["d"]
        # forward reads x, writes y; backward reads x and g, writes gx
        return 8.0 * e * (1 + 2 * (mode != "fwd")), 4.0 * e * (2 if mode == "fwd" else 5), "memory"

    def state(self, case, rng):
        d = case.params["d"]
        return {"w": 1 + randn(rng, d, scale=0.1), "b": randn(rng, d, scale=0.1)}

    def batch(self, case, rng):
        n, d = case.params["n"], case.params["d"]
        out = {"x": randn(rng, n, d)}
        if case.mode == "fwd+bwd":
            out["g"] = randn(rng, n, d)
        return out

    def framework(self, lib, case, state, batches):
        bwd = case.mode == "fwd+bwd"
        w, b = lib.tensor(state["w"], bwd), lib.tensor(state["b"], bwd)
        xs = [lib.tensor(bt["x"], bwd) for bt in batches]
        gs = [lib.tensor(bt["g"]) for bt in batches] if bwd else None
        F = lib.F
        d = case.params["d"]
        last: dict = {}

        def call(i):
            y = F.layer_norm(xs[i], (d,), w, b, EPS)
            if bwd:
                xs[i].grad = w.grad = b.grad = None
                y.backward(gs[i])
            last["i"], last["y"] = i, y

        def result():
            out = {"y": lib.host(last["y"])}
            if bwd:
                out["gx"] = lib.host(xs[last["i"]].grad)
                out["gw"], out["gb"] = lib.host(w.grad), lib.host(b.grad)
            return out

        return Step(call, result)

    def floor(self, fx, case, state, batches):
        xp = fx.xp
        bwd = case.mode == "fwd+bwd"
        w, b = fx.array(state["w"]), fx.array(state["b"])
        sets = [{k: fx.array(v) for k, v in bt.items()} for bt in batches]
        last: dict = {}

        def call(i):
            x = sets[i]["x"]
            xc = x - x.mean(axis=-1, keepdims=True)
            rstd = 1.0 / xp.sqrt((xc * xc).mean(axis=-1, keepdims=True) + EPS)
            xhat = xc
            xhat *= rstd
            last["y"] = xhat * w + b
            if bwd:
                g = sets[i]["g"]
                last["gw"] = (g * xhat).sum(axis=0)
                last["gb"] = g.sum(axis=0)
                gh = g * w
                gx = gh - gh.mean(axis=-1, keepdims=True)
                gx -= xhat * (gh * xhat).mean(axis=-1, keepdims=True)
                gx *= rstd
                last["gx"] = gx

        return Step(call, lambda: {k: fx.host(v) for k, v in last.items()})


WORKLOAD = LayerNorm()
