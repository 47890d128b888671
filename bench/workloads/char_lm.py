"""One training step of examples/char_lm.py's model: a small GPT (pre-LN blocks, causal
multi-head attention, tanh-GELU MLP, untied head without bias), cross-entropy over every
position, gradient clipping to norm 1, then AdamW (betas 0.9/0.95, weight decay 0.1 on
matrices only). The example's defaults are the ``small`` size.

The model is written once with the functional API (F.embedding, F.layer_norm, F.linear,
F.scaled_dot_product_attention, F.gelu, F.cross_entropy, clip_grad_norm_) so gpugrad and
torch run the same computation; the floor is the same network with its backward written out
in NumPy / CuPy. (Dropout 0 and the learning-rate schedule are left out: no work.) Without
optim.AdamW in gpugrad every implementation uses plain SGD instead.
"""

from __future__ import annotations

import math

import numpy as np

from ..case import Step, Workload, randn
from ..libs import gpugrad_has

SIZES = {  # name: (batch, block, width, layers, heads, vocab); small = the example's defaults
    "test": (2, 8, 16, 1, 2, 11),
    "tiny": (4, 32, 32, 1, 2, 96),
    "small": (16, 64, 64, 2, 4, 96),
    "medium": (32, 128, 128, 4, 4, 96),
    "large": (64, 256, 384, 6, 6, 96),
}
LR, BETAS, EPS, WD = 3e-3, (0.9, 0.95), 1e-8, 0.1
LN_EPS = 1e-5
CLIP = 1.0
CHECK_UPDATE = ("whead", "lnfb")  # a decayed matrix and an undecayed vector
GELU_C = math.sqrt(2 / math.pi)


def optimizer() -> str:
    return "adamw" if gpugrad_has("optim.AdamW") else "sgd"


def names(n_layers: int) -> list[str]:
    out = ["wte", "wpe"]
    for i in range(n_layers):
        out += [
            f"{k}{i}"
            for k in (
                "ln1w",
                "ln1b",
                "wqkv",
                "bqkv",
                "wo",
                "bo",
                "ln2w",
                "ln2b",
                "w1",
                "b1",
                "w2",
                "b2",
            )
        ]
    return out + ["lnfw", "lnfb", "whead"]


def gpt_flops(p: dict, mode: str) -> float:
    b, t, d, n_layers, v = p["batch"], p["block"], p["width"], p["layers"], p["vocab"]
    fwd = 2.0 * b * t * (12 * n_layers * d * d + v * d) + 4.0 * n_layers * b * t * t * d
    return fwd if mode == "fwd" else 3 * fwd


