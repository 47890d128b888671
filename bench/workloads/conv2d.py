"""2-D convolution: 3x3 kernel, stride 1, padding 1, with bias (NCHW, float32).

The floor is the classic handwritten method: im2col through a strided view and one matmul;
backward is two matmuls and a col2im that adds the nine shifted windows back.
"""

from __future__ import annotations

from ..case import Step, Workload, randn

K = 3


class Conv2d(Workload):
    name = "conv2d"
    variants = ("3x3",)

    def ladder(self, device, level):
        if level == "test":
            shapes = [(2, 3, 8, 8, 4)]
        elif device == "cuda":
            shapes = [(16, 32, 32, 32, 32), (64, 64, 32, 32, 64), (128, 64, 56, 56, 64)]
            if level == "full":
                shapes = [(4, 16, 16, 16, 16)] + shapes + [(128, 128, 56, 56, 128)]
        else:
            shapes = [(8, 16, 16, 16, 16), (16, 32, 32, 32, 32)]
            if level == "full":
                shapes = [(2, 8, 16, 16, 8)] + shapes + [(32, 64, 32, 32, 64)]
        out = []
        for n, c, h, w, o in shapes:
            p = {"n": n, "c": c, "h": h, "w": w, "o": o}
            out.append(("3x3", f"{n}x{c}x{h}x{w}->{o}", self._flops(p), p))
        return out

    @staticmethod
    def _flops(p) -> float:
        return 2.0 * p["n"] * p["o"] * p["h"] * p["w"] * p["c"] * K * K

    def cost(self, variant, p, mode):
        io = 4.0 * (p["n"] * p["c"] * p["h"] * p["w"] + p["n"] * p["o"] * p["h"] * p["w"])
        if mode == "fwd":
            return self._flops(p), io, "compute"
        return 3 * self._flops(p), 3 * io, "compute"

    def state(self, case, rng):
        p = case.params
        scale = 1.0 / (p["c"] * K * K) ** 0.5
        return {"w": randn(rng, p["o"], p["c"], K, K, scale=scale), "b": randn(rng, p["o"])}

    def batch(self, case, rng):
        p = case.params
        out = {"x": randn(rng, p["n"], p["c"], p["h"], p["w"])}
        if case.mode == "fwd+bwd":
            out["g"] = randn(rng, p["n"], p["o"], p["h"], p["w"])
        return out

    def framework(self, lib, case, state, batches):
        bwd = case.mode == "fwd+bwd"
        w, b = lib.tensor(state["w"], bwd), lib.tensor(state["b"], bwd)
        xs = [lib.tensor(bt["x"], bwd) for bt in batches]
        gs = [lib.tensor(bt["g"]) for bt in batches] if bwd else None
        F = lib.F
        last: dict = {}

        def call(i):
            y = F.conv2d(xs[i], w, b, padding=1)
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
        p = case.params
        n, c, h, wd, o = p["n"], p["c"], p["h"], p["w"], p["o"]
        w, b = fx.array(state["w"]), fx.array(state["b"])
        wmat = w.reshape(o, c * K * K)
        sets = [{k: fx.array(v) for k, v in bt.items()} for bt in batches]
        last: dict = {}

        def im2col(x):
            """(C*K*K, N*H*W) columns, rows in the weight's order, pixels contiguous."""
            xpad = xp.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
            s0, s1, s2, s3 = xpad.strides
            win = fx.as_strided(xpad, (c, K, K, n, h, wd), (s1, s2, s3, s0, s2, s3))
            return win.reshape(c * K * K, n * h * wd)  # copies: the columns matrix

        def call(i):
            x = sets[i]["x"]
            cols = im2col(x)
            y = wmat @ cols
            y += b[:, None]
            last["y"] = xp.ascontiguousarray(y.reshape(o, n, h, wd).transpose(1, 0, 2, 3))
            if bwd:
                g = sets[i]["g"]
                gmat = g.transpose(1, 0, 2, 3).reshape(o, n * h * wd)
                last["gw"] = (gmat @ cols.T).reshape(o, c, K, K)
                last["gb"] = g.sum(axis=(0, 2, 3))
                gcols = (wmat.T @ gmat).reshape(c, K, K, n, h, wd)
                gpad = xp.zeros((n, c, h + 2, wd + 2), dtype=x.dtype)
                for di in range(K):  # col2im: each kernel offset adds its shifted window back
                    for dj in range(K):
                        gpad[:, :, di : di + h, dj : dj + wd] += gcols[:, di, dj].transpose(
                            1, 0, 2, 3
                        )
                last["gx"] = gpad[:, :, 1:-1, 1:-1]

        return Step(call, lambda: {k: fx.host(v) for k, v in last.items()})


WORKLOAD = Conv2d()
