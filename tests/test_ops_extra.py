"""gpugrad.ops: sorting, more elementwise math, shape helpers, small reductions."""

from __future__ import annotations

import numpy as np
import pytest
from utils import assert_close, check_grad, host, rnd, t

import gpugrad
from gpugrad import ops as E


def _distinct(*shape):
    return np.random.default_rng(7).permutation(np.prod(shape)).reshape(shape) * 0.37 - 3.0


# ---- sorting -----------------------------------------------------------------------------
@pytest.mark.parametrize("descending", [False, True])
def test_sort_matches_torch_with_ties(device, descending):
    torch = pytest.importorskip("torch")
    a = np.array([[3, 1, 2, 1, 3, 0], [5, 5, 5, 1, 1, 2]], dtype=np.float64)
    v, i = E.sort(t(a, device), dim=1, descending=descending)
    tv, ti = torch.sort(torch.tensor(a), dim=1, descending=descending, stable=True)
    assert_close(v, tv.numpy())
    assert (host(i) == ti.numpy()).all() and i.dtype == gpugrad.int64
    assert (
        host(E.argsort(t(a, device), 0, descending))
        == torch.argsort(torch.tensor(a), dim=0, descending=descending, stable=True).numpy()
    ).all()


def test_sort_topk_grad(device):
    a = _distinct(3, 5)
    check_grad(lambda x: E.sort(x, 0, descending=True).values, a, device=device)
    check_grad(lambda x: E.topk(x, 2).values, a, device=device)
    check_grad(lambda x: E.topk(x, 3, dim=0, largest=False).values, a, device=device)
    out = E.topk(t(a, device, requires_grad=True), 2)
    assert type(out.values.grad_fn).__name__ == "TopkBackward0"
    assert not out.indices.requires_grad


def test_topk_values(device):
    a = _distinct(4, 6)
    v, i = E.topk(t(a, device), 3, dim=1)
    ref = -np.sort(-a, axis=1)[:, :3]
    assert_close(v, ref)
    assert_close(np.take_along_axis(a, host(i), 1), ref)
    v, _ = E.topk(t(a, device), 2, dim=0, largest=False)
    assert_close(v, np.sort(a, axis=0)[:2])
    with pytest.raises(RuntimeError):
        E.topk(t(a, device), 7)


def test_median(device):
    torch = pytest.importorskip("torch")
    a = _distinct(4, 5)
    assert_close(E.median(t(a, device)), torch.median(torch.tensor(a)).numpy())
    for keep in (False, True):
        v, i = E.median(t(a, device), 1, keep)
        tv, ti = torch.median(torch.tensor(a), 1, keep)
        assert_close(v, tv.numpy())
        assert (host(i) == ti.numpy()).all()
    nan = np.array([[1.0, np.nan, 0.0], [2.0, 1.0, 3.0]])
    v, i = E.median(t(nan, device), 1)
    tv, ti = torch.median(torch.tensor(nan), 1)
    assert_close(v, tv.numpy())
    assert (host(i) == ti.numpy()).all()
    assert np.isnan(host(E.median(t(nan, device))))
    check_grad(lambda x: E.median(x), a, device=device)
    check_grad(lambda x: E.median(x, 0).values, a, device=device)
    check_grad(lambda x: E.median(x, 1, True).values, a, device=device)


# ---- elementwise -------------------------------------------------------------------------
UNARY = [
    ("tan", np.tan, dict(low=-1.2, high=1.2)),
    ("sinh", np.sinh, {}),
    ("cosh", np.cosh, {}),
    ("asin", np.arcsin, dict(low=-0.9, high=0.9)),
    ("acos", np.arccos, dict(low=-0.9, high=0.9)),
    ("atan", np.arctan, {}),
    ("log10", np.log10, dict(positive=True)),
    ("exp2", np.exp2, {}),
    ("square", np.square, {}),
    ("frac", lambda x: x - np.trunc(x), {}),
]


