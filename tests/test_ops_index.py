"""Indexing, gather/scatter, masked_fill and losses: forward against NumPy, gradcheck."""

from __future__ import annotations

import numpy as np
import pytest

import gpugrad
from gpugrad import ops as E
from gpugrad.ops import loss
from tests.utils import assert_close, check_grad, host, rnd, t

A = (3, 4, 5)


def _long(data, device):
    return gpugrad.tensor(np.asarray(data), dtype=gpugrad.int64, device=device)


def _bool(data, device):
    return gpugrad.tensor(np.asarray(data), dtype=gpugrad.bool, device=device)


BASIC_KEYS = {
    "int": 1,
    "neg_int": -1,
    "int_int": (1, 2),
    "int_int_int": (2, 3, 4),
    "slice": slice(1, 3),
    "slice_step": (slice(None), slice(None, None, 2)),
    "slice_step3_offset": (slice(None), slice(None), slice(1, None, 3)),
    "slice_neg": (slice(-2, None), slice(None, -1)),
    "none": None,
    "none_mid": (slice(None), None, 1),
    "ellipsis": (Ellipsis, 1),
    "ellipsis_none": (0, Ellipsis, None),
    "mixed": (1, slice(None, None, 2), slice(1, 4)),
    "empty_slice": slice(2, 2),
}


@pytest.mark.parametrize("name", sorted(BASIC_KEYS))
def test_getitem_basic(name, device):
    key = BASIC_KEYS[name]
    a = rnd(*A)
    out = t(a, device)[key]
    assert tuple(out.shape) == a[key].shape
    assert_close(out, a[key])
    check_grad(lambda x: x[key], a, device=device)


def test_getitem_basic_is_view(device):
    base = gpugrad.zeros(3, 4, device=device)
    v = base[1:, ::2]
    v.fill_(1.0)
    assert base.sum().item() == 4.0
    assert base[1, 2].item() == 1.0


ADV_KEYS = {
    "int_tensor": lambda d: _long([2, 0, 2], d),
    "int_tensor_2d": lambda d: _long([[0, 1], [2, 2]], d),
    "int_list": lambda d: [0, 2, 0],
    "repeat_second_dim": lambda d: (slice(None), _long([1, 1, 3, 1], d)),
    "two_tensors": lambda d: (
        (_long([0, 2, 2]), _long([1, 1, 1]))
        if False
        else (_long([0, 2, 2], d), _long([1, 1, 1], d))
    ),
    "tensor_and_slice": lambda d: (_long([2, 2], d), slice(1, 3)),
    "neg_index": lambda d: _long([-1, -1, 0], d),
    "bool_mask_first": lambda d: _bool([True, False, True], d),
    "bool_mask_full": lambda d: "full",
    "bool_mask_2d": lambda d: _bool(np.arange(12).reshape(3, 4) % 3 == 0, d),
    "ellipsis_tensor": lambda d: (Ellipsis, _long([4, 0, 4], d)),
}


def _np_key(key):
    if isinstance(key, tuple):
        return tuple(_np_key(k) for k in key)
    if isinstance(key, gpugrad.Tensor):
        return key.cpu().numpy()
    return key


@pytest.mark.parametrize("name", sorted(ADV_KEYS))
def test_getitem_advanced(name, device):
    a = rnd(*A)
    key = ADV_KEYS[name](device)
    if isinstance(key, str):
        key = _bool(a > 0, device)
    out = t(a, device)[key]
    ref = a[_np_key(key)]
    assert tuple(out.shape) == ref.shape
    assert_close(out, ref)
    check_grad(lambda x: x[key], a, device=device)


def test_getitem_repeated_indices_accumulate(device):
    x = t(rnd(4), device, requires_grad=True)
    idx = _long([1, 1, 1, 3], device)
    x[idx].sum().backward()
    assert_close(x.grad, [0.0, 3.0, 0.0, 1.0])
    y = t(rnd(3, 2), device, requires_grad=True)
    (y[_long([0, 0, 2], device)] * 2).sum().backward()
    assert_close(y.grad, [[4.0, 4.0], [0.0, 0.0], [2.0, 2.0]])


