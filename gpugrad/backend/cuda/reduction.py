"""The reduction catalogue names on the GPU: sum, mean, amax, amin, logsumexp, var,
vector_norm (ord 2, 1, inf, -inf, 0), argmax and argmin, over every element or any set of
axes of a C-contiguous array that collapses to an (outer, r, inner) view (one axis, adjacent
axes, or axes separated only by size-1 dims); other calls keep the reference (CuPy's).

A call is planned first (``value_plan`` / ``arg_plan``: pure Python, the launches as data,
which the host-build tests run on the CPU as the GPU runs them here), then launched:

- every element (outer = inner = 1): ``reduce_partial`` per block, then ``reduce_final``;
- inner == 1 with enough rows to fill the device: ``reduce_rows``, a block per row;
- otherwise ``reduce_inner``: (tx, ty) tiles over (outputs, r), and where the outputs alone
  cannot fill the device (``sm_count`` x BLOCKS_PER_SM blocks), r split over up to that many
  blocks, whose partials ``reduce_combine`` finishes (argmax/argmin: the ``argreduce_*``
  pair, always through this path).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ... import _dtype as D
from . import ENGINE, reduce_source
from .compile import function
from .launch import BLOCKS_PER_SM as ROW_BLOCKS_PER_SM
from .launch import sm_count
from .pointwise import SERVED
from .rows import block_for

ALL_BLOCK = 512
BLOCK = 512  # threads of a reduction block, PyTorch's choice
BLOCKS_PER_SM = 4  # 4 x 512 threads: a full SM's 2048
MIN_STEPS = 8  # a split leaves each thread at least this many elements along r
WAVES = 16  # the grid is capped at this many device-fulls of blocks (grid-stride beyond)
NORM_OPS = {
    2.0: "norm2",
    1.0: "norm1",
    math.inf: "norm_inf",
    -math.inf: "norm_neg_inf",
    0.0: "norm0",
}
_kernels: dict = {}


def _kernel(kernel: str, dtype: str):
    key = (kernel, dtype)
    fn = _kernels.get(key)
    if fn is None:
        fn = _kernels[key] = function(
            reduce_source.source(dtype), reduce_source.kernel_name(kernel, dtype)
        )
    return fn


# ---- which calls are served ---------------------------------------------------------------
def reduced_axes(ndim: int, axis) -> frozenset | None:
    """The reduced dims of ``axis`` (an int, a sequence of ints, or None), wrapped; None when
    out of range or repeated (the reference raises the error)."""
    if axis is None:
        return frozenset(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    dims = set()
    for a in axes:
        if not isinstance(a, int) or not -ndim <= a < ndim:
            return None
        dims.add(a % ndim)
    return frozenset(dims) if len(dims) == len(axes) else None


def view_of(shape: tuple, axis) -> tuple[int, int, int] | None:
    """(outer, r, inner) of a C-contiguous array of ``shape`` reduced over ``axis``: the
    reduced dims must be adjacent once size-1 dims (which have no layout) are dropped; None
    otherwise."""
    red = reduced_axes(len(shape), axis)
    if red is None:
        return None
    outer = r = inner = 1
    where = 0  # 0 before the reduced dims, 1 among them, 2 after
    for i, s in enumerate(shape):
        if s == 1:
            continue
        if i in red:
            if where == 2:
                return None
            where, r = 1, r * s
        elif where == 0:
            outer *= s
        else:
            where, inner = 2, inner * s
    return outer, r, inner


def _served(x, axis) -> bool:
    return (
        x.dtype in SERVED
        and x.size > 0
        and x.ndim >= 1
        and x.flags.c_contiguous
        and view_of(x.shape, axis) is not None
    )


def _served_arg(x, axis) -> bool:
    return (axis is None or isinstance(axis, int)) and _served(x, axis)


def _served_norm(x, ord, axis) -> bool:
    try:
        o = float(ord)
    except (TypeError, ValueError):
        return False
    return o in NORM_OPS and _served(x, axis)


def _out_shape(shape: tuple, axis, keepdims: bool) -> tuple:
    red = reduced_axes(len(shape), axis)
    if keepdims:
        return tuple(1 if i in red else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i not in red)


# ---- planning: the launches as data -------------------------------------------------------
class Launch(NamedTuple):
    """One kernel launch: ``args`` maps each of reduce_source.PARAMS[kernel]'s names to a
    number, or (for a pointer) to the name of a buffer: 'x', 'out', or a scratch buffer of
    the plan."""

    kernel: str
    grid: int
    block: int
    args: dict


class Plan(NamedTuple):
    launches: tuple
    scratch: dict  # buffer name -> (elements, 'F' (the compute type) or 'i8')


def _pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def tile_for(r: int, m: int, inner: int, block: int = BLOCK) -> tuple[int, int]:
    """(tx, ty), powers of two with tx * ty <= block: up to a warp of adjacent outputs
    along a long ``inner`` (coalesced), ty threads along r (no more than r needs), and the
    rest of the block over more outputs."""
    tx0 = min(_pow2(inner), 32, block)
    ty = min(_pow2(r), block // tx0)
    return min(_pow2(m), block // ty), ty


def split_for(
    m: int, r: int, tx: int, ty: int, sms: int, min_steps: int = MIN_STEPS
) -> tuple[int, int]:
    """(splits, chunk): r cut into ``splits`` chunks of ``chunk`` when the output tiles alone
    give fewer than BLOCKS_PER_SM blocks per SM, each chunk at least ``min_steps`` elements
    per thread along r."""
    tiles = -(-m // tx)
    target = sms * BLOCKS_PER_SM
    if tiles >= target:
        return 1, r
    splits = max(1, min(-(-target // tiles), r // (ty * min_steps)))
    chunk = -(-r // splits)
    return -(-r // chunk), chunk


def _grid(blocks: int, sms: int, waves: int) -> int:
    return max(1, min(blocks, sms * BLOCKS_PER_SM * waves))


def value_plan(
    op: str,
    view: tuple[int, int, int],
    sms: int,
    correction: float = 0.0,
    *,
    block: int = BLOCK,
    min_steps: int = MIN_STEPS,
    waves: int = WAVES,
) -> Plan:
    """The launches computing ``op`` (reduce_source.OPS) over ``view`` = (outer, r, inner)
    on a device of ``sms`` SMs; the result lands in 'out' (outer * inner elements)."""
    code = reduce_source.OPS[op]
    outer, r, inner = view
    two = reduce_source.second_kind(code) is not None
    m = outer * inner
    if m == 1:  # every element
        grid = max(1, min(-(-r // block), sms * BLOCKS_PER_SM))
        part = {"x": "x", "partial": "partial", "n": r, "centre": "centre"}
        fin = {"partial": "partial", "nparts": grid, "n": r, "op": code}
        fin.update(correction=correction, scalar="centre", out="out")
        first = reduce_source.first_kind(code)
        launches = [Launch("reduce_partial", grid, block, {**part, "kind": first})]
        if two:  # the centre (max or mean) on the device, then the centred pass
            launches.append(Launch("reduce_final", 1, block, {**fin, "stage": 0}))
            second = reduce_source.second_kind(code)
            launches.append(Launch("reduce_partial", grid, block, {**part, "kind": second}))
        launches.append(Launch("reduce_final", 1, block, {**fin, "stage": 1}))
        return Plan(tuple(launches), {"partial": (grid, "F"), "centre": (1, "F")})
    tx, ty = tile_for(r, m, inner, block)
    splits, chunk = split_for(m, r, tx, ty, sms, min_steps)
    if inner == 1 and splits == 1 and tx == 1:  # long rows that fill the device: a block each
        grid = max(1, min(outer, sms * ROW_BLOCKS_PER_SM))
        args = {"x": "x", "out": "out", "rows": outer, "cols": r, "op": code}
        args["correction"] = correction
        return Plan((Launch("reduce_rows", grid, min(block_for(r), block), args),), {})
    launches = []
    common = {"centre": "centre", "out": "out", "n": r, "op": code, "correction": correction}
    for stage in (0, 1) if two else (1,):
        args = {"x": "x", "partial": "partial", "outer": outer, "r": r, "inner": inner}
        args.update(common, tx=tx, splits=splits, chunk=chunk, stage=stage)
        launches.append(
            Launch("reduce_inner", _grid(-(-m // tx) * splits, sms, waves), tx * ty, args)
        )
        if splits > 1:
            ctx, cty = tile_for(splits, m, m, block)
            args = {"partial": "partial", "m": m, "splits": splits, "tx": ctx, "stage": stage}
            args.update(common)
            launches.append(
                Launch("reduce_combine", _grid(-(-m // ctx), sms, waves), ctx * cty, args)
            )
    scratch = {"partial": (m * splits if splits > 1 else 1, "F"), "centre": (m if two else 1, "F")}
    return Plan(tuple(launches), scratch)


def arg_plan(
    is_max: bool,
    view: tuple[int, int, int],
    sms: int,
    *,
    block: int = BLOCK,
    min_steps: int = MIN_STEPS,
    waves: int = WAVES,
) -> Plan:
    """The launches of argmax (``is_max``) or argmin over ``view``; int64 indices along r
    land in 'out'."""
    outer, r, inner = view
    m = outer * inner
    tx, ty = tile_for(r, m, inner, block)
    splits, chunk = split_for(m, r, tx, ty, sms, min_steps)
    args = {"x": "x", "part_v": "part_v", "part_i": "part_i", "out": "out", "outer": outer}
    args.update(r=r, inner=inner, tx=tx, splits=splits, chunk=chunk, is_max=int(is_max))
    launches = [Launch("argreduce_inner", _grid(-(-m // tx) * splits, sms, waves), tx * ty, args)]
    size = 1
    if splits > 1:
        size = m * splits
        ctx, cty = tile_for(splits, m, m, block)
        args = {"part_v": "part_v", "part_i": "part_i", "out": "out", "m": m}
        args.update(splits=splits, tx=ctx, is_max=int(is_max))
        launches.append(
            Launch("argreduce_combine", _grid(-(-m // ctx), sms, waves), ctx * cty, args)
        )
    return Plan(tuple(launches), {"part_v": (size, "F"), "part_i": (size, "i8")})


# ---- launching ------------------------------------------------------------------------------
_C_TYPES = {"long long": np.int64, "int": np.int32}


def launch_args(kernel: str, args: dict, buffers: dict, compute) -> tuple:
    """``args`` in PARAMS order as the launch wants them: buffers looked up by name, numbers
    as their C types (``compute`` for F)."""
    out = []
    for ctype, name in reduce_source.PARAMS[kernel]:
        v = args[name]
        if "*" in ctype:
            out.append(buffers[v])
        else:
            out.append(_C_TYPES.get(ctype, compute)(v))
    return tuple(out)


def run_plan(plan: Plan, x, out, dtype: str) -> None:
    import cupy

    compute = np.float64 if dtype == "float64" else np.float32
    buffers = {"x": x, "out": out}
    for name, (size, kind) in plan.scratch.items():
        # uninitialised: every kernel reads only what an earlier launch of the plan wrote
        buffers[name] = cupy.empty(size, compute if kind == "F" else np.int64)
    for step in plan.launches:
        args = launch_args(step.kernel, step.args, buffers, compute)
        _kernel(step.kernel, dtype)((step.grid,), (step.block,), args)


def reduce(op: str, x, axis, keepdims: bool, correction: float = 0.0):
    """``op`` (reduce_source.OPS) of ``x`` over ``axis``: a new array of x's dtype."""
    import cupy

    out = cupy.empty(_out_shape(x.shape, axis, keepdims), x.dtype)
    plan = value_plan(op, view_of(x.shape, axis), sm_count(x.device.id), correction)
    run_plan(plan, x, out, D.np_name(x.dtype))
    return out


