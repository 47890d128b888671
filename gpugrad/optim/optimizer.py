"""Optimizer: the base class holding parameter groups, per-parameter state and state dicts.

Subclasses update parameters in place by working on the arrays (``p._data``, ``p._grad._data``)
with the parameter's backend, so a step records nothing and costs few Python calls. Every
in-place change to a parameter bumps its version counter, as PyTorch's ``add_`` would.
"""

from __future__ import annotations

import copy
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from itertools import chain
from typing import Any

from .. import _warn
from .._tensor import Tensor
from ..autograd.grad_mode import enable_grad


class _RequiredParameter:
    """Marks a hyperparameter every param group must give (PyTorch's ``required``)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()

# State entries shaped like their parameter; load_state_dict checks their shapes up front.
_PARAM_SHAPED = frozenset(
    ("momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq", "square_avg", "grad_avg", "sum")
)


class _RemovableHandle:
    def __init__(self, hooks: dict, key: int) -> None:
        self._hooks, self.id = hooks, key

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def _typename(obj) -> str:
    if isinstance(obj, Tensor):
        return obj.type()
    t = type(obj)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


class Optimizer:
    """Base class for all optimizers.

    Args:
        params: an iterable of tensors, of ``(name, tensor)`` pairs, or of dicts (param groups).
        defaults: default hyperparameters, used for groups that do not give their own.
    """

    def __init__(self, params, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self._optimizer_step_pre_hooks: OrderedDict = OrderedDict()
        self._optimizer_step_post_hooks: OrderedDict = OrderedDict()
        self._hook_id = 0
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                "dicts, but got " + _typename(params)
            )
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)
        # Set by step(); LR schedulers read it to warn when they step first.
        self._opt_called = False
        # Group index -> FlatGroup, for optimizers with multi-tensor updates (see _flat.py).
        self._flat: dict = {}

    # ---- groups ----------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyperparameters (e.g. to fine-tune a layer)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list instead."
            )
        else:
            params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        tensors = [p[1] if isinstance(p, tuple) else p for p in params]
        param_group["params"] = tensors
        if names:
            if len(names) != len(tensors):
                raise ValueError(
                    "all optimizer params should be with/without names. Some param names are "
                    "missing"
                )
            param_group["param_names"] = names
        for p in tensors:
            if not isinstance(p, Tensor):
                raise TypeError(
                    "optimizer can only optimize Tensors, but one of the params is " + _typename(p)
                )
            if not self.defaults.get("differentiable", None) and not (p.is_leaf or p.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(
                    "parameter group didn't specify a value of required optimization "
                    f"parameter {name}"
                )
            param_group.setdefault(name, default)
        ids = [id(p) for p in tensors]
        if len(ids) != len(set(ids)):
            _warn.warn(
                "optimizer contains a parameter group with duplicate parameters; in future, "
                "this will cause an error; see github.com/pytorch/pytorch/issues/40967 for "
                "more information"
            )
        seen: set[int] = set()
        for group in self.param_groups:
            seen.update(id(p) for p in group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                which = "with names" if "param_names" in param_group else "without names"
                raise ValueError(
                    "all optimizer param groups should be with/without names. cannot add "
                    f"param group {which} to the optimizer"
                )
        if not seen.isdisjoint(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # ---- gradients -------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's ``.grad``: to None (default), or to zeros in place."""
        if set_to_none:
            for group in self.param_groups:
                for p in group["params"]:
                    p._grad = None
            return
        for group in self.param_groups:
            for p in group["params"]:
                g = p._grad
                if g is not None:
                    # A gradient built with create_graph loses its history first.
                    g._grad_fn = None
                    g._requires_grad = False
                    if g._sparse is not None:
                        _zero_sparse_(g)
                    else:
                        g._data.fill(0)
                    g._vc[0] += 1

    def step(self, closure: Callable[[], Any] | None = None):
        """Update the parameters once; ``closure`` re-evaluates the model and returns the loss."""
        raise NotImplementedError

    def _coupled_grads(self, group: dict):
        """(param, its array, its gradient array, its state) for each parameter of ``group``
        with a gradient: negated for maximize, plus weight_decay * param (L2, coupled)."""
        maximize, wd = group["maximize"], group["weight_decay"]
        for p in group["params"]:
            g = p._grad
            if g is None:
                continue
            d = p._data
            gd = -g._data if maximize else g._data
            if wd != 0:
                gd = gd + wd * d
            yield p, d, gd, self.state[p]

    def _eval_closure(self, closure):
        if closure is None:
            return None
        with enable_grad():
            return closure()

    # ---- step hooks ------------------------------------------------------------------
    def register_step_pre_hook(self, hook: Callable) -> _RemovableHandle:
        """``hook(optimizer, args, kwargs)`` runs before each step; may return (args, kwargs)."""
        return self._add_step_hook(self._optimizer_step_pre_hooks, hook)

    def register_step_post_hook(self, hook: Callable) -> _RemovableHandle:
        """``hook(optimizer, args, kwargs)`` runs after each step."""
        return self._add_step_hook(self._optimizer_step_post_hooks, hook)

    def _add_step_hook(self, hooks: OrderedDict, hook: Callable) -> _RemovableHandle:
        self._hook_id += 1
        hooks[self._hook_id] = hook
        if not self.__dict__.get("_step_hooks_installed"):
            # Wrap step on this instance only, so optimizers without hooks pay nothing.
            inner = self.step

            def step_with_hooks(*args, **kwargs):
                for pre in list(self._optimizer_step_pre_hooks.values()):
                    res = pre(self, args, kwargs)
                    if res is not None:
                        if not (isinstance(res, tuple) and len(res) == 2):
                            raise RuntimeError(
                                f"{pre} must return None or a tuple of (new_args, new_kwargs), "
                                f"but got {res}."
                            )
                        args, kwargs = res
                out = inner(*args, **kwargs)
                for post in list(self._optimizer_step_post_hooks.values()):
                    post(self, args, kwargs)
                return out

            self.step = step_with_hooks
            self._step_hooks_installed = True
        return _RemovableHandle(hooks, self._hook_id)

    # ---- state dicts -----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}``.

        Parameters are named by their position across groups; the dict holds the live state
        tensors (not copies), as PyTorch's does.
        """
        index: dict[int, int] = {}
        groups = []
        start = 0
        for g in self.param_groups:
            packed = {k: v for k, v in g.items() if k != "params"}
            for i, p in enumerate(g["params"], start):
                index.setdefault(id(p), i)
            packed["params"] = [index[id(p)] for p in g["params"]]
            start += len(packed["params"])
            groups.append(packed)
        state = {(index[id(k)] if isinstance(k, Tensor) else k): v for k, v in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load state saved by :meth:`state_dict`; validates everything before changing anything.

        Floating-point state tensors are cast to their parameter's dtype and moved to its
        device; ``step`` counters are kept as they are.
        """
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= state_dict.keys():
            raise ValueError(
                "optimizer state dict must be a dict with 'state' and 'param_groups' entries"
            )
        groups = self.param_groups
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError(
                "loaded state dict contains a parameter group that doesn't match the size of "
                "optimizer's group"
            )
        id_map = dict(
            zip(
                chain.from_iterable(g["params"] for g in saved_groups),
                chain.from_iterable(g["params"] for g in groups),
            )
        )
        new_state: defaultdict = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                p = id_map[k]
                new_state[p] = _cast_state(p, v, k)
            else:
                new_state[k] = v
        for g, s in zip(groups, saved_groups):
            s["params"] = g["params"]
            if "param_names" in g and "param_names" not in s:
                s["param_names"] = g["param_names"]
        self.state = new_state
        self.param_groups = saved_groups
        self._flat = {}
        self._restore_group_defaults()

    def _restore_group_defaults(self) -> None:
        """Fill hyperparameters missing from loaded groups (older state dicts) with defaults."""
        for g in self.param_groups:
            for k, v in self.defaults.items():
                if v is not required:
                    g.setdefault(k, v)

    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("_optimizer_step_pre_hooks", OrderedDict())
        self.__dict__.setdefault("_optimizer_step_post_hooks", OrderedDict())
        self.__dict__.setdefault("_hook_id", 0)
        self.__dict__.setdefault("_opt_called", False)
        self.__dict__.setdefault("_flat", {})

    def __repr__(self) -> str:
        lines = [self.__class__.__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        return "\n".join(lines) + "\n)"


def _zero_sparse_(g: Tensor) -> None:
    """A sparse gradient's ``zero_()``: no entries left, the same tensor (as PyTorch's)."""
    parts = g._sparse
    xp = g._device.backend.xp
    idx, vals = parts.indices._data, parts.values._data
    empty_idx = Tensor._make(xp.zeros((idx.shape[0], 0), idx.dtype), g._device)
    empty_vals = Tensor._make(xp.zeros((0,) + vals.shape[1:], vals.dtype), g._device)
    g._sparse = type(parts)(empty_idx, empty_vals, True)


def _cast_state(param: Tensor, value, param_id, key=None):
    """A copy of one parameter's saved state with tensors on the parameter's device/dtype."""
    if isinstance(value, Tensor):
        if key == "step":  # PyTorch keeps step counters where and as they are
            return _to(value, value._device, value.dtype)
        if key in _PARAM_SHAPED and tuple(value.shape) != tuple(param.shape):
            raise ValueError(
                f"loaded state dict has state '{key}' of shape {list(value.shape)} for "
                f"parameter {param_id} of shape {list(param.shape)}"
            )
        dtype = param.dtype if param.dtype.is_floating_point else value.dtype
        return _to(value, param._device, dtype)
    if isinstance(value, dict):
        return {k: _cast_state(param, v, param_id, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cast_state(param, v, param_id) for v in value)
    return value


def _to(t: Tensor, dev, dtype) -> Tensor:
    """A fresh copy of ``t`` on ``dev`` with ``dtype`` (never aliasing the loaded tensor)."""
    arr = t._data
    if t._device != dev:
        arr = dev.backend.asarray(t._device.backend.to_host(arr))
    arr = arr.astype(dtype.np, copy=arr is t._data)
    return Tensor._make(arr, dev)