def test_getitem_advanced_is_copy(device):
    base = gpugrad.zeros(3, device=device)
    c = base[_long([0, 1], device)]
    c.add_(1.0)
    assert base.sum().item() == 0.0


def test_getitem_out_of_range(device):
    with pytest.raises(IndexError, match="index 5 is out of bounds for dimension 0 with size 3"):
        t(rnd(3, 4), device)[5]


def test_getitem_bad_mask_shape(device):
    with pytest.raises(
        IndexError,
        match=r"The shape of the mask \[2\] at index 0 does not match "
        r"the shape of the indexed tensor \[3, 4\] at index 0",
    ):
        t(rnd(3, 4), device)[_bool([True, False], device)]


def test_getitem_float_index_raises(device):
    with pytest.raises(
        IndexError, match="tensors used as indices must be long, int, byte or bool tensors"
    ):
        t(rnd(3), device)[t([0.0], device)]


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_index_select(dim, device):
    a = rnd(*A)
    idx = np.array([0, 2, 2, 1])
    out = gpugrad.index_select(t(a, device), dim, _long(idx, device))
    assert_close(out, np.take(a, idx, axis=dim))
    assert_close(t(a, device).index_select(dim, _long(idx, device)), np.take(a, idx, axis=dim))
    check_grad(lambda x: x.index_select(dim, _long(idx, device)), a, device=device)


def test_index_select_repeated_accumulates(device):
    x = t(np.ones(3), device, requires_grad=True)
    x.index_select(0, _long([2, 2, 0], device)).sum().backward()
    assert_close(x.grad, [1.0, 0.0, 2.0])


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_gather(dim, device):
    a = rnd(*A)
    ishape = list(A)
    ishape[dim] = 3
    idx = np.random.default_rng(0).integers(0, A[dim], size=ishape)
    out = gpugrad.gather(t(a, device), dim, _long(idx, device))
    assert_close(out, np.take_along_axis(a, idx, axis=dim))
    check_grad(lambda x: x.gather(dim, _long(idx, device)), a, device=device)


def test_gather_smaller_index(device):
    a = rnd(3, 4)
    idx = np.array([[0, 0], [3, 1]])
    out = t(a, device).gather(1, _long(idx, device))
    assert_close(out, [[a[0, 0], a[0, 0]], [a[1, 3], a[1, 1]]])
    check_grad(lambda x: x.gather(1, _long(idx, device)), a, device=device)


def test_gather_out_of_range(device):
    with pytest.raises(RuntimeError, match="index 5 is out of bounds for dimension 1 with size 4"):
        t(rnd(3, 4), device).gather(1, _long([[5]], device)).cpu()  # cuda: at the sync


def _np_scatter(a, dim, idx, src, add):
    out = a.copy()
    for pos in np.ndindex(*idx.shape):
        tgt = list(pos)
        tgt[dim] = idx[pos]
        if add:
            out[tuple(tgt)] += src[pos]
        else:
            out[tuple(tgt)] = src[pos]
    return out


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_scatter(dim, device):
    a = rnd(3, 4)
    # unique targets per slice so scatter is deterministic and differentiable
    idx = (
        np.array([[2, 0, 1, 3], [0, 2, 3, 1]])
        if dim != 0
        else np.array([[2, 0, 1, 0], [0, 1, 2, 2]])
    )
    idx = idx if dim != 0 else idx
    src = rnd(2, 4)
    d = dim % 2
    out = gpugrad.scatter(t(a, device), dim, _long(idx, device), t(src, device))
    assert_close(out, _np_scatter(a, d, idx, src, add=False))
    check_grad(lambda x, s: x.scatter(dim, _long(idx, device), s), a, src, device=device)


def test_scatter_scalar_value(device):
    a = rnd(3, 4)
    idx = np.array([[1], [3], [0]])
    out = t(a, device).scatter(1, _long(idx, device), 9.0)
    ref = a.copy()
    ref[np.arange(3), idx[:, 0]] = 9.0
    assert_close(out, ref)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_scatter_add(dim, device):
    a = rnd(3, 4)
    d = dim % 2
    idx = np.random.default_rng(1).integers(0, a.shape[d], size=(3, 4))  # repeats
    src = rnd(3, 4)
    out = gpugrad.scatter_add(t(a, device), dim, _long(idx, device), t(src, device))
    assert_close(out, _np_scatter(a, d, idx, src, add=True))
    check_grad(lambda x, s: x.scatter_add(dim, _long(idx, device), s), a, src, device=device)