def gpt_forward(lib, P: dict, idx, p: dict):
    """The network through the PyTorch API (gpugrad and torch alike): returns logits."""
    F = lib.F
    b, t, d, h = p["batch"], p["block"], p["width"], p["heads"]
    hd = d // h
    x = F.embedding(idx, P["wte"]) + P["wpe"]
    for i in range(p["layers"]):
        a = F.layer_norm(x, (d,), P[f"ln1w{i}"], P[f"ln1b{i}"], LN_EPS)
        q, k, v = F.linear(a, P[f"wqkv{i}"], P[f"bqkv{i}"]).split(d, dim=2)
        q, k, v = (z.reshape(b, t, h, hd).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        y = y.transpose(1, 2).reshape(b, t, d)
        x = x + F.linear(y, P[f"wo{i}"], P[f"bo{i}"])
        a = F.layer_norm(x, (d,), P[f"ln2w{i}"], P[f"ln2b{i}"], LN_EPS)
        u = F.gelu(F.linear(a, P[f"w1{i}"], P[f"b1{i}"]), approximate="tanh")
        x = x + F.linear(u, P[f"w2{i}"], P[f"b2{i}"])
    x = F.layer_norm(x, (d,), P["lnfw"], P["lnfb"], LN_EPS)
    return F.linear(x, P["whead"])


class CharLM(Workload):
    name = "char_lm"
    variants = ("step",)
    compilable = True
    tol = 2e-3

    def key_tolerance(self, key, case):
        # An Adam step is lr * m / (sqrt(v) + eps): for gradients near eps the float32
        # rounding of g moves it by a percent, so the update is checked more loosely.
        return 3e-2 if key.startswith("d_") else self.tol

    def ladder(self, device, level):
        if level == "test":
            sel = ["test"]
        elif device == "cuda":
            sel = ["small", "medium", "large"] if level == "quick" else list(SIZES)[1:]
        else:
            sel = ["tiny", "small"] if level == "quick" else ["tiny", "small", "medium"]
        out = []
        for s in sel:
            b, t, d, n_layers, h, v = SIZES[s]
            p = {
                "name": s,
                "batch": b,
                "block": t,
                "width": d,
                "layers": n_layers,
                "heads": h,
                "vocab": v,
            }
            out.append(("step", f"{s} B{b} T{t} d{d} L{n_layers}", gpt_flops(p, "fwd"), p))
        return out

    def cost(self, variant, p, mode):
        d, n_layers, v = p["width"], p["layers"], p["vocab"]
        n_params = 12 * n_layers * d * d + 2 * v * d
        acts = p["batch"] * p["block"] * d * (16 * n_layers + 2)
        moved = 4.0 * (n_params + acts) * (1 if mode == "fwd" else 4)
        return gpt_flops(p, mode), moved, "compute"

    def state(self, case, rng):
        p = case.params
        d, v, t = p["width"], p["vocab"], p["block"]
        shapes = {"wte": (v, d), "wpe": (t, d), "lnfw": (d,), "lnfb": (d,), "whead": (v, d)}
        for i in range(p["layers"]):
            shapes.update(
                {
                    f"ln1w{i}": (d,),
                    f"ln1b{i}": (d,),
                    f"wqkv{i}": (3 * d, d),
                    f"bqkv{i}": (3 * d,),
                    f"wo{i}": (d, d),
                    f"bo{i}": (d,),
                    f"ln2w{i}": (d,),
                    f"ln2b{i}": (d,),
                    f"w1{i}": (4 * d, d),
                    f"b1{i}": (4 * d,),
                    f"w2{i}": (d, 4 * d),
                    f"b2{i}": (d,),
                }
            )
        out = {}
        for k in names(p["layers"]):
            a = randn(rng, *shapes[k], scale=0.02 if len(shapes[k]) == 2 else 0.01)
            out[k] = a + 1 if k.startswith("ln") and "w" in k else a
        return out

    def batch(self, case, rng):
        p = case.params
        ids = rng.integers(0, p["vocab"], (p["batch"], p["block"] + 1), dtype=np.int64)
        return {"idx": np.ascontiguousarray(ids[:, :-1]), "tgt": np.ascontiguousarray(ids[:, 1:])}

    def framework(self, lib, case, state, batches):
        T, F = lib.T, lib.F
        p = case.params
        bwd = case.mode == "fwd+bwd"
        order = names(p["layers"])
        P = {k: lib.tensor(state[k], True) for k in order}
        params = [P[k] for k in order]
        idx = [lib.tensor(b["idx"]) for b in batches]
        tgt = [lib.tensor(b["tgt"].reshape(-1)) for b in batches]
        adamw = optimizer() == "adamw"
        opt = None
        if adamw:  # the example's groups: weight decay on matrices only
            groups = [
                {"params": [q for q in params if q.dim() >= 2], "weight_decay": WD},
                {"params": [q for q in params if q.dim() < 2], "weight_decay": 0.0},
            ]
            # a step captured into a CUDA graph needs the step count on the device
            graphed = getattr(lib, "compiled", False) and lib.device == "cuda"
            kw = {"capturable": True} if graphed else {}
            opt = T.optim.AdamW(groups, lr=LR, betas=BETAS, eps=EPS, **kw)
        last: dict = {}

        def loss_of(x, y):
            logits = gpt_forward(lib, P, x, p)
            return F.cross_entropy(logits.reshape(-1, p["vocab"]), y)

        def infer(x, y):
            with T.no_grad():
                return loss_of(x, y)

        def train(x, y):
            for q in params:
                q.grad = None
            loss = loss_of(x, y)
            loss.backward()
            T.nn.utils.clip_grad_norm_(params, CLIP)
            if adamw:
                opt.step()
            else:
                with T.no_grad():
                    for q in params:
                        q -= LR * q.grad
            return loss

        step = lib.compile(train if bwd else infer)

        def call(i):
            last["loss"] = step(idx[i], tgt[i])

        def result():
            out = {"loss": lib.host(last["loss"])}
            if bwd:
                out.update({f"g_{k}": lib.host(P[k].grad) for k in order})
                # what one optimizer step changed (checks the update, not just the gradients)
                out.update({f"d_{k}": lib.host(P[k]) - state[k] for k in CHECK_UPDATE})
            return out

        return Step(call, result)

    def floor(self, fx, case, state, batches):
        return _FloorGPT(fx, case, state, batches).step()


class _FloorGPT:
    """The same network with every backward written out by hand."""

    def __init__(self, fx, case, state, batches) -> None:
        self.fx, self.xp, self.p = fx, fx.xp, case.params
        self.bwd = case.mode == "fwd+bwd"
        self.P = {k: fx.array(v) for k, v in state.items()}
        self.P0 = {k: fx.array(state[k]) for k in CHECK_UPDATE}
        self.order = names(self.p["layers"])
        self.sets = [{k: fx.array(v) for k, v in b.items()} for b in batches]
        t = self.p["block"]
        self.mask = fx.array(np.triu(np.full((t, t), -np.inf, np.float32), 1))
        self.adamw = optimizer() == "adamw"
        self.m = {k: self.xp.zeros_like(v) for k, v in self.P.items()} if self.adamw else None
        self.v = {k: self.xp.zeros_like(v) for k, v in self.P.items()} if self.adamw else None
        self.t = 0
        self.last: dict = {}

    def step(self) -> Step:
        return Step(self.call, lambda: {k: self.fx.host(v) for k, v in self.last.items()})

    # ---- pieces: each forward returns its output and what its backward needs ----
    def _ln(self, x, w, b):
        xp = self.xp
        xc = x - x.mean(axis=-1, keepdims=True)
        rstd = 1.0 / xp.sqrt((xc * xc).mean(axis=-1, keepdims=True) + LN_EPS)
        xhat = xc
        xhat *= rstd
        return xhat * w + b, (xhat, rstd, w)

    @staticmethod
    def _ln_back(g, cache):
        xhat, rstd, w = cache
        gw = (g * xhat).reshape(-1, g.shape[-1]).sum(axis=0)
        gb = g.reshape(-1, g.shape[-1]).sum(axis=0)
        gh = g * w
        gx = gh - gh.mean(axis=-1, keepdims=True)
        gx -= xhat * (gh * xhat).mean(axis=-1, keepdims=True)
        gx *= rstd
        return gx, gw, gb

    @staticmethod
    def _linear_back(g, x, w, grads, wk, bk):
        g2, x2 = g.reshape(-1, g.shape[-1]), x.reshape(-1, x.shape[-1])
        grads[wk] = g2.T @ x2
        if bk is not None:
            grads[bk] = g2.sum(axis=0)
        return g @ w

    def _gelu(self, x):
        """tanh-approximate GELU: 0.5 x (1 + tanh(c (x + 0.044715 x^3)))."""
        x2 = x * x
        th = self.xp.tanh(GELU_C * x * (1 + 0.044715 * x2))
        return 0.5 * x * (1 + th), (x, x2, th)

    @staticmethod
    def _gelu_back(g, cache):
        x, x2, th = cache
        inner = GELU_C * (1 + 3 * 0.044715 * x2)
        return g * (0.5 * (1 + th) + 0.5 * x * (1 - th * th) * inner)

    def call(self, i):
        xp, p, P = self.xp, self.p, self.P
        b, t, d, h, voc = p["batch"], p["block"], p["width"], p["heads"], p["vocab"]
        hd = d // h
        scale = 1.0 / math.sqrt(hd)
        idx, tgt = self.sets[i]["idx"], self.sets[i]["tgt"].reshape(-1)
        x = P["wte"][idx] + P["wpe"]
        caches = []
        for li in range(p["layers"]):
            a, ln1 = self._ln(x, P[f"ln1w{li}"], P[f"ln1b{li}"])
            qkv = a @ P[f"wqkv{li}"].T + P[f"bqkv{li}"]
            q, k, v = (
                qkv[..., j * d : (j + 1) * d].reshape(b, t, h, hd).transpose(0, 2, 1, 3)
                for j in range(3)
            )
            s = q @ k.transpose(0, 1, 3, 2)
            s *= scale
            s += self.mask
            s -= s.max(axis=-1, keepdims=True)
            att = xp.exp(s)
            att /= att.sum(axis=-1, keepdims=True)
            y = (att @ v).transpose(0, 2, 1, 3).reshape(b, t, d)
            x = x + (y @ P[f"wo{li}"].T + P[f"bo{li}"])
            a2, ln2 = self._ln(x, P[f"ln2w{li}"], P[f"ln2b{li}"])
            u = a2 @ P[f"w1{li}"].T + P[f"b1{li}"]
            gu, gelu = self._gelu(u)
            x = x + (gu @ P[f"w2{li}"].T + P[f"b2{li}"])
            caches.append((a, ln1, q, k, v, att, y, a2, ln2, gelu, gu))
        xf, lnf = self._ln(x, P["lnfw"], P["lnfb"])
        logits = (xf @ P["whead"].T).reshape(-1, voc)
        shifted = logits - logits.max(axis=1, keepdims=True)
        e = xp.exp(shifted)
        ssum = e.sum(axis=1, keepdims=True)
        n = b * t
        ar = xp.arange(n)
        self.last["loss"] = (xp.log(ssum[:, 0]) - shifted[ar, tgt]).mean()
        if not self.bwd:
            return
        G: dict = {}
        g = e
        g /= ssum
        g[ar, tgt] -= 1
        g *= 1.0 / n
        g = self._linear_back(g.reshape(b, t, voc), xf, P["whead"], G, "whead", None)
        gx, G["lnfw"], G["lnfb"] = self._ln_back(g, lnf)
        for li in reversed(range(p["layers"])):
            a, ln1, q, k, v, att, y, a2, ln2, gelu, gu = caches[li]
            gm = self._linear_back(gx, gu, P[f"w2{li}"], G, f"w2{li}", f"b2{li}")
            gm = self._gelu_back(gm, gelu)
            ga2 = self._linear_back(gm, a2, P[f"w1{li}"], G, f"w1{li}", f"b1{li}")
            g_ln, G[f"ln2w{li}"], G[f"ln2b{li}"] = self._ln_back(ga2, ln2)
            gx = gx + g_ln
            gy = self._linear_back(gx, y, P[f"wo{li}"], G, f"wo{li}", f"bo{li}")
            gy = gy.reshape(b, t, h, hd).transpose(0, 2, 1, 3)
            gatt = gy @ v.transpose(0, 1, 3, 2)
            gv = att.transpose(0, 1, 3, 2) @ gy
            gs = att * (gatt - (gatt * att).sum(axis=-1, keepdims=True))
            gs *= scale
            gq = gs @ k
            gk = gs.transpose(0, 1, 3, 2) @ q
            gqkv = xp.concatenate(
                [z.transpose(0, 2, 1, 3).reshape(b, t, d) for z in (gq, gk, gv)], axis=-1
            )
            ga = self._linear_back(gqkv, a, P[f"wqkv{li}"], G, f"wqkv{li}", f"bqkv{li}")
            g_ln, G[f"ln1w{li}"], G[f"ln1b{li}"] = self._ln_back(ga, ln1)
            gx = gx + g_ln
        G["wpe"] = gx.sum(axis=0)
        G["wte"] = xp.zeros_like(P["wte"])
        self.fx.scatter_add(G["wte"], idx.reshape(-1), gx.reshape(-1, d))
        self._clip(G)
        self._update(G)
        self.last.update({f"g_{k}": G[k] for k in self.order})
        self.last.update({f"d_{k}": P[k] - self.P0[k] for k in CHECK_UPDATE})

    def _clip(self, G):
        """clip_grad_norm_: scale every gradient by min(1, max_norm / (total norm + 1e-6))."""
        xp = self.xp
        total = xp.sqrt(sum(xp.vdot(g.ravel(), g.ravel()) for g in G.values()))
        coef = xp.minimum(CLIP / (total + 1e-6), 1.0).astype(xp.float32)
        for g in G.values():
            g *= coef

    def _update(self, G):
        xp = self.xp
        if not self.adamw:
            for k, w in self.P.items():
                w -= LR * G[k]
            return
        self.t += 1
        b1, b2 = BETAS
        bc1, bc2 = 1 - b1**self.t, 1 - b2**self.t
        for k, w in self.P.items():
            g, m, v = G[k], self.m[k], self.v[k]
            if w.ndim >= 2:
                w *= 1 - LR * WD
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * (g * g)
            denom = xp.sqrt(v)
            denom *= 1 / math.sqrt(bc2)
            denom += EPS
            w -= (LR / bc1) * (m / denom)


WORKLOAD = CharLM()
