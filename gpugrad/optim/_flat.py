"""Flat state for multi-tensor ("foreach") updates of one parameter group.

Per-parameter updates cost a dozen array calls per parameter: on a GPU each is a kernel
launch, so a model with many small tensors spends its step launching kernels. Here each
state entry (``exp_avg`` ...) of a group lives in one flat buffer and every parameter's state
tensor is a view into it; a step gathers the gradients into one array, updates the flat
buffers with a dozen calls in all, and writes one slice back into each parameter. Parameters
themselves are never re-pointed, so their memory stays theirs.

The layout is rebuilt whenever it no longer matches (a state tensor replaced by
load_state_dict, a parameter's array replaced, parameters added or removed).
"""

from __future__ import annotations

import numpy as np

from .._tensor import Tensor


class FlatGroup:
    """One group's parameters (same device and dtype) with their state in flat buffers."""

    def __init__(self, params: list[Tensor], state, keys: tuple[str, ...]) -> None:
        first = params[0]
        self.xp = first._device.backend.xp
        self.params = list(params)
        self.arrays = [p._data for p in params]
        self.shapes = [a.shape for a in self.arrays]
        sizes = [a.size for a in self.arrays]
        self.bounds = np.cumsum([0] + sizes).tolist()
        self.total = self.bounds[-1]
        self.keys = keys
        self._scratch: dict[str, object] = {}
        self.bufs: dict[str, object] = {}
        self.views: dict[str, list] = {}
        for key in keys:
            buf = self.xp.empty(self.total, dtype=first._data.dtype)
            views = []
            for p, (lo, hi), shape in zip(params, self._spans(), self.shapes):
                v = buf[lo:hi].reshape(shape)
                t = state[p][key]
                v[...] = t._data
                t._data = v
                views.append(v)
            self.bufs[key] = buf
            self.views[key] = views

    def _spans(self):
        b = self.bounds
        return zip(b[:-1], b[1:])

    def matches(self, params: list[Tensor], state) -> bool:
        """Whether the buffers still back exactly these parameters' state."""
        if len(params) != len(self.params):
            return False
        for i, p in enumerate(params):
            if p is not self.params[i] or p._data is not self.arrays[i]:
                return False
            st = state.get(p)
            if st is None:
                return False
            for key in self.keys:
                t = st.get(key)
                if t is None or t._data is not self.views[key][i]:
                    return False
        return True

    def scratch(self, name: str):
        """A flat work buffer kept between steps (fresh large temporaries are slow on the CPU)."""
        buf = self._scratch.get(name)
        if buf is None:
            buf = self._scratch[name] = self.xp.empty(self.total, dtype=self.arrays[0].dtype)
        return buf

    def gather(self, arrays: list, name: str):
        """Scratch buffer ``name`` filled with ``arrays`` (gradients or parameters) back to back."""
        return self.xp.concatenate([a.reshape(-1) for a in arrays], out=self.scratch(name))

    def subtract(self, update) -> None:
        """``p -= update[slice]`` for every parameter."""
        for p, (lo, hi), shape in zip(self.params, self._spans(), self.shapes):
            p._data -= update[lo:hi].reshape(shape)
            p._vc[0] += 1

    def assign(self, flat) -> None:
        """``p[...] = flat[slice]`` for every parameter."""
        for p, (lo, hi), shape in zip(self.params, self._spans(), self.shapes):
            p._data[...] = flat[lo:hi].reshape(shape)
            p._vc[0] += 1


def flat_group_for(cache: dict, gi: int, params: list[Tensor], state, keys) -> FlatGroup | None:
    """The cached FlatGroup for group ``gi`` if it still matches, else a new one (or None
    when the group cannot be flattened: one parameter, mixed devices or dtypes)."""
    fg = cache.get(gi)
    if fg is not None and fg.keys == keys and fg.matches(params, state):
        return fg
    if len(params) < 2:
        return None
    dev, dt = params[0]._device, params[0]._data.dtype
    for p in params:
        if p._device is not dev or p._data.dtype != dt:
            return None
    if len({id(p) for p in params}) != len(params):
        return None
    fg = cache[gi] = FlatGroup(params, state, keys)
    return fg