def test_masked_fill(device):
    a = rnd(3, 4)
    mask = a > 0.5
    out = t(a, device).masked_fill(_bool(mask, device), -1.0)
    assert_close(out, np.where(mask, -1.0, a))
    m = _bool(mask[0], device)  # broadcast mask
    out2 = gpugrad.masked_fill(t(a, device), m, 0.0)
    assert_close(out2, np.where(mask[0], 0.0, a))
    check_grad(lambda x: x.masked_fill(m, 3.0), a, device=device)


def test_masked_fill_tensor_value(device):
    a = rnd(3, 4)
    mask = _bool(a > 0, device)
    out = t(a, device).masked_fill(mask, t(np.array(2.0), device))
    assert_close(out, np.where(a > 0, 2.0, a))


def test_masked_select_and_nonzero(device):
    a = rnd(3, 4)
    mask = a > 0
    assert_close(t(a, device).masked_select(_bool(mask, device)), a[mask])
    nz = t(a, device).gt(0).nonzero()
    assert nz.dtype == gpugrad.int64
    assert nz.cpu().numpy().tolist() == np.argwhere(mask).tolist()


def _np_log_softmax(x, axis=1):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def _np_nll(logp, target, reduction, ignore_index=-100, weight=None):
    n = logp.shape[0]
    w = np.ones(logp.shape[1]) if weight is None else weight
    keep = target != ignore_index
    tgt = np.where(keep, target, 0)
    picked = -logp[np.arange(n), tgt] * w[tgt] * keep
    if reduction == "none":
        return picked
    if reduction == "sum":
        return picked.sum()
    return picked.sum() / (w[tgt] * keep).sum()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy(reduction, device):
    x = rnd(5, 4)
    target = np.array([0, 3, 1, 1, 2])
    tg = _long(target, device)
    out = loss.cross_entropy(t(x, device), tg, reduction=reduction)
    assert_close(out, _np_nll(_np_log_softmax(x), target, reduction))
    check_grad(lambda y: loss.cross_entropy(y, tg, reduction=reduction), x, device=device)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_ignore_index(reduction, device):
    x = rnd(5, 4)
    target = np.array([0, -100, 1, 3, -100])
    tg = _long(target, device)
    out = loss.cross_entropy(t(x, device), tg, reduction=reduction)
    assert_close(out, _np_nll(_np_log_softmax(x), target, reduction))
    check_grad(lambda y: loss.cross_entropy(y, tg, reduction=reduction), x, device=device)
    target2 = np.array([0, 2, 2, 1, 2])
    tg2 = _long(target2, device)
    out2 = loss.cross_entropy(t(x, device), tg2, ignore_index=2, reduction=reduction)
    assert_close(out2, _np_nll(_np_log_softmax(x), target2, reduction, ignore_index=2))


def test_cross_entropy_weight(device):
    x = rnd(5, 4)
    w = np.array([0.5, 1.0, 2.0, 1.5])
    target = np.array([0, 3, 1, 1, 2])
    out = loss.cross_entropy(t(x, device), _long(target, device), weight=t(w, device))
    assert_close(out, _np_nll(_np_log_softmax(x), target, "mean", weight=w))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_cross_entropy_all_ignored_is_nan(device):
    out = loss.cross_entropy(t(rnd(3, 4), device), _long([-100, -100, -100], device))
    assert np.isnan(out.item())


def test_cross_entropy_nd(device):
    x = rnd(2, 3, 4)  # (N, C, d)
    target = np.array([[0, 1, 2, 2], [1, 1, 0, 2]])
    tg = _long(target, device)
    logp = _np_log_softmax(x, axis=1)
    ref = -np.take_along_axis(logp, target[:, None], axis=1)[:, 0].mean()
    assert_close(loss.cross_entropy(t(x, device), tg), ref)
    check_grad(lambda y: loss.cross_entropy(y, tg), x, device=device)


