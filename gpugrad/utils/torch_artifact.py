"""Files gpugrad generates from the installed PyTorch (docs/api_coverage.md,
gpugrad/_out_names.py): reading real torch, and a command line that writes the file or checks
that the committed one is current."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path


def real_torch(tool: str):
    """The installed ``torch`` module, or a SystemExit saying what ``tool`` needs."""
    try:
        import torch
    except ImportError:
        raise SystemExit(f"{tool} needs real PyTorch installed (pip install torch)") from None
    if torch.__name__ != "torch":
        raise SystemExit(f"{tool} reads real torch: run it without gpugrad.as_torch")
    return torch


def write_or_check(
    tool: str, default: Path, generate: Callable[[], str], argv: list[str] | None = None
) -> int:
    """``python -m gpugrad.utils.<tool> [--output F] [--check]``: write ``generate()`` to the
    file, or with ``--check`` exit 1 if the file differs from it."""
    parser = argparse.ArgumentParser(prog=f"python -m gpugrad.utils.{tool}")
    parser.add_argument("--output", type=Path, default=None, help=f"default: {default}")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is out of date")
    args = parser.parse_args(argv)
    path = args.output or default
    text = generate()
    if args.check:
        current = path.read_text() if path.exists() else ""
        if current != text:
            print(f"{path} is out of date: run python -m gpugrad.utils.{tool}")
            return 1
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"wrote {path}")
    return 0
