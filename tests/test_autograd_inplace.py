"""Version counters and in-place ops under autograd, against PyTorch 2.13's behaviour and texts."""

from __future__ import annotations

import numpy as np
import pytest

import gpugrad
from tests.utils import assert_close, check_grad, rnd, t

LEAF_MSG = "a leaf Variable that requires grad is being used in an in-place operation."
VIEW_LEAF_MSG = (
    "a view of a leaf Variable that requires grad is being used in an in-place operation."
)


def _version_msg(tensor_type: str, shape: str, op: str, now: int, expected: int) -> str:
    # Exactly PyTorch 2.13's text (it names the forward op without "Backward0").
    return (
        "one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: [{tensor_type} [{shape}]], which is output 0 of {op}, is at version {now}; "
        f"expected version {expected} instead. Hint: enable anomaly detection to find the "
        "operation that failed to compute its gradient, with "
        "torch.autograd.set_detect_anomaly(True, check_nan=False)."
    )


def _float_type(device: str) -> str:
    return "torch.cuda.FloatTensor" if device == "cuda" else "torch.FloatTensor"


# ---- version counters ------------------------------------------------------------------------
def test_version_bumps_and_views_share(device):
    x = gpugrad.zeros(2, 3, device=device)
    assert x._version == 0
    x.add_(1)
    assert x._version == 1
    v, r, s, tr, d = x.view(6), x.reshape(3, 2), x[0], x.t(), x.detach()
    for other in (v, r, s, tr, d):
        assert other._version == 1
    s.mul_(2)
    for other in (x, v, r, tr, d):
        assert other._version == 2
    d.zero_()
    assert x._version == 3 and v._version == 3
    x[1] = 5.0
    assert x._version == 4
    x += 1
    assert x._version == 5
    c = x.clone()
    assert c._version == 0  # a copy has its own counter


def test_data_does_not_bump_version(device):
    a = t([1.0, 2.0], device, requires_grad=True)
    a.data.add_(1)
    assert a._version == 0
    assert_close(a, [2.0, 3.0])
    assert not a.data.requires_grad


def test_modified_saved_output_raises_pytorch_error(device):
    a = gpugrad.tensor([1.0, 2.0], device=device, requires_grad=True)
    b = a * 1
    c = b.sin()  # saves b
    b.mul_(2)
    with pytest.raises(RuntimeError) as e:
        c.sum().backward()
    assert str(e.value) == _version_msg(_float_type(device), "2", "Mul", 1, 0)


def test_modified_saved_input_names_its_current_grad_fn(device):
    # As PyTorch 2.13: after b.add_ rebased b's history, the error names Add, not Mul.
    a = gpugrad.tensor([1.0, 2.0], device=device, requires_grad=True)
    b = a * 2
    c = b.sin()  # saves b
    b.add_(1)
    with pytest.raises(RuntimeError) as e:
        c.sum().backward()
    assert str(e.value) == _version_msg(_float_type(device), "2", "Add", 1, 0)


def test_modified_own_output_raises(device):
    a = gpugrad.tensor([1.0, 2.0], device=device, requires_grad=True)
    b = a.sigmoid()
    c = b * 1
    b.mul_(2)
    b.mul_(2)
    with pytest.raises(RuntimeError) as e:
        c.sum().backward()
    assert str(e.value) == _version_msg(_float_type(device), "2", "Sigmoid", 2, 0)


def test_modified_saved_leaf_raises(device):
    a = gpugrad.tensor([1.0, 2.0], device=device, requires_grad=True)
    w = gpugrad.tensor([3.0, 4.0], device=device)
    y = (a * w).sum()  # MulBackward0 saves w
    w.add_(1)
    with pytest.raises(
        RuntimeError,
        match=r"\[torch(\.cuda)?\.FloatTensor \[2\]\] is at version 1; expected version 0",
    ):
        y.backward()


def test_exp_then_inplace_on_output(device):
    a = gpugrad.tensor([1.0, 2.0], device=device, requires_grad=True)
    b = a.exp()
    b.add_(1)  # ExpBackward0 saved its result: PyTorch raises
    with pytest.raises(RuntimeError) as e:
        b.sum().backward()
    assert str(e.value) == _version_msg(_float_type(device), "2", "Exp", 1, 0)


# ---- in-place ops: values, gradients, rebased history -----------------------------------------
INPLACE = [
    ("add_", lambda h, o: h.add_(o), lambda h, o: h + o, "AddBackward0"),
    ("sub_", lambda h, o: h.sub_(o), lambda h, o: h - o, "SubBackward0"),
    ("mul_", lambda h, o: h.mul_(o), lambda h, o: h * o, "MulBackward0"),
    ("div_", lambda h, o: h.div_(o), lambda h, o: h / o, "DivBackward0"),
    ("pow_", lambda h, o: h.pow_(2), lambda h, o: h**2, "PowBackward0"),
    ("clamp_", lambda h, o: h.clamp_(-1.0, 1.0), lambda h, o: h.clamp(-1.0, 1.0), "ClampBackward1"),
    ("relu_", lambda h, o: h.relu_(), lambda h, o: h.relu(), "ReluBackward0"),
    ("sigmoid_", lambda h, o: h.sigmoid_(), lambda h, o: h.sigmoid(), "SigmoidBackward0"),
    ("exp_", lambda h, o: h.exp_(), lambda h, o: h.exp(), "ExpBackward0"),
    ("iadd", None, lambda h, o: h + o, "AddBackward0"),
    ("imul", None, lambda h, o: h * o, "MulBackward0"),
]


