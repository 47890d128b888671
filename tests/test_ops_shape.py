"""Linear algebra and shape ops: forward against NumPy, backward by gradcheck, views, errors."""

from __future__ import annotations

import numpy as np
import pytest

import gpugrad
from gpugrad import ops as E
from tests.utils import assert_close, check_grad, host, rnd, t

MATMUL_SHAPES = [
    ((3,), (3,)),
    ((2, 3), (3,)),
    ((3,), (3, 4)),
    ((2, 3), (3, 4)),
    ((2, 5, 3), (3, 4)),
    ((3,), (2, 3, 4)),
    ((2, 5, 3), (3,)),
    ((2, 1, 5, 3), (4, 3, 2)),
    ((4, 2, 3), (4, 3, 2)),
]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul(shapes, device):
    a, b = rnd(*shapes[0]), rnd(*shapes[1])
    out = gpugrad.matmul(t(a, device), t(b, device))
    ref = np.matmul(a, b)
    assert tuple(out.shape) == np.shape(ref)
    assert_close(out, ref)
    assert_close(t(a, device) @ t(b, device), ref)
    assert_close(t(a, device).matmul(t(b, device)), ref)
    check_grad(lambda x, y: x @ y, a, b, device=device)


def test_mm_bmm_dot_outer(device):
    a, b = rnd(2, 3), rnd(3, 4)
    assert_close(gpugrad.mm(t(a, device), t(b, device)), a @ b)
    check_grad(gpugrad.mm, a, b, device=device)
    ba, bb = rnd(2, 3, 4), rnd(2, 4, 5)
    assert_close(gpugrad.bmm(t(ba, device), t(bb, device)), ba @ bb)
    check_grad(gpugrad.bmm, ba, bb, device=device)
    u, v = rnd(4), rnd(4)
    out = gpugrad.dot(t(u, device), t(v, device))
    assert out.shape == ()
    assert_close(out, u @ v)
    check_grad(gpugrad.dot, u, v, device=device)
    w = rnd(3)
    assert_close(gpugrad.outer(t(u, device), t(w, device)), np.outer(u, w))
    check_grad(gpugrad.outer, u, w, device=device)


@pytest.mark.parametrize("in_shape", [(5, 3), (2, 5, 3), (3,)], ids=str)
@pytest.mark.parametrize("bias", [True, False])
def test_linear(in_shape, bias, device):
    from gpugrad.ops import linear

    a, w, b = rnd(*in_shape), rnd(4, 3), rnd(4)
    ref = a @ w.T + (b if bias else 0)
    if bias:
        assert_close(linear(t(a, device), t(w, device), t(b, device)), ref)
        check_grad(linear, a, w, b, device=device)
    else:
        assert_close(linear(t(a, device), t(w, device)), ref)
        check_grad(linear, a, w, device=device)


def test_matmul_shape_error(device):
    x, y = t(rnd(2, 3), device), t(rnd(4, 5), device)
    with pytest.raises(
        RuntimeError,
        match=r"mat1 and mat2 shapes cannot be multiplied \(2x3 and "
        r"4x5\)",
    ):
        x @ y
    with pytest.raises(
        RuntimeError,
        match=r"mat1 and mat2 shapes cannot be multiplied \(2x3 and "
        r"4x5\)",
    ):
        gpugrad.mm(x, y)


def test_bmm_and_dot_shape_errors(device):
    with pytest.raises(
        RuntimeError,
        match=r"Expected size for first two dimensions of batch2 "
        r"tensor to be: \[2, 3\] but got: \[2, 4\]",
    ):
        gpugrad.bmm(t(rnd(2, 2, 3), device), t(rnd(2, 4, 3), device))
    with pytest.raises(RuntimeError, match="inconsistent tensor size"):
        gpugrad.dot(t(rnd(3), device), t(rnd(4), device))


