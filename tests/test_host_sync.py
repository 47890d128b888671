"""No hidden host synchronisation: a training step reads nothing back to the host unless the
user asks (issue #13). Every host round trip an op can make goes through the backend
(``to_host``, ``minmax``, ``index_top``, ``synchronize``), so counting those calls counts the
waits: on the CPU the index checks are the only ones (synchronous by design, free there), on
CUDA there are none at all, since the index checks run on the device and dropout's seeds come
from the host."""

from __future__ import annotations

import numpy as np
import pytest

import gpugrad as gg
from gpugrad import nn
from gpugrad.nn import functional as F

WAITS = ("to_host", "minmax", "index_top", "synchronize")


class _Counted:
    """The backend's round trips, counted by name while the block runs."""

    def __init__(self, monkeypatch, backend) -> None:
        self.calls: dict[str, int] = dict.fromkeys(WAITS, 0)
        for name in WAITS:
            orig = getattr(backend, name)

            def counted(*a, _orig=orig, _name=name, **k):
                self.calls[_name] += 1
                return _orig(*a, **k)

            monkeypatch.setattr(backend, name, counted)


def _mlp_step(device: str):
    gg.manual_seed(0)
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 10)).to(
        device
    )
    opt = gg.optim.AdamW(model.parameters(), lr=1e-3)
    x = gg.randn(16, 32, device=device)
    y = gg.randint(0, 10, (16,), device=device)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step, model, 1  # one index check: the class targets


class _CharLM(nn.Module):
    def __init__(self, vocab: int = 20, width: int = 32) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.mix = nn.Linear(width, width)
        self.norm = nn.LayerNorm(width)
        self.drop = nn.Dropout(0.1)
        self.head = nn.Linear(width, vocab)

    def forward(self, idx):
        h = self.drop(F.gelu(self.mix(self.embed(idx))))
        return self.head(self.norm(h))


def _char_lm_step(device: str):
    gg.manual_seed(0)
    model = _CharLM().to(device)
    opt = gg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    idx = gg.randint(0, 20, (4, 12), device=device)
    tgt = gg.randint(0, 20, (4, 12), device=device)

    def step():
        opt.zero_grad()
        logits = model(idx)
        loss = F.cross_entropy(logits.reshape(-1, 20), tgt.reshape(-1))
        loss.backward()
        gg.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    return step, model, 2  # the embedding's indices and the class targets


STEPS = {"mlp_dropout_adamw": _mlp_step, "char_lm_sgd": _char_lm_step}


@pytest.mark.parametrize("make", list(STEPS.values()), ids=list(STEPS))
def test_cpu_training_step_reads_back_only_its_index_checks(monkeypatch, make):
    step, model, checks = make("cpu")
    step()  # warm-up: optimizer state, kernels
    counted = _Counted(monkeypatch, gg.device("cpu").backend)
    for _ in range(3):
        step()
    calls = counted.calls
    assert calls["to_host"] == 0 and calls["synchronize"] == 0, calls
    assert calls["minmax"] + calls["index_top"] == 3 * checks, calls
    assert all(np.isfinite(p.detach().numpy()).all() for p in model.parameters())


def test_dropout_seed_is_drawn_from_the_device_generator():
    backend = gg.device("cpu").backend
    gg.manual_seed(7)
    a = [backend.dropout_seed() for _ in range(3)]
    gg.manual_seed(7)
    b = [backend.dropout_seed() for _ in range(3)]
    assert a == b and len(set(a)) == 3 and all(type(s) is int for s in a)


def test_reference_dropout_takes_a_device_scalar_seed_as_an_int_one():
    # inside a CUDA graph capture the seed is a 0-d uint64 array on the device, filled before
    # each replay; the reference kernel must read it exactly as the int
    backend = gg.device("cpu").backend
    x = np.linspace(-1, 1, 1000, dtype=np.float32).reshape(10, 100)
    seed = 123456789012345
    out_i, mask_i = backend.dropout.reference(x, 0.3, seed)
    out_a, mask_a = backend.dropout.reference(x, 0.3, np.asarray(seed, dtype=np.uint64))
    np.testing.assert_array_equal(mask_i, mask_a)
    np.testing.assert_array_equal(out_i, out_a)
    assert 0.6 < mask_i.mean() < 0.8


_NO_CUDA = __import__("gpugrad.backend", fromlist=["cuda_status"]).cuda_status()[1]
needs_cuda = pytest.mark.skipif(bool(_NO_CUDA), reason=_NO_CUDA or "-")


@needs_cuda
@pytest.mark.parametrize("make", list(STEPS.values()), ids=list(STEPS))
def test_cuda_training_step_makes_no_host_round_trip(monkeypatch, make):
    monkeypatch.delenv("GPUGRAD_CUDA_INDEX_CHECKS", raising=False)  # deferred: the default
    step, model, _ = make("cuda")
    step()
    gg.cuda.synchronize()
    counted = _Counted(monkeypatch, gg.device("cuda").backend)
    for _ in range(3):
        step()
    assert sum(counted.calls.values()) == 0, counted.calls
    assert all(np.isfinite(p.detach().cpu().numpy()).all() for p in model.parameters())


@needs_cuda
def test_cuda_dropout_seeds_follow_manual_seed_without_a_device_read():
    x = gg.ones(4096, device="cuda")
    gg.manual_seed(3)
    a = F.dropout(x, 0.5).cpu().numpy()
    gg.manual_seed(3)
    b = F.dropout(x, 0.5).cpu().numpy()
    c = F.dropout(x, 0.5).cpu().numpy()
    np.testing.assert_array_equal(a, b)
    assert (a != c).any() and 0.4 < (a == 0).mean() < 0.6


class _NoHostRead(np.ndarray):
    """Targets whose values Python may not read (bool() of a reduction of them)."""

    def __bool__(self):
        raise AssertionError("a host read of the targets")

    def item(self, *a):
        raise AssertionError("a host read of the targets")


@pytest.mark.parametrize("reads_wait", [False, True])
@pytest.mark.parametrize("ignored", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_kernels_read_nothing_back_where_reads_wait(
    monkeypatch, reads_wait, ignored, reduction
):
    # deferred CUDA index checks hand the kernels ignore_index (-100) with unread targets; a
    # backend whose reads wait for the device must take the general path and read nothing,
    # with the shortcut's results
    rng = np.random.default_rng(0)
    x = rng.standard_normal((12, 5)).astype(np.float32)
    t = rng.integers(0, 5, 12)
    if ignored:
        t[[2, 7]] = -100
    g = np.float32(0.7) if reduction != "none" else rng.standard_normal(12).astype(np.float32)
    backend = gg.device("cpu").backend
    args = (None, -100, 0.0, reduction)
    want_loss, lse = backend.cross_entropy.reference(x, t, *args)
    want_dx = backend.cross_entropy_backward.reference(g, x, t, lse, *args)
    monkeypatch.setattr(type(backend), "reads_wait", reads_wait)
    counted = _Counted(monkeypatch, backend)
    tgt = t.view(_NoHostRead) if reads_wait else t
    loss, lse2 = backend.cross_entropy.reference(x, tgt, *args)
    dx = backend.cross_entropy_backward.reference(g, x, tgt, lse2, *args)
    np.testing.assert_allclose(np.asarray(loss), want_loss, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(dx), want_dx, rtol=1e-6, atol=1e-8)
    reads = sum(counted.calls.values())
    assert reads == 0 if reads_wait else reads >= 1, counted.calls  # (the CPU's shortcut)
