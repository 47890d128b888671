"""The CUDA reductions (backend/cuda/reduce_source.py, reduction.py) checked without a GPU:
every kernel compiles with NVRTC for compute capabilities 8.0 and 9.0, and each call's
launch plan (the same ``value_plan`` / ``arg_plan`` the GPU runs) runs on the host build
against float64 NumPy over every dim and dim pair of 3-D shapes, sizes that are not multiples
of a block, split and unsplit reduced dims, ties, NaN and +-inf, in all four dtypes; argmax's
and argmin's first-index and NaN rules against torch where it is importable. The predicates
(which calls the engine serves) and the plans' geometry are checked on the CPU too. With a
GPU, the engine's kernels are compared with the reference (CuPy's) on the device."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from gpugrad.backend.cuda import ENGINE, compile, reduce_source, templates
from gpugrad.backend.cuda import reduction as R
from gpugrad.backend.cuda.rows_source import MAX_THREADS
from tests import cuda_host

needs_nvrtc, needs_cxx = cuda_host.needs_nvrtc, cuda_host.needs_cxx
DTYPES = list(templates.DTYPES)
TOL = {"float64": 1e-9, "float32": 2e-5, "float16": 2e-3, "bfloat16": 1.6e-2}
SHAPES = [(3, 5, 7), (2, 1, 33), (4, 300, 3), (2, 3, 1100)]
# every dim, every pair (the non-adjacent (0, 2) only where a size-1 dim sits between), all
AXES = [0, 1, 2, -1, (0, 1), (1, 2), (0, 2), (0, 1, 2), None]
ARG_AXES = [0, 1, 2, None]
VALUE_OPS = list(reduce_source.OPS)
# (block, sms, min_steps, waves): blocks of 64 threads on one SM, little split, and of 16
# threads on two SMs, splitting every reduced dim long enough over blocks (their partials
# combined after); one wave of blocks, so the grid-stride loops run (and the host build
# starts few threads)
GEOMETRIES = [(64, 1, 8, 1), (16, 2, 1, 1)]


def _ref(op: str, a: np.ndarray, axis, correction: float = 1.0) -> np.ndarray:
    """``op`` in float64 with the kernels' NaN / inf rules (as PyTorch's)."""
    with np.errstate(all="ignore"):
        if op == "sum":
            return a.sum(axis)
        if op == "mean":
            return a.mean(axis)
        if op == "amax":
            return a.max(axis)
        if op == "amin":
            return a.min(axis)
        if op == "logsumexp":
            m = a.max(axis, keepdims=True)
            m = np.where(np.isfinite(m), m, 0.0)
            return np.log(np.exp(a - m).sum(axis)) + np.squeeze(m, axis)
        if op == "var":
            n = a.size // max(a.sum(axis).size, 1)
            d = a - a.mean(axis, keepdims=True)
            return (d * d).sum(axis) / max(n - correction, 0)
        mag = np.abs(a)
        return {
            "norm2": lambda: np.sqrt((mag * mag).sum(axis)),
            "norm1": lambda: mag.sum(axis),
            "norm_inf": lambda: mag.max(axis),
            "norm_neg_inf": lambda: mag.min(axis),
            "norm0": lambda: (a != 0).sum(axis).astype(np.float64),
        }[op]()


def _run_value(op, x, axis, dtype, geometry, correction=1.0):
    block, sms, min_steps, waves = geometry
    plan = R.value_plan(
        op,
        R.view_of(x.shape, axis),
        sms,
        correction,
        block=block,
        min_steps=min_steps,
        waves=waves,
    )
    out = np.empty(R._out_shape(x.shape, axis, False), x.dtype)
    out[...] = 0x7E00 if x.dtype == np.uint16 else np.nan  # poisoned
    cuda_host.run_reduce_plan(plan, x, out, dtype)
    return cuda_host.from_storage(out, dtype), plan


def _run_arg(is_max, x, axis, dtype, geometry):
    block, sms, min_steps, waves = geometry
    view = R.view_of(x.shape, axis)
    plan = R.arg_plan(is_max, view, sms, block=block, min_steps=min_steps, waves=waves)
    out = np.full(R._out_shape(x.shape, axis, False), -5, np.int64)
    cuda_host.run_reduce_plan(plan, x, out, dtype)
    return out, plan


def _close(got, want, dtype, what):
    tol = TOL[dtype] * 4
    fin = np.abs(want[np.isfinite(want)])
    scale = max(1.0, float(fin.max())) if fin.size else 1.0
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale, err_msg=what)


def _inputs(shape, dtype, seed, ints=False):
    rng = np.random.default_rng(seed)
    raw = rng.integers(-2, 3, shape).astype(np.float64) if ints else rng.standard_normal(shape)
    x64 = cuda_host.from_storage(cuda_host.to_storage(raw * (1 if ints else 2) + 1, dtype), dtype)
    return x64, cuda_host.to_storage(x64, dtype)


# ---- compiling ------------------------------------------------------------------------------
@needs_nvrtc
@pytest.mark.parametrize("arch", compile.ARCHS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_reduce_kernel_compiles_with_nvrtc(dtype, arch):
    ptx = compile.ptx(reduce_source.source(dtype), arch, name=f"reduce_{dtype}.cu")
    for kernel in reduce_source.PARAMS:
        assert f".entry {reduce_source.kernel_name(kernel, dtype)}(".encode() in ptx


# ---- the host build against float64 ---------------------------------------------------------
@needs_cxx
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_host_value_reductions_match_float64(dtype, shape):
    x64, x = _inputs(shape, dtype, seed=sum(shape))
    for axis in AXES:
        if R.view_of(shape, axis) is None:
            assert (axis, shape) == ((0, 2), shape) and shape[1] != 1
            continue
        for op in VALUE_OPS:
            want = _ref(op, x64, axis)
            for geometry in GEOMETRIES:
                got, plan = _run_value(op, x, axis, dtype, geometry)
                kernels = [s.kernel for s in plan.launches]
                _close(got, want, dtype, f"{op} over {axis} of {shape}: {kernels}")


@needs_cxx
@pytest.mark.parametrize("dtype", DTYPES)
def test_host_var_corrections(dtype):
    """PyTorch's max(n - correction, 0) degrees of freedom: inf (or NaN for no deviation)
    where they run out, not a negative variance."""
    x64, x = _inputs((4, 3, 6), dtype, seed=3)
    for axis, correction in itertools.product((1, 2, None, (0, 1)), (0.0, 1.0, 2.5, 3.0, 40.0)):
        want = _ref("var", x64, axis, correction)
        for geometry in GEOMETRIES:
            got, _ = _run_value("var", x, axis, dtype, geometry, correction)
            _close(got, want, dtype, f"var over {axis}, correction {correction}")


@needs_cxx
@pytest.mark.parametrize("dtype", DTYPES)
def test_host_vector_loads_at_every_offset_and_length(dtype):
    """The contiguous passes (every element; a block per row) read 16-byte vectors between a
    scalar head and tail: views starting at each offset within a vector, of lengths around
    it, and rows whose starts fall at every offset."""
    vec = 16 // templates.ITEMSIZE[dtype]
    lengths = (1, vec - 1, vec + 1, 3 * vec + 2, 63 + vec)  # the last: a block per row
    x64, x = _inputs((3 * lengths[-1] + vec + 1,), dtype, seed=5)
    seen = set()
    for start in range(vec + 1):
        for n in lengths:
            for axis, shape in ((None, (n,)), (1, (3, n))):
                size = math.prod(shape)
                view64 = x64[start : start + size].reshape(shape)
                view = x[start : start + size].reshape(shape)
                for op in ("sum", "var"):  # one pass, two passes
                    for geometry in GEOMETRIES:
                        got, plan = _run_value(op, view, axis, dtype, geometry)
                        kernels = [s.kernel for s in plan.launches]
                        seen.update(kernels)
                        what = f"{op} of {shape} from offset {start}, axis {axis}: {kernels}"
                        _close(got, _ref(op, view64, axis), dtype, what)
    assert {"reduce_partial", "reduce_rows"} <= seen


def _specials(shape, dtype, seed):
    """Small integers (ties everywhere) with NaNs (two in a row), +-inf, and rows and columns
    of -inf, exact in every dtype."""
    x64, _ = _inputs(shape, dtype, seed, ints=True)
    a, b, c = shape
    x64[0, b // 2, c // 3] = np.nan
    x64[0, b - 1, c - 1] = np.nan
    x64[a - 1, 0, c // 2] = np.nan
    x64[min(1, a - 1), b // 3, 0] = np.inf
    x64[min(1, a - 1), b - 1, c // 2] = -np.inf
    x64[a - 1, b - 1, :] = -np.inf  # a row of -inf: logsumexp -inf, amax -inf
    x64[a - 1, :, c - 1] = -np.inf  # a column of -inf
    x64[0, 0, :] = np.inf  # a row of +inf (var NaN, logsumexp inf)
    return x64, cuda_host.to_storage(x64, dtype)


@needs_cxx
@pytest.mark.parametrize("shape", [(3, 5, 7), (4, 300, 3), (2, 3, 1100)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_host_reductions_nan_inf_and_ties(dtype, shape):
    x64, x = _specials(shape, dtype, seed=11)
    for axis in AXES:
        if R.view_of(shape, axis) is None:
            continue
        for op in VALUE_OPS:  # the split geometry (the other one is the test above's too)
            got, _ = _run_value(op, x, axis, dtype, GEOMETRIES[1])
            _close(got, _ref(op, x64, axis), dtype, f"{op} over {axis} of {shape}")
    for axis, is_max, geometry in itertools.product(ARG_AXES, (True, False), GEOMETRIES):
        want = x64.argmax(axis) if is_max else x64.argmin(axis)  # NumPy's: the first NaN
        got, plan = _run_arg(is_max, x, axis, dtype, geometry)
        kernels = [s.kernel for s in plan.launches]
        what = f"arg{'max' if is_max else 'min'} over {axis} of {shape}: {kernels}"
        np.testing.assert_array_equal(got, want, err_msg=what)


@needs_cxx
@pytest.mark.parametrize("dtype", DTYPES)
def test_host_arg_reductions_split_over_blocks_keep_the_first_index(dtype):
    """Ties across the chunks of a split reduced dim (and a NaN in a late chunk only): the
    combine keeps the smallest index."""
    x64 = np.zeros((2, 4099, 3))
    x64[0, 100:, :] = 1.0  # the maximum's first index 100 in every column; minimum 0
    x64[1, ::7, :] = -1.0  # the minimum at 0, ties every 7 rows
    x64[1, 3000, 1] = np.nan  # only the late chunk of column 1 sees it
    x64[1, 3500, 1] = np.nan
    x = cuda_host.to_storage(x64, dtype)
    for is_max, axis in itertools.product((True, False), (1, None)):
        want = x64.argmax(axis) if is_max else x64.argmin(axis)
        for geometry in GEOMETRIES:
            got, plan = _run_arg(is_max, x, axis, dtype, geometry)
            if geometry == GEOMETRIES[1]:
                assert plan.launches[-1].kernel == "argreduce_combine"
            np.testing.assert_array_equal(got, want)


@needs_cxx
@pytest.mark.parametrize("dtype", DTYPES)
def test_host_arg_rules_match_torch(dtype):
    torch = pytest.importorskip("torch")
    tdtype = getattr(torch, dtype)
    for shape in ((3, 5, 7), (4, 300, 3)):
        x64, x = _specials(shape, dtype, seed=5)
        t = torch.tensor(x64).to(tdtype)
        for axis, is_max in itertools.product(ARG_AXES, (True, False)):
            f = torch.argmax if is_max else torch.argmin
            want = (f(t) if axis is None else f(t, dim=axis)).numpy()
            for geometry in GEOMETRIES:
                got, _ = _run_arg(is_max, x, axis, dtype, geometry)
                np.testing.assert_array_equal(got, want, err_msg=f"{f.__name__} {axis} {shape}")


# ---- which calls are served, and how ------------------------------------------------------
def test_view_of_collapses_adjacent_axes():
    v = R.view_of
    shape = (3, 5, 7)
    assert v(shape, 0) == (1, 3, 35) and v(shape, 1) == (3, 5, 7) and v(shape, 2) == (15, 7, 1)
    assert v(shape, -1) == (15, 7, 1) and v(shape, (0, 1)) == (1, 15, 7)
    assert v(shape, (2, 1)) == (3, 35, 1) and v(shape, None) == (1, 105, 1)
    assert v(shape, (0, 1, 2)) == (1, 105, 1) and v(shape, (-1, 0, 1)) == (1, 105, 1)
    assert v(shape, (0, 2)) is None  # not adjacent: the reference
    assert v((3, 1, 5), (0, 2)) == (1, 15, 1)  # a size-1 dim between has no layout
    assert v((2, 1, 33), 1) == (66, 1, 1)  # reducing a size-1 dim: one element each
    assert v((4, 1, 6, 1), (0, 2)) == (1, 24, 1)
    assert v(shape, (1, 1)) is None and v(shape, 3) is None and v(shape, (0, -4)) is None


def test_predicates_serve_contiguous_float_arrays_over_collapsible_axes():
    x = np.zeros((4, 6, 8), np.float32)
    assert R._served(x, 1) and R._served(x, (1, 2)) and R._served(x, None)
    assert R._served(x.astype(np.float16), 0) and R._served(x.astype(np.float64), (0, 1))
    assert not R._served(x, (0, 2))  # not adjacent
    assert not R._served(x.transpose(1, 0, 2), 1)  # not C-contiguous
    assert not R._served(x[:, ::2], 2)
    assert not R._served(x.astype(np.int64), 1) and not R._served(x.astype(bool), 1)
    assert not R._served(np.zeros((0, 3), np.float32), 1)  # empty: the reference's rules
    assert not R._served(np.zeros((), np.float32), None)
    assert R._served_arg(x, 1) and R._served_arg(x, None) and R._served_arg(x, -1)
    assert not R._served_arg(x, (1, 2)) and not R._served_arg(x.T, 0)
    for o in (2, 1, 0, math.inf, -math.inf, 2.0):
        assert R._served_norm(x, o, (1, 2)) and R._served_norm(x, o, None)
    assert not R._served_norm(x, 3, 1) and not R._served_norm(x, 0.5, 1)
    assert not R._served_norm(x, "fro", 1) and not R._served_norm(x, 2, (0, 2))


def test_engine_registers_every_reduction_name():
    names = set(ENGINE.names())
    for name in ("sum", "mean", "amax", "amin", "logsumexp", "var", "vector_norm"):
        assert name in names
    assert {"argmax", "argmin"} <= names


def _kernels(plan):
    for step in plan.launches:  # every launch names exactly its kernel's parameters
        assert set(step.args) == {n for _, n in reduce_source.PARAMS[step.kernel]}
        assert 1 <= step.block <= MAX_THREADS and step.block & (step.block - 1) == 0
        assert step.grid >= 1
    return [s.kernel for s in plan.launches]


def test_plans_of_8192_squared_on_an_h100_and_twice_the_sms():
    big = (8192, 8192)
    for sms in (132, 264):
        rows = R.value_plan("sum", R.view_of(big, 1), sms)
        assert _kernels(rows) == ["reduce_rows"]  # a block of 512 per row, rows fill it
        assert rows.launches[0].block == 512 and rows.launches[0].grid == min(8192, sms * 8)
        cols = R.value_plan("sum", R.view_of(big, 0), sms)
        assert _kernels(cols) == ["reduce_inner", "reduce_combine"]
        inner = cols.launches[0]
        assert inner.block == 512 and inner.args["tx"] == 32  # a warp across 128 bytes
        splits = inner.args["splits"]
        assert (8192 // 32) * splits >= sms * R.BLOCKS_PER_SM  # at least 4 blocks per SM
        assert splits * inner.args["chunk"] >= 8192 > (splits - 1) * inner.args["chunk"]
        flat = R.value_plan("sum", R.view_of(big, None), sms)
        assert _kernels(flat) == ["reduce_partial", "reduce_final"]
        assert flat.launches[0].grid == sms * R.BLOCKS_PER_SM
        arg = R.arg_plan(True, R.view_of(big, 0), sms)
        assert _kernels(arg) == ["argreduce_inner", "argreduce_combine"]
        assert arg.launches[0].args["splits"] == splits
    # twice the SMs: more splits of dim 0
    assert (
        R.value_plan("sum", R.view_of(big, 0), 264).launches[0].args["splits"]
        > R.value_plan("sum", R.view_of(big, 0), 132).launches[0].args["splits"]
    )


def test_plans_for_few_long_rows_many_short_rows_and_two_passes():
    few = R.value_plan("amax", R.view_of((2, 10**7), 1), 132)
    assert _kernels(few) == ["reduce_inner", "reduce_combine"]  # rows split over blocks
    assert few.launches[0].args["tx"] == 1 and few.launches[0].args["splits"] >= 132 * 4 // 2
    short = R.value_plan("sum", R.view_of((10**5, 7), 1), 132)
    assert _kernels(short) == ["reduce_inner"]  # 64 rows of 8 threads per block, no split
    assert short.launches[0].args["tx"] == 64 and short.launches[0].block == 512
    lse = R.value_plan("logsumexp", R.view_of((16, 8192, 4), 1), 132)
    assert _kernels(lse) == ["reduce_inner", "reduce_combine"] * 2
    assert [s.args["stage"] for s in lse.launches] == [0, 0, 1, 1]
    # 64 rows of 512 fill no H100, but are too short to split: a block each
    assert _kernels(R.value_plan("var", R.view_of((64, 512), 1), 132, 1.0)) == ["reduce_rows"]
    assert (
        _kernels(R.value_plan("var", R.view_of((64, 10**5), 1), 132, 1.0))
        == [
            "reduce_inner",
            "reduce_combine",
        ]
        * 2
    )
    flat = R.value_plan("var", R.view_of((10**6,), None), 132)
    assert _kernels(flat) == ["reduce_partial", "reduce_final"] * 2
    assert flat.scratch["partial"][0] == 132 * 4
    arg = R.arg_plan(False, R.view_of((10**6,), None), 132)
    assert _kernels(arg) == ["argreduce_inner", "argreduce_combine"]


# ---- on a GPU: the engine's kernels against the reference ---------------------------------
def _cuda_skip() -> str:
    from gpugrad.backend import cuda_status

    n, why = cuda_status()
    return "" if n else why


_NO_GPU = _cuda_skip()


@pytest.mark.skipif(bool(_NO_GPU), reason=_NO_GPU or "-")
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_engine_matches_reference_on_the_gpu(dtype):
    import cupy

    import gpugrad

    backend = gpugrad.device("cuda").backend
    rng = np.random.default_rng(0)
    for shape in [(3, 5, 7), (4, 300, 3), (2, 3, 1100), (8, 70000), (70000, 5)]:
        x64 = rng.standard_normal(shape) * 2 + 1
        x = cupy.asarray(x64.astype(dtype))
        for axis in [0, 1, -1, (0, 1), None] + ([(1, 2)] if len(shape) == 3 else []):
            for name in ("sum", "mean", "amax", "amin", "logsumexp", "var"):
                ref = getattr(getattr(backend, name), "reference", getattr(backend, name))
                got = cupy.asnumpy(ENGINE.compiled(name)(x, axis)).astype(np.float64)
                want = cupy.asnumpy(ref(x, axis)).astype(np.float64)
                _close(got, want, dtype, f"{name} {axis} {shape}")
            for o in (2, 1, math.inf, -math.inf, 0):
                ref = backend.vector_norm
                ref = getattr(ref, "reference", ref)
                got = cupy.asnumpy(ENGINE.compiled("vector_norm")(x, o, axis)).astype(np.float64)
                want = cupy.asnumpy(ref(x, o, axis)).astype(np.float64)
                _close(got, want, dtype, f"norm {o} {axis} {shape}")
            if axis is None or isinstance(axis, int):
                for name in ("argmax", "argmin"):
                    got = cupy.asnumpy(ENGINE.compiled(name)(x, axis, True))
                    want = getattr(x64.astype(dtype), name)(axis, keepdims=True)
                    np.testing.assert_array_equal(got, want)