def test_matmul_mixed_devices():
    from tests.conftest import _CUDA_SKIP

    if _CUDA_SKIP:
        pytest.skip(_CUDA_SKIP)
    with pytest.raises(RuntimeError, match=r"cuda:0.*cpu|cpu.*cuda:0"):
        gpugrad.ones(2, 3, device="cuda") @ gpugrad.ones(3, 2)


A = (2, 3, 4)


SHAPE_OPS = {
    "reshape": (lambda x: x.reshape(4, 6), lambda a: a.reshape(4, 6)),
    "reshape_tuple_neg1": (lambda x: gpugrad.reshape(x, (-1, 4)), lambda a: a.reshape(-1, 4)),
    "view": (lambda x: x.view(6, 4), lambda a: a.reshape(6, 4)),
    "view_neg1": (lambda x: x.view(-1), lambda a: a.reshape(-1)),
    "flatten": (lambda x: x.flatten(), lambda a: a.reshape(-1)),
    "flatten_1": (lambda x: gpugrad.flatten(x, 1), lambda a: a.reshape(2, 12)),
    "flatten_0_1": (lambda x: x.flatten(0, 1), lambda a: a.reshape(6, 4)),
    "unflatten": (lambda x: x.unflatten(2, (2, 2)), lambda a: a.reshape(2, 3, 2, 2)),
    "unflatten_neg": (lambda x: x.unflatten(-1, (2, -1)), lambda a: a.reshape(2, 3, 2, 2)),
    "unsqueeze0": (lambda x: x.unsqueeze(0), lambda a: a[None]),
    "unsqueeze_neg1": (lambda x: gpugrad.unsqueeze(x, -1), lambda a: a[..., None]),
    "unsqueeze_mid": (lambda x: x.unsqueeze(2), lambda a: a[:, :, None]),
    "permute": (lambda x: x.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1)),
    "permute_tuple": (lambda x: gpugrad.permute(x, (1, 2, 0)), lambda a: a.transpose(1, 2, 0)),
    "permute_neg": (lambda x: x.permute(-1, -3, -2), lambda a: a.transpose(2, 0, 1)),
    "transpose": (lambda x: x.transpose(0, 2), lambda a: a.swapaxes(0, 2)),
    "transpose_neg": (lambda x: gpugrad.transpose(x, -1, -2), lambda a: a.swapaxes(-1, -2)),
    "T": (lambda x: x.T, lambda a: a.transpose()),
    "mT": (lambda x: x.mT, lambda a: a.swapaxes(-1, -2)),
    "flip0": (lambda x: x.flip(0), lambda a: a[::-1]),
    "flip_multi": (lambda x: gpugrad.flip(x, (0, 2)), lambda a: a[::-1, :, ::-1]),
    "flip_neg": (lambda x: x.flip([-1]), lambda a: a[..., ::-1]),
    "repeat": (lambda x: x.repeat(2, 1, 3), lambda a: np.tile(a, (2, 1, 3))),
    "repeat_more_dims": (lambda x: x.repeat(2, 1, 1, 2), lambda a: np.tile(a, (2, 1, 1, 2))),
    "expand_leading": (
        lambda x: x[:, :1].expand(2, 5, 4),
        lambda a: np.broadcast_to(a[:, :1], (2, 5, 4)),
    ),
    "expand_new_dim": (lambda x: x.expand(3, 2, 3, 4), lambda a: np.broadcast_to(a, (3, 2, 3, 4))),
    "expand_minus1": (
        lambda x: x[:1].expand(-1, 3, 4) * 1,
        lambda a: np.broadcast_to(a[:1], (1, 3, 4)),
    ),
    "expand_rep": (lambda x: x[:1].expand(3, -1, -1), lambda a: np.broadcast_to(a[:1], (3, 3, 4))),
    "broadcast_to": (
        lambda x: gpugrad.broadcast_to(x[:, :1], (2, 3, 4)),
        lambda a: np.broadcast_to(a[:, :1], (2, 3, 4)),
    ),
    "narrow": (lambda x: x.narrow(1, 1, 2), lambda a: a[:, 1:3]),
    "movedim": (lambda x: x.movedim(0, -1), lambda a: np.moveaxis(a, 0, -1)),
}


