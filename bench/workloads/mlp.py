"""One MLP training step: forward (linear + ReLU), softmax cross-entropy, backward, SGD.

The four sizes of the core benchmark: tiny, small, medium, large. ``fwd`` is the inference
forward (no autograd, loss included); ``fwd+bwd`` is the whole training step. Frameworks run
nn.Sequential + optim.SGD when they have them (gpugrad's may still be missing: then both run
the same functional step, F.linear and a hand-written update); the floor is NumPy/CuPy.
"""

from __future__ import annotations

import numpy as np

from ..case import Step, Workload, randn
from ..libs import gpugrad_has

SIZES = {  # name: (batch, layer widths)
    "tiny": (16, (32, 32, 32, 10)),
    "small": (64, (784, 128, 10)),
    "medium": (256, (784, 512, 512, 10)),
    "large": (1024, (1024, 2048, 2048, 1024)),
}
LR = 0.01


def use_modules() -> bool:
    """nn.Sequential + optim.SGD when gpugrad has them (torch then runs the same recipe)."""
    return all(gpugrad_has(n) for n in ("nn.Linear", "nn.Sequential", "nn.ReLU", "optim.SGD"))


def model_flops(batch: int, dims: tuple[int, ...], mode: str) -> float:
    fwd = 2.0 * batch * sum(a * b for a, b in zip(dims[:-1], dims[1:]))
    if mode == "fwd":
        return fwd
    return 3 * fwd - 2.0 * batch * dims[0] * dims[1]  # no gradient for the input itself


class MLP(Workload):
    name = "mlp"
    variants = ("step",)
    tol = 1e-3
    compilable = True

    def ladder(self, device, level):
        if level == "test":
            names = ["tiny"]
        elif level == "quick" and device == "cpu":
            names = ["tiny", "small", "medium"]
        else:
            names = list(SIZES)
        out = []
        for name in names:
            batch, dims = SIZES[name]
            label = f"{name} {batch}:{'-'.join(map(str, dims))}"
            out.append(
                (
                    "step",
                    label,
                    model_flops(batch, dims, "fwd"),
                    {"name": name, "batch": batch, "dims": dims},
                )
            )
        return out

    def cost(self, variant, p, mode):
        batch, dims = p["batch"], p["dims"]
        n_params = sum(a * b + b for a, b in zip(dims[:-1], dims[1:]))
        acts = batch * sum(dims)
        moved = 4.0 * (n_params + acts) * (1 if mode == "fwd" else 4)
        return model_flops(batch, dims, mode), moved, "compute"

    def state(self, case, rng):
        dims = case.params["dims"]
        out = {}
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            out[f"w{i}"] = randn(rng, b, a, scale=a**-0.5)
            out[f"b{i}"] = randn(rng, b, scale=0.1)
        return out

    def batch(self, case, rng):
        batch, dims = case.params["batch"], case.params["dims"]
        return {
            "x": randn(rng, batch, dims[0]),
            "y": rng.integers(0, dims[-1], batch, dtype=np.int64),
        }

    def framework(self, lib, case, state, batches):
        T, F = lib.T, lib.F
        bwd = case.mode == "fwd+bwd"
        n_layers = len(case.params["dims"]) - 1
        params = []
        for i in range(n_layers):
            params += [lib.tensor(state[f"w{i}"], True), lib.tensor(state[f"b{i}"], True)]
        xs = [lib.tensor(b["x"]) for b in batches]
        ys = [lib.tensor(b["y"]) for b in batches]
        last: dict = {}

        if use_modules():
            layers = []
            for i in range(n_layers):
                lin = T.nn.Linear(*state[f"w{i}"].shape[::-1])
                lin.weight = T.nn.Parameter(params[2 * i].detach())
                lin.bias = T.nn.Parameter(params[2 * i + 1].detach())
                layers += [lin, T.nn.ReLU()]
            model = T.nn.Sequential(*layers[:-1])
            params = list(model.parameters())
            opt = T.optim.SGD(params, lr=LR)

            def train(x, y):
                opt.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                opt.step()
                return loss
        else:

            def model(x):
                for i in range(n_layers):
                    x = F.linear(x, params[2 * i], params[2 * i + 1])
                    if i < n_layers - 1:
                        x = F.relu(x)
                return x

            def train(x, y):
                for p in params:
                    p.grad = None
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                with T.no_grad():
                    for p in params:
                        p -= LR * p.grad
                return loss

        def infer(x, y):
            with T.no_grad():
                logits = model(x)
                return logits, F.cross_entropy(logits, y)

        train, infer = lib.compile(train), lib.compile(infer)

        def call(i):
            if bwd:
                last["loss"] = train(xs[i], ys[i])
            else:
                last["logits"], last["loss"] = infer(xs[i], ys[i])

        def result():
            out = {"loss": lib.host(last["loss"])}
            if bwd:
                for i, p in enumerate(params):
                    out[f"g{'wb'[i % 2]}{i // 2}"] = lib.host(p.grad)
            else:
                out["logits"] = lib.host(last["logits"])
            return out

        return Step(call, result)

    def floor(self, fx, case, state, batches):
        xp = fx.xp
        bwd = case.mode == "fwd+bwd"
        n_layers = len(case.params["dims"]) - 1
        W = [fx.array(state[f"w{i}"]) for i in range(n_layers)]
        B = [fx.array(state[f"b{i}"]) for i in range(n_layers)]
        sets = [{k: fx.array(v) for k, v in b.items()} for b in batches]
        n = case.params["batch"]
        ar = xp.arange(n)
        last: dict = {}

        def call(i):
            x, y = sets[i]["x"], sets[i]["y"]
            hs = [x]
            for layer in range(n_layers):
                z = hs[-1] @ W[layer].T
                z += B[layer]
                if layer < n_layers - 1:
                    xp.maximum(z, 0, out=z)
                hs.append(z)
            logits = hs[-1]
            shifted = logits - logits.max(axis=1, keepdims=True)
            e = xp.exp(shifted)
            s = e.sum(axis=1, keepdims=True)
            last["loss"] = (xp.log(s[:, 0]) - shifted[ar, y]).mean()
            if not bwd:
                last["logits"] = logits
                return
            g = e
            g /= s
            g[ar, y] -= 1
            g *= 1.0 / n
            grads = []
            for layer in reversed(range(n_layers)):
                grads.append((layer, g.T @ hs[layer], g.sum(axis=0)))
                if layer > 0:
                    g = g @ W[layer]
                    g *= hs[layer] > 0
            for layer, gw, gb in grads:
                last[f"gw{layer}"], last[f"gb{layer}"] = gw, gb
                W[layer] -= LR * gw
                B[layer] -= LR * gb

        return Step(call, lambda: {k: fx.host(v) for k, v in last.items()})


WORKLOAD = MLP()
