"""Every workload, in report order. ``get(name)`` accepts a few short aliases."""

from __future__ import annotations

from ..case import Workload
from . import (
    chain,
    char_lm,
    conv2d,
    cross_entropy,
    data_loading,
    elementwise,
    layer_norm,
    matmul,
    mlp,
    reductions,
)

WORKLOADS: dict[str, Workload] = {
    m.WORKLOAD.name: m.WORKLOAD
    for m in (
        elementwise,
        reductions,
        matmul,
        cross_entropy,
        conv2d,
        layer_norm,
        mlp,
        char_lm,
        chain,
        data_loading,
    )
}
ALIASES = {
    "ce": "cross_entropy",
    "conv": "conv2d",
    "ln": "layer_norm",
    "layernorm": "layer_norm",
    "reduce": "reductions",
    "gpt": "char_lm",
    "charlm": "char_lm",
}


def get(name: str) -> Workload:
    key = ALIASES.get(name, name)
    if key not in WORKLOADS:
        raise SystemExit(f"unknown workload {name!r}; choose from {', '.join(WORKLOADS)}")
    return WORKLOADS[key]