@pytest.mark.parametrize("name", sorted(SHAPE_OPS))
def test_shape_op(name, device):
    fn, ref = SHAPE_OPS[name]
    a = rnd(*A)
    out = fn(t(a, device))
    expected = ref(a)
    assert tuple(out.shape) == expected.shape
    assert_close(out, expected)
    check_grad(fn, a, device=device)


def test_t_2d_and_1d(device):
    a = rnd(3, 4)
    assert_close(t(a, device).t(), a.T)
    assert_close(gpugrad.t(t(a, device)), a.T)
    check_grad(lambda x: x.t(), a, device=device)
    v = rnd(3)
    assert_close(t(v, device).t(), v)


def test_t_rejects_3d(device):
    with pytest.raises(RuntimeError, match="expects a tensor with <= 2 dimensions, but self is 3D"):
        t(rnd(*A), device).t()


def test_squeeze(device):
    a = rnd(2, 1, 3, 1)
    x = t(a, device)
    assert x.squeeze().shape == (2, 3)
    assert x.squeeze(1).shape == (2, 3, 1)
    assert x.squeeze(-1).shape == (2, 1, 3)
    assert x.squeeze(0).shape == (2, 1, 3, 1)  # non-1 dim: no-op, like PyTorch
    assert x.squeeze((1, 3)).shape == (2, 3)
    assert_close(gpugrad.squeeze(x), a.squeeze())
    check_grad(lambda y: y.squeeze(1), a, device=device)
    check_grad(lambda y: y.squeeze(), a, device=device)


def test_expand_as(device):
    a, b = rnd(3, 1), rnd(2, 3, 4)
    out = t(a, device).expand_as(t(b, device))
    assert out.shape == (2, 3, 4)
    assert_close(out, np.broadcast_to(a, (2, 3, 4)))
    bt = t(b, device)
    check_grad(lambda x: x.expand_as(bt), a, device=device)


def test_expand_bad_size(device):
    with pytest.raises(
        RuntimeError,
        match=r"The expanded size of the tensor \(5\) must match the "
        r"existing size \(3\) at non-singleton dimension 1",
    ):
        t(rnd(2, 3), device).expand(2, 5)


def test_view_bad_shape(device):
    with pytest.raises(RuntimeError, match=r"shape '\[3, -1, 5\]' is invalid for input of size 6"):
        t(rnd(2, 3), device).view(3, -1, 5)


def test_view_of_non_contiguous_raises(device):
    with pytest.raises(
        RuntimeError, match="view size is not compatible with input tensor's size and stride"
    ):
        t(rnd(2, 3), device).t().view(6)


def test_reshape_of_non_contiguous_copies(device):
    a = rnd(2, 3)
    assert_close(t(a, device).t().reshape(6), a.T.reshape(6))


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_cat(dim, device):
    shapes = [list(A) for _ in range(3)]
    for i, s in enumerate(shapes):
        s[dim] = i + 1
    arrs = [rnd(*s) for s in shapes]
    out = gpugrad.cat([t(x, device) for x in arrs], dim)
    assert_close(out, np.concatenate(arrs, dim))
    check_grad(lambda *xs: gpugrad.cat(xs, dim=dim), *arrs, device=device)
    assert_close(
        gpugrad.concat(tuple(t(x, device) for x in arrs), dim=dim), np.concatenate(arrs, dim)
    )


def test_cat_mismatch_error(device):
    with pytest.raises(
        RuntimeError,
        match="Sizes of tensors must match except in dimension 0. "
        "Expected size 3 but got size 4 for tensor number 1 "
        "in the list.",
    ):
        gpugrad.cat([t(rnd(2, 3), device), t(rnd(2, 4), device)])


