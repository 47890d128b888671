"""The CUDA half of the index checks: the reading index ops check on the device and raise at
the next host synchronisation (gpugrad/backend/cuda/index_check.py).

Without a GPU: the ``index_check`` kernel compiles with NVRTC, and its source, built as host
C++ (tests/cuda_host.py), runs against NumPy together with the host's record and table of
pending checks; the CPU's synchronous checks (and gpugrad.compile's guards on them) are
unchanged. With a GPU (skipped otherwise, with the reason): no host round trip at the call,
PyTorch's text at ``.item()`` / ``.cpu()`` / ``gpugrad.cuda.synchronize()``, a clear record
and a usable context afterwards, and writes still raising at the call and changing nothing.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import gpugrad as gg
import gpugrad.nn.functional as F
from gpugrad.backend.base import IndexChecks
from gpugrad.backend.cuda import compile as cuda_compile
from gpugrad.backend.cuda import index_check_source as S
from gpugrad.backend.cuda.index_check import RING, ErrorRecord, PendingChecks, kernel_args
from tests import cuda_host

needs_nvrtc, needs_cxx = cuda_host.needs_nvrtc, cuda_host.needs_cxx


def _cuda_reason() -> str:
    from gpugrad.backend import cuda_status

    n, why = cuda_status()
    return "" if n else why


_NO_GPU = _cuda_reason()
needs_gpu = pytest.mark.skipif(bool(_NO_GPU), reason=_NO_GPU or "-")


# ---- NVRTC --------------------------------------------------------------------------------
@needs_nvrtc
@pytest.mark.parametrize("arch", cuda_compile.ARCHS)
def test_index_check_compiles_with_nvrtc(arch):
    ptx = cuda_compile.ptx(S.source(), arch, name="index_check.cu")
    for dtype in ("int32", "int64"):
        assert f".entry {S.kernel_name(dtype)}(".encode() in ptx
    assert b"atom" in ptx  # the position's atomicMin, the done-counter, the claim


# ---- the kernel on the host ---------------------------------------------------------------
_lib_cache: list = []


def _lib():
    if not _lib_cache:
        kernels = {
            S.kernel_name(dt): [(c.replace("I*", f"{t}*"), n) for c, n in S.PARAMS]
            for dt, t in S.INDEX_TYPES.items()
        }
        _lib_cache.append(cuda_host.build(S.source(), "float32", kernels))
    return _lib_cache[0]


class HostRecord:
    """The device's record, scratch and claim in host memory, with the real ErrorRecord."""

    def __init__(self) -> None:
        self.view = np.zeros((), S.RECORD_DTYPE)
        self.claim = np.zeros(2, np.int32)
        self.scratch = np.array([S.NO_POSITION, 0], np.uint64)
        self.rec = ErrorRecord(
            self.view,
            self.view.ctypes.data,
            self.claim.ctypes.data,
            lambda: self.claim.fill(0),
            keep=(self.view, self.claim),
        )

    def scratch_is_reset(self) -> bool:
        return int(self.scratch[0]) == S.NO_POSITION and int(self.scratch[1]) == 0


POISON = -987654  # never a safe value (those are in [0, n))


def _run(host: HostRecord, idx, lo, hi, *, ignore=None, check=0, grid=3, block=64):
    """One launch of the kernel over ``idx`` on the host, with the arguments the GPU launch
    builds (``kernel_args``); returns the safe copy (poisoned first, so an element the kernel
    skipped shows)."""
    out = np.full(idx.shape, POISON, idx.dtype)
    args = kernel_args(
        idx, out, lo, hi, ignore, check, host.scratch, host.rec.claim_ptr, host.rec.device_ptr
    )
    assert len(args) == len(S.PARAMS)
    fn = getattr(_lib(), f"host_{S.kernel_name(idx.dtype.name)}")
    fn(grid, block, *(a.ctypes.data if isinstance(a, np.ndarray) else int(a) for a in args))
    return out


