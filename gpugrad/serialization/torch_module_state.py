"""The attributes PyTorch's module classes need that gpugrad's equivalents do not keep.

A whole module saved by gpugrad is loaded by torch as torch's class with gpugrad's instance
attributes; the two agree for most modules (Linear, Conv, norms, activations, containers,
attention). Where torch's forward reads a cache gpugrad does not keep, the pickled state gets
it here, computed from what gpugrad has. gpugrad ignores these attributes when it loads its own
file.
"""

from __future__ import annotations

from typing import Any


def extra_state(module: Any) -> dict[str, Any]:
    """Attributes to add to ``module``'s pickled ``__dict__`` for PyTorch (often none)."""
    from .. import nn
    from ..nn import functional as F

    if isinstance(module, nn.RNNBase):
        return _rnn_state(module)
    if isinstance(module, nn.TransformerEncoderLayer):
        act = module.__dict__.get("activation")
        if act is F.relu or isinstance(act, nn.ReLU):
            code = 1
        elif act is F.gelu or isinstance(act, nn.GELU):
            code = 2
        else:
            code = 0
        return {"activation_relu_or_gelu": code}
    return {}


def _rnn_state(module: Any) -> dict[str, Any]:
    # torch's RNNs run from flat lists of their weights, grouped per layer and direction
    names = list(module._parameters)
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(name.split("_l", 1)[-1], []).append(name)
    return {
        "_flat_weights_names": names,
        "_all_weights": list(groups.values()),
        "_flat_weights": [module._parameters[n] for n in names],
    }