def test_cat_mixed_devices():
    from tests.conftest import _CUDA_SKIP

    if _CUDA_SKIP:
        pytest.skip(_CUDA_SKIP)
    with pytest.raises(RuntimeError, match=r"cuda:0.*cpu|cpu.*cuda:0"):
        gpugrad.cat([gpugrad.ones(2), gpugrad.ones(2, device="cuda")])


@pytest.mark.parametrize("dim", [0, 1, 3, -1])
def test_stack(dim, device):
    arrs = [rnd(*A) for _ in range(3)]
    out = gpugrad.stack([t(x, device) for x in arrs], dim=dim)
    assert_close(out, np.stack(arrs, dim))
    check_grad(lambda *xs: gpugrad.stack(xs, dim), *arrs, device=device)


def test_stack_mismatch_error(device):
    with pytest.raises(
        RuntimeError,
        match=r"stack expects each tensor to be equal size, but got "
        r"\[2\] at entry 0 and \[3\] at entry 1",
    ):
        gpugrad.stack([t(rnd(2), device), t(rnd(3), device)])


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_split_chunk_unbind(dim, device):
    a = rnd(4, 5, 6)
    n = a.shape[dim]
    x = t(a, device)
    parts = x.split(2, dim)
    ref = np.split(a, list(range(2, n, 2)), axis=dim)
    assert len(parts) == len(ref)
    for p, r in zip(parts, ref):
        assert_close(p, r)
    sizes = [1, n - 1]
    parts = gpugrad.split(x, sizes, dim=dim)
    assert [p.shape[dim] for p in parts] == sizes
    chunks = x.chunk(3, dim)
    ref = np.array_split(a, [2, 4], axis=dim) if n == 6 else None
    if ref is not None:
        for c, r in zip(chunks, ref):
            assert_close(c, r)
    assert sum(c.shape[dim] for c in chunks) == n
    un = x.unbind(dim)
    assert len(un) == n
    for i, u in enumerate(un):
        assert_close(u, np.take(a, i, axis=dim))

    def use_all(y):
        ps = y.split(2, dim)
        return gpugrad.cat([p * (i + 1) for i, p in enumerate(ps)], dim)

    check_grad(use_all, a, device=device)
    check_grad(lambda y: y.chunk(3, dim)[0], a, device=device)  # unused pieces get zero grad
    check_grad(lambda y: gpugrad.stack(y.unbind(dim)[::-1], dim), a, device=device)


def test_chunk_uneven(device):
    x = t(rnd(5), device)
    assert [c.shape[0] for c in x.chunk(3)] == [2, 2, 1]
    assert [c.shape[0] for c in gpugrad.chunk(t(rnd(6), device), 4)] == [2, 2, 2]


VIEWS = {
    "view": lambda x: x.view(12),
    "reshape_contig": lambda x: x.reshape(4, 3),
    "transpose": lambda x: x.transpose(0, 1),
    "t": lambda x: x.t(),
    "T": lambda x: x.T,
    "permute": lambda x: x.permute(1, 0),
    "unsqueeze": lambda x: x.unsqueeze(0),
    "squeeze": lambda x: x.unsqueeze(1).squeeze(1),
    "flatten": lambda x: x.flatten(),
    "expand": lambda x: x[:1].expand(4, 4),
    "slice": lambda x: x[1:, ::2],
    "int_index": lambda x: x[1],
    "narrow": lambda x: x.narrow(0, 1, 2),
    "split": lambda x: x.split(1)[1],
    "chunk": lambda x: x.chunk(3, 1)[0],
    "unbind": lambda x: x.unbind(0)[2],
    "detach": lambda x: x.detach(),
    "unflatten": lambda x: x.unflatten(1, (2, 2)),
}


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_views_share_memory_and_version(name, device):
    base = gpugrad.zeros(3, 4, device=device, dtype=gpugrad.float64)
    v = VIEWS[name](base)
    assert v._version == base._version
    v0 = base._version
    v.add_(1.0) if name != "expand" else None
    if name == "expand":
        base[0, 0] = 5.0
        assert v[2, 0].item() == 5.0
    else:
        assert base.sum().item() == v.numel() or name in ("expand",)
    assert base._version > v0
    assert v._version == base._version
    base.mul_(2.0)
    assert v._version == base._version
    if name != "expand":
        assert (v.cpu().numpy() == 2.0).all()