def test_cross_entropy_bad_reduction(device):
    with pytest.raises(ValueError, match="bad is not a valid value for reduction"):
        loss.cross_entropy(t(rnd(3, 4), device), _long([0, 1, 2], device), reduction="bad")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss(reduction, device):
    x = _np_log_softmax(rnd(5, 4))
    target = np.array([0, 3, -100, 1, 2])
    tg = _long(target, device)
    out = loss.nll_loss(t(x, device), tg, reduction=reduction)
    assert_close(out, _np_nll(x, target, reduction))
    check_grad(lambda y: loss.nll_loss(y, tg, reduction=reduction), x, device=device)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss(reduction, device):
    a, b = rnd(3, 4), rnd(3, 4)
    ref = {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction]((a - b) ** 2)
    assert_close(loss.mse_loss(t(a, device), t(b, device), reduction=reduction), ref)
    check_grad(lambda x, y: loss.mse_loss(x, y, reduction=reduction), a, b, device=device)


def test_losses_via_nn_functional(device):
    F = pytest.importorskip("gpugrad.nn.functional")
    x = rnd(5, 4)
    target = np.array([0, 3, 1, 1, 2])
    assert_close(
        F.cross_entropy(t(x, device), _long(target, device)),
        _np_nll(_np_log_softmax(x), target, "mean"),
    )


def test_inplace_scatter_family(device):
    """scatter_, scatter_add_, index_add_ and tril_/triu_/clamp_min_/clamp_max_: the out-of-place
    op written into the tensor; gradients flow through the in-place history."""
    a, src = rnd(3, 4), rnd(3, 4)
    idx = np.array([[1], [3], [0]])
    x = t(a, device)
    assert x.scatter_(1, _long(idx, device), 9.0) is x
    ref = a.copy()
    ref[np.arange(3), idx[:, 0]] = 9.0
    assert_close(x, ref)
    ridx = np.random.default_rng(2).integers(0, 3, size=(3, 4))
    y = t(a, device).scatter_add_(0, _long(ridx, device), t(src, device))
    assert_close(y, _np_scatter(a, 0, ridx, src, add=True))
    z = t(a, device).index_add_(0, _long([2, 2], device), t(src[:2], device))
    ref = a.copy()
    ref[2] += src[0] + src[1]
    assert_close(z, ref)
    assert_close(t(a, device).tril_(), np.tril(a))
    assert_close(t(a, device).triu_(1), np.triu(a, 1))
    assert_close(t(a, device).clamp_min_(0.5), np.maximum(a, 0.5))
    assert_close(t(a, device).clamp_max_(0.5), np.minimum(a, 0.5))

    def f(x, s):  # in place on a non-leaf: the history is rebased, gradients stay right
        h = x * 1.0
        h.scatter_(1, _long(idx, device), s[:, :1] * 2)
        return h

    check_grad(f, a, src, device=device)
    w = t(a, device, requires_grad=True)
    out = (w * 1.0).scatter_(1, _long(idx, device), 2.0)
    assert out.grad_fn.name() == "ScatterBackward1"  # PyTorch's name for a scalar value
    assert (w * 1.0).scatter(1, _long(idx, device), t(src, device)).grad_fn.name() == (
        "ScatterBackward0"
    )


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
        E.take(t(a, device), gpugrad.tensor([12], device=device)).cpu()  # cuda: at the sync


def test_index_fill(device):
    a = rnd(3, 4)
    idx = gpugrad.tensor([0, 2], device=device)
    ref = a.copy()
    ref[:, [0, 2]] = 7.0
    assert_close(gpugrad.index_fill(t(a, device), 1, idx, 7.0), ref)
    x = t(a, device)
    x.index_fill_(1, idx, gpugrad.tensor(7.0, dtype=gpugrad.float64, device=device))
    assert_close(x, ref)
    check_grad(lambda v: v.index_fill(1, idx, 7.0), a, device=device)
    with pytest.raises(RuntimeError, match="only supports a 0-dimensional value tensor"):
        t(a, device).index_fill(1, idx, gpugrad.ones(2, device=device))
