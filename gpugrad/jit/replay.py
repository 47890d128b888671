"""A recording turned into one generated Python function: the steps in order, no Tensor made.

Each slot is a local variable (or, for arrays the step found in place, a global bound to the
array itself), each step one line calling the recorded function, so a replay costs about what
the same NumPy calls cost written by hand. The epilogue redoes what the call left behind in
Python: each parameter's fresh ``.grad``, version counters, the returned Tensors.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from .._tensor import Tensor
from ..backend.numpy_backend import _ERRSTATE, _IGNORE
from .recording import Const, Guard, InputRef, LiveLR, Recorder, Slot, Step
from .tracked import _transpose

_make = Tensor._make


class GuardMiss(Exception):
    """A value guard failed during a replay; ``safe``: nothing was written in place yet."""

    def __init__(self, safe: bool) -> None:
        super().__init__("a recorded value guard failed")
        self.safe = safe


_WRITES_BY_NAME = frozenset({"setitem", "fill", "sort", "put", "partition", "resize"})


def _writes(step: Step) -> bool:
    return (
        step.name.endswith("_")
        or step.name in _WRITES_BY_NAME
        or "out" in (step.kwargs or {})
        or step.name.startswith("__i")
    )


class _Source:
    """Builds the generated function's text and the globals it names."""

    def __init__(self) -> None:
        self.ns: dict[str, Any] = {
            "_asarray": np.asarray,
            "_make": _make,
            "_miss": GuardMiss,
            "_ES": _ERRSTATE,
            "_IGN": _IGNORE,
            "_errstate": np.errstate,
        }
        self.lines: list[str] = []
        self._ids: dict[int, str] = {}

    def name(self, obj: Any, prefix: str = "c") -> str:
        key = id(obj)
        n = self._ids.get(key)
        if n is None:
            n = self._ids[key] = f"{prefix}{len(self._ids)}"
            self.ns[n] = obj
        return n

    def expr(self, tm) -> str:
        t = type(tm)
        if t is Slot:
            return f"v{tm.i}"
        if t is Const:
            v = tm.value
            if v is None or type(v) in (bool, str) or (type(v) is int):
                return repr(v)
            return self.name(v)
        if t is LiveLR:
            return f"float({self.name(tm.group, 'g')}['lr'])"
        if t is tuple:
            inner = ", ".join(self.expr(x) for x in tm)
            return f"({inner},)" if tm else "()"
        if t is list:
            return "[" + ", ".join(self.expr(x) for x in tm) + "]"
        if t is dict:
            return "{" + ", ".join(f"{k!r}: {self.expr(v)}" for k, v in tm.items()) + "}"
        raise TypeError(f"cannot replay an argument template {tm!r}")


# steps written as the expression they stand for: an attribute read costs a fraction of a
# call through a function (the MLP step transposes each weight twice)
_INLINE = {_transpose: "{0}.T"}


def _call_text(src: _Source, step: Step) -> str:
    args = [src.expr(a) for a in step.args]
    form = _INLINE.get(step.fn)
    if form is not None and not step.kwargs:
        return form.format(*args)
    args += [f"{k}={src.expr(v)}" for k, v in (step.kwargs or {}).items()]
    return f"{src.name(step.fn, 'f')}({', '.join(args)})"


def build(rec: Recorder, bindings: list, result, tensor_inputs=()) -> tuple:
    """(the replay function, the input slots in argument order); the function takes the
    input Tensors ``tensor_inputs`` (by argument position) after the arrays, for bindings
    on them (``InputRef``)."""
    src = _source(rec)
    inputs = [i for _, i in _input_slots(rec)]
    body = _body(src, rec.steps)
    epilogue = _epilogue(src, bindings)
    extra = [f"i{k}" for k in tensor_inputs]
    fn = _function(src, "replay", inputs, body, epilogue, _result_text(src, result), extra)
    return fn, inputs


def build_split(
    rec: Recorder, bindings: list, split: int, outputs: list, grad_outputs: list, grads: list
) -> tuple:
    """A recorded forward and the backward recorded after it (``rec.steps[split:]``) as two
    functions: ``forward(inputs...) -> (outputs, saved)`` and ``backward(saved...,
    grad_outputs...) -> grads`` (None where a target got no gradient); ``saved`` are the
    forward's arrays the backward reads, in slot order."""
    fwd_steps, bwd_steps = rec.steps[:split], rec.steps[split:]
    inputs = [i for _, i in _input_slots(rec) if i not in grad_outputs]
    handed = _produced(fwd_steps) | set(inputs)  # what the forward has that the backward lacks
    saved = sorted(s for s in read_slots(bwd_steps) if s in handed)
    src = _source(rec)
    fwd_ret = f"({_tuple_text(f'v{o}' for o in outputs)}, {_tuple_text(f'v{s}' for s in saved)})"
    forward = _function(
        src, "forward", inputs, _body(src, fwd_steps), _epilogue(src, bindings), fwd_ret
    )
    src_b = _source(rec)
    bwd_ret = _tuple_text("None" if g is None else f"v{g}" for g in grads)
    backward = _function(
        src_b, "backward", saved + list(grad_outputs), _body(src_b, bwd_steps), [], bwd_ret
    )
    return forward, backward, inputs