def test_write_through_view_seen_by_base(device):
    base = gpugrad.zeros(2, 3, device=device)
    v = base.view(6)
    v[4] = 7.0
    assert base[1, 1].item() == 7.0
    tv = base.t()
    tv[2, 0] = 3.0
    assert base[0, 2].item() == 3.0


def test_repeat_is_not_a_view(device):
    base = gpugrad.zeros(2, device=device)
    r = base.repeat(2)
    r.add_(1.0)
    assert base.sum().item() == 0.0


def test_broadcast_shapes_and_tensors(device):
    assert tuple(gpugrad.broadcast_shapes((2, 1, 4), (3, 1))) == (2, 3, 4)
    x, y = gpugrad.broadcast_tensors(t(rnd(2, 1), device), t(rnd(3), device))
    assert x.shape == (2, 3) and y.shape == (2, 3)


@pytest.mark.parametrize("cuts", [3, [1, 5], [5, 2], [-2, 10], 9])
def test_tensor_split(cuts, device):
    """PyTorch's tensor_split: n nearly equal parts, or cuts at indices (negative, past the
    end, decreasing: part i is a[cut_i-1:cut_i] as a Python slice); views with gradients."""
    a = rnd(7, 2)
    if isinstance(cuts, int):
        q, r = divmod(7, cuts)
        sizes = [q + 1] * r + [q] * (cuts - r)
        edges = np.cumsum([0, *sizes])
    else:
        edges = [0, *[c % 7 if -7 <= c < 0 else min(c, 7) for c in cuts], 7]
    parts = gpugrad.tensor_split(t(a, device), cuts)
    assert len(parts) == len(edges) - 1
    for part, lo, hi in zip(parts, edges[:-1], edges[1:]):
        assert_close(part, a[lo:hi])
    by_tensor = gpugrad.tensor_split(t(a, device), gpugrad.tensor([2], device=device))
    assert [p.shape[0] for p in by_tensor] == [2, 5]
    cols = gpugrad.tensor_split(t(rnd(2, 5), device), 2, dim=1)
    assert [p.shape for p in cols] == [(2, 3), (2, 2)]
    check_grad(lambda x: gpugrad.tensor_split(x, cuts)[-1] * 2, a, device=device)


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


def test_repeat_interleave(device):
    a = rnd(3, 2)
    assert_close(t(a, device).repeat_interleave(2, dim=0), np.repeat(a, 2, axis=0))
    assert_close(t(a, device).repeat_interleave(3), np.repeat(a, 3))
    check_grad(lambda x: x.repeat_interleave(2, dim=1), a, device=device)


def test_view_of_non_contiguous_tensor_when_strides_allow(device):
    x = gpugrad.zeros(2, 3, 12, device=device)
    v = x.split(4, dim=2)[1].view(2, 3, 2, 2)  # the usual q/k/v head split
    v[0, 0, 0, 0] = 5.0
    assert x[0, 0, 4].item() == 5.0
    import pytest

    with pytest.raises(RuntimeError, match="view size is not compatible"):
        gpugrad.zeros(3, 4, device=device).t().view(12)


def test_contiguous_after_transpose_is_row_major(device):
    x = gpugrad.arange(6, device=device).reshape(2, 3)
    y = x.T.contiguous()
    assert y.is_contiguous()
    assert y.view(-1).tolist() == [0, 3, 1, 4, 2, 5]
    check_grad(lambda a: a.T.contiguous().view(-1), rnd(2, 3), device=device)