@pytest.mark.parametrize("name,ref,kw", UNARY, ids=[u[0] for u in UNARY])
def test_unary(device, name, ref, kw):
    a = rnd(3, 4, **kw)
    fn = getattr(E, name)
    assert_close(fn(t(a, device)), ref(a))
    check_grad(fn, a, device=device)
    if name == "frac":  # piecewise linear: no second derivative graph
        return
    # second order via create_graph
    x = t(a, device, requires_grad=True)
    (g,) = gpugrad.autograd.grad(fn(x).sum(), x, create_graph=True)
    (gg,) = gpugrad.autograd.grad(g.sum(), x)
    h = 1e-5
    num = (ref(a + h) - 2 * ref(a) + ref(a - h)) / h**2
    assert_close(gg, num, rtol=1e-3, atol=1e-3)


def test_unary_dtypes(device):
    assert E.tan(gpugrad.tensor([1, 2], device=device)).dtype == gpugrad.float32
    assert E.square(gpugrad.tensor([1, 2], device=device)).dtype == gpugrad.int64
    with pytest.raises(RuntimeError, match="frac_cpu"):
        E.frac(gpugrad.tensor([1, 2], device=device))
    assert (
        E.tan(gpugrad.tensor([1.0], dtype=gpugrad.float32, device=device)).dtype == gpugrad.float32
    )


def test_binary(device):
    a, b = rnd(3, 4), rnd(4)
    assert_close(E.atan2(t(a, device), t(b, device)), np.arctan2(a, b))
    assert_close(E.hypot(t(a, device), t(b, device)), np.hypot(a, b))
    check_grad(E.atan2, a, b, device=device)
    check_grad(E.hypot, a, b, device=device)
    w = rnd(3, 4, positive=True) / 3
    check_grad(lambda x, y, z: E.lerp(x, y, z), a, rnd(3, 4), w, device=device)
    assert_close(E.lerp(t(a, device), t(b, device), 0.25), a + 0.25 * (b - a))
    c, d = rnd(3, 4), rnd(3, 4)
    assert_close(E.addcmul(t(a, device), t(c, device), t(d, device), value=0.5), a + 0.5 * c * d)
    assert_close(E.addcdiv(t(a, device), t(c, device), t(d, device), value=2), a + 2 * c / d)
    check_grad(lambda x, y, z: E.addcdiv(x, y, z, value=0.3), a, c, d, device=device)
    with pytest.raises(RuntimeError, match="Integer division"):
        i = gpugrad.tensor([1, 2], device=device)
        E.addcdiv(i, i, i)
    assert (
        E.atan2(gpugrad.tensor([1], device=device), gpugrad.tensor([2], device=device)).dtype
        == gpugrad.float32
    )


def test_nan_to_num(device):
    a = np.array([np.nan, np.inf, -np.inf, 1.5])
    assert_close(E.nan_to_num(t(a, device)), np.nan_to_num(a))
    assert_close(E.nan_to_num(t(a, device), 1.0, 2.0, -3.0), [1.0, 2.0, -3.0, 1.5])
    x = t(a, device, requires_grad=True)
    E.nan_to_num(x).sum().backward()
    assert_close(x.grad, [0, 0, 0, 1.0])


# ---- shape helpers -----------------------------------------------------------------------
def test_diag_diagonal_trace(device):
    v, m = rnd(4), rnd(3, 5)
    for k in (-2, 0, 1):
        assert_close(E.diag(t(v, device), k), np.diag(v, k))
        assert_close(E.diag(t(m, device), k), np.diag(m, k))
        check_grad(lambda x, k=k: E.diag(x, k), v, device=device)
        check_grad(lambda x, k=k: E.diag(x, k), m, device=device)
    b = rnd(2, 3, 4)
    assert_close(E.diagonal(t(b, device), 1, 1, 2), np.diagonal(b, 1, 1, 2))
    assert_close(E.diagonal(t(b, device), -1, 2, 0), np.diagonal(b, -1, 2, 0))
    check_grad(lambda x: E.diagonal(x, 0, 0, 2), b, device=device)
    assert_close(E.trace(t(m, device)), np.trace(m))
    check_grad(E.trace, m, device=device)


