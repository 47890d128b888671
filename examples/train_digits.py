"""Train a digit classifier on scikit-learn's 8x8 digits (1,797 images, no download).

    python examples/train_digits.py                       # MLP, 15 epochs, cpu or cuda (auto)
    python examples/train_digits.py --model cnn --device cpu --epochs 10
    python examples/train_digits.py --checkpoint /tmp/digits.safetensors --plot /tmp/digits.png
    python examples/train_digits.py --checkpoint /tmp/digits.safetensors --resume --epochs 20
    python examples/train_digits.py --nproc 2             # data parallel: 2 ranks, one global batch

Written against the PyTorch API (``import gpugrad as torch`` style): nn.Sequential, AdamW,
a per-batch cosine learning-rate schedule, DataLoader over a TensorDataset held on the
device. The split is stratified and seeded, and each epoch's shuffle is seeded from the epoch
number, so a resumed run continues exactly like an uninterrupted one. A checkpoint (model,
optimizer, scheduler, epoch, history) is written atomically after every epoch.
With ``--nproc N`` (or under ``python -m gpugrad.distributed.run --nproc-per-node N``) the
ranks train one DistributedDataParallel model: each takes its DistributedSampler share and
``--batch-size / N`` samples per step, so the global batch and the step count stay those
of one process; rank 0 prints, evaluates and writes the checkpoint.
Needs the ``examples`` extra: scikit-learn, tqdm, matplotlib (only for --plot).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import gpugrad
from gpugrad import nn, optim
from gpugrad.utils.data import DataLoader, TensorDataset


class UsageError(Exception):
    """A problem with the command line or its files: one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of usage + error
        raise UsageError(message)


def _positive(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = _Parser(description="Train an MLP or a small CNN on scikit-learn's digits.")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--model", default="mlp", choices=["mlp", "cnn"])
    p.add_argument("--epochs", type=_positive(int), default=15)
    p.add_argument("--batch-size", type=_positive(int), default=32)
    p.add_argument("--lr", type=_positive(float), default=3e-3)
    p.add_argument("--weight-decay", type=float, default=1e-2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", metavar="PATH", help="save model+optimizer+epoch each epoch")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    p.add_argument(
        "--stop-after",
        type=_positive(int),
        metavar="EPOCH",
        help="stop after this epoch (the schedule still spans --epochs)",
    )
    p.add_argument("--plot", metavar="PATH", help="write a PNG of the loss and accuracy curves")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    p.add_argument(
        "--nproc",
        type=_positive(int),
        default=1,
        help="train data-parallel on N processes (DDP over MPI; NCCL with --device cuda)",
    )
    args = p.parse_args(argv)
    if args.resume and not args.checkpoint:
        raise UsageError("--resume needs --checkpoint PATH")
    if args.weight_decay < 0:
        raise UsageError(f"--weight-decay must be >= 0, got {args.weight_decay}")
    for opt, path in (("--checkpoint", args.checkpoint), ("--plot", args.plot)):
        if path:
            folder = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(folder):
                raise UsageError(f"{opt}: folder {folder} does not exist")
    if args.resume and not os.path.isfile(args.checkpoint):
        raise UsageError(f"--resume: checkpoint {args.checkpoint} does not exist")
    world = args.nproc if launched_world() == 1 else launched_world()
    if args.batch_size % world:
        raise UsageError(f"--batch-size {args.batch_size} must divide among {world} processes")
    return args


def launched_world() -> int:
    """The job's size when this process is a rank of a launched job, else 1."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def pick_device(name: str) -> str:
    if name == "auto":
        name = "cuda" if gpugrad.cuda.is_available() else "cpu"
    if name == "cuda" and not gpugrad.cuda.is_available():
        raise UsageError("--device cuda: no usable CUDA device (try --device cpu)")
    if name == "cuda" and launched_world() > 1:  # one GPU per rank
        return f"cuda:{int(os.environ['LOCAL_RANK']) % gpugrad.cuda.device_count()}"
    return name


def load_data(seed: int, device: str, model: str):
    """Stratified 80/20 split, pixels standardised with the training set's statistics."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = digits.data.astype(np.float32) / 16.0
    xtr, xte, ytr, yte = train_test_split(
        x, digits.target, test_size=0.2, stratify=digits.target, random_state=seed
    )
    mean, std = xtr.mean(0), xtr.std(0) + 0.1
    xtr, xte = (xtr - mean) / std, (xte - mean) / std
    shape = (-1, 1, 8, 8) if model == "cnn" else (-1, 64)

    def as_tensors(xa, ya):
        xs = gpugrad.tensor(xa.reshape(shape), device=device)
        return xs, gpugrad.tensor(ya.astype(np.int64), device=device)

    return as_tensors(xtr, ytr), as_tensors(xte, yte)


def build_model(kind: str) -> nn.Module:
    if kind == "mlp":
        return nn.Sequential(nn.Linear(64, 512), nn.ReLU(), nn.Dropout(0.2), nn.Linear(512, 10))
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.2),
        nn.Linear(128, 10),
    )


