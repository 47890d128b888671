"""``python -m bench.cpu_kernels``: the CPU kernel workloads, gpugrad against PyTorch in one run.

Each workload is written once against the PyTorch API and run with ``gpugrad`` and with
``torch`` as the module, interleaved round by round in one process, so the ratio compares the
two under the same machine load. The NumPy path is measured too (``GPUGRAD_NUMBA=0`` in a
subprocess) when ``--numpy`` is given. Prints a table of milliseconds and gpugrad/torch ratios.

    python -m bench.cpu_kernels                 # every workload
    python -m bench.cpu_kernels silu layer_norm # some
    python -m bench.cpu_kernels rms_norm group_norm layer_norm
    python -m bench.cpu_kernels --threads 2 --rounds 7
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable


def _pointwise(fn_name: str, n: int = 1 << 22):
    def make(T):
        F = T.nn.functional
        x = T.randn(n, requires_grad=True)
        g = T.randn(n)
        fn = getattr(F, fn_name)

        def step():
            x.grad = None
            fn(x).backward(g)

        return step

    return make


def _layer_norm(T):
    x = T.randn(4096, 1024, requires_grad=True)
    ln = T.nn.LayerNorm(1024)
    g = T.randn(4096, 1024)

    def step():
        x.grad = None
        ln(x).backward(g)

    return step


def _rms_norm(T):
    x = T.randn(4096, 1024, requires_grad=True)
    norm = T.nn.RMSNorm(1024)
    g = T.randn(4096, 1024)

    def step():
        x.grad = None
        norm(x).backward(g)

    return step


def _group_norm(T):
    x = T.randn(16, 64, 32, 32, requires_grad=True)
    norm = T.nn.GroupNorm(8, 64)
    g = T.randn(16, 64, 32, 32)

    def step():
        x.grad = None
        norm(x).backward(g)

    return step


def _softmax(T):
    x = T.randn(4096, 1024, requires_grad=True)
    g = T.randn(4096, 1024)

    def step():
        x.grad = None
        T.softmax(x, -1).backward(g)

    return step


def _cross_entropy(T):
    x = T.randn(4096, 1000, requires_grad=True)
    t = T.randint(0, 1000, (4096,))

    def step():
        x.grad = None
        T.nn.functional.cross_entropy(x, t).backward()

    return step


def _sum(T):
    x = T.randn(1 << 22, requires_grad=True)

    def step():
        x.grad = None
        x.sum().backward()

    return step


def _conv2d(T):
    x = T.randn(16, 32, 32, 32, requires_grad=True)
    conv = T.nn.Conv2d(32, 32, 3, padding=1)
    g = T.randn(16, 32, 32, 32)

    def step():
        x.grad = None
        conv(x).backward(g)

    return step


def _adamw(T):
    params = [T.nn.Parameter(T.randn(1 << 20)) for _ in range(10)]
    for p in params:
        p.grad = T.randn(1 << 20)
    opt = T.optim.AdamW(params, lr=1e-3)

    def step():
        opt.step()

    return step


def _gpt(T, *, vocab: int, d: int, heads: int, layers: int, ctx: int):
    nn, F = T.nn, T.nn.functional

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.fc, self.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

        def forward(self, x):
            B, L, _ = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
            q, k, v = (t.view(B, L, heads, d // heads).transpose(1, 2) for t in (q, k, v))
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.proj(a.transpose(1, 2).contiguous().view(B, L, d))
            return x + self.out(F.gelu(self.fc(self.ln2(x))))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(ctx, d)
            self.blocks = nn.ModuleList(Block() for _ in range(layers))
            self.ln, self.head = nn.LayerNorm(d), nn.Linear(d, vocab, bias=False)
            self.head.weight = self.tok.weight  # weight tying, as nanoGPT

        def forward(self, idx, targets):
            x = self.tok(idx) + self.pos(T.arange(idx.shape[1]))
            for b in self.blocks:
                x = b(x)
            logits = self.head(self.ln(x))
            return F.cross_entropy(logits.view(-1, vocab), targets.view(-1))

    return GPT()


def _lm_step(T, *, batch: int, steps: int, **cfg):
    T.manual_seed(0)
    model = _gpt(T, **cfg)
    opt = T.optim.AdamW(model.parameters(), lr=3e-4)
    idx = T.randint(0, cfg["vocab"], (batch, cfg["ctx"]))
    tgt = T.randint(0, cfg["vocab"], (batch, cfg["ctx"]))

    def step():
        for _ in range(steps):
            opt.zero_grad()
            model(idx, tgt).backward()
            opt.step()

    return step


WORKLOADS: dict[str, tuple[str, Callable]] = {
    "silu": ("silu fwd+bwd, 2^22 float32", _pointwise("silu")),
    "gelu": ("gelu fwd+bwd, 2^22", _pointwise("gelu")),
    "layer_norm": ("layer_norm fwd+bwd, 4096x1024", _layer_norm),
    "rms_norm": ("rms_norm fwd+bwd, 4096x1024, weight", _rms_norm),
    "group_norm": ("group_norm fwd+bwd, 16x64x32x32, 8 groups, affine", _group_norm),
    "conv2d": ("conv2d 3x3 fwd+bwd, 16x32x32x32 -> 32", _conv2d),
    "softmax": ("softmax fwd+bwd, 4096x1024", _softmax),
    "cross_entropy": ("cross_entropy fwd+bwd, 4096x1000", _cross_entropy),
    "sum": ("sum fwd+bwd, 2^22", _sum),
    "adamw": ("AdamW step, 10M parameters", _adamw),
    "lm_step": (
        "one step of a small transformer LM (d 128, T 64, batch 16, AdamW)",
        lambda T: _lm_step(T, batch=16, steps=1, vocab=96, d=128, heads=4, layers=2, ctx=64),
    ),
    "nanogpt40": (
        "40 steps of a nanoGPT-style GPT (2 layers, d 64, T 64, batch 8)",
        lambda T: _lm_step(T, batch=8, steps=40, vocab=65, d=64, heads=4, layers=2, ctx=64),
    ),
}


def _once(step: Callable) -> float:
    t = time.perf_counter()
    step()
    return time.perf_counter() - t


def measure(names: list[str], rounds: int, threads: int, with_torch: bool = True) -> dict:
    """Median seconds per call of each workload, gpugrad and torch interleaved."""
    import gpugrad

    mods = {"gpugrad": gpugrad}
    if with_torch:
        import torch

        torch.set_num_threads(threads)
        mods["torch"] = torch
    gpugrad.set_num_threads(threads)
    out: dict = {}
    for name in names:
        steps = {k: WORKLOADS[name][1](m) for k, m in mods.items()}
        for s in steps.values():  # warm up: compile, allocate, fill caches
            s()
            s()
        times: dict = {k: [] for k in steps}
        for _ in range(rounds):
            for k, s in steps.items():
                times[k].append(_once(s))
        out[name] = {k: statistics.median(v) for k, v in times.items()}
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.cpu_kernels", description=__doc__)
    ap.add_argument("names", nargs="*", help=f"workloads (default all): {', '.join(WORKLOADS)}")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--numpy", action="store_true", help="also time GPUGRAD_NUMBA=0")
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # subprocess use
    a = ap.parse_args(argv)
    names = a.names or list(WORKLOADS)
    for n in names:
        if n not in WORKLOADS:
            raise SystemExit(f"unknown workload {n!r}; choose from {', '.join(WORKLOADS)}")
    if a.json:
        print(json.dumps(measure(names, a.rounds, a.threads, with_torch=False)))
        return
    res = measure(names, a.rounds, a.threads)
    numpy_path = {}
    if a.numpy:
        cmd = [sys.executable, "-m", "bench.cpu_kernels", "--json", "--rounds", str(a.rounds)]
        cmd += ["--threads", str(a.threads), *names]
        env = {**os.environ, "GPUGRAD_NUMBA": "0"}
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        numpy_path = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"threads {a.threads}, median of {a.rounds} interleaved rounds, one run")
    head = "| workload | gpugrad ms | torch ms | gpugrad/torch |"
    if numpy_path:
        head += " NumPy path ms | NumPy/torch |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for n in names:
        r = res[n]
        row = f"| {WORKLOADS[n][0]} | {r['gpugrad'] * 1e3:.2f} | {r['torch'] * 1e3:.2f} | "
        row += f"{r['gpugrad'] / r['torch']:.2f} |"
        if numpy_path:
            t = numpy_path[n]["gpugrad"]
            row += f" {t * 1e3:.2f} | {t / r['torch']:.2f} |"
        print(row)


if __name__ == "__main__":
    main()
