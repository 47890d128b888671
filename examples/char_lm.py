"""A small GPT-style character language model, trained on Python's own standard library.

    python examples/char_lm.py                        # 300 steps, cpu or cuda (auto)
    python examples/char_lm.py --device cuda --steps 2000 --n-layer 4 --n-embd 128

Pre-LayerNorm transformer blocks (causal multi-head self-attention via
F.scaled_dot_product_attention, GELU MLP), token + position embeddings, AdamW with weight
decay on matrices only, gradient clipping, linear warm-up then cosine decay (LambdaLR). The
corpus is a few .py files of the standard library (``os.path.dirname(os.__file__)``) chosen
deterministically and capped in size. Every ``--eval-every`` steps it prints the training and
validation loss and a line sampled from the model.

Programmatic API (used by bench/ and tests; names are stable):

    trainer = build(device="cpu", batch_size=16, block_size=64, n_layer=2, n_head=4,
                    n_embd=64, steps=300, lr=3e-3, seed=0)   # -> Trainer
    loss = train_step(trainer)          # one optimizer step on a fresh batch; returns the
                                        # loss as a 0-d Tensor (no device sync)
    x, y = get_batch(trainer)           # a (batch, block) int64 input/target pair
    text = sample(trainer, n_chars=80)  # generated text
    corpus = load_corpus(max_chars)     # the training text
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np

import gpugrad
import gpugrad.nn.functional as F
from gpugrad import nn, optim

# Read in this order; files missing from this Python version are skipped.
CORPUS_FILES = (
    "textwrap.py",
    "string.py",
    "functools.py",
    "contextlib.py",
    "bisect.py",
    "heapq.py",
    "os.py",
    "random.py",
    "argparse.py",
)


def load_corpus(max_chars: int = 200_000) -> str:
    """Standard-library source text: the files above, then others in sorted order if short."""
    folder = os.path.dirname(os.__file__)
    names = [n for n in CORPUS_FILES if os.path.isfile(os.path.join(folder, n))]
    names += sorted(n for n in os.listdir(folder) if n.endswith(".py") and n not in names)
    parts, size = [], 0
    for name in names:
        if size >= max_chars:
            break
        try:
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError):
            continue
        parts.append(text)
        size += len(text)
    corpus = "\n".join(parts)[:max_chars]
    if len(corpus) < 1000:
        raise RuntimeError(f"found too little Python source in {folder}")
    return corpus


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd: int, n_head: int, dropout: float) -> None:
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f"n_embd ({n_embd}) must be a multiple of n_head ({n_head})")
        self.n_head = n_head
        self.qkv = nn.Linear(n_embd, 3 * n_embd)
        self.proj = nn.Linear(n_embd, n_embd)
        self.dropout = dropout
        self.resid_drop = nn.Dropout(dropout)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        # (b, t, c) -> (b, heads, t, head_dim)
        q, k, v = (
            z.reshape(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in (q, k, v)
        )
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        y = y.transpose(1, 2).reshape(b, t, c)
        return self.resid_drop(self.proj(y))


class Block(nn.Module):
    def __init__(self, n_embd: int, n_head: int, dropout: float) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, dropout)
        self.ln2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(n_embd, 4 * n_embd),
            nn.GELU(approximate="tanh"),
            nn.Linear(4 * n_embd, n_embd),
            nn.Dropout(dropout),
        )

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class CharGPT(nn.Module):
    """Token and position embeddings, ``n_layer`` blocks, final LayerNorm, linear head."""

    def __init__(
        self,
        vocab_size: int,
        block_size: int,
        n_layer: int,
        n_head: int,
        n_embd: int,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.block_size = block_size
        self.tok_emb = nn.Embedding(vocab_size, n_embd)
        self.pos_emb = nn.Embedding(block_size, n_embd)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(n_embd, n_head, dropout) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd)
        self.head = nn.Linear(n_embd, vocab_size, bias=False)
        for name, p in self.named_parameters():  # GPT-2's initialisation
            if p.dim() == 2:
                nn.init.normal_(p, 0.0, 0.02)
                if name.endswith("proj.weight") or name.endswith("mlp.2.weight"):
                    nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * n_layer))
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, idx):
        t = idx.shape[1]
        if t > self.block_size:
            raise ValueError(f"sequence of {t} tokens is longer than block_size {self.block_size}")
        pos = gpugrad.arange(t, device=idx.device)
        x = self.drop(self.tok_emb(idx) + self.pos_emb(pos))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


@dataclass
class Trainer:
    """Everything one training run needs: model, optimizer, schedule, data, vocabulary."""

    model: CharGPT
    optimizer: optim.Optimizer
    scheduler: optim.lr_scheduler.LRScheduler
    train_data: np.ndarray
    val_data: np.ndarray
    chars: list[str]
    device: gpugrad.device
    batch_size: int
    block_size: int
    clip: float = 1.0
    step: int = 0
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))


def warmup_cosine(warmup: int, total: int, floor: float = 0.1):
    """LR multiplier: linear warm-up to 1, then cosine down to ``floor``."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def build(
    device="cpu",
    *,
    batch_size: int = 16,
    block_size: int = 64,
    n_layer: int = 2,
    n_head: int = 4,
    n_embd: int = 64,
    dropout: float = 0.0,
    steps: int = 300,
    lr: float = 3e-3,
    weight_decay: float = 0.1,
    warmup: int | None = None,
    corpus_chars: int = 200_000,
    seed: int = 0,
    corpus: str | None = None,
) -> Trainer:
    """Build the model, AdamW (decay on matrices only), the schedule and the data."""
    text = load_corpus(corpus_chars) if corpus is None else corpus
    chars = sorted(set(text))
    lookup = np.zeros(max(map(ord, chars)) + 1, dtype=np.int64)
    lookup[[ord(c) for c in chars]] = np.arange(len(chars))
    data = lookup[np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)]
    split = int(0.9 * len(data))
    dev = gpugrad.device(device)
    gpugrad.manual_seed(seed)
    model = CharGPT(len(chars), block_size, n_layer, n_head, n_embd, dropout).to(dev)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = optim.AdamW(
        [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=lr,
        betas=(0.9, 0.95),
    )
    warm = warmup if warmup is not None else max(1, steps // 10)
    sched = optim.lr_scheduler.LambdaLR(opt, warmup_cosine(warm, steps))
    return Trainer(
        model,
        opt,
        sched,
        data[:split],
        data[split:],
        chars,
        dev,
        batch_size,
        block_size,
        rng=np.random.default_rng(seed),
    )


def get_batch(tr: Trainer, split: str = "train"):
    """Random windows of the corpus: inputs and next-character targets, on the device."""
    data = tr.train_data if split == "train" else tr.val_data
    starts = tr.rng.integers(0, len(data) - tr.block_size - 1, tr.batch_size)
    idx = starts[:, None] + np.arange(tr.block_size + 1)
    win = data[idx]
    x = gpugrad.tensor(win[:, :-1], device=tr.device)
    y = gpugrad.tensor(win[:, 1:], device=tr.device)
    return x, y


def loss_on(tr: Trainer, x, y):
    logits = tr.model(x)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def train_step(tr: Trainer, x=None, y=None):
    """One optimizer step (a fresh batch unless x, y are given); returns the 0-d loss."""
    if x is None:
        x, y = get_batch(tr)
    tr.model.train()
    loss = loss_on(tr, x, y)
    tr.optimizer.zero_grad()
    loss.backward()
    if tr.clip:
        nn.utils.clip_grad_norm_(tr.model.parameters(), tr.clip)
    tr.optimizer.step()
    tr.scheduler.step()
    tr.step += 1
    return loss.detach()


@gpugrad.no_grad()
def estimate_loss(tr: Trainer, split: str = "val", batches: int = 4) -> float:
    tr.model.eval()
    total = sum(float(loss_on(tr, *get_batch(tr, split))) for _ in range(batches))
    return total / batches


@gpugrad.no_grad()
def sample(tr: Trainer, n_chars: int = 80, prompt: str = "\n", temperature: float = 0.8) -> str:
    """Generate ``n_chars`` characters after ``prompt`` (unknown characters are dropped)."""
    tr.model.eval()
    index = {c: i for i, c in enumerate(tr.chars)}
    ids = [index[c] for c in prompt if c in index] or [0]
    out = []
    for _ in range(n_chars):
        x = gpugrad.tensor([ids[-tr.block_size :]], device=tr.device)
        logits = tr.model(x)[0, -1] / temperature
        nxt = int(gpugrad.multinomial(F.softmax(logits, dim=-1), 1))
        ids.append(nxt)
        out.append(tr.chars[nxt])
    return "".join(out)


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise UsageError(message)


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {v}")
    return v


def parse_args(argv=None) -> argparse.Namespace:
    p = _Parser(description="Train a small character-level GPT on Python standard-library code.")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--steps", type=_positive_int, default=300)
    p.add_argument("--batch-size", type=_positive_int, default=16)
    p.add_argument("--block-size", type=_positive_int, default=64)
    p.add_argument("--n-layer", type=_positive_int, default=2)
    p.add_argument("--n-head", type=_positive_int, default=4)
    p.add_argument("--n-embd", type=_positive_int, default=64)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--warmup", type=int, default=None, help="warm-up steps (default steps/10)")
    p.add_argument("--eval-every", type=_positive_int, default=50)
    p.add_argument("--sample-chars", type=int, default=80)
    p.add_argument("--corpus-chars", type=_positive_int, default=200_000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.n_embd % args.n_head:
        raise UsageError(f"--n-embd ({args.n_embd}) must be a multiple of --n-head ({args.n_head})")
    if not 0 <= args.dropout < 1:
        raise UsageError(f"--dropout must be in [0, 1), got {args.dropout}")
    if not args.lr > 0:
        raise UsageError(f"--lr must be positive, got {args.lr}")
    if args.device == "auto":
        args.device = "cuda" if gpugrad.cuda.is_available() else "cpu"
    elif args.device == "cuda" and not gpugrad.cuda.is_available():
        raise UsageError("--device cuda: no usable CUDA device (try --device cpu)")
    return args


def main(argv=None) -> int:
    try:
        args = parse_args(argv)
    except UsageError as e:
        print(f"char_lm.py: error: {e}", file=sys.stderr)
        return 2
    tr = build(
        args.device,
        batch_size=args.batch_size,
        block_size=args.block_size,
        n_layer=args.n_layer,
        n_head=args.n_head,
        n_embd=args.n_embd,
        dropout=args.dropout,
        steps=args.steps,
        lr=args.lr,
        warmup=args.warmup,
        corpus_chars=args.corpus_chars,
        seed=args.seed,
    )
    n_params = sum(p.numel() for p in tr.model.parameters())
    print(
        f"{n_params:,} parameters on {tr.device}; corpus {len(tr.train_data) + len(tr.val_data):,}"
        f" chars, vocabulary {len(tr.chars)}"
    )
    t0, running, last = time.perf_counter(), None, 0
    for step in range(1, args.steps + 1):
        loss = train_step(tr)
        if step % args.eval_every == 0 or step == args.steps:
            value = float(loss)  # waits for the device: the time below is complete
            running = value if running is None else 0.9 * running + 0.1 * value
            ms = 1000 * (time.perf_counter() - t0) / (step - last)  # steps since last print
            last = step
            print(
                f"step {step:5d}/{args.steps}  loss {value:.3f}  val {estimate_loss(tr):.3f}  "
                f"lr {tr.scheduler.get_last_lr()[0]:.2e}  {ms:.1f} ms/step"
            )
            if args.sample_chars > 0:
                print("  sample: " + repr(sample(tr, args.sample_chars))[1:-1])
            t0 = time.perf_counter()
    return 0


if __name__ == "__main__":
    sys.exit(main())