def test_roll_tile_rot90(device):
    a = rnd(3, 4)
    assert_close(E.roll(t(a, device), 2), np.roll(a, 2))
    assert_close(E.roll(t(a, device), (1, -3), (0, 1)), np.roll(a, (1, -3), (0, 1)))
    check_grad(lambda x: E.roll(x, -1, 1), a, device=device)
    assert_close(E.tile(t(a, device), (2,)), np.tile(a, (2,)))
    assert_close(E.tile(t(a, device), (2, 1, 2)), np.tile(a, (2, 1, 2)))
    check_grad(lambda x: E.tile(x, (2, 2)), a, device=device)
    for k in (-1, 0, 1, 2, 3):
        assert_close(E.rot90(t(a, device), k), np.rot90(a, k))
    assert_close(E.rot90(t(a, device), 1, (1, 0)), np.rot90(a, 1, (1, 0)))
    assert_close(E.flipud(t(a, device)), np.flipud(a))
    assert_close(E.fliplr(t(a, device)), np.fliplr(a))
    assert_close(E.ravel(t(a, device)), a.ravel())


def test_stacks_and_atleast(device):
    a, b = rnd(3), rnd(3)
    m = rnd(2, 3)
    ta, tb, tm = t(a, device), t(b, device), t(m, device)
    assert_close(E.vstack([ta, tb, tm]), np.vstack([a, b, m]))
    assert_close(E.hstack([ta, tb]), np.hstack([a, b]))
    assert_close(E.hstack([tm, tm]), np.hstack([m, m]))
    assert_close(E.dstack([ta, tb]), np.dstack([a, b]))
    assert_close(E.dstack([tm, tm]), np.dstack([m, m]))
    assert_close(E.column_stack([ta, tb]), np.column_stack([a, b]))
    s = t(np.array(2.0), device)
    assert E.atleast_1d(s).shape == (1,)
    assert E.atleast_2d(ta).shape == (1, 3)
    assert E.atleast_3d(tm).shape == (2, 3, 1)
    assert E.atleast_3d(ta).shape == (1, 3, 1)
    assert [x.shape for x in E.atleast_2d(s, ta)] == [(1, 1), (1, 3)]
    check_grad(lambda x, y: E.column_stack([x, y]), a, b, device=device)


def test_meshgrid(device):
    x, y, z = rnd(2), rnd(3), rnd(4)
    for idx in ("ij", "xy"):
        got = E.meshgrid(t(x, device), t(y, device), t(z, device), indexing=idx)
        for g, r in zip(got, np.meshgrid(x, y, z, indexing=idx)):
            assert_close(g, r)
    with pytest.warns(UserWarning, match="indexing"):
        E.meshgrid(t(x, device), t(y, device))


def test_diff_cumprod(device):
    a = rnd(3, 5)
    assert_close(E.diff(t(a, device)), np.diff(a))
    assert_close(E.diff(t(a, device), 2, 0), np.diff(a, 2, 0))
    p = rnd(3, 1)
    assert_close(E.diff(t(a, device), prepend=t(p, device)), np.diff(a, prepend=p))
    check_grad(lambda x: E.diff(x, 2), a, device=device)
    bools = gpugrad.tensor([True, False, False, True], device=device)
    assert host(E.diff(bools)).tolist() == [True, False, True]
    assert_close(E.cumprod(t(a, device), 1), np.cumprod(a, 1))
    check_grad(lambda x: E.cumprod(x, 0), a, device=device)
    check_grad(lambda x: E.cumprod(x, -1), a, device=device)
    assert E.cumprod(gpugrad.tensor([1, 2, 3], device=device), 0).dtype == gpugrad.int64


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


def test_counting(device):
    a = np.array([[0, 1, 2], [2, 0, 0]])
    ta = gpugrad.tensor(a, device=device)
    assert host(E.count_nonzero(ta)) == 3
    assert host(E.count_nonzero(ta, 0)).tolist() == [1, 1, 1]
    assert (
        host(E.isin(ta, gpugrad.tensor([2, 5], device=device))).tolist()
        == np.isin(a, [2, 5]).tolist()
    )
    assert host(E.isin(ta, 0, invert=True)).tolist() == (a != 0).tolist()
    assert host(E.bincount(gpugrad.tensor([0, 3, 3], device=device), minlength=5)).tolist() == [
        1,
        0,
        0,
        2,
        0,
    ]
    w = E.bincount(
        gpugrad.tensor([0, 1, 1], device=device), gpugrad.tensor([1.0, 2.0, 3.0], device=device)
    )
    assert w.dtype == gpugrad.float32 and host(w).tolist() == [1.0, 5.0]