def _tuple_text(items) -> str:
    """A tuple display of the names (``()`` for none; a trailing comma for one)."""
    return "(" + "".join(f"{x}, " for x in items) + ")"


def _source(rec: Recorder) -> _Source:
    src = _Source()
    for i, (kind, value) in enumerate(rec.sources):
        if kind == "const":
            src.ns[f"v{i}"] = value
    return src


def _input_slots(rec: Recorder) -> list:
    return sorted(
        (k, i) for i, (kind, k) in enumerate(rec.sources) if kind == "input" and k is not None
    )


def _produced(steps) -> set:
    out = set()
    for step in steps:
        if type(step) is Guard or step.out is None:
            continue
        if type(step.out) is int:
            out.add(step.out)
        else:
            out.update(o for o in step.out if o is not None)
    return out


def read_slots(steps) -> set:
    found: set = set()
    for step in steps:
        if type(step) is Guard:
            found.add(step.left.i)
            _slots_in(step.right, found)
        else:
            _slots_in(step.args, found)
            _slots_in(step.kwargs, found)
    return found


def _slots_in(tm, found: set) -> None:
    t = type(tm)
    if t is Slot:
        found.add(tm.i)
    elif t is tuple or t is list:
        for x in tm:
            _slots_in(x, found)
    elif t is dict:
        for x in tm.values():
            _slots_in(x, found)


def _body(src: _Source, steps) -> list:
    body = []
    written = False
    for step in steps:
        if type(step) is Guard:
            op = src.name(step.op, "op")
            body.append(
                f"if {op}(v{step.left.i}, {src.expr(step.right)}) is not {step.result!r}: "
                f"raise _miss({not written})"
            )
            continue
        call = _call_text(src, step)
        out = step.out
        if out is None:
            body.append(call)
        elif type(out) is int:
            body.append(f"v{out} = {call}")
        else:
            names = ", ".join("_" if o is None else f"v{o}" for o in out)
            body.append(f"{names}{',' if len(out) == 1 else ''} = {call}")
        for s in step.to_array:
            body.append(f"v{s} = _asarray(v{s})")
        written = written or _writes(step)
    return body


def _epilogue(src: _Source, bindings: list) -> list:
    epilogue = []
    for kind, target, value in bindings:
        if type(target) is InputRef:  # the call's own input Tensor, an argument of the replay
            t = f"i{target.k}"
            dev = f"{t}._device"
            vc = f"{t}._vc"
        else:
            t = src.name(target, "t")
            dev = src.name(target._device, "d") if kind == "grad" else ""
            vc = t
        if kind == "grad":
            if value is None:
                epilogue.append(f"{t}._grad = None")
            else:
                epilogue.append(f"{t}._grad = _make(v{value}, {dev})")
        elif kind == "data":
            epilogue.append(f"{t}._data = v{value}")
        elif kind == "vc":
            epilogue.append(f"{vc}[0] += {value}")
    return epilogue


def _function(
    src: _Source, name: str, params: list, body: list, epilogue: list, ret: str, extra=()
):
    if _ERRSTATE is not None:
        quiet = ["_tok = _ES.set(_IGN)", "try:"]
    else:
        quiet = ["with _errstate(all='ignore'):"]
    names = [f"v{i}" for i in params] + list(extra)
    text = [f"def {name}({', '.join(names)}):", *("    " + q for q in quiet)]
    text += ["        " + line for line in body or ["pass"]]
    if _ERRSTATE is not None:
        text += ["    finally:", "        _ES.reset(_tok)"]
    text += ["    " + line for line in epilogue]
    text.append(f"    return {ret}")
    code = "\n".join(text)
    exec(compile(code, f"<gpugrad.compile {name}>", "exec"), src.ns)  # noqa: S102 - our text
    fn = src.ns[name]
    fn.source = code
    return fn


def _result_text(src: _Source, result) -> str:
    kind = result[0]
    if kind == "tensor":
        _, slot, dev = result
        return f"_make(v{slot}, {src.name(dev, 'd')})"
    if kind == "const":
        return src.name(result[1]) if result[1] is not None else "None"
    if kind in ("tuple", "list"):
        inner = ", ".join(_result_text(src, r) for r in result[1])
        return f"({inner},)" if kind == "tuple" else f"[{inner}]"
    raise TypeError(kind)


__all__ = ["GuardMiss", "build", "operator"]
