"""Paired timing of the core MLP step: ``python -m bench.paired [tiny small ...]``.

The main harness times samples of a few milliseconds and reports the ratio of medians. On a
noisy machine the floor itself can move by 2x between runs. Here the floor and gpugrad run
one step each, alternately, many times; each pair gives one ratio, and the median of those
ratios is what is reported: a slow spell of the machine hits both halves of a pair alike.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from . import libs
from .workloads.mlp import SIZES, WORKLOAD


def paired(size: str, pairs: int, device: str = "cpu", seed: int = 0) -> dict:
    """Median paired ratio gpugrad/floor of one training step, and each side's median time."""
    case = next(
        c for c in WORKLOAD.cases(device, "full", modes=("fwd+bwd",)) if c.params["name"] == size
    )
    rng = np.random.default_rng(seed)
    state = WORKLOAD.state(case, rng)
    batches = [WORKLOAD.batch(case, rng)]
    floor_lib, grad_lib = libs.Floor(device), libs.Framework("gpugrad", device)
    floor = WORKLOAD.floor(floor_lib, case, state, batches)
    grad = WORKLOAD.framework(grad_lib, case, state, batches)
    pc = time.perf_counter
    for _ in range(max(20, pairs // 10)):  # warm up both
        floor.call(0)
        grad.call(0)
    ratios, tf, tg = [], [], []
    for _ in range(pairs):
        t0 = pc()
        floor.call(0)
        floor_lib.sync()
        t1 = pc()
        grad.call(0)
        grad_lib.sync()
        t2 = pc()
        tf.append(t1 - t0)
        tg.append(t2 - t1)
        ratios.append((t2 - t1) / (t1 - t0))
    return {
        "size": size,
        "ratio": statistics.median(ratios),
        "floor_ms": 1e3 * statistics.median(tf),
        "gpugrad_ms": 1e3 * statistics.median(tg),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.paired", description=__doc__.split("\n")[0])
    p.add_argument("sizes", nargs="*", default=["tiny", "small"], choices=list(SIZES))
    p.add_argument("--pairs", type=int, default=1000)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = p.parse_args(argv)
    for size in args.sizes:
        r = paired(size, args.pairs, args.device)
        print(
            f"{size:7s} median paired ratio {r['ratio']:.2f}  "
            f"(floor {r['floor_ms']:.3f} ms, gpugrad {r['gpugrad_ms']:.3f} ms per step)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