@pytest.mark.parametrize("name,inplace,ref,node", INPLACE, ids=[p[0] for p in INPLACE])
def test_inplace_on_non_leaf_rebases_history(device, name, inplace, ref, node):
    xa, oa = rnd(2, 3), rnd(2, 3)
    x = t(xa, device, requires_grad=True)
    o = t(oa, device, requires_grad=True)
    h = x * 1.5
    before = h
    if name == "iadd":
        h += o
    elif name == "imul":
        h *= o
    else:
        out = inplace(h, o)
        assert out is h
    assert h is before and h._version == 1
    assert h.grad_fn.name() == node
    g = t(rnd(2, 3), device)
    h.backward(g)
    x2 = t(xa, device, requires_grad=True)
    o2 = t(oa, device, requires_grad=True)
    ref(x2 * 1.5, o2).backward(g)
    assert_close(h, ref(t(xa, device) * 1.5, t(oa, device)))
    assert_close(x.grad, x2.grad)
    if o2.grad is not None:
        assert_close(o.grad, o2.grad)
    else:
        assert o.grad is None


def test_zero_fill_copy_masked_fill_gradients(device):
    x = t([1.0, 2.0, 3.0], device, requires_grad=True)
    src = t([4.0, 5.0, 6.0], device, requires_grad=True)
    h = x * 2
    h.zero_()
    (h * x).sum().backward()
    assert_close(x.grad, [0.0, 0.0, 0.0])

    x.grad = None
    h = x * 2
    h.fill_(3.0)
    (h * x).sum().backward()
    assert_close(x.grad, [3.0, 3.0, 3.0])

    x.grad = None
    h = x * 2
    h.copy_(src)
    (h * 3).sum().backward()
    assert x.grad is None or np.allclose(x.grad.cpu().numpy(), 0)
    assert_close(src.grad, [3.0, 3.0, 3.0])

    x.grad = None
    h = x * 2
    h.masked_fill_(gpugrad.tensor([True, False, True], device=device), 0.0)
    h.sum().backward()
    assert_close(x.grad, [0.0, 2.0, 0.0])


# PyTorch 2.13's grad_fn class names after each in-place op on a non-leaf.
INPLACE_NODES = [
    ("zero_", lambda h, d: h.zero_(), "ZeroBackward0"),
    ("fill_", lambda h, d: h.fill_(3.0), "FillBackward2"),
    ("copy_", lambda h, d: h.copy_(gpugrad.ones(3, device=d, requires_grad=True)), "CopyBackwards"),
    (
        "masked_fill_",
        lambda h, d: h.masked_fill_(gpugrad.tensor([True, False, True], device=d), 0.0),
        "MaskedFillBackward0",
    ),
]


@pytest.mark.parametrize("name,op,node", INPLACE_NODES, ids=[p[0] for p in INPLACE_NODES])
def test_inplace_node_names(device, name, op, node):
    x = gpugrad.ones(3, device=device, requires_grad=True)
    h = x * 2
    op(h, device)
    assert type(h.grad_fn).__name__ == node


def test_setitem_differentiable_wrt_target_and_value(device):
    x = t([1.0, 2.0, 3.0, 4.0], device, requires_grad=True)
    v = t([10.0, 20.0], device, requires_grad=True)
    h = x * 2
    h[1:3] = v * 3
    assert_close(h, [2.0, 30.0, 60.0, 8.0])
    (h * t([1.0, 2.0, 3.0, 4.0], device)).sum().backward()
    assert_close(x.grad, [2.0, 0.0, 0.0, 8.0])
    assert_close(v.grad, [6.0, 9.0])
    h2 = x * 2
    h2[gpugrad.tensor([0, 3], device=device)] = v
    assert h2.grad_fn.name() == "IndexPutBackward0"


def test_setitem_slice_node_name(device):
    x = t([1.0, 2.0, 3.0, 4.0], device, requires_grad=True)
    h = x * 2
    h[1:3] = x[:2] * 3
    assert type(h.grad_fn).__name__ == "CopySlices"  # PyTorch: write into a slice/int index
    h = x * 2
    h[1] = 5.0
    assert type(h.grad_fn).__name__ == "CopySlices"


def test_inplace_on_leaf_errors(device):
    a = t([1.0, 2.0], device, requires_grad=True)
    for op in (lambda: a.add_(1), lambda: a.zero_(), lambda: a.mul_(2), lambda: a.fill_(1.0)):
        with pytest.raises(RuntimeError) as e:
            op()
        assert str(e.value) == LEAF_MSG
    with pytest.raises(RuntimeError) as e:
        a[0] = 3.0
    assert str(e.value) == LEAF_MSG
    with pytest.raises(RuntimeError) as e:
        a += 1
    assert str(e.value) == LEAF_MSG
    with pytest.raises(RuntimeError) as e:
        a[0].add_(1)
    assert str(e.value) == VIEW_LEAF_MSG
    with pytest.raises(RuntimeError) as e:
        a.view(2).mul_(2)
    assert str(e.value) == VIEW_LEAF_MSG
    assert a._version == 0