def arg_reduce(is_max: bool, x, axis, keepdims: bool):
    """argmax (``is_max``) or argmin of ``x`` over ``axis`` (an int or None): int64."""
    import cupy

    out = cupy.empty(_out_shape(x.shape, axis, keepdims), np.int64)
    plan = arg_plan(is_max, view_of(x.shape, axis), sm_count(x.device.id))
    run_plan(plan, x, out, D.np_name(x.dtype))
    return out


def _register(name: str, op: str) -> None:
    ENGINE.implements(name, when=lambda x, axis, keepdims=False: _served(x, axis))(
        lambda: lambda x, axis, keepdims=False: reduce(op, x, axis, keepdims)
    )


for _name in ("sum", "amax", "amin", "mean", "logsumexp"):
    _register(_name, _name)


@ENGINE.implements("var", when=lambda x, axis, correction=1, keepdims=False: _served(x, axis))
def _build_var():
    return lambda x, axis, correction=1, keepdims=False: reduce(
        "var", x, axis, keepdims, correction
    )


@ENGINE.implements(
    "vector_norm", when=lambda x, ord, axis, keepdims=False: _served_norm(x, ord, axis)
)
def _build_vector_norm():
    return lambda x, ord, axis, keepdims=False: reduce(NORM_OPS[float(ord)], x, axis, keepdims)


for _name, _is_max in (("argmax", True), ("argmin", False)):
    ENGINE.implements(_name, when=lambda x, axis, keepdims=False: _served_arg(x, axis))(
        (lambda m: lambda: lambda x, axis, keepdims=False: arg_reduce(m, x, axis, keepdims))(
            _is_max
        )
    )