def _expect(idx, lo, hi, ignore):
    """(safe copy, first bad position or None) as NumPy computes them."""
    v = idx.astype(np.int64)
    ign = (v == ignore) if ignore is not None else np.zeros(v.shape, bool)
    ok = (v >= lo) & (v < hi) & ~ign
    safe = np.where(ok, np.where(v < 0, v + hi, v), 0).astype(idx.dtype)
    bad = ~ok & ~ign
    return safe, (int(np.argmax(bad)) if bad.any() else None)


SIZES = [0, 1, 33, 1000, (1 << 16) + 7]


def _indices(rng, size, dtype, n, negative, ignore, pattern):
    lo = -n if negative else 0
    idx = rng.integers(lo, n, size).astype(dtype)
    if ignore is not None and size:
        idx[rng.integers(0, size, max(1, size // 10))] = ignore
    info = np.iinfo(dtype)
    if pattern == "one" and size:
        idx[rng.integers(0, size)] = n + 3
    elif pattern == "several" and size:
        # bad values on both sides, extremes of the dtype, the last element among them
        where = rng.choice(size, min(size, 5), replace=False)
        values = [n, lo - 1, info.max, info.min, n + 1000][: len(where)]
        idx[where] = values
        idx[-1] = info.min
    return idx, lo


@needs_cxx
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dtype", ["int32", "int64"])
@pytest.mark.parametrize("negative", [False, True])
@pytest.mark.parametrize("with_ignore", [False, True])
@pytest.mark.parametrize("pattern", ["none", "one", "several"])
def test_host_kernel_reports_the_first_bad_index(size, dtype, negative, with_ignore, pattern):
    rng = np.random.default_rng(size * 7 + negative * 3 + with_ignore)
    n = 50
    # an ignore value outside the range (cross_entropy's -100) must pass all the same
    ignore = (-100 if not negative else n + 7) if with_ignore else None
    idx, lo = _indices(rng, size, dtype, n, negative, ignore, pattern)
    host = HostRecord()
    check = host.rec.pending.add(lambda v: IndexError(f"bad {v}"))
    out = _run(host, idx, lo, n, ignore=ignore, check=check)
    safe, first = _expect(idx, lo, n, ignore)
    np.testing.assert_array_equal(out, safe)  # every element written, wrapped, bad ones 0
    assert host.scratch_is_reset()
    if first is None:
        assert int(host.view["flag"]) == 0 and host.rec.take() is None
        assert int(host.claim[0]) == 0
        return
    assert int(host.view["flag"]) == 1
    assert int(host.view["check"]) == check
    assert int(host.view["position"]) == first
    assert int(host.view["value"]) == int(idx[first])
    err = host.rec.take()
    assert isinstance(err, IndexError) and str(err) == f"bad {int(idx[first])}"
    assert int(host.view["flag"]) == 0 and int(host.claim[0]) == 0  # cleared for the next


@needs_cxx
@pytest.mark.parametrize("grid,block", [(1, 1), (1, 32), (7, 32), (40, 8)])
def test_host_kernel_any_geometry(grid, block):
    # more threads than elements, one thread for all: the same first bad index
    rng = np.random.default_rng(grid * block)
    idx = rng.integers(0, 10, 300).astype(np.int64)
    idx[[250, 17, 299]] = [11, -1, 10]
    host = HostRecord()
    out = _run(host, idx, 0, 10, grid=grid, block=block)
    safe, first = _expect(idx, 0, 10, None)
    np.testing.assert_array_equal(out, safe)
    assert first == 17 and int(host.view["position"]) == 17 and int(host.view["value"]) == -1
    assert host.scratch_is_reset()


@needs_cxx
def test_host_kernel_first_failure_wins_until_cleared():
    host = HostRecord()
    rec = host.rec
    a = rec.pending.add(lambda v: RuntimeError(f"first {v}"))
    b = rec.pending.add(lambda v: RuntimeError(f"second {v}"))
    bad_a = np.array([0, 1, 9, 2], np.int64)
    bad_b = np.array([5, 1], np.int32)
    good = np.array([0, 1, 2], np.int64)
    _run(host, bad_a, 0, 5, check=a)
    out = _run(host, bad_b, 0, 3, check=b)  # fails too: its copy is safe, its report dropped
    np.testing.assert_array_equal(out, [0, 1])
    _run(host, good, 0, 3, check=b)
    assert (int(host.view["check"]), int(host.view["position"])) == (a, 2)
    assert str(rec.take()) == "first 9"
    assert rec.take() is None
    _run(host, bad_b, 0, 3, check=b)  # the record is free again
    assert str(rec.take()) == "second 5"


@needs_cxx
def test_self_test_passes_on_the_host_build_and_catches_wrong_kernels():
    from gpugrad.backend.cuda.index_check import self_test

    host = HostRecord()

    def run(idx, lo, hi, ignore, make_error, shift=0):
        check = host.rec.pending.add(make_error)
        return _run(host, idx, lo, hi + shift, ignore=ignore, check=check)

    assert self_test(run, host.rec.take) is None
    assert host.rec.take() is None and host.scratch_is_reset()
    # an upper bound one too far (wraps -3 into 1), a record never written, no wrapping,
    # an ignore value reported as bad: each found, the record left clear for the next
    wrong = [
        (lambda *a: run(*a, shift=1), host.rec.take),
        (run, lambda: (host.rec.take(), None)[1]),
        (lambda idx, lo, *a: run(idx, 0, *a) if lo < 0 else run(idx, lo, *a), host.rec.take),
        (lambda idx, lo, hi, ignore, mk: run(idx, lo, hi, None, mk), host.rec.take),
    ]
    for k, (bad_run, take) in enumerate(wrong):
        found = self_test(bad_run, take)
        assert found is not None and found.startswith("case "), k
        host.rec.take()
        host.claim.fill(0)


def test_device_checks_default_and_the_sync_setting(monkeypatch):
    from gpugrad.backend.cuda.index_check import deferred_by_default

    monkeypatch.delenv("GPUGRAD_CUDA_INDEX_CHECKS", raising=False)
    assert deferred_by_default()
    monkeypatch.setenv("GPUGRAD_CUDA_INDEX_CHECKS", "sync")
    assert not deferred_by_default()


def test_scratch_is_per_stream_and_per_thread_on_the_per_thread_default_stream():
    import threading

    from gpugrad.backend.cuda.index_check import PER_THREAD_STREAM, _scratch

    rec = HostRecord().rec
    assert _scratch(np, rec, 0) is _scratch(np, rec, 0)  # the legacy stream serialises
    assert _scratch(np, rec, 7) is not _scratch(np, rec, 8)
    mine = _scratch(np, rec, PER_THREAD_STREAM)
    other = []
    t = threading.Thread(target=lambda: other.append(_scratch(np, rec, PER_THREAD_STREAM)))
    t.start()
    t.join()
    assert mine is _scratch(np, rec, PER_THREAD_STREAM) and other[0] is not mine
    # made inside a capture (a stream it forked): the graph's own, never cached
    inside = _scratch(np, rec, 9, capturing=True)
    assert inside is not _scratch(np, rec, 9, capturing=True) and 9 not in rec.scratch
    assert int(inside[0]) == (1 << 64) - 1 and not inside[1:].any()


def test_pending_checks_ring():
    table = PendingChecks(ring=8)
    ids = [table.add(lambda v, k=k: IndexError(f"check {k}: {v}")) for k in range(9)]
    assert ids == list(range(9))
    assert str(table.error(ids[-1], 42, 0)) == "check 8: 42"
    old = table.error(ids[0], 42, 3)  # overwritten by check 8: a generic text, not check 8's
    assert isinstance(old, RuntimeError) and "device-side assert triggered" in str(old)
    assert "index 42" in str(old) and "element 3" in str(old)
    assert RING >= 1024
    table._next = (1 << 30) - 1  # ids wrap below the pinned ones
    assert table.add(lambda v: IndexError("x")) == (1 << 30) - 1
    assert table.add(lambda v: IndexError("y")) == 0


def test_pinned_checks_keep_their_text_past_the_ring():
    # a check captured in a CUDA graph reports with its own text at any later replay
    table = PendingChecks(ring=8)
    pinned = table.add(lambda v: IndexError(f"captured gather: {v}"), pinned=True)
    assert (1 << 30) <= pinned <= (1 << 31) - 1  # within the record's int32
    ids = [table.add(lambda v, k=k: IndexError(f"eager {k}: {v}")) for k in range(20)]
    assert str(table.error(pinned, 7, 0)) == "captured gather: 7"
    assert str(table.error(ids[-1], 3, 0)) == "eager 19: 3"
    second = table.add(lambda v: IndexError(f"second captured: {v}"), pinned=True)
    assert second == pinned + 1 and str(table.error(second, 1, 0)) == "second captured: 1"


# ---- the CPU: synchronous, as before ----------------------------------------------------
def test_cpu_checks_are_synchronous_and_return_the_input():
    be = gg.tensor([1]).to("cpu")._device.backend
    assert type(be.index_checks) is IndexChecks
    idx = np.array([0, 2, -1], np.int64)
    assert be.index_checks.checked(idx, 3, True, IndexError) is idx
    with pytest.raises(IndexError, match="^5$"):
        be.index_checks.checked(np.array([0, 5, 7], np.int64), 3, False, lambda v: IndexError(v))
    np.testing.assert_array_equal(
        be.index_checks.checked(idx, 3, True, IndexError, wrap=True), [0, 2, 2]
    )
    tgt = np.array([1, -100, 2], np.int64)
    ignore, safe = be.index_checks.class_targets(tgt, 3, -100, IndexError)
    np.testing.assert_array_equal(ignore, [False, True, False])
    np.testing.assert_array_equal(safe, [1, 0, 2])


def test_cpu_gather_saves_the_index_itself():
    x = gg.arange(6.0, requires_grad=True).reshape(3, 2)
    idx = gg.tensor([[2, 0]])
    out = x.gather(0, idx)
    (saved,) = out.grad_fn.saved_tensors
    assert saved is idx


def test_compiled_embedding_guards_its_index_check():
    # the check's min/max reads reach gpugrad.compile's recorder as guards, as before: a
    # replay with a bad index misses its guard and the eager call raises PyTorch's text
    from gpugrad.jit import compile as jit_compile

    w = gg.randn(10, 4)

    def f(idx):
        return F.embedding(idx, w).sum()

    comp = jit_compile(f)
    good = [gg.tensor(np.arange(k, k + 4) % 10) for k in range(6)]
    for idx in good:
        assert comp(idx).item() == f(idx).item()
    assert comp.broken is None and comp.replays >= 3
    with pytest.raises(IndexError, match="index out of range in self"):
        comp(gg.tensor([1, 2, 3, 10]))
    assert comp(good[0]).item() == f(good[0]).item()


# ---- on a GPU -----------------------------------------------------------------------------
@pytest.fixture
def deferred(monkeypatch):
    """The deferred index checks, as by default with the kernel engine off (the backend
    reads the setting at each call); the device's self-test passed."""
    from gpugrad.backend.cuda import ENGINE, index_check

    monkeypatch.setattr(ENGINE, "_enabled", lambda: False)
    monkeypatch.delenv("GPUGRAD_CUDA_INDEX_CHECKS", raising=False)
    be = gg.zeros(1, device="cuda")._device.backend
    assert be.index_checks._self_test(be.index), ENGINE.failed
    assert index_check._tested[be.index] is True
    assert "index_check" not in ENGINE.failed
    yield
    try:
        gg.cuda.synchronize()
    except (IndexError, RuntimeError):  # a failed test's leftover: not the next test's error
        pass


def _x(dev: str = "cuda"):
    return gg.arange(15.0).reshape(5, 3).to(dev)


def _cuda(data):
    return gg.tensor(data).to("cuda")


# (name, call(x, bad_or_good), good index, bad index, exception, text)
READS = {
    "gather": (
        lambda x, i: x.gather(0, i),
        [[0, 4, 1]], [[0, 7, 1]],
        RuntimeError, "index 7 is out of bounds for dimension 0 with size 5",
    ),
    "index_select": (
        lambda x, i: x.index_select(0, i),
        [0, 4], [0, 9],
        IndexError, "index out of range in self",
    ),
    "take": (
        lambda x, i: gg.take(x, i),
        [0, -1, 14], [0, 99],
        IndexError, "out of range: tried to access index 99 on a tensor of 15 elements.",
    ),
    "embedding": (
        lambda x, i: F.embedding(i, x),
        [1, 4], [1, 12],
        IndexError, "index out of range in self",
    ),
    "fancy_read": (
        lambda x, i: x[i],
        [0, -5], [0, 6],
        IndexError, "index 6 is out of bounds for dimension 0 with size 5",
    ),
    "fancy_read_dim1": (
        lambda x, i: x[:, i],
        [2, -3], [-4],
        IndexError, "index -4 is out of bounds for dimension 0 with size 3",
    ),
    "nll_loss": (
        lambda x, i: F.nll_loss(x[:4], i),
        [0, 2, 1, 2], [0, 5, 1, 2],
        IndexError, "Target 5 is out of bounds.",
    ),
}  # fmt: skip


class _Waits:
    """Counts the backend's host round trips (every one of them raises pending errors)."""

    NAMES = ("to_host", "minmax", "index_top", "synchronize")

    def __init__(self, monkeypatch, backend) -> None:
        self.count = 0
        for name in self.NAMES:
            orig = getattr(backend, name)

            def counted(*a, _orig=orig, **k):
                self.count += 1
                return _orig(*a, **k)

            monkeypatch.setattr(backend, name, counted)


def _queue_work():
    """Seconds of GPU work queued on the current stream: the stream is still busy when a
    call that does not synchronise returns."""
    import cupy

    a = cupy.ones((4096, 4096), cupy.float32)
    for _ in range(24):
        b = a @ a
    return b


@pytest.mark.parametrize("op", list(READS))
def test_cpu_reads_raise_at_the_call(op):
    call, good, bad, exc, text = READS[op]
    x = _x("cpu")
    call(x, gg.tensor(good))
    with pytest.raises(exc, match=re.escape(text)):
        call(x, gg.tensor(bad))


def test_cpu_cross_entropy_raises_at_the_call():
    with pytest.raises(IndexError, match=re.escape("Target 5 is out of bounds.")):
        F.cross_entropy(gg.randn(4, 3), gg.tensor([0, 5, 1, 2]))


@needs_gpu
@pytest.mark.parametrize("op", list(READS))
@pytest.mark.parametrize("route", ["item", "cpu", "synchronize"])
def test_gpu_read_defers_the_error_to_the_next_sync(deferred, monkeypatch, op, route):
    import cupy

    from gpugrad.backend.cuda import index_check

    call, good, bad, exc, text = READS[op]
    x = _x()
    be = x._device.backend
    want = call(gg.arange(15.0).reshape(5, 3), gg.tensor(good))
    # warm: the kernel compiled, the record and the stream's scratch made, memory pooled
    np.testing.assert_array_equal(call(x, _cuda(good)).cpu().numpy(), want.numpy())
    bad_t = _cuda(bad)
    gg.cuda.synchronize()
    waits = _Waits(monkeypatch, be)
    work = _queue_work()
    out = call(x, bad_t)
    busy = not cupy.cuda.get_current_stream().done
    assert waits.count == 0, f"{op} waited for the device at the call"
    assert busy, f"{op} synchronised the stream at the call"
    with pytest.raises(exc, match=re.escape(text)):
        if route == "item":
            out.sum().item()
        elif route == "cpu":
            out.cpu()
        else:
            gg.cuda.synchronize()
    del work
    assert not index_check.pending(be.index)
    assert int(index_check.record_of(be.index).view["flag"]) == 0
    gg.cuda.synchronize()  # nothing else pending
    got = call(x, _cuda(good))  # the context is usable and the op right
    np.testing.assert_array_equal(got.cpu().numpy(), want.numpy())


@needs_gpu
def test_gpu_reports_the_first_bad_index_in_memory_order(deferred):
    x = gg.arange(1000.0, device="cuda")
    idx = np.arange(1 << 20) % 1000
    idx[[5000, 77, 900000]] = [-3, 1234, 5000]  # memory order: 77 (1234) first
    out = x.index_select(0, _cuda(idx))
    with pytest.raises(IndexError, match="index out of range in self"):
        out.sum().item()
    t = gg.take(x, _cuda(idx))
    with pytest.raises(IndexError, match=re.escape("tried to access index 1234 on a tensor")):
        t.cpu()
    # int32 and non-contiguous indices: the same kernel, a contiguous copy first
    pairs = np.stack([idx, idx]).T
    col = _cuda(pairs)[:, 1]  # a non-contiguous int64 view
    assert not col._data.flags.c_contiguous
    g = x.gather(0, col)
    with pytest.raises(RuntimeError, match=re.escape("index 1234 is out of bounds")):
        g.cpu()
    col32 = _cuda(pairs.astype(np.int32))[:, 1]
    s = x.index_select(0, col32)
    with pytest.raises(IndexError, match="index out of range in self"):
        gg.cuda.synchronize()
    del s


@needs_gpu
def test_gpu_first_failed_check_wins_and_good_results_are_right(deferred):
    x = _x()
    a = x.gather(0, _cuda([[7, 0, 0]]))
    b = gg.take(x, _cuda([99]))  # fails too: its report is dropped
    with pytest.raises(RuntimeError, match=re.escape("index 7 is out of bounds for dimension 0")):
        gg.cuda.synchronize()
    gg.cuda.synchronize()  # b's failure is not raised later
    del a, b
    # negatives wrapped where allowed, values as on the CPU
    xc = gg.arange(15.0).reshape(5, 3)
    idx = [-1, 0, -15, 14]
    np.testing.assert_array_equal(
        gg.take(x, _cuda(idx)).cpu().numpy(), gg.take(xc, gg.tensor(idx)).numpy()
    )
    np.testing.assert_array_equal(x[_cuda([-1, 2])].cpu().numpy(), xc[gg.tensor([-1, 2])].numpy())
    tal = gg.take_along_dim(x, _cuda([[-1, 0, 1]]), 0)
    np.testing.assert_array_equal(
        tal.cpu().numpy(), gg.take_along_dim(xc, gg.tensor([[-1, 0, 1]]), 0).numpy()
    )


@needs_gpu
def test_gpu_deferred_gradients_match_the_cpu(deferred):
    xc = gg.arange(15.0).reshape(5, 3).requires_grad_()
    x = xc.detach().to("cuda").requires_grad_()
    idx = [[0, 4, 1], [4, 4, 0]]
    for t, i in ((xc, gg.tensor(idx)), (x, _cuda(idx))):
        (t.gather(0, i) * gg.arange(1.0, 7.0, device=t.device).reshape(2, 3)).sum().backward()
        F.embedding(i.reshape(-1), t).sum().backward()
    np.testing.assert_array_equal(x.grad.cpu().numpy(), xc.grad.numpy())


@needs_gpu
def test_gpu_cross_entropy_raises_by_the_next_sync(deferred):
    logits = gg.randn(4, 3, device="cuda")
    with pytest.raises(IndexError, match=re.escape("Target 5 is out of bounds.")):
        loss = F.cross_entropy(logits, _cuda([0, 5, 1, 2]))
        loss.item()
    t = _cuda([0, -100, 1, 2])  # ignored targets pass
    got = F.cross_entropy(logits, t).item()
    want = F.cross_entropy(logits.cpu(), t.cpu()).item()
    assert abs(got - want) <= 1e-6 * max(1.0, abs(want))


# each writes with a bad index (7 of dim 0's 5; put_: 99 of 15 elements)
WRITES = {
    "scatter_": lambda x: x.scatter_(0, _on([[7, 0, 0]], x), 1.0),
    "scatter_add_": lambda x: x.scatter_add_(0, _on([[7, 0, 0]], x), x[:1].clone()),
    "index_add_": lambda x: x.index_add_(0, _on([7], x), x[:1].clone()),
    "index_copy_": lambda x: x.index_copy_(0, _on([7], x), x[:1].clone()),
    "index_fill_": lambda x: x.index_fill_(0, _on([7], x), 1.0),
    "index_put_": lambda x: x.index_put_((_on([7], x),), x[0].clone()),
    "put_": lambda x: x.put_(_on([99], x), x.reshape(-1)[:1].clone()),
    "setitem": lambda x: x.__setitem__(_on([7], x), 1.0),
    "setitem_dim1": lambda x: x.__setitem__((slice(None), _on([3], x)), 1.0),
}


def _on(data, x):
    return gg.tensor(data).to(x.device)


@pytest.mark.parametrize("op", list(WRITES))
def test_cpu_writes_raise_at_the_call_and_change_nothing(op):
    x = _x("cpu")
    before = x.numpy().copy()
    with pytest.raises((IndexError, RuntimeError), match="out of|index"):
        WRITES[op](x)
    np.testing.assert_array_equal(x.numpy(), before)


@needs_gpu
@pytest.mark.parametrize("op", list(WRITES))
def test_gpu_writes_still_raise_at_the_call_and_change_nothing(deferred, op):
    from gpugrad.backend.cuda import index_check

    x = _x()
    before = x.cpu().numpy().copy()
    with pytest.raises((IndexError, RuntimeError), match="out of|index"):
        WRITES[op](x)  # at the call, not at a later synchronisation
    np.testing.assert_array_equal(x.cpu().numpy(), before)
    assert not index_check.pending(x._device.backend.index)


@needs_gpu
def test_gpu_sync_setting_checks_synchronously(monkeypatch):
    from gpugrad.backend.cuda import ENGINE

    monkeypatch.setattr(ENGINE, "_enabled", lambda: False)
    monkeypatch.setenv("GPUGRAD_CUDA_INDEX_CHECKS", "sync")
    x = _x()
    with pytest.raises(RuntimeError, match="index 7 is out of bounds for dimension 0 with size 5"):
        x.gather(0, _cuda([[0, 7, 1]]))  # at the call
    idx = _cuda([0, 1])
    assert x._device.backend.index_checks.checked(idx._data, 5, False, IndexError) is idx._data


@needs_gpu
def test_gpu_empty_axis_raises_once_at_the_call(deferred):
    # n == 0: nothing could be read at any index; the op's own error at once, none pending
    from gpugrad.backend.cuda import index_check

    x = gg.zeros(0, 3, device="cuda")
    with pytest.raises(IndexError, match="index out of range in self"):
        x.index_select(0, _cuda([0]))
    gg.cuda.synchronize()  # nothing left to raise
    assert not index_check.pending(x._device.backend.index)