def test_inplace_on_leaf_allowed_under_no_grad(device):
    a = t([1.0, 2.0], device, requires_grad=True)
    with gpugrad.no_grad():
        a.add_(1)
        a[0] = 7.0
        a -= 1
    assert_close(a, [6.0, 2.0])
    assert a.is_leaf and a.requires_grad and a._version == 3


def test_inplace_on_view_of_non_leaf_rebases_the_base(device):
    # PyTorch: the base's grad_fn becomes CopySlices, the view's AsStridedBackward0.
    a = t([1.0, 2.0, 3.0], device, requires_grad=True)
    h = a * 2
    v = h[1:]
    v.mul_(3)
    assert h.grad_fn.name() == "CopySlices"
    assert v.grad_fn.name() == "AsStridedBackward0"
    assert_close(h, [2.0, 12.0, 18.0])
    g = rnd(3)
    h.backward(gpugrad.tensor(g, device=device, dtype=gpugrad.float64))
    assert_close(a.grad, [2 * g[0], 6 * g[1], 6 * g[2]])


def test_inplace_through_views_gradcheck(device):
    def f(x, w):
        h = x * 2
        h[0].mul_(w)  # the value requires grad
        h[:, 1] += 1  # Python's x[idx] += v: a view, iadd, then setitem
        h.t()[0].zero_()  # a view of a transposed view
        h[1:, 2:].exp_()  # saves its output: last, as any later write to h would fail it
        return h

    check_grad(f, rnd(3, 4), rnd(4), device=device)


def test_inplace_through_view_of_a_buffer_records_the_value(device):
    x = t(rnd(2, 4), device, requires_grad=True)
    buf = gpugrad.zeros(3, 4, device=device, dtype=gpugrad.float64)
    buf[1:].add_(x)
    assert buf.grad_fn.name() == "CopySlices" and buf.requires_grad
    g = rnd(3, 4)
    buf.backward(gpugrad.tensor(g, device=device, dtype=gpugrad.float64))
    assert_close(x.grad, g[1:])


def test_inplace_on_overlapping_view_is_refused(device):
    h = t(rnd(1, 3), device, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
        h.expand(4, 3).mul_(2)


def test_autograd_notes_second_backward(device):
    # PyTorch autograd notes: mul saves its input, add does not.
    a = t([1.0, 2.0, 3.0], device, requires_grad=True)
    y = (a * 3).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="^Trying to backward through the graph a second time"):
        y.backward()
    b = t([1.0, 2.0, 3.0], device, requires_grad=True)
    z = (b + 1).sum()
    z.backward()
    z.backward()
    assert_close(b.grad, [2.0, 2.0, 2.0])


def test_diamond_graph(device):
    x = t([1.0, -2.0], device, requires_grad=True)
    a = x * 2
    b = a.exp()
    c = a.sin()
    (b + c).sum().backward()
    xa = np.array([1.0, -2.0]) * 2
    assert_close(x.grad, 2 * (np.exp(xa) + np.cos(xa)))


def test_requires_grad_rules(device):
    with pytest.raises(RuntimeError) as e:
        gpugrad.tensor([1, 2], device=device).requires_grad_()
    assert str(e.value) == "only Tensors of floating point dtype can require gradients"
    a = t([1.0], device, requires_grad=True)
    with pytest.raises(RuntimeError) as e:
        (a * 2).requires_grad_(False)
    assert str(e.value) == (
        "you can only change requires_grad flags of leaf variables. If you want to use a "
        "computed variable in a subgraph that doesn't require differentiation use "
        "var_no_grad = var.detach()."
    )
    with pytest.raises(RuntimeError) as e:
        gpugrad.tensor([1, 2], device=device, requires_grad=True)
    # PyTorch's factory functions word it differently from requires_grad_().
    assert str(e.value) == "Only Tensors of floating point and complex dtype can require gradients"


def test_views_taken_before_an_inplace_write_see_the_new_history(device):
    # PyTorch regenerates such a view's grad_fn (AsStridedBackward0) from the new base.
    x = t([1.0, 2.0], device, requires_grad=True)
    h = x * 2
    v = h[0]  # a 0-d view: it shares memory with h
    h.mul_(2)
    assert v.item() == 4.0
    assert v.grad_fn.name() == "AsStridedBackward0"
    v.sum().backward()
    assert_close(x.grad, [4.0, 0.0])


def test_sibling_view_after_write_through_another_view(device):
    def f(x):
        h = x * 3
        a, b = h[0], h[0:2]  # overlapping views of one base
        a.mul_(x[1])  # writes through a
        return b * 1  # b was taken before the write: its history must include it

    check_grad(f, rnd(3), device=device)
