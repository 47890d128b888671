"""gpugrad.compile on the CPU: replayed steps equal eager ones bit for bit; guards, fallbacks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gpugrad as gg
import gpugrad.nn as nn
import gpugrad.nn.functional as F
from gpugrad.jit import GraphBreak
from gpugrad.jit import compile as jit_compile

RNG = np.random.default_rng(0)


def _mlp(seed: int = 0, dims=(32, 32, 32, 10), dropout: float = 0.0):
    gg.manual_seed(seed)
    layers = []
    for a, b in zip(dims[:-1], dims[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers[: -2 if dropout else -1])


def _opt(kind: str, params):
    if kind == "sgd":
        return gg.optim.SGD(params, lr=0.05, momentum=0.9)
    return gg.optim.AdamW(params, lr=1e-2, weight_decay=0.01)


def _step_fn(model, opt, loss_fn=F.cross_entropy):
    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def _batches(n, batch=16, features=32, classes=10, dtype=np.float32):
    return [
        (
            gg.tensor(RNG.standard_normal((batch, features)).astype(dtype)),
            gg.tensor(RNG.integers(0, classes, batch)),
        )
        for _ in range(n)
    ]


def _same_params(m1, m2) -> None:
    for (name, p), q in zip(m1.named_parameters(), m2.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy(), err_msg=name)
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy(), err_msg=name)


@pytest.mark.parametrize("kind", ["sgd", "adamw"])
def test_mlp_100_replayed_steps_bit_identical(kind):
    batches = _batches(100)
    m1, m2 = _mlp(), _mlp()
    eager = _step_fn(m1, _opt(kind, m1.parameters()))
    comp = jit_compile(_step_fn(m2, _opt(kind, m2.parameters())))
    for x, y in batches:
        l1, l2 = eager(x, y), comp(x, y)
        assert l1.item() == l2.item()  # the fresh loss of this step, every step
    assert comp.broken is None and comp.replays >= 98
    _same_params(m1, m2)


def test_lenet_conv_replayed_bit_identical():
    def lenet(seed):
        gg.manual_seed(seed)
        return nn.Sequential(
            nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 8, 3), nn.ReLU(),
            nn.Flatten(), nn.Linear(8 * 3 * 3, 10),
        )  # fmt: skip

    xs = [gg.tensor(RNG.standard_normal((4, 1, 12, 12)).astype(np.float32)) for _ in range(20)]
    ys = [gg.tensor(RNG.integers(0, 10, 4)) for _ in range(20)]
    m1, m2 = lenet(1), lenet(1)
    eager = _step_fn(m1, _opt("sgd", m1.parameters()))
    comp = jit_compile(_step_fn(m2, _opt("sgd", m2.parameters())))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        for x, y in zip(xs, ys):
            assert eager(x, y).item() == comp(x, y).item()
    _same_params(m1, m2)
    if comp.broken is not None:  # an op that reads back to Python: eager, one warning
        assert sum("runs eagerly" in str(x.message) for x in w) == 1
    else:
        assert comp.replays >= 18


def test_char_lm_embedding_replayed_bit_identical():
    vocab, ctx = 17, 8

    class CharLM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(vocab, 16)
            self.fc = nn.Linear(16 * ctx, 32)
            self.out = nn.Linear(32, vocab)

        def forward(self, x):
            h = self.emb(x).reshape(x.shape[0], -1)
            return self.out(F.gelu(self.fc(h)))

    def make():
        gg.manual_seed(3)
        return CharLM()

    xs = [gg.tensor(RNG.integers(0, vocab, (8, ctx))) for _ in range(30)]
    ys = [gg.tensor(RNG.integers(0, vocab, 8)) for _ in range(30)]
    m1, m2 = make(), make()
    eager = _step_fn(m1, _opt("adamw", m1.parameters()))
    comp = jit_compile(_step_fn(m2, _opt("adamw", m2.parameters())))
    for x, y in zip(xs, ys):
        assert eager(x, y).item() == comp(x, y).item()
    assert comp.broken is None and comp.replays >= 28  # the embedding's index check replays
    _same_params(m1, m2)


_VOCAB, _T, _D = 13, 8, 16


class _Block(nn.Module):
    """A GPT block: embedding plus a broadcast position table, layer_norm, causal attention,
    a gelu MLP, a vocabulary head."""

    def __init__(self) -> None:
        super().__init__()
        self.wte = nn.Embedding(_VOCAB, _D)
        self.wpe = nn.Parameter(gg.randn(_T, _D) * 0.1)
        self.ln = nn.LayerNorm(_D)
        self.qkv = nn.Linear(_D, 3 * _D)
        self.mlp = nn.Sequential(nn.Linear(_D, 4 * _D), nn.GELU("tanh"), nn.Linear(4 * _D, _D))
        self.head = nn.Linear(_D, _VOCAB, bias=False)

    def forward(self, idx):
        b, t, d = idx.shape[0], _T, _D
        x = self.wte(idx) + self.wpe
        q, k, v = self.qkv(self.ln(x)).split(d, dim=2)
        q, k, v = (z.reshape(b, t, 2, d // 2).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + y.transpose(1, 2).reshape(b, t, d)
        x = x + self.mlp(self.ln(x))
        return self.head(x).reshape(-1, _VOCAB)


def _block_stepper(m, opt):
    def step(idx, tgt):
        opt.zero_grad()
        loss = F.cross_entropy(m(idx), tgt)
        loss.backward()
        nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        return loss

    return step


def _block_data(n):
    return [
        (gg.tensor(RNG.integers(0, _VOCAB, (2, _T))), gg.tensor(RNG.integers(0, _VOCAB, 2 * _T)))
        for _ in range(n)
    ]


def test_transformer_block_replayed_bit_identical():
    # embedding plus a broadcast position table, layer_norm (its kernel's gradient reshaped
    # in place), causal attention, gelu, clip_grad_norm_ and AdamW: every step replays
    def make():
        gg.manual_seed(5)
        m = _Block()
        return m, gg.optim.AdamW(m.parameters(), lr=1e-2)

    (m1, o1), (m2, o2) = make(), make()
    eager, comp = _block_stepper(m1, o1), jit_compile(_block_stepper(m2, o2))
    for x, y in _block_data(30):
        assert eager(x, y).item() == comp(x, y).item()
    assert comp.broken is None and comp.replays >= 28
    _same_params(m1, m2)


def test_lr_scheduler_between_steps_is_honoured():
    batches = _batches(30)
    m1, m2 = _mlp(), _mlp()
    o1, o2 = _opt("sgd", m1.parameters()), _opt("sgd", m2.parameters())
    s1 = gg.optim.lr_scheduler.StepLR(o1, step_size=3, gamma=0.5)
    s2 = gg.optim.lr_scheduler.StepLR(o2, step_size=3, gamma=0.5)
    eager, comp = _step_fn(m1, o1), jit_compile(_step_fn(m2, o2))
    for x, y in batches:
        eager(x, y)
        comp(x, y)
        s1.step()
        s2.step()
    assert comp.broken is None and comp.recordings == 1 and comp.replays >= 28
    _same_params(m1, m2)


def test_item_inside_falls_back_with_one_warning_and_stays_right():
    batches = _batches(10)
    m1, m2 = _mlp(), _mlp()
    o1, o2 = _opt("sgd", m1.parameters()), _opt("sgd", m2.parameters())
    seen = []

    def make(model, opt):
        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            seen.append(loss.item())
            loss.backward()
            opt.step()
            return loss

        return step

    eager, comp = make(m1, o1), jit_compile(make(m2, o2))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        for x, y in batches:
            eager(x, y)
            comp(x, y)
    msgs = [str(x.message) for x in w if "gpugrad.compile" in str(x.message)]
    assert len(msgs) == 1 and "item" in msgs[0]
    assert comp.broken is not None and comp.replays == 0
    assert seen[0::2] == seen[1::2]
    _same_params(m1, m2)


def test_fullgraph_raises_on_graph_break():
    m = _mlp()
    opt = _opt("sgd", m.parameters())

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(m(x), y)
        float(loss)
        loss.backward()
        opt.step()
        return loss

    comp = jit_compile(step, fullgraph=True)
    (x, y), (x2, y2) = _batches(2)
    comp(x, y)  # warm-up
    with pytest.raises(GraphBreak, match="graph break"):
        comp(x2, y2)


def test_new_batch_shape_records_again_and_limit_falls_back():
    m1, m2 = _mlp(), _mlp()
    eager = _step_fn(m1, _opt("sgd", m1.parameters()))
    comp = jit_compile(_step_fn(m2, _opt("sgd", m2.parameters())), cache_size=2)
    seq = _batches(3, batch=16) + _batches(3, batch=8) + _batches(2, batch=16)
    for x, y in seq:
        assert eager(x, y).item() == comp(x, y).item()
    assert comp.recordings == 2 and comp.broken is None
    with pytest.warns(RuntimeWarning, match="recompile limit"):
        for x, y in _batches(2, batch=5):
            assert eager(x, y).item() == comp(x, y).item()
    _same_params(m1, m2)


def test_dropout_draws_fresh_masks_on_replay_and_matches_eager():
    batches = _batches(12)
    m1, m2 = _mlp(dropout=0.5), _mlp(dropout=0.5)
    eager = _step_fn(m1, _opt("sgd", m1.parameters()))
    comp = jit_compile(_step_fn(m2, _opt("sgd", m2.parameters())))
    losses = []
    for i, (x, y) in enumerate(batches):
        gg.manual_seed(100 + i)
        l1 = eager(x, y)
        gg.manual_seed(100 + i)
        l2 = comp(x, y)
        assert l1.item() == l2.item()
        losses.append(l2.item())
    assert comp.replays >= 10
    _same_params(m1, m2)
    # unseeded replays draw new masks: the same batch gives different losses
    x, y = batches[0]
    m2.eval()  # a guard: eval mode records again (no dropout) ...
    a = comp(x, y).item()
    m2.train()
    b, c = comp(x, y).item(), comp(x, y).item()
    assert b != c and a == a


def test_dynamic_refused_and_modes_accepted():
    with pytest.raises(NotImplementedError, match="dynamic"):
        gg.jit.compile(lambda x: x, dynamic=True)
    for mode in ("default", "reduce-overhead"):
        assert callable(jit_compile(lambda x: x, mode=mode, backend="anything"))
    assert callable(gg.compile(lambda x: x))
    deco = jit_compile(fullgraph=True)
    assert callable(deco(lambda x: x))


def test_compiled_module_forward_under_no_grad():
    m = _mlp()
    cm = jit_compile(m)
    xs = [x for x, _ in _batches(5)]
    with gg.no_grad():
        for x in xs:
            np.testing.assert_array_equal(cm(x).numpy(), m(x).numpy())
    assert cm._compiled.replays >= 3
    out = cm(xs[0])  # with grad: a graph to backward through (recorded below)
    assert out.grad_fn is not None


def _norm_mlp(seed: int = 0, dropout: float = 0.0):
    gg.manual_seed(seed)
    layers = [nn.Linear(32, 32), nn.ReLU(), nn.LayerNorm(32)]
    if dropout:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers, nn.Linear(32, 10))


def _module_steps(model, opt, data, x_grad: bool = False):
    losses, x_grads = [], []
    for x, y in data:
        x = x.detach().requires_grad_(x_grad)
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        x_grads.append(x.grad.numpy().copy() if x_grad else None)
    return losses, x_grads


@pytest.mark.parametrize(
    ("kind", "x_grad", "dropout"),
    [("sgd", False, 0.0), ("adamw", False, 0.0), ("sgd", True, 0.0), ("adamw", False, 0.3)],
)
def test_compiled_module_in_training_replays_forward_and_backward(kind, x_grad, dropout):
    # model = compile(model) in an ordinary loop: each call replays the forward, and its
    # output's one node replays the recorded backward; bit for bit the eager run (dropout:
    # the same masks from the same seed, the backward using its call's own mask)
    data = _batches(25)
    m1, m2 = _norm_mlp(dropout=dropout), _norm_mlp(dropout=dropout)
    cm = jit_compile(m2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a fallback to eager would warn
        gg.manual_seed(7)
        eager = _module_steps(m1, _opt(kind, m1.parameters()), data, x_grad)
        gg.manual_seed(7)
        comp = _module_steps(cm, _opt(kind, m2.parameters()), data, x_grad)
    assert eager[0] == comp[0]
    for a, b in zip(eager[1], comp[1]):
        if a is not None:
            np.testing.assert_array_equal(a, b)
    _same_params(m1, m2)
    assert cm._compiled.replays >= 23
    out = cm(data[0][0].detach().requires_grad_(x_grad))  # the loop's guards: a replay
    assert out.grad_fn.name() == "CompiledFunctionBackward"
    assert {type(f).__name__ for f, _ in out.grad_fn.next_functions} == {"AccumulateGrad"}


def test_compiled_module_training_graph_rules_as_eager():
    m = _norm_mlp()
    cm = jit_compile(m)
    x, y = _batches(1)[0]
    for _ in range(3):  # warm-up, recording, then replays
        F.cross_entropy(cm(x), y).backward()
    assert cm._compiled.replays >= 1
    m.zero_grad()
    # two calls, one backward of their sum: each call has its own saved arrays
    x2 = x * 0.5
    (F.cross_entropy(cm(x), y) + F.cross_entropy(cm(x2), y)).backward()
    got = [p.grad.numpy().copy() for p in m.parameters()]
    m.zero_grad()
    (F.cross_entropy(m(x), y) + F.cross_entropy(m(x2), y)).backward()
    for g, p in zip(got, m.parameters()):
        np.testing.assert_array_equal(g, p.grad.numpy())
    # a second backward needs retain_graph, as in eager
    loss = F.cross_entropy(cm(x), y)
    loss.backward(retain_graph=True)
    loss.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()
    # a backward that builds a graph (for double backward) is refused with a clear error
    with pytest.raises(RuntimeError, match="double backward"):
        gg.autograd.grad(cm(x).pow(2).sum(), m[0].weight, create_graph=True)
    # a weight the backward reads, changed in place between forward and backward: the
    # version error, as eager gives it
    for model in (m, cm):
        out = model(x)
        with gg.no_grad():
            m[-1].weight.add_(1.0)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            out.sum().backward()


def test_compiled_module_records_again_when_frozen_or_in_eval():
    m = _norm_mlp(dropout=0.5)
    cm = jit_compile(m)
    x, y = _batches(1)[0]
    for _ in range(4):
        F.cross_entropy(cm(x), y).backward()
    n = cm._compiled.recordings
    m[0].weight.requires_grad_(False)  # frozen: the recorded backward's targets are stale
    m.zero_grad()
    F.cross_entropy(cm(x), y).backward()
    assert cm._compiled.recordings == n + 1 and m[0].weight.grad is None
    assert m[-1].weight.grad is not None
    m.eval()  # dropout off: recorded again, and equal to the eager eval forward
    with gg.no_grad():
        want = m(x).numpy()
    got = cm(x)
    np.testing.assert_array_equal(got.detach().numpy(), want)


def test_eager_unchanged_after_recording():
    m = _mlp()
    opt = _opt("sgd", m.parameters())
    comp = jit_compile(_step_fn(m, opt))
    for x, y in _batches(3):
        comp(x, y)
    for p in m.parameters():
        assert type(p._data) is np.ndarray and type(p.grad._data) is np.ndarray
    x, y = _batches(1)[0]
    loss = F.cross_entropy(m(x), y)
    assert type(loss._data) is np.ndarray and loss.grad_fn is not None
    assert gg.backend.cpu_backend().xp is np


_NO_CUDA = __import__("gpugrad.backend", fromlist=["cuda_status"]).cuda_status()[1]


needs_cuda = pytest.mark.skipif(bool(_NO_CUDA), reason=_NO_CUDA or "-")


def _cuda_data(n):
    return [(x.to("cuda"), y.to("cuda")) for x, y in _batches(n)]


def _close_params(m1, m2) -> None:
    for p, q in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_allclose(
            p.detach().cpu().numpy(), q.detach().cpu().numpy(), rtol=1e-4, atol=1e-5
        )


@needs_cuda
def test_cuda_step_is_captured_once_and_replayed_to_eager_results():
    # one eager call, one capture (run by replaying it at once), then 98 replays
    m1, m2 = _mlp(4).to("cuda"), _mlp(4).to("cuda")
    eager = _step_fn(m1, _opt("sgd", m1.parameters()))
    comp = jit_compile(_step_fn(m2, _opt("sgd", m2.parameters())))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a fallback to eager would warn
        for x, y in _cuda_data(100):
            np.testing.assert_allclose(comp(x, y).item(), eager(x, y).item(), rtol=1e-4)
    assert comp.broken is None and comp.recordings == 1 and comp.replays == 98
    _close_params(m1, m2)


@needs_cuda
def test_cuda_step_with_a_new_lr_is_captured_again():
    m1, m2 = _mlp(4).to("cuda"), _mlp(4).to("cuda")
    o1, o2 = _opt("sgd", m1.parameters()), _opt("sgd", m2.parameters())
    s1 = gg.optim.lr_scheduler.StepLR(o1, step_size=4, gamma=0.5)
    s2 = gg.optim.lr_scheduler.StepLR(o2, step_size=4, gamma=0.5)
    eager, comp = _step_fn(m1, o1), jit_compile(_step_fn(m2, o2))
    for x, y in _cuda_data(12):
        eager(x, y), comp(x, y)
        s1.step(), s2.step()
    assert comp.recordings == 3 and comp.broken is None
    _close_params(m1, m2)


@needs_cuda
def test_cuda_step_that_cannot_be_captured_runs_eagerly_with_one_warning():
    # .item() inside the step, and Adam (its step count is a host number), both stop a capture
    for kind, read in (("sgd", True), ("adamw", False)):
        m1, m2 = _mlp(4).to("cuda"), _mlp(4).to("cuda")
        inner1 = _step_fn(m1, _opt(kind, m1.parameters()))
        inner2 = _step_fn(m2, _opt(kind, m2.parameters()))

        def step(x, y, inner=inner2, read=read):
            loss = inner(x, y)
            return loss.item() if read else loss

        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            comp = jit_compile(step)
            for x, y in _cuda_data(5):
                got = comp(x, y)
                want = inner1(x, y).item()
                np.testing.assert_allclose(float(got), want, rtol=1e-5)
        assert sum("CUDA graph capture" in str(m.message) for m in w) == 1, kind
        assert comp.replays == 0 and comp.broken is not None
        _close_params(m1, m2)
    with pytest.raises(GraphBreak, match="CUDA graph"):
        step = jit_compile(lambda x: x.sum().item(), fullgraph=True, warmup=0)
        x = gg.ones(3, device="cuda")
        step(x), step(x)


@needs_cuda
def test_cuda_transformer_step_is_captured_and_makes_no_host_sync():
    # a capture fails at the first device-to-host copy or synchronisation, so a step that
    # replays has none: embedding, layer_norm, attention, clip_grad_norm_, AdamW(capturable)
    def make(capturable):
        gg.manual_seed(5)
        m = _Block().to("cuda")
        return m, gg.optim.AdamW(m.parameters(), lr=1e-2, capturable=capturable)

    (m1, o1), (m2, o2) = make(False), make(True)
    eager, comp = _block_stepper(m1, o1), jit_compile(_block_stepper(m2, o2))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a fallback to eager would warn
        for x, y in _block_data(20):
            x, y = x.to("cuda"), y.to("cuda")
            np.testing.assert_allclose(comp(x, y).item(), eager(x, y).item(), rtol=1e-4)
    assert comp.broken is None and comp.replays == 18
    _close_params(m1, m2)


@needs_cuda
def test_compiled_module_on_cuda_runs_eagerly_with_one_warning():
    m = jit_compile(_mlp(4).to("cuda"))
    x = _cuda_data(1)[0][0]
    with pytest.warns(RuntimeWarning, match="compiled module"):
        for _ in range(3):
            m(x)


def test_compiled_module_alternating_train_and_eval_keeps_both_recordings():
    # an epoch loop: train steps, then an evaluation under eval() and no_grad, 12 times over;
    # each mode is recorded once and replayed, never hitting the recompile limit
    m = _norm_mlp(dropout=0.2)
    cm = jit_compile(m)
    opt = _opt("sgd", m.parameters())
    data = _batches(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for _ in range(12):
            m.train()
            _module_steps(cm, opt, data)
            m.eval()
            with gg.no_grad():
                for x, _ in data:
                    np.testing.assert_array_equal(cm(x).numpy(), m(x).numpy())
    assert cm._compiled.broken is None and cm._compiled.recordings <= 3


class _AddBias(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.b = nn.Parameter(gg.zeros(32))

    def forward(self, x):
        return x + self.b  # the backward reads nothing of the forward


def _twins(make):
    gg.manual_seed(3)
    a = make()
    gg.manual_seed(3)
    b = make()
    return a, b, jit_compile(b)


def _grads(model) -> list:
    return [None if p.grad is None else p.grad.numpy().copy() for p in model.parameters()]


def _same_grads(a, b) -> None:
    for ga, gb in zip(_grads(a), _grads(b)):
        assert (ga is None) == (gb is None)
        if ga is not None:
            np.testing.assert_array_equal(ga, gb)


def test_compiled_module_edge_forwards_replay_as_eager():
    # a forward whose backward reads nothing saved, and one that only adds a bias
    x = _batches(1)[0][0]
    for make in (_AddBias, lambda: nn.Sequential(nn.Identity(), _AddBias())):
        m, twin, cm = _twins(make)
        for _ in range(4):
            for model in (m, cm):
                model.zero_grad()
                (model(x) * x).sum().backward()
            _same_grads(m, twin)
        assert cm._compiled.replays >= 2


def test_compiled_module_guards_what_it_baked_in():
    x, y = _batches(1)[0]

    def step(model):
        model.zero_grad()
        F.cross_entropy(model(x), y).backward()

    # a dropout's p changed after recording: recorded again (no element dropped at p=0)
    m, twin, cm = _twins(lambda: _norm_mlp(dropout=0.5))
    for _ in range(3):
        step(cm)
    twin[3].p = 0.0
    out = cm(x)
    np.testing.assert_array_equal(out.detach().numpy(), twin(x).detach().numpy())
    # a parameter replaced by a new one: the replay reads and differentiates the new one
    m, twin, cm = _twins(_norm_mlp)
    for _ in range(3):
        step(cm)
    old = twin[0].weight
    before = old.grad.numpy().copy()
    twin[0].weight = nn.Parameter(old.detach() * 0.5)
    m[0].weight = nn.Parameter(m[0].weight.detach() * 0.5)
    step(m)
    step(cm)
    np.testing.assert_array_equal(old.grad.numpy(), before)  # the old one gets nothing
    _same_grads(m, twin)
    # every parameter frozen: eager (correct whatever is unfrozen later)
    m, twin, cm = _twins(_norm_mlp)
    twin.requires_grad_(False)
    for _ in range(3):
        assert not cm(x).requires_grad
    twin.requires_grad_(True)
    assert cm(x).requires_grad


def test_compiled_module_with_hooks_runs_eagerly_with_one_warning():
    x, y = _batches(1)[0]
    seen = []
    for add_hook in (
        lambda m: m[0].register_forward_hook(lambda mod, i, o: seen.append(o)),
        lambda m: m[0].weight.register_hook(lambda g: g * 2),
    ):
        m, twin, cm = _twins(_norm_mlp)
        add_hook(m)
        add_hook(twin)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            for _ in range(4):
                for model in (m, cm):
                    model.zero_grad()
                    F.cross_entropy(model(x), y).backward()
                _same_grads(m, twin)
        assert sum("hook" in str(x.message) for x in w) == 1
        assert cm._compiled.replays == 0


def test_compiled_module_version_checks_cover_this_calls_input_and_output():
    x = _batches(1)[0][0]
    for change in ("input", "output"):
        m, twin, cm = _twins(lambda: nn.Sequential(nn.Linear(32, 8), nn.Tanh()))
        for _ in range(3):
            cm(x.detach().requires_grad_(True)).sum().backward()
        for model in (m, cm):
            xi = x.detach().clone().requires_grad_(True)
            out = model(xi)
            with gg.no_grad():
                (xi if change == "input" else out).mul_(2.0)
            with pytest.raises(RuntimeError, match="modified by an inplace operation"):
                out.sum().backward()


def test_compiled_module_bfloat16_autocast_per_step_replays():
    x, y = _batches(1)[0]
    m, twin, cm = _twins(_norm_mlp)
    for _ in range(4):
        for model in (m, cm):
            model.zero_grad()
            with gg.autocast("cpu", dtype=gg.bfloat16):
                out = model(x)
            F.cross_entropy(out.float(), y).backward()
        _same_grads(m, twin)
    assert cm._compiled.replays >= 2 and out.dtype == gg.bfloat16


def test_cuda_graph_guards_and_restore_logic_on_host_tensors():
    # the capture's bookkeeping is plain Python over tensors: checked here on CPU tensors
    from gpugrad.jit import cuda_graph as cg

    model = _mlp(4)
    opt = _opt("sgd", model.parameters())
    stray = nn.ReLU()  # a module of no model with parameters on the device: not baked in
    optimizers, modules = cg._live_objects(gg.device("cpu"))
    assert opt in optimizers
    assert all(any(m is x for x in modules) for m in model.modules())
    assert not any(m is stray for m in modules)
    params = list(model.parameters())
    for p in params:
        p.grad = gg.zeros_like(p)
    hyper = [(g, k, v) for g in opt.param_groups for k, v in g.items() if k != "params"]
    arrays = [(p, p._data, p._grad) for p in params]
    entry = cg.GraphEntry(None, [], None, hyper, arrays, cg._module_flags(modules))
    assert entry.holds()
    opt.param_groups[0]["lr"] = 0.5  # a scheduler's step: captured again
    assert not entry.holds()
    opt.param_groups[0]["lr"] = 0.05
    assert entry.holds()
    before = [(p, p._data, p._grad, p._vc[0]) for p in params]
    params[0].grad = None  # zero_grad(set_to_none=True) outside the step
    assert not entry.holds()
    with gg.no_grad():
        params[1].data = gg.ones_like(params[1])
        params[1].add_(1)
    cg._restore(before)  # what a failed capture does
    assert entry.holds() and params[1]._vc[0] == before[1][3]
    model[1].inplace = True  # a module setting baked into the graph
    assert not entry.holds()
