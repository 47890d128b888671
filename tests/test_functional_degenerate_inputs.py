"""Values and gradients of nn.functional calls on degenerate inputs that PyTorch computes
(issue #16): operands of two dtypes in binary_cross_entropy_with_logits (the loss has the
target's dtype), cosine_similarity of operands that broadcast, scaled_dot_product_attention
with an empty value, adaptive_avg_pool2d to 1x1 of a 2-d input, poolings of an empty batch."""

from __future__ import annotations

import numpy as np
import pytest

import gpugrad
import gpugrad.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _pair(shape, dtype="float32", seed=0, lo=-1.0, hi=1.0):
    a = np.random.default_rng(seed).uniform(lo, hi, shape).astype(dtype)
    return gpugrad.tensor(a.copy()), torch.from_numpy(a.copy())


def _close(ours, theirs, tol=1e-5):
    assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), tol, tol)


@pytest.mark.parametrize("xd,td", [("float64", "float32"), ("float32", "float64")])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_bce_with_logits_mixed_dtypes(xd, td, reduction):
    (gx, tx), (gt, tt) = _pair((2, 3, 4), xd), _pair((2, 3, 4), td, seed=1, lo=0.0)
    (gw, tw) = _pair((4,), "float32", seed=2, lo=0.5)
    gx.requires_grad_(), tx.requires_grad_(), gt.requires_grad_(), tt.requires_grad_()
    ours = F.binary_cross_entropy_with_logits(gx, gt, pos_weight=gw, reduction=reduction)
    theirs = TF.binary_cross_entropy_with_logits(tx, tt, pos_weight=tw, reduction=reduction)
    _close(ours, theirs)
    ours.sum().backward()
    theirs.sum().backward()
    _close(gx.grad, tx.grad)
    _close(gt.grad, tt.grad)


@pytest.mark.parametrize("s1,s2", [((), (2, 3, 4)), ((2, 3, 4), ()), ((4,), (2, 3, 4))])
def test_cosine_similarity_broadcasts(s1, s2):
    (g1, t1), (g2, t2) = _pair(s1), _pair(s2, seed=1)
    g1.requires_grad_(), t1.requires_grad_()
    ours, theirs = F.cosine_similarity(g1, g2), TF.cosine_similarity(t1, t2)
    _close(ours, theirs)
    ours.sum().backward()
    theirs.sum().backward()
    _close(g1.grad, t1.grad)


def test_cosine_similarity_shapes_that_do_not_broadcast():
    with pytest.raises(RuntimeError, match="must match the size of tensor b"):
        F.cosine_similarity(gpugrad.ones(3), gpugrad.ones(2, 3, 4))


@pytest.mark.parametrize("vshape", [(0, 3, 4), (0, 3, 6), (2, 0, 4)])
def test_sdpa_empty_value_gives_zeros(vshape):
    (gq, tq), (gk, tk), (gv, tv) = _pair((2, 3, 4)), _pair((2, 3, 4), seed=1), _pair(vshape)
    if vshape[1] == 0:  # no keys either
        (gk, tk) = _pair((2, 0, 4), seed=1)
    gq.requires_grad_(), tq.requires_grad_()
    ours = F.scaled_dot_product_attention(gq, gk, gv)
    theirs = TF.scaled_dot_product_attention(tq, tk, tv)
    _close(ours, theirs)
    ours.sum().backward()
    theirs.sum().backward()
    _close(gq.grad, tq.grad)


def test_adaptive_avg_pool2d_to_1x1_is_the_mean_of_the_last_two_dims():
    (g, t) = _pair((5, 2))
    g.requires_grad_(), t.requires_grad_()
    ours, theirs = F.adaptive_avg_pool2d(g, 1), TF.adaptive_avg_pool2d(t, 1)
    _close(ours, theirs)
    ours.sum().backward()
    theirs.sum().backward()
    _close(g.grad, t.grad)


@pytest.mark.parametrize(
    "name,shape,args",
    [
        ("max_pool1d", (0, 3, 4), (2,)),
        ("avg_pool1d", (0, 3, 4), (2,)),
        ("max_pool2d", (0, 2, 3, 4), (2,)),
        ("avg_pool2d", (0, 2, 3, 4), (2,)),
        ("adaptive_avg_pool1d", (0, 3, 4), (2,)),
        ("adaptive_max_pool1d", (0, 3, 4), (2,)),
    ],
)
def test_pooling_an_empty_batch(name, shape, args):
    (g, t) = _pair(shape)
    g.requires_grad_(), t.requires_grad_()
    ours, theirs = getattr(F, name)(g, *args), getattr(TF, name)(t, *args)
    assert tuple(ours.shape) == tuple(theirs.shape)
    ours.sum().backward()
    assert tuple(g.grad.shape) == shape