def test_unique_matches_torch(device):
    torch = pytest.importorskip("torch")
    a = np.array([[3, 1], [1, 2], [3, 1]])
    got = E.unique(gpugrad.tensor(a, device=device), return_inverse=True, return_counts=True)
    ref = torch.unique(torch.tensor(a), return_inverse=True, return_counts=True)
    for g, r in zip(got, ref):
        assert host(g).tolist() == r.tolist()
    got = E.unique(gpugrad.tensor(a, device=device), dim=0, return_inverse=True)
    ref = torch.unique(torch.tensor(a), dim=0, return_inverse=True)
    for g, r in zip(got, ref):
        assert host(g).tolist() == r.tolist()
    assert host(E.unique(gpugrad.tensor(a, device=device))).tolist() == [1, 2, 3]


def test_var_std_mean(device):
    a = rnd(3, 4)
    v, m = E.var_mean(t(a, device), 1)
    assert_close(v, a.var(1, ddof=1))
    assert_close(m, a.mean(1))
    s, m = E.std_mean(t(a, device), correction=0)
    assert_close(s, a.std())
    assert_close(m, a.mean())
    check_grad(lambda x: E.std_mean(x, 0)[0] + E.std_mean(x, 0)[1], a, device=device)


def test_searchsorted(device):
    seq = np.array([1.0, 3.0, 5.0, 7.0])
    v = np.array([[0.0, 3.0], [6.0, 9.0]])
    ts = t(seq, device)
    assert host(E.searchsorted(ts, t(v, device))).tolist() == np.searchsorted(seq, v).tolist()
    assert (
        host(E.searchsorted(ts, t(v, device), right=True)).tolist()
        == np.searchsorted(seq, v, "right").tolist()
    )
    assert int(host(E.searchsorted(ts, 3.0))) == 1
    seq2 = np.array([[1, 3, 5], [2, 4, 6]])
    got = E.searchsorted(
        gpugrad.tensor(seq2, device=device), gpugrad.tensor([[3], [3]], device=device)
    )
    assert host(got).tolist() == [[1], [1]] and got.dtype == gpugrad.int64
    assert E.searchsorted(ts, t(v, device), out_int32=True).dtype == gpugrad.int32


@pytest.mark.parametrize("dim,idx", [(0, [4, 1]), (1, [2, 0]), (-1, [1])])
def test_index_copy(dim, idx, device):
    a = rnd(5, 3)
    shape = list(a.shape)
    shape[dim] = len(idx)
    src = rnd(*shape)
    ti = gpugrad.tensor(idx, device=device)
    ref = a.copy()
    np.moveaxis(ref, dim, 0)[idx] = np.moveaxis(src, dim, 0)
    out = t(a, device, requires_grad=True).index_copy(dim, ti, t(src, device))
    assert_close(out, ref)
    assert out.grad_fn.name() == "IndexCopyBackward0"
    check_grad(lambda x, s: E.index_copy(x, dim, ti, s), a, src, device=device)
    inplace = t(a, device)
    assert inplace.index_copy_(dim, ti, t(src, device)) is inplace
    assert_close(inplace, ref)
    with pytest.raises(IndexError, match=r"Number of indices \(2\) should be equal to source"):
        t(a, device).index_copy(0, gpugrad.tensor([4, 1], device=device), t(rnd(3, 3), device))
    with pytest.raises(IndexError, match="index 9 is out of bounds for dimension 0 with size 5"):
        t(a, device).index_copy(0, gpugrad.tensor([4, 9], device=device), t(rnd(2, 3), device))
    with pytest.raises(RuntimeError, match="Expected a long tensor for index, but got Float"):
        t(a, device).index_copy(0, gpugrad.tensor([4.0, 1.0], device=device), t(rnd(2, 3), device))


