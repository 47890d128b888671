"""Reductions over every dim of a 3-D input: forward against NumPy, backward by gradcheck."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

import gpugrad
from gpugrad import ops as E
from tests.utils import assert_close, check_grad, rnd, t

SHAPE = (2, 3, 4)


DIMS = [0, 1, 2, -1, -2, -3, (0, 1), (0, 2), (1, 2), (-1, 0), (0, 1, 2)]


SINGLE_DIMS = [0, 1, 2, -1, -2, -3]


KEEP = [False, True]


def _np_axis(dim):
    return tuple(dim) if isinstance(dim, (tuple, list)) else dim


# name -> (gpugrad fn(x, dim, keepdim), numpy ref(a, axis, keepdims))
REDUCE = {
    "sum": (lambda x, d, k: x.sum(d, keepdim=k), lambda a, d, k: a.sum(axis=d, keepdims=k)),
    "sum_fn": (
        lambda x, d, k: gpugrad.sum(x, dim=d, keepdim=k),
        lambda a, d, k: a.sum(axis=d, keepdims=k),
    ),
    "mean": (lambda x, d, k: x.mean(d, keepdim=k), lambda a, d, k: a.mean(axis=d, keepdims=k)),
    "amax": (lambda x, d, k: x.amax(d, keepdim=k), lambda a, d, k: a.max(axis=d, keepdims=k)),
    "amin": (
        lambda x, d, k: gpugrad.amin(x, d, keepdim=k),
        lambda a, d, k: a.min(axis=d, keepdims=k),
    ),
    "var": (
        lambda x, d, k: x.var(d, keepdim=k),
        lambda a, d, k: a.var(axis=d, keepdims=k, ddof=1),
    ),
    "var_c0": (
        lambda x, d, k: x.var(d, keepdim=k, correction=0),
        lambda a, d, k: a.var(axis=d, keepdims=k),
    ),
    "var_unbiased_false": (
        lambda x, d, k: gpugrad.var(x, d, unbiased=False, keepdim=k),
        lambda a, d, k: a.var(axis=d, keepdims=k),
    ),
    "std": (
        lambda x, d, k: x.std(d, keepdim=k),
        lambda a, d, k: a.std(axis=d, keepdims=k, ddof=1),
    ),
    "std_c0": (
        lambda x, d, k: gpugrad.std(x, dim=d, keepdim=k, correction=0),
        lambda a, d, k: a.std(axis=d, keepdims=k),
    ),
    "std_unbiased_true": (
        lambda x, d, k: x.std(d, unbiased=True, keepdim=k),
        lambda a, d, k: a.std(axis=d, keepdims=k, ddof=1),
    ),
    "logsumexp": (
        lambda x, d, k: gpugrad.logsumexp(x, d, keepdim=k),
        lambda a, d, k: special.logsumexp(a, axis=d, keepdims=k),
    ),
    "norm2": (
        lambda x, d, k: x.norm(2, dim=d, keepdim=k),
        lambda a, d, k: np.sqrt((a**2).sum(axis=d, keepdims=k)),
    ),
    "norm1": (
        lambda x, d, k: x.norm(1, dim=d, keepdim=k),
        lambda a, d, k: np.abs(a).sum(axis=d, keepdims=k),
    ),
    "norm_inf": (
        lambda x, d, k: gpugrad.norm(x, float("inf"), dim=d, keepdim=k),
        lambda a, d, k: np.abs(a).max(axis=d, keepdims=k),
    ),
}


@pytest.mark.parametrize("keepdim", KEEP)
@pytest.mark.parametrize("dim", DIMS, ids=str)
@pytest.mark.parametrize("name", sorted(REDUCE))
def test_reduce_dim_forward(name, dim, keepdim, device):
    fn, ref = REDUCE[name]
    a = rnd(*SHAPE)
    out = fn(t(a, device), dim, keepdim)
    expected = ref(a, _np_axis(dim), keepdim)
    assert tuple(out.shape) == np.shape(expected)
    assert out.dtype == gpugrad.float64
    assert_close(out, expected)


@pytest.mark.parametrize("keepdim", KEEP)
@pytest.mark.parametrize("dim", [0, -1, (0, 2), (0, 1, 2)], ids=str)
@pytest.mark.parametrize("name", sorted(REDUCE))
def test_reduce_dim_backward(name, dim, keepdim, device):
    fn, _ = REDUCE[name]
    check_grad(lambda x: fn(x, dim, keepdim), rnd(*SHAPE), device=device)


@pytest.mark.parametrize("dim", [1, -2, (1, 2)], ids=str)
@pytest.mark.parametrize("name", sorted(REDUCE))
def test_reduce_other_dims_backward(name, dim, device):
    fn, _ = REDUCE[name]
    check_grad(lambda x: fn(x, dim, False), rnd(*SHAPE), device=device)


# whole-tensor reductions
WHOLE = {
    "sum": (lambda x: x.sum(), np.sum),
    "mean": (lambda x: x.mean(), np.mean),
    "prod": (lambda x: x.prod(), np.prod),
    "max": (lambda x: x.max(), np.max),
    "min": (lambda x: gpugrad.min(x), np.min),
    "amax": (lambda x: x.amax(), np.max),
    "amin": (lambda x: x.amin(), np.min),
    "var": (lambda x: x.var(), lambda a: a.var(ddof=1)),
    "var_c0": (lambda x: x.var(correction=0), np.var),
    "std": (lambda x: x.std(), lambda a: a.std(ddof=1)),
    "std_unbiased_false": (lambda x: x.std(unbiased=False), np.std),
    "norm": (lambda x: x.norm(), lambda a: np.sqrt((a**2).sum())),
    "norm_fro": (lambda x: gpugrad.norm(x, "fro"), lambda a: np.sqrt((a**2).sum())),
    "norm1": (lambda x: x.norm(1), lambda a: np.abs(a).sum()),
    "norm_inf": (lambda x: x.norm(float("inf")), lambda a: np.abs(a).max()),
    "logsumexp_all": (lambda x: gpugrad.logsumexp(x, (0, 1, 2)), special.logsumexp),
}


@pytest.mark.parametrize("name", sorted(WHOLE))
def test_reduce_whole(name, device):
    fn, ref = WHOLE[name]
    a = rnd(*SHAPE)
    out = fn(t(a, device))
    assert out.shape == ()
    assert_close(out, ref(a))
    check_grad(fn, a, device=device)


@pytest.mark.parametrize("keepdim", KEEP)
@pytest.mark.parametrize("dim", SINGLE_DIMS)
def test_prod_dim(dim, keepdim, device):
    a = rnd(*SHAPE)
    out = gpugrad.prod(t(a, device), dim, keepdim=keepdim)
    assert_close(out, a.prod(axis=dim, keepdims=keepdim))
    check_grad(lambda x: x.prod(dim, keepdim=keepdim), a, device=device)


def test_prod_with_zero_grad(device):
    a = np.array([[2.0, 0.0, 3.0], [1.0, 2.0, 4.0]])
    x = t(a, device, requires_grad=True)
    x.prod().backward()
    expected = np.zeros_like(a)
    expected[0, 1] = 2.0 * 3.0 * 1.0 * 2.0 * 4.0
    assert_close(x.grad, expected)
    x.grad = None
    x.prod(1).sum().backward()
    assert_close(x.grad, [[0.0, 6.0, 0.0], [8.0, 4.0, 2.0]])


@pytest.mark.parametrize("keepdim", KEEP)
@pytest.mark.parametrize("dim", SINGLE_DIMS)
@pytest.mark.parametrize("which", ["max", "min"])
def test_max_min_dim_namedtuple(which, dim, keepdim, device):
    a = rnd(*SHAPE)
    x = t(a, device)
    res = getattr(x, which)(dim, keepdim=keepdim)
    values, indices = res
    assert res.values is values and res.indices is indices
    ref = getattr(a, which)(axis=dim, keepdims=keepdim)
    refi = getattr(a, f"arg{which}")(axis=dim, keepdims=keepdim)
    assert_close(values, ref)
    assert indices.dtype == gpugrad.int64
    assert indices.cpu().numpy().tolist() == refi.tolist()
    res2 = getattr(gpugrad, which)(x, dim=dim, keepdim=keepdim)
    assert_close(res2.values, ref)
    check_grad(lambda y: getattr(y, which)(dim, keepdim=keepdim).values, a, device=device)
    check_grad(lambda y: getattr(y, which)(dim, keepdim=keepdim)[0], a, device=device)


def test_max_binary_form(device):
    a, b = rnd(3, 4), rnd(4)
    assert_close(gpugrad.max(t(a, device), t(b, device)), np.maximum(a, b))
    assert_close(gpugrad.min(t(a, device), t(b, device)), np.minimum(a, b))


def test_max_ties_whole_spreads_gradient(device):
    # PyTorch's max() (no dim) evenly distributes the gradient among tied maxima
    x = t(np.array([1.0, 3.0, 3.0]), device, requires_grad=True)
    x.max().backward()
    assert_close(x.grad, [0.0, 0.5, 0.5])


def test_amax_ties_spread_gradient(device):
    x = t(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]]), device, requires_grad=True)
    x.amax(1).sum().backward()
    assert_close(x.grad, [[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])


@pytest.mark.parametrize("keepdim", KEEP)
@pytest.mark.parametrize("dim", [None, *SINGLE_DIMS])
@pytest.mark.parametrize("which", ["argmax", "argmin"])
def test_argmax_argmin(which, dim, keepdim, device):
    a = rnd(*SHAPE)
    out = getattr(gpugrad, which)(t(a, device), dim, keepdim=keepdim)
    assert out.dtype == gpugrad.int64
    ref = getattr(np, which)(a, axis=dim, keepdims=keepdim)
    if dim is None and keepdim:
        ref = ref.reshape(1, 1, 1)
    assert out.cpu().numpy().tolist() == np.asarray(ref).tolist()
    assert tuple(out.shape) == np.shape(ref)


def test_argmax_method(device):
    a = rnd(3, 4)
    assert t(a, device).argmax().item() == int(np.argmax(a))
    assert t(a, device).argmin(1).tolist() == np.argmin(a, 1).tolist()


def test_norm_fro_dims(device):
    a = rnd(*SHAPE)
    out = gpugrad.norm(t(a, device), "fro", dim=(1, 2))
    assert_close(out, np.sqrt((a**2).sum(axis=(1, 2))))
    check_grad(lambda x: x.norm("fro", dim=(1, 2)), a, device=device)


@pytest.mark.parametrize("dtype", [gpugrad.int32, gpugrad.int64, gpugrad.bool, gpugrad.uint8])
def test_int_bool_sum_is_int64(dtype, device):
    x = gpugrad.tensor([[1, 0, 1], [1, 1, 0]], dtype=dtype, device=device)
    s = x.sum()
    assert s.dtype == gpugrad.int64
    assert s.item() == 4
    assert x.sum(0).dtype == gpugrad.int64
    assert x.sum(1).tolist() == [2, 2]
    assert x.prod().dtype == gpugrad.int64


def test_sum_dtype_kw(device):
    x = gpugrad.tensor([1, 2, 3], device=device)
    assert x.sum(dtype=gpugrad.float32).dtype == gpugrad.float32
    assert (
        gpugrad.tensor([1.0, 2.0], device=device).sum(dtype=gpugrad.float64).dtype
        == gpugrad.float64
    )


def test_mean_of_int_raises(device):
    x = gpugrad.tensor([1, 2], device=device)
    with pytest.raises(
        RuntimeError,
        match=r"mean\(\): could not infer output dtype. Input dtype "
        r"must be either a floating point or complex dtype. "
        r"Got: Long",
    ):
        x.mean()


def test_mean_of_int_with_dtype(device):
    x = gpugrad.tensor([1, 2], device=device)
    out = x.mean(dtype=gpugrad.float32)
    assert out.dtype == gpugrad.float32
    assert out.item() == 1.5


def test_float32_reductions_stay_float32(device):
    x = gpugrad.tensor(rnd(2, 3), dtype=gpugrad.float32, device=device)
    for out in (
        x.sum(),
        x.mean(),
        x.prod(),
        x.max(),
        x.amax(0),
        x.var(),
        x.std(1),
        x.norm(),
        gpugrad.logsumexp(x, 1),
        x.max(1).values,
    ):
        assert out.dtype == gpugrad.float32


def test_max_int_keeps_dtype(device):
    x = gpugrad.tensor([3, 1, 2], device=device)
    assert x.max().dtype == gpugrad.int64
    assert x.max().item() == 3


def test_sum_empty_dim_tuple_like_torch(device):
    # amax(dim=()) reduces all dims, like PyTorch
    a = rnd(*SHAPE)
    assert_close(t(a, device).amax(()), a.max())


def test_reduce_bad_dim_raises(device):
    x = t(rnd(*SHAPE), device)
    with pytest.raises(
        IndexError,
        match=r"Dimension out of range \(expected to be in range of "
        r"\[-3, 2\], but got 3\)",
    ):
        x.sum(3)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_var_single_element_unbiased_nan(device):
    x = t(np.array([1.5]), device)
    assert np.isnan(x.var().item())
    assert x.var(correction=0).item() == 0.0


# ---- reductions and counting -------------------------------------------------------------
def test_nan_reductions(device):
    a = rnd(3, 4)
    a[0, 1] = a[2, 3] = np.nan
    assert_close(E.nansum(t(a, device)), np.nansum(a))
    assert_close(E.nansum(t(a, device), 1, True), np.nansum(a, 1, keepdims=True))
    assert_close(E.nanmean(t(a, device)), np.nanmean(a))
    assert_close(E.nanmean(t(a, device), 0), np.nanmean(a, 0))
    x = t(a, device, requires_grad=True)
    E.nanmean(x, 1).sum().backward()
    ref = np.where(np.isnan(a), 0.0, 1.0 / (~np.isnan(a)).sum(1, keepdims=True))
    assert_close(x.grad, ref)
    assert E.nansum(gpugrad.tensor([1, 2], device=device)).dtype == gpugrad.int64


def test_var_std_mean(device):
    a = rnd(3, 4)
    v, m = E.var_mean(t(a, device), 1)
    assert_close(v, a.var(1, ddof=1))
    assert_close(m, a.mean(1))
    s, m = E.std_mean(t(a, device), correction=0)
    assert_close(s, a.std())
    assert_close(m, a.mean())
    check_grad(lambda x: E.std_mean(x, 0)[0] + E.std_mean(x, 0)[1], a, device=device)


def test_any_all(device):
    a = rnd(3, 4)
    x = t(a, device)
    assert (x > 0).any().item() == bool((a > 0).any())
    assert_close((x > 0).all(1), (a > 0).all(1))
    assert gpugrad.any(x > 0, dim=0, keepdim=True).shape == (1, 4)


def test_aminmax(device):
    a = rnd(3, 4)
    r = gpugrad.aminmax(t(a, device))
    assert_close(r.min, a.min()) and assert_close(r.max, a.max())
    r1 = gpugrad.aminmax(t(a, device), dim=1, keepdim=True)
    assert_close(r1.min, a.min(1, keepdims=True))
    assert_close(r1.max, a.max(1, keepdims=True))
    assert repr(r).startswith("gpugrad.return_types.aminmax(\nmin=")
    check_grad(lambda x: gpugrad.aminmax(x, dim=0).max, a, device=device)
    with pytest.raises(RuntimeError, match="cannot compute aminmax over an empty dimension"):
        gpugrad.aminmax(gpugrad.zeros(0, device=device))
