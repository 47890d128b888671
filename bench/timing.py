"""Timing: warm up, then interleave the implementations sample by sample; report medians.

Interleaving (floor, gpugrad, floor, gpugrad, ...) makes slow drifts of the machine (clock,
other load) hit the implementations alike, so their ratios stay honest; a short case gets
one untimed call before each sample, so thread pools idle since its last sample are awake.
Each sample runs enough calls to last ``min_sample_s`` and synchronises the device before
and after, so GPU work is counted in full. Calls rotate over the input sets.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Timed:
    """One implementation under test and what timing it produced."""

    call: Callable[[int], object]
    sync: Callable[[], None]
    n_sets: int
    samples: list[float] = field(default_factory=list)  # seconds per call, one per sample
    inner: int = 1  # calls per sample
    error: str = ""

    def run(self, n: int, start: int = 0) -> float:
        """Run ``n`` calls (device work included); seconds per call."""
        self.sync()
        t0 = time.perf_counter()
        for k in range(start, start + n):
            self.call(k % self.n_sets)
        self.sync()
        return (time.perf_counter() - t0) / n


@dataclass
class Budget:
    """How long to spend on one case (all implementations together)."""

    seconds: float = 1.0
    min_sample_s: float = 2e-3
    min_repeats: int = 3
    max_repeats: int = 25
    warmup_s: float = 0.05


def measure(items: list[Timed], budget: Budget) -> None:
    """Fill ``samples`` of every item; an item that raises gets ``error`` and is left out."""
    per_call: dict[int, float] = {}
    for i, it in enumerate(items):
        try:
            per_call[i] = _warm_up(it, budget)
        except Exception as e:  # recorded, and the others still run
            it.error = f"{type(e).__name__}: {e}"
    live = [i for i in per_call]
    if not live:
        return
    cost = sum(per_call[i] * items[i].inner for i in live)
    repeats = int(min(budget.max_repeats, max(budget.min_repeats, budget.seconds // cost)))
    for r in range(repeats):
        for i in live:
            it = items[i]
            if it.error:
                continue
            try:
                if per_call[i] < 0.02:
                    # untimed: wakes this library's worker threads, which may have gone to
                    # sleep while the other implementations ran (costly on a busy machine)
                    it.run(1)
                it.samples.append(it.run(it.inner, start=r * it.inner))
            except Exception as e:
                it.error = f"{type(e).__name__}: {e}"


def _warm_up(it: Timed, budget: Budget) -> float:
    """Run until warm (at least twice, at least ``warmup_s``); pick calls per sample."""
    t = it.run(1)
    n, spent = 1, t
    while n < 2 or spent < budget.warmup_s:
        batch = max(1, min(64, int(budget.warmup_s / max(t, 1e-7))))
        t = it.run(batch, start=n)
        n += batch
        spent += t * batch
    it.inner = max(1, math.ceil(budget.min_sample_s / max(t, 1e-9)))
    return t


def median(xs: list[float]) -> float:
    s = sorted(xs)
    n = len(s)
    if n == 0:
        return float("nan")
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])