def test_index_add_take(device):
    a, src = rnd(4, 3), rnd(5, 3)
    idx = np.array([0, 2, 2, 3, 0])
    ref = a.copy()
    np.add.at(ref, idx, 2.0 * src)
    ti = gpugrad.tensor(idx, device=device)
    assert_close(E.index_add(t(a, device), 0, ti, t(src, device), alpha=2.0), ref)
    check_grad(lambda x, s: E.index_add(x, 0, ti, s, alpha=0.5), a, src, device=device)
    b, s1 = rnd(2, 4), rnd(2, 2)
    check_grad(
        lambda x, s: E.index_add(x, 1, gpugrad.tensor([3, 1], device=device), s),
        b,
        s1,
        device=device,
    )
    k = gpugrad.tensor([[0, 11], [5, 5]], device=device)
    assert_close(E.take(t(a, device), k), a.reshape(-1)[host(k)])
    check_grad(lambda x: E.take(x, k), a, device=device)
    with pytest.raises(IndexError):
        E.take(t(a, device), gpugrad.tensor([12], device=device))


@pytest.mark.parametrize("name", ["logaddexp", "logaddexp2"])
def test_logaddexp(name, device):
    a, b = rnd(3, 4), rnd(4)  # broadcasting
    a[0, 0] = b[0]  # equal arguments: the gradient splits evenly
    fn = getattr(gpugrad, name)
    out = fn(t(a, device, requires_grad=True), t(b, device))
    assert_close(out, getattr(np, name)(a, b))
    assert out.grad_fn.name() == (
        "LogaddexpBackward0" if name == "logaddexp" else "Logaddexp2Backward0"
    )
    check_grad(fn, a, b, device=device)
    big = fn(t(np.array([1000.0]), device), t(np.array([1000.0]), device))
    assert np.isfinite(host(big)).all()  # no overflow


@pytest.mark.parametrize("dim,size,step", [(1, 3, 2), (0, 2, 1), (-1, 7, 1), (1, 1, 3)])
def test_tensor_unfold(dim, size, step, device):
    a = rnd(2, 7)
    x = t(a, device, requires_grad=True)
    out = x.unfold(dim, size, step)
    moved = np.moveaxis(a, dim, -1)
    n = (moved.shape[-1] - size) // step + 1
    want = np.stack([moved[..., i * step : i * step + size] for i in range(n)], axis=-2)
    assert_close(out, np.moveaxis(want, -2, dim % 2))
    check_grad(lambda v: v.unfold(dim, size, step), a, device=device)  # overlaps add up
    with pytest.raises(
        RuntimeError, match="maximum size for tensor at dimension 1 is 7 but size is 8"
    ):
        x.unfold(1, 8, 1)
    with pytest.raises(RuntimeError, match="step is 0 but must be > 0"):
        x.unfold(1, 2, 0)
    assert host(t(np.array(3.0), device).unfold(0, 1, 1)).tolist() == [3.0]


def test_fmod(device):
    a, b = rnd(3, 4) * 4, rnd(4)
    out = gpugrad.fmod(t(a, device, requires_grad=True), t(b, device))
    assert_close(out, np.fmod(a, b))
    assert out.grad_fn.name() == "FmodBackward1"
    check_grad(gpugrad.fmod, a, b, device=device)
    x = t(a, device, requires_grad=True)
    assert x.fmod(1.5).grad_fn.name() == "FmodBackward0"
    assert_close(x.fmod(1.5), np.fmod(a, 1.5))
    ints = gpugrad.tensor([-7, 7], device=device)
    assert host(ints.fmod(3)).tolist() == [-1, 1]  # the sign of the dividend
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        gpugrad.fmod(ints, 0)


def test_shifts_and_where_of_two_scalars(device):
    x = gpugrad.tensor([5, 8], device=device)
    assert host(x << 1).tolist() == [10, 16] and host(x >> 1).tolist() == [2, 4]
    assert host(1 << gpugrad.tensor([2, 3], device=device)).tolist() == [4, 8]
    assert host(gpugrad.bitwise_left_shift(x, 2)).tolist() == [20, 32]
    with pytest.raises(RuntimeError, match="\"lshift_cpu\" not implemented for 'Float'"):
        gpugrad.ones(1, device=device) << 1
    cond = gpugrad.tensor([True, False], device=device)
    for a, b, dtype in (
        (1.0, 0, gpugrad.float32),
        (1, 0, gpugrad.int64),
        (True, False, gpugrad.bool),
    ):
        out = gpugrad.where(cond, a, b)
        assert out.dtype == dtype and host(out).tolist() == [a, b]