@gpugrad.no_grad()
def accuracy(model: nn.Module, x, y, batch: int = 512) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(x), batch):
        correct += (model(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum()
    return float(correct) / len(x)


def load_checkpoint(path: str, model, opt, sched, kind: str) -> tuple[int, dict]:
    try:
        ck = gpugrad.load(path, map_location=next(model.parameters()).device)
    except (OSError, RuntimeError, ValueError) as e:
        raise UsageError(f"--resume: cannot read checkpoint: {e}") from None
    if not isinstance(ck, dict) or "model" not in ck or "optimizer" not in ck:
        raise UsageError(f"--resume: {path} is not a train_digits checkpoint")
    if ck.get("model_kind", kind) != kind:
        raise UsageError(f"--resume: {path} holds a --model {ck['model_kind']} checkpoint")
    try:
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        if "scheduler" in ck:
            sched.load_state_dict(ck["scheduler"])
    except (RuntimeError, ValueError, KeyError, TypeError) as e:
        raise UsageError(f"--resume: checkpoint {path} does not fit this model: {e}") from None
    return int(ck.get("epoch", 0)), ck.get("history", {})


def save_plot(path: str, history: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = range(1, len(history["loss"]) + 1)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(epochs, history["loss"], marker="o")
    a.set(title="training loss", xlabel="epoch", ylabel="cross-entropy")
    b.plot(epochs, [100 * v for v in history["train_acc"]], marker="o", label="train")
    b.plot(epochs, [100 * v for v in history["test_acc"]], marker="o", label="test")
    b.set(title="accuracy", xlabel="epoch", ylabel="%")
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def train(args: argparse.Namespace) -> dict:
    from tqdm import tqdm

    device = pick_device(args.device)
    world = launched_world()
    rank = 0
    if world > 1:
        import gpugrad.distributed as dist
        from gpugrad.utils.data.distributed import DistributedSampler

        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
        rank = dist.get_rank()
    (xtr, ytr), (xte, yte) = load_data(args.seed, device, args.model)
    gpugrad.manual_seed(args.seed)
    model = build_model(args.model).to(device)
    net = model  # what trains: the model, or its DDP wrapper
    data = TensorDataset(xtr, ytr)
    if world > 1:
        net = nn.parallel.DistributedDataParallel(model)
        sampler = DistributedSampler(data, seed=args.seed)
        loader = DataLoader(data, batch_size=args.batch_size // world, sampler=sampler)
    else:
        loader = DataLoader(data, batch_size=args.batch_size, shuffle=True)
    opt = optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs * len(loader))
    loss_fn = nn.CrossEntropyLoss()
    start, history = 0, {"loss": [], "train_acc": [], "test_acc": [], "seconds": []}
    if args.resume:
        start, history = load_checkpoint(args.checkpoint, model, opt, sched, args.model)
        sched.T_max = args.epochs * len(loader)  # --epochs may have grown since
        print(f"resumed from {args.checkpoint} after epoch {start}")
    n_params = sum(p.numel() for p in model.parameters())
    if rank == 0:
        ranks = f" x {world} processes" if world > 1 else ""
        print(
            f"{args.model}: {n_params:,} parameters on {device}{ranks}; "
            f"{len(xtr)} train / {len(xte)} test"
        )
    last = min(args.epochs, args.stop_after or args.epochs)
    for epoch in range(start + 1, last + 1):
        # the shuffle depends only on the epoch (dropout masks differ across ranks)
        gpugrad.manual_seed(args.seed * 1000 + epoch + 1_000_003 * rank)
        if world > 1:
            sampler.set_epoch(epoch)
        t0 = time.perf_counter()
        net.train()
        total = gpugrad.zeros((), device=device)
        seen = 0
        bar = tqdm(loader, desc=f"epoch {epoch}", leave=False, disable=args.no_progress or rank)
        for xb, yb in bar:
            loss = loss_fn(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.detach() * len(xb)
            seen += len(xb)
        if world > 1:  # every rank's samples (the sampler's padding included)
            counts = gpugrad.tensor([float(total), float(seen)], dtype=gpugrad.float64)
            dist.all_reduce(counts)
            train_loss = float(counts[0] / counts[1])
        else:
            train_loss = float(total) / len(xtr)
        seconds = time.perf_counter() - t0
        train_acc, test_acc = accuracy(model, xtr, ytr), accuracy(model, xte, yte)
        for k, v in zip(history, (train_loss, train_acc, test_acc, seconds)):
            history[k].append(v)
        if rank == 0:
            print(
                f"epoch {epoch:3d}/{args.epochs}  loss {train_loss:.4f}  train acc "
                f"{100 * train_acc:6.2f}%  test acc {100 * test_acc:6.2f}%  {seconds:.2f} s/epoch",
                flush=True,
            )
        if args.checkpoint and rank == 0:
            gpugrad.save(
                {
                    "model": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "epoch": epoch,
                    "model_kind": args.model,
                    "history": history,
                },
                args.checkpoint,
            )
    if args.plot and history["loss"] and rank == 0:
        save_plot(args.plot, history)
        print(f"plot written to {args.plot}")
    if world > 1:
        dist.destroy_process_group()
    return history


def main(argv: list[str] | None = None) -> int:
    prog = os.path.basename(sys.argv[0]) if argv is None else "train_digits.py"
    try:
        args = parse_args(argv)
        if args.nproc > 1 and launched_world() == 1:
            return relaunch(args.nproc, sys.argv[1:] if argv is None else argv)
        train(args)
    except UsageError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    return 0


def relaunch(nproc: int, argv: list[str]) -> int:
    """Run this script on ``nproc`` ranks through gpugrad's launcher (mpiexec)."""
    from gpugrad.distributed.run import main as launch

    rest, skip = [], False
    for a in argv:  # the ranks read WORLD_SIZE instead of --nproc
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            rest.append(a)
    return launch(["--nproc-per-node", str(nproc), os.path.abspath(__file__), *rest])


if __name__ == "__main__":
    sys.exit(main())
