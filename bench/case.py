"""What one benchmark measures (a Case) and what every workload provides (Workload).

A workload computes one thing three ways: through a framework's PyTorch API (gpugrad or
torch, the same code for both), and handwritten in NumPy / CuPy (the floor). Each way is a
``Step``: ``call(i)`` runs once on input set ``i``; ``result()`` returns host arrays of the
last call, so the three can be checked against each other before they are timed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

MODES = ("fwd", "fwd+bwd")


class Step(NamedTuple):
    call: Callable[[int], Any]
    result: Callable[[], dict[str, np.ndarray]]


@dataclass
class Case:
    """One point of a ladder: a workload variant at one size, one mode, on one device."""

    workload: str
    variant: str
    mode: str
    device: str
    label: str
    size: float  # the x axis of the plots (elements, tokens, flops...): grows with the ladder
    params: dict[str, Any] = field(default_factory=dict)
    dtype: str = "float32"
    flops: float = 0.0
    bytes: float = 0.0
    bound: str = "memory"  # which ceiling the achieved rate is compared with: memory / compute

    @property
    def series(self) -> str:
        """The line this case belongs to in a plot: variant, dtype and mode."""
        dt = "" if self.dtype == "float32" else f" {self.dtype}"
        return f"{self.variant}{dt} {self.mode}"

    @property
    def key(self) -> str:
        return f"{self.workload}/{self.series}/{self.label}/{self.device}"


class Workload:
    """Base class: subclasses fill in the ladder, the cost model, the data and the three ways."""

    name = "base"
    variants: tuple[str, ...] = ()
    modes: tuple[str, ...] = MODES
    tol = 1e-4  # relative to the largest magnitude of each compared array (float32)
    compilable = False  # whether framework() runs its step through lib.compile

    def ladder(self, device: str, level: str) -> list[tuple[str, str, float, dict]]:
        """(variant, label, size, params) for ``level`` in test / quick / full."""
        raise NotImplementedError

    def dtypes(self, variant: str, device: str) -> tuple[str, ...]:
        return ("float32",)

    def tolerance(self, case: Case) -> float:
        return self.tol

    def key_tolerance(self, key: str, case: Case) -> float:
        """Tolerance for one compared output (a workload may loosen ill-conditioned ones)."""
        return self.tolerance(case)

    def cost(self, variant: str, p: dict, mode: str) -> tuple[float, float, str]:
        """(flops, bytes moved at least, bound) for one call."""
        raise NotImplementedError

    def state(self, case: Case, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Data shared by every input set (weights of a training step)."""
        return {}

    def batch(self, case: Case, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """One input set."""
        raise NotImplementedError

    def framework(self, lib, case: Case, state: dict, batches: list[dict]) -> Step:
        raise NotImplementedError

    def floor(self, fx, case: Case, state: dict, batches: list[dict]) -> Step:
        raise NotImplementedError

    def cases(self, device: str, level: str, modes=None) -> list[Case]:
        out = []
        for variant, label, size, p in self.ladder(device, level):
            for dtype in self.dtypes(variant, device):
                for mode in modes or self.modes:
                    if mode not in self.modes:
                        continue
                    flops, nbytes, bound = self.cost(variant, dict(p, dtype=dtype), mode)
                    out.append(
                        Case(
                            self.name,
                            variant,
                            mode,
                            device,
                            label,
                            size,
                            dict(p),
                            dtype,
                            flops,
                            nbytes,
                            bound,
                        )
                    )
        return out


def randn(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> np.ndarray:
    """Random float32 data (never zeros: zero inputs can run faster than real data)."""
    a = rng.standard_normal(shape, dtype=np.float32)
    if scale != 1.0:
        a *= np.float32(scale)
    return a


def pow2_label(n: int) -> str:
    return f"2^{n.bit_length() - 1}" if n & (n - 1) == 0 else str(n)
