"""The convolution kernels ``im2col`` / ``col2im``: the references against a float64 loop
formula and each other (adjoints), the compiled CPU col2im against the reference, over 1-3
spatial dims, strides, asymmetric padding, dilations, odd sizes, empty and one-element inputs,
non-contiguous inputs, NaN/inf."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import gpugrad
from gpugrad.backend.kernels.conv import conv_out_shape
from gpugrad.backend.numba_kernels import ENGINE
from gpugrad.backend.numba_kernels import conv as NC

B = gpugrad.device("cpu").backend
IM2COL_REF = getattr(B.im2col, "reference", B.im2col)
COL2IM_REF = getattr(B.col2im, "reference", B.col2im)
numba_only = pytest.mark.skipif(not ENGINE.enabled(), reason="the Numba engine is off")
FLOATS = [np.float32, np.float64]

# (input shape, kernel, stride, padding, dilation)
CASES = [
    ((2, 3, 7), (3,), (2,), ((1, 2),), (1,)),
    ((1, 1, 1), (1,), (1,), ((0, 0),), (1,)),
    ((2, 3, 7, 6), (3, 2), (2, 1), ((1, 2), (0, 1)), (1, 2)),
    ((3, 2, 5, 9), (3, 3), (1, 3), ((1, 1), (2, 2)), (2, 1)),
    ((2, 3, 7, 6, 5), (3, 2, 2), (2, 1, 2), ((1, 2), (0, 1), (2, 0)), (1, 2, 1)),
    ((1, 2, 4, 4, 4), (2, 2, 2), (1, 1, 1), ((0, 0),) * 3, (1, 1, 1)),
    ((0, 3, 5, 5), (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1)),  # empty batch
    ((2, 0, 5, 5), (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1)),  # no channels
]


def loop_im2col(x, k, st, pad, dil):
    """im2col by its definition, one element at a time, in float64."""
    n, c = x.shape[:2]
    sp = x.shape[2:]
    out = conv_out_shape(sp, k, st, pad, dil)
    cols = np.zeros((c * math.prod(k), n * math.prod(out)))
    for ci, ks in itertools.product(range(c), itertools.product(*map(range, k))):
        r = np.ravel_multi_index((ci,) + ks, (c,) + k)
        for ni, os_ in itertools.product(range(n), itertools.product(*map(range, out))):
            col = np.ravel_multi_index((ni,) + os_, (n,) + out)
            idx = [o * s - p[0] + kk * d for o, s, p, kk, d in zip(os_, st, pad, ks, dil)]
            if all(0 <= i < size for i, size in zip(idx, sp)):
                cols[r, col] = x[(ni, ci) + tuple(idx)]
    return cols


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", CASES)
def test_im2col_reference_matches_loop(case, dtype):
    shape, k, st, pad, dil = case
    x = np.random.standard_normal(shape).astype(dtype)
    ref = IM2COL_REF(x, k, st, pad, dil)
    assert ref.dtype == dtype and ref.flags.c_contiguous
    np.testing.assert_array_equal(ref, loop_im2col(x.astype(np.float64), k, st, pad, dil))


@numba_only
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", CASES)
def test_compiled_col2im_equals_the_reference(case, dtype):
    shape, k, st, pad, dil = case
    x = np.random.standard_normal(shape).astype(dtype)
    cols = IM2COL_REF(x, k, st, pad, dil)
    g = np.random.standard_normal(cols.shape).astype(dtype)
    img = ENGINE.compiled("col2im")(g, shape, k, st, pad, dil)
    ref = COL2IM_REF(g, shape, k, st, pad, dil)
    assert img.shape == shape and img.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(img, ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("case", CASES)
def test_col2im_is_the_adjoint_of_im2col(case):
    shape, k, st, pad, dil = case
    x = np.random.standard_normal(shape)
    cols = IM2COL_REF(x, k, st, pad, dil)
    g = np.random.standard_normal(cols.shape)
    for col2im in [COL2IM_REF] + ([ENGINE.compiled("col2im")] if ENGINE.enabled() else []):
        back = col2im(g, shape, k, st, pad, dil)
        assert math.isclose((cols * g).sum(), (x * back).sum(), rel_tol=1e-10, abs_tol=1e-10)


@numba_only
def test_non_contiguous_inputs():
    base = np.random.standard_normal((4, 6, 11, 10))
    x = base[::2, 1::2, :, ::-1]  # strided, reversed
    k, st, pad, dil = (3, 2), (1, 2), ((1, 0), (2, 1)), (2, 1)
    np.testing.assert_array_equal(IM2COL_REF(x, k, st, pad, dil), loop_im2col(x, k, st, pad, dil))
    cols = IM2COL_REF(np.ascontiguousarray(x), k, st, pad, dil)
    g = np.random.standard_normal((cols.shape[1], cols.shape[0])).T  # a transposed view
    np.testing.assert_allclose(
        ENGINE.compiled("col2im")(g, x.shape, k, st, pad, dil),
        COL2IM_REF(np.ascontiguousarray(g), x.shape, k, st, pad, dil),
        rtol=1e-12,
    )


@numba_only
def test_nan_and_inf_propagate_as_the_reference():
    x = np.random.standard_normal((2, 2, 6, 6)).astype(np.float32)
    x[0, 1, 2, 3], x[1, 0, 0, 0], x[1, 1, 5, 5] = np.nan, np.inf, -np.inf
    k, st, pad, dil = (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1)
    cols = IM2COL_REF(x, k, st, pad, dil)
    img = ENGINE.compiled("col2im")(cols, x.shape, k, st, pad, dil)
    np.testing.assert_array_equal(
        np.isnan(img), np.isnan(COL2IM_REF(cols, x.shape, k, st, pad, dil))
    )


@numba_only
def test_dispatch_threshold_and_dtypes():
    shape = (2, 4, 64, 64)
    k, st, pad, dil = (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1)
    cols = np.random.standard_normal((36, 2 * 64 * 64)).astype(np.float32)
    assert NC._col2im_when(cols, shape, k, st, pad, dil)
    assert not NC._col2im_when(cols[:, :100], (2, 4, 5, 5), k, st, pad, dil)
    assert not NC._col2im_when(cols.astype(np.float16), shape, k, st, pad, dil)
    assert not NC._col2im_when(cols.astype(np.int64), shape, k, st, pad, dil)
    np.testing.assert_allclose(
        B.col2im(cols, shape, k, st, pad, dil), COL2IM_REF(cols, shape, k, st, pad, dil), rtol=1e-5
    )


def test_half_and_integer_dtypes_use_the_reference():
    x = np.arange(2 * 3 * 5 * 5).reshape(2, 3, 5, 5)
    for dt in (np.float16, np.int64):
        xs = x.astype(dt)
        cols = B.im2col(xs, (2, 2), (1, 1), ((1, 0), (0, 1)), (1, 1))
        assert cols.dtype == dt
        np.testing.assert_array_equal(
            cols, loop_im2col(xs, (2, 2), (1, 1), ((1, 0), (0, 1)), (1, 1)).astype(dt)
        )
