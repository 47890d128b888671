"""Matrix products: square (n x n x n) and tall-skinny ((m x 256) @ (256 x 256)).

float32 everywhere; on cuda also TF32 (float32 data, tensor-core arithmetic) and float16.
"""

from __future__ import annotations

import numpy as np

from ..case import Step, Workload, randn

K_SKINNY = 256


class Matmul(Workload):
    name = "matmul"
    variants = ("square", "tall-skinny")

    def ladder(self, device, level):
        gpu = device == "cuda"
        if level == "test":
            sq, tall = [32], [128]
        elif level == "quick":
            sq = [256, 1024, 4096] if gpu else [64, 256, 1024]
            tall = [4096, 65536, 262144] if gpu else [1024, 16384]
        else:
            sq = [2**e for e in range(6, 14 if gpu else 12)]
            tall = [4**e for e in range(5, 11 if gpu else 10)]
        k = 16 if level == "test" else K_SKINNY
        out = [("square", str(n), 2.0 * n**3, {"m": n, "k": n, "n": n}) for n in sq]
        out += [
            ("tall-skinny", f"{m}x{k}", 2.0 * m * k * k, {"m": m, "k": k, "n": k}) for m in tall
        ]
        return out

    def dtypes(self, variant, device):
        return ("float32", "tf32", "float16") if device == "cuda" else ("float32",)

    def tolerance(self, case):
        return 1e-4 if case.dtype == "float32" else 2e-2

    def cost(self, variant, p, mode):
        m, k, n = p["m"], p["k"], p["n"]
        es = 2 if p["dtype"] == "float16" else 4
        once = es * (m * k + k * n + m * n)
        if mode == "fwd":
            return 2.0 * m * k * n, float(once), "compute"
        return 6.0 * m * k * n, 3.0 * once, "compute"

    def batch(self, case, rng):
        p = case.params
        dt = np.float16 if case.dtype == "float16" else np.float32
        scale = 1.0 / np.sqrt(p["k"])  # keeps float16 products in range
        out = {
            "a": randn(rng, p["m"], p["k"]).astype(dt),
            "b": randn(rng, p["k"], p["n"], scale=scale).astype(dt),
        }
        if case.mode == "fwd+bwd":
            out["g"] = randn(rng, p["m"], p["n"]).astype(dt)
        return out

    def framework(self, lib, case, state, batches):
        bwd = case.mode == "fwd+bwd"
        As = [lib.tensor(b["a"], bwd) for b in batches]
        Bs = [lib.tensor(b["b"], bwd) for b in batches]
        Gs = [lib.tensor(b["g"]) for b in batches] if bwd else None
        last: dict = {}

        def call(i):
            y = As[i] @ Bs[i]
            if bwd:
                As[i].grad = None
                Bs[i].grad = None
                y.backward(Gs[i])
            last["i"], last["y"] = i, y

        def result():
            i = last["i"]
            out = {"y": lib.host(last["y"])}
            if bwd:
                out["ga"], out["gb"] = lib.host(As[i].grad), lib.host(Bs[i].grad)
            return out

        return Step(call, result)

    def floor(self, fx, case, state, batches):
        bwd = case.mode == "fwd+bwd"
        sets = [{k: fx.array(v) for k, v in b.items()} for b in batches]
        last: dict = {}

        def call(i):
            a, b = sets[i]["a"], sets[i]["b"]
            last["y"] = a @ b
            if bwd:
                g = sets[i]["g"]
                last["ga"], last["gb"] = g @ b.T, a.T @ g

        return Step(call, lambda: {k: fx.host(v) for k, v in last.items()})


WORKLOAD = Matmul()
