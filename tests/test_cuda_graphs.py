"""CUDA graphs (gpugrad.cuda.CUDAGraph, graph, make_graphed_callables) and the cuBLAS path
matmuls take while a graph is captured.

On the CPU: the GEMM layout logic (``capture_gemm.plan``) against NumPy's matmul through an
emulation of what cuBLAS computes, over transposed, padded, broadcast and permuted operands;
and the API without a GPU, as PyTorch's CPU-only build. On a GPU: captured work replays to
eager results, a whole training step replays to eager parameters, waits inside a capture
raise naming what waited, index checks run on replay, and the private pool keeps its memory.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import gpugrad
from gpugrad.backend import cuda_status
from gpugrad.backend.cuda import capture_gemm as cg

_N_GPUS, _WHY = cuda_status()
needs_cuda = pytest.mark.skipif(_N_GPUS == 0, reason=_WHY or "-")
rng = np.random.default_rng(0)


# --- the GEMM layout logic, on the host ------------------------------------------------------


def _offset(view: np.ndarray, base: np.ndarray) -> int:
    ptr = view.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    return ptr // base.itemsize


def _layouts(shape: tuple[int, ...]):
    """(name, flat base buffer, view of ``shape`` over it) for each layout a matmul operand
    can have: contiguous, a transposed view, rows padded, broadcast or permuted batch dims,
    and a view strided in both matrix dims (which needs a copy)."""
    *bt, r, c = shape
    n = int(np.prod(shape))
    base = rng.standard_normal(8 * n + 64)
    yield "contiguous", base, base[:n].reshape(shape)
    yield "transposed", base, base[:n].reshape(*bt, c, r).swapaxes(-1, -2)
    rows = int(np.prod(bt or [1])) * r
    yield "padded rows", base, base[: rows * (c + 3)].reshape(*bt, r, c + 3)[..., 1 : c + 1]
    strided = base[: 4 * n].reshape(*bt, 2 * r, 2 * c)[..., ::2, ::2]
    yield "strided both", base, strided
    if bt:
        yield "broadcast batch", base, np.broadcast_to(base[: r * c].reshape(r, c), shape)
        yield "batch permuted", base, np.moveaxis(base[:n].reshape(r, *bt, c), 0, -2)


def _elements(a: np.ndarray) -> tuple[int, ...]:
    return tuple(s // a.itemsize for s in a.strides)


SHAPES = [(1, 1, 1), (4, 5, 3), (1, 7, 2), (6, 1, 4), (5, 3, 1)]


@pytest.mark.parametrize("batch", [(), (3,), (2, 3)], ids=str)
@pytest.mark.parametrize("mkn", SHAPES, ids=str)
def test_gemm_plan_reads_every_layout_as_numpy_matmul(batch, mkn):
    m, k, n = mkn
    for (na, ba, a), (nb, bb, b) in itertools.product(
        _layouts(batch + (m, k)), _layouts(batch + (k, n))
    ):
        gemm, copy_a, copy_b = cg.plan(batch, m, k, n, _elements(a), _elements(b))
        # a view strided in both matrix dims cannot be read by cuBLAS (unless a dim is 1)
        assert (gemm is None) == (copy_a or copy_b)
        if na == "strided both" and m > 1 and k > 1:
            assert copy_a
        if gemm is None:
            if copy_a:
                a = np.ascontiguousarray(a)
                ba = a.reshape(-1)
            if copy_b:
                b = np.ascontiguousarray(b)
                bb = b.reshape(-1)
            gemm, copy_a, copy_b = cg.plan(batch, m, k, n, _elements(a), _elements(b))
            assert gemm is not None and not copy_a and not copy_b
        out = np.full(int(np.prod(batch or (1,))) * m * n, np.nan)
        cg.emulate(gemm, bb, _offset(b, bb), ba, _offset(a, ba), out)
        np.testing.assert_allclose(
            out.reshape(batch + (m, n)), np.matmul(a, b), rtol=1e-12, err_msg=f"{na} @ {nb}"
        )


def test_gemm_plan_broadcast_operand_has_batch_stride_zero():
    a = np.broadcast_to(rng.standard_normal((4, 5)), (3, 4, 5))
    b = rng.standard_normal((3, 5, 2))
    gemm, _, _ = cg.plan((3,), 4, 5, 2, _elements(a), _elements(b))
    assert gemm.stride_second == 0 and gemm.stride_first == 10 and gemm.batch == 3


def test_gemm_plan_refuses_negative_strides():
    a = rng.standard_normal((3, 4, 5))[::-1]
    b = rng.standard_normal((3, 5, 2))
    gemm, copy_a, copy_b = cg.plan((3,), 4, 5, 2, _elements(a), _elements(b))
    assert gemm is None and copy_a and not copy_b


# --- without a GPU: PyTorch's CPU-only build ------------------------------------------------


@pytest.mark.skipif(_N_GPUS > 0, reason="a GPU is present")
def test_without_cuda_graph_objects_fail_as_torch_cpu_build():
    with pytest.raises(RuntimeError, match="Tried to instantiate dummy base class CUDAGraph"):
        gpugrad.cuda.CUDAGraph()
    with pytest.raises(RuntimeError, match="dummy base class _graph_pool_handle.*CUDA is not"):
        gpugrad.cuda.graph_pool_handle()
    assert gpugrad.cuda.is_current_stream_capturing() is False
    with pytest.raises(AssertionError, match="CUDA is not available"):
        gpugrad.cuda.make_graphed_callables(gpugrad.nn.Linear(2, 2), (gpugrad.ones(2, 2),))


# --- on a GPU ----------------------------------------------------------------------------------


def _cuda(a, requires_grad=False):
    return gpugrad.tensor(np.asarray(a, np.float32), device="cuda", requires_grad=requires_grad)


@needs_cuda
def test_capture_replays_elementwise_and_matmul_to_eager_results():
    x = _cuda(rng.standard_normal((8, 16)))
    w = _cuda(rng.standard_normal((16, 4)))
    want = ((x @ w).relu() * 2 + (x.mT @ x).sum()).cpu().numpy()  # also the warm-up
    g = gpugrad.cuda.CUDAGraph()
    with gpugrad.cuda.graph(g):
        assert gpugrad.cuda.is_current_stream_capturing()
        y = (x @ w).relu() * 2 + (x.mT @ x).sum()
    assert not gpugrad.cuda.is_current_stream_capturing()
    g.replay()
    np.testing.assert_allclose(y.cpu().numpy(), want, rtol=1e-5)
    x.copy_(_cuda(rng.standard_normal((8, 16))))  # new data in the static input
    g.replay()
    np.testing.assert_allclose(
        y.cpu().numpy(), ((x @ w).relu() * 2 + (x.mT @ x).sum()).cpu().numpy(), rtol=1e-5
    )


@needs_cuda
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
@pytest.mark.parametrize(
    "shapes",
    [
        ((5, 7), (7, 3)),
        ((2, 5, 7), (7, 3)),
        ((7,), (2, 7, 3)),
        ((2, 5, 7), (7,)),
        ((4,), (4,)),
    ],
    ids=str,
)
def test_captured_matmul_matches_eager(dtype, shapes):
    dt = getattr(gpugrad, dtype)
    a = gpugrad.randn(*shapes[0], device="cuda").to(dt)
    b = gpugrad.randn(*shapes[1], device="cuda").to(dt)
    bt = b.mT.contiguous().mT if b.dim() >= 2 else b  # a transposed layout too
    g = gpugrad.cuda.CUDAGraph()
    with gpugrad.cuda.graph(g):
        c1, c2 = a @ b, a @ bt
    g.replay()
    want = (a.double() @ b.double()).cpu().numpy()
    tol = {"float16": 1e-2, "bfloat16": 5e-2}.get(dtype, 1e-5)
    for c in (c1, c2):
        assert c.dtype == dt and tuple(c.shape) == want.shape
        np.testing.assert_allclose(c.double().cpu().numpy(), want, rtol=tol, atol=tol)


@needs_cuda
def test_waiting_inside_a_capture_names_what_waited_and_leaves_cuda_usable():
    x = _cuda([1.0, 2.0])
    g = gpugrad.cuda.CUDAGraph()
    with pytest.raises(RuntimeError, match=r"to the host \(\.item\(\).*CUDA graph"):
        with gpugrad.cuda.graph(g):
            (x * 2).sum().item()
    assert not gpugrad.cuda.is_current_stream_capturing()
    assert (x * 3).sum().item() == 9.0


@needs_cuda
def test_capture_on_the_default_stream_is_refused_as_torch():
    g = gpugrad.cuda.CUDAGraph()
    with pytest.raises(RuntimeError, match="must be captured on a non-default stream"):
        g.capture_begin()
    with pytest.raises(RuntimeError, match="without a preceding successful capture"):
        g.replay()


@needs_cuda
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_captured_training_step_replays_to_eager_parameters(momentum):
    def make():
        gpugrad.manual_seed(3)
        m = gpugrad.nn.Sequential(
            gpugrad.nn.Linear(32, 64), gpugrad.nn.ReLU(), gpugrad.nn.Linear(64, 10)
        ).cuda()
        return m, gpugrad.optim.SGD(m.parameters(), lr=0.05, momentum=momentum)

    batches = [
        (_cuda(rng.standard_normal((16, 32))), gpugrad.randint(0, 10, (16,), device="cuda"))
        for _ in range(12)
    ]
    eager, eager_opt = make()
    graphed, opt = make()

    def step(model, optimizer, x, y):
        optimizer.zero_grad(set_to_none=False)
        loss = gpugrad.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    losses = [step(eager, eager_opt, x, y).item() for x, y in batches]
    static_x, static_y = batches[0][0].clone(), batches[0][1].clone()
    side = gpugrad.cuda.Stream()
    side.wait_stream(gpugrad.cuda.current_stream())
    with gpugrad.cuda.stream(side):  # warm-up: the optimizer makes its state here
        step(graphed, opt, static_x, static_y)
    gpugrad.cuda.current_stream().wait_stream(side)
    g = gpugrad.cuda.CUDAGraph()
    with gpugrad.cuda.graph(g):
        static_loss = step(graphed, opt, static_x, static_y)
    got = [None]  # the warm-up step was batch 0; the capture itself ran nothing
    for x, y in batches[1:]:
        static_x.copy_(x)
        static_y.copy_(y)
        g.replay()
        got.append(static_loss.item())
    np.testing.assert_allclose(got[1:], losses[1:], rtol=1e-4)
    for p, q in zip(eager.parameters(), graphed.parameters()):
        np.testing.assert_allclose(p.detach().cpu().numpy(), q.detach().cpu().numpy(), 1e-4, 1e-5)


@needs_cuda
def test_bad_index_in_a_replay_raises_at_the_next_synchronisation():
    emb = gpugrad.nn.Embedding(10, 4).cuda()
    idx = gpugrad.tensor([1, 2, 3], device="cuda")
    emb(idx)  # warm-up
    g = gpugrad.cuda.CUDAGraph()
    with gpugrad.cuda.graph(g):
        out = emb(idx)
    g.replay()
    np.testing.assert_allclose(out.cpu().numpy(), emb(idx).detach().cpu().numpy())
    idx.copy_(gpugrad.tensor([1, 12, 3], device="cuda"))
    g.replay()
    with pytest.raises(IndexError, match="index out of range in self"):
        gpugrad.cuda.synchronize()


@needs_cuda
def test_memory_made_after_a_capture_is_not_the_graphs():
    x = _cuda(rng.standard_normal(1 << 16))
    x * 2 + 1  # warm-up
    g = gpugrad.cuda.CUDAGraph()
    with gpugrad.cuda.graph(g):
        tmp = x * 2
        y = tmp + 1
        del tmp  # freed inside the capture: its block stays the graph's
    others = [_cuda(np.full(1 << 16, 7.0)) for _ in range(4)]
    g.replay()
    gpugrad.cuda.synchronize()
    for o in others:
        assert float(o.min()) == 7.0 and float(o.max()) == 7.0
    np.testing.assert_allclose(y.cpu().numpy(), (x * 2 + 1).cpu().numpy())


@needs_cuda
def test_graphs_sharing_a_pool_replay_in_order():
    x = _cuda(rng.standard_normal(256))
    x.exp() * 3  # warm-up
    g1, g2 = gpugrad.cuda.CUDAGraph(), gpugrad.cuda.CUDAGraph()
    with gpugrad.cuda.graph(g1):
        y = x.exp()
    with gpugrad.cuda.graph(g2, pool=g1.pool()):
        z = y * 3
    g1.replay()
    g2.replay()
    np.testing.assert_allclose(z.cpu().numpy(), (x.exp() * 3).cpu().numpy(), rtol=1e-6)


@needs_cuda
def test_dropout_draws_new_masks_on_each_replay():
    x = gpugrad.ones(4096, device="cuda")
    F = gpugrad.nn.functional
    F.dropout(x, 0.5, training=True)  # warm-up
    g = gpugrad.cuda.CUDAGraph()
    with gpugrad.cuda.graph(g):
        y = F.dropout(x, 0.5, training=True)
    g.replay()
    first = y.cpu().numpy().copy()
    g.replay()
    second = y.cpu().numpy()
    assert 0.4 < (first == 0).mean() < 0.6
    assert (first != second).any()


@needs_cuda
def test_make_graphed_callables_module_forward_and_backward_match_eager():
    gpugrad.manual_seed(1)
    eager = gpugrad.nn.Sequential(gpugrad.nn.Linear(8, 16), gpugrad.nn.Tanh()).cuda()
    graphed = gpugrad.nn.Sequential(gpugrad.nn.Linear(8, 16), gpugrad.nn.Tanh()).cuda()
    graphed.load_state_dict(eager.state_dict())
    sample = _cuda(rng.standard_normal((4, 8)), requires_grad=True)
    graphed = gpugrad.cuda.make_graphed_callables(graphed, (sample,))
    for _ in range(3):
        x = rng.standard_normal((4, 8))
        xe, xg = _cuda(x, requires_grad=True), _cuda(x, requires_grad=True)
        ge = _cuda(rng.standard_normal((4, 16)))
        eager(xe).backward(ge)
        out = graphed(xg)
        out.backward(ge)
        np.testing.assert_allclose(out.detach().cpu().numpy(), eager(xe).detach().cpu(), 1e-5)
        np.testing.assert_allclose(xg.grad.cpu().numpy(), xe.grad.cpu().numpy(), 1e-5, 1e-6)
    for p, q in zip(eager.parameters(), graphed.parameters()):
        np.testing.assert_allclose(q.grad.cpu().numpy(), p.grad.cpu().numpy(), 1e-5, 1e-6)
    graphed.eval()  # not the captured mode: the module's own forward runs
    assert graphed(_cuda(np.zeros((2, 8)))).shape == (2, 16)


@needs_cuda
def test_capturing_a_step_counting_optimizer_is_refused():
    p = gpugrad.nn.Parameter(gpugrad.ones(4, device="cuda"))
    opt = gpugrad.optim.AdamW([p], lr=0.1)
    p.grad = gpugrad.ones(4, device="cuda")
    opt.step()  # warm-up: the state exists
    g = gpugrad.cuda.CUDAGraph()
    with pytest.raises(RuntimeError, match="Attempting CUDA graph capture.*capturable=True"):
        with gpugrad.cuda.graph(g):
            opt.step()
    assert not gpugrad.cuda.is_current_stream_capturing()


@needs_cuda
@pytest.mark.parametrize("amsgrad", [False, True])
def test_captured_capturable_adamw_replays_to_eager_adamw(amsgrad):
    # capturable=True keeps the step count on the device: each replay advances it
    def make(capturable):
        gpugrad.manual_seed(5)
        m = gpugrad.nn.Linear(16, 4).cuda()
        return m, gpugrad.optim.AdamW(
            m.parameters(), lr=0.01, amsgrad=amsgrad, capturable=capturable
        )

    eager, eager_opt = make(False)
    graphed, opt = make(True)
    xs = [_cuda(rng.standard_normal((8, 16))) for _ in range(10)]

    def step(model, optimizer, x):
        optimizer.zero_grad()
        model(x).square().mean().backward()
        optimizer.step()

    for x in xs:
        step(eager, eager_opt, x)
    static_x = xs[0].clone()
    step(graphed, opt, static_x)  # warm-up: step 1, and the state exists
    g = gpugrad.cuda.CUDAGraph()
    with gpugrad.cuda.graph(g):
        step(graphed, opt, static_x)
    for x in xs[1:]:
        static_x.copy_(x)
        g.replay()
    assert float(opt.state[graphed.weight]["step"]) == 10.0
    for p, q in zip(eager.parameters(), graphed.parameters()):
        np.testing.assert_allclose(q.detach().cpu().numpy(), p.detach().cpu().numpy(), 1e-4, 1e-6)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_reference_takes_a_step_count_array(amsgrad):
    # capturable=True hands adam_step_ the 0-d count array: same update as the number
    from gpugrad.backend.kernels.optimizer import _adam_step

    def run(step):
        p = np.linspace(-1, 1, 12, dtype=np.float32)
        m, v, vmax = (np.full(12, 0.1, np.float32) for _ in range(3))
        g = np.cos(np.arange(12, dtype=np.float32))
        tops = [vmax] if amsgrad else None
        _adam_step(np, [p], [g], [m], [v], tops, step, 0.01, 0.9, 0.999, 1e-8, 0.1, True,
                   amsgrad, False)  # fmt: skip
        return p, m, v

    for got, want in zip(run(np.array(3.0, np.float32)), run(3.0)):
        np.testing.assert_allclose(got, want, rtol=1e-6)


@needs_cuda
def test_host_data_inside_a_capture_is_refused_naming_it():
    g = gpugrad.cuda.CUDAGraph()
    with pytest.raises(RuntimeError, match="from host data.*CUDA graph"):
        with gpugrad.cuda.graph(g):
            gpugrad.tensor([1.0, 2.0], device="cuda")
    assert float(gpugrad.tensor([1.0, 2.0], device="cuda").sum()) == 3.0


@needs_cuda
def test_python_scalars_with_cuda_tensors_capture_as_constants():
    x = _cuda([5.0, 7.0, 9.0])
    want = (2 // x + 3 % x).cpu().numpy()  # warm-up too
    g = gpugrad.cuda.CUDAGraph()
    with gpugrad.cuda.graph(g):
        y = 2 // x + 3 % x
    g.replay()
    np.testing.assert_array_equal(y.cpu().numpy(), want)


@needs_cuda
def test_graphed_callable_refuses_a_replaced_parameter():
    lin = gpugrad.nn.Linear(4, 4).cuda()
    graphed = gpugrad.cuda.make_graphed_callables(lin, (_cuda(np.ones((2, 4)), True),))
    graphed(_cuda(np.ones((2, 4)), True))
    with gpugrad.no_grad():
        lin.weight.data = gpugrad.zeros(4, 4, device="cuda")
    with pytest.raises(RuntimeError, match="storage was replaced after the capture"):
        graphed(_cuda(np.ones((2, 4)), True))


@needs_cuda
def test_memory_statistics_count_the_graphs_private_pool():
    x = _cuda(np.ones(1 << 18))
    x * 2  # warm-up
    before = gpugrad.cuda.memory_allocated()
    g = gpugrad.cuda.CUDAGraph()
    with gpugrad.cuda.graph(g):
        y = x * 2
    assert gpugrad.cuda.memory_allocated() >= before + y.nbytes
    assert gpugrad.cuda.memory_reserved() >= gpugrad.cuda.memory_allocated()


@needs_cuda
def test_captured_conv2d_forward_and_backward_replay_to_eager():
    # convolution's GEMMs write into a preallocated output through CuPy's matmul eagerly;
    # inside a capture they must go to cuBLAS directly (CuPy's binding refuses the stream)
    conv = gpugrad.nn.Conv2d(3, 4, 3, padding=1).to("cuda")
    x = _cuda(rng.standard_normal((2, 3, 8, 8)).astype(np.float32))
    x.requires_grad_(True)
    s = gpugrad.cuda.Stream()
    with gpugrad.cuda.stream(s):
        for _ in range(2):  # warm-up on the side stream
            conv.zero_grad()
            x.grad = None
            conv(x).square().sum().backward()
    gpugrad.cuda.synchronize()
    want_y = conv(x).detach().cpu().numpy()
    conv.zero_grad()
    x.grad = None
    g = gpugrad.cuda.CUDAGraph()
    with gpugrad.cuda.graph(g):
        y = conv(x)
        y.square().sum().backward()
    conv.zero_grad(set_to_none=False)
    x.grad.zero_()
    g.replay()
    np.testing.assert_allclose(y.detach().cpu().numpy(), want_y, rtol=1e-4, atol=1e-5)
    ref = gpugrad.nn.Conv2d(3, 4, 3, padding=1)
    ref.load_state_dict({k: v.cpu() for k, v in conv.state_dict().items()})
    xc = x.detach().cpu().requires_grad_(True)
    ref(xc).square().sum().backward()
    np.testing.assert_allclose(conv.weight.grad.cpu().numpy(), ref.weight.grad.numpy(), rtol=1e-4)
    np.testing.assert_allclose(x.grad.cpu().numpy(), xc.grad.numpy(), rtol=1e-4, atol=1e-5)


@needs_cuda
def test_cuda_manual_seed_reseeds_a_device_already_in_use():
    x = gpugrad.ones(4096, device="cuda")
    gpugrad.cuda.manual_seed(11)
    a = (gpugrad.rand(64, device="cuda").cpu().numpy(), _dropped(x))
    gpugrad.cuda.manual_seed(11)
    b = (gpugrad.rand(64, device="cuda").cpu().numpy(), _dropped(x))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def _dropped(x):
    return gpugrad.nn.functional.dropout(x, 0.5).cpu().numpy()
