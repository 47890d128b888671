"""gpugrad.cuda's runtime API as PyTorch's: memory statistics, OutOfMemoryError, streams and
events.

Without a GPU every call fails (or answers) as the installed CPU-only torch does, type and
text. With one, the statistics follow allocations, an allocation larger than the card fails
cleanly with PyTorch's message, and work in ``with gpugrad.cuda.stream(s):`` runs on ``s``.
"""

from __future__ import annotations

import copy
import json
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import gpugrad
from gpugrad.backend import cuda_status

ROOT = Path(__file__).resolve().parents[1]
_N_GPUS, _WHY = cuda_status()
needs_cuda = pytest.mark.skipif(_N_GPUS == 0, reason=_WHY or "-")


# --- without a GPU: PyTorch's CPU-only build is the reference ------------------------------

# What torch's CPU-only build gives as its reason for a call that needs CUDA, and gpugrad's
# own reason in its place (as gpugrad.cuda.FloatTensor already does)
TORCH_NOT_BUILT = "Torch not compiled with CUDA enabled"


def _in_block(cuda, ctx):
    with ctx:
        return "ran"


CALLS = {
    "memory_allocated()": lambda c: c.memory_allocated(),
    "memory_allocated(0)": lambda c: c.memory_allocated(0),
    "memory_allocated('cuda')": lambda c: c.memory_allocated("cuda"),
    "max_memory_allocated()": lambda c: c.max_memory_allocated(),
    "memory_reserved()": lambda c: c.memory_reserved(),
    "max_memory_reserved()": lambda c: c.max_memory_reserved(),
    "memory_stats()": lambda c: c.memory_stats(),
    "memory_stats(0)": lambda c: c.memory_stats(0),
    "empty_cache()": lambda c: c.empty_cache(),
    "reset_peak_memory_stats()": lambda c: c.reset_peak_memory_stats(),
    "reset_peak_memory_stats(0)": lambda c: c.reset_peak_memory_stats(0),
    "reset_max_memory_allocated()": lambda c: c.reset_max_memory_allocated(),
    "memory_summary()": lambda c: c.memory_summary(),
    "memory_summary(abbreviated=True)": lambda c: c.memory_summary(abbreviated=True),
    "mem_get_info()": lambda c: c.mem_get_info(),
    "mem_get_info(0)": lambda c: c.mem_get_info(0),
    "Stream()": lambda c: c.Stream(),
    "Stream(priority=-1)": lambda c: c.Stream(priority=-1),
    "Stream(device=0)": lambda c: c.Stream(device=0),
    "Event()": lambda c: c.Event(),
    "Event(enable_timing=True)": lambda c: c.Event(enable_timing=True),
    "current_stream()": lambda c: c.current_stream(),
    "current_stream(0)": lambda c: c.current_stream(0),
    "default_stream()": lambda c: c.default_stream(),
    "stream(None).__enter__()": lambda c: c.stream(None).__enter__(),
    "with stream(None)": lambda c: _in_block(c, c.stream(None)),
    "StreamContext(None).__enter__()": lambda c: c.StreamContext(None).__enter__(),
    "stream(1).__enter__()": lambda c: c.stream(1).__enter__(),
    "set_stream(None)": lambda c: c.set_stream(None),
    "set_stream(1)": lambda c: c.set_stream(1),
}


def _outcome(call, cuda):
    """('ok', type, value) or ('raises', type, text), and the warnings on the way."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = call(cuda)
            out = ("ok", type(value), value)
        except Exception as e:
            out = ("raises", type(e), str(e))
    return out, [(w.category, str(w.message)) for w in caught]


@pytest.fixture(scope="module")
def cpu_torch():
    torch = pytest.importorskip("torch")
    if torch.backends.cuda.is_built():
        pytest.skip("the reference is PyTorch's CPU-only build; this torch is built with CUDA")
    return torch


@pytest.mark.skipif(_N_GPUS > 0, reason="checks the machine without a GPU")
@pytest.mark.parametrize("name", list(CALLS))
def test_without_a_gpu_each_call_does_what_cpu_torch_does(name, cpu_torch):
    ours, our_warnings = _outcome(CALLS[name], gpugrad.cuda)
    theirs, their_warnings = _outcome(CALLS[name], cpu_torch.cuda)
    assert ours[:2] == theirs[:2], (ours, theirs)
    if theirs[0] == "raises" and theirs[2] == TORCH_NOT_BUILT:
        assert ours[2] == f"CUDA is not available: {gpugrad.cuda.why_unavailable()}"
    else:
        assert ours[2] == theirs[2]
    assert our_warnings == their_warnings


def test_out_of_memory_error_is_pytorchs(cpu_torch):
    oom = gpugrad.cuda.OutOfMemoryError
    assert issubclass(oom, RuntimeError)
    assert oom.__mro__[1:] == cpu_torch.cuda.OutOfMemoryError.__mro__[1:]
    assert hasattr(gpugrad, "OutOfMemoryError") == hasattr(cpu_torch, "OutOfMemoryError")
    assert gpugrad.OutOfMemoryError is oom
    assert repr(oom) == repr(cpu_torch.cuda.OutOfMemoryError).replace("torch", "gpugrad")
    e = pickle.loads(pickle.dumps(oom("CUDA out of memory.")))
    assert type(e) is oom and str(e) == "CUDA out of memory."


def test_import_gpugrad_and_empty_statistics_do_not_import_cupy():
    probe = (
        "import json, sys\n"
        "import gpugrad\n"
        "imported = 'cupy' in sys.modules\n"
        "gpugrad.cuda.memory_allocated(); gpugrad.cuda.memory_stats(); gpugrad.OutOfMemoryError\n"
        "print(json.dumps([imported, 'cupy' in sys.modules]))\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout.strip().splitlines()[-1]) == [False, False]


OLD_EXPORTS = [
    "is_available",
    "device_count",
    "why_unavailable",
    "current_device",
    "set_device",
    "synchronize",
    "get_device_name",
    "empty_cache",
    "manual_seed",
    "manual_seed_all",
    "amp",
    *(
        f"{kind}Tensor"
        for kind in ("Float", "Double", "Half", "Long", "Int", "Short", "Char", "Byte", "Bool")
    ),
]


def test_the_package_exports_what_the_module_did():
    for name in OLD_EXPORTS:
        assert hasattr(gpugrad.cuda, name), name
    from gpugrad.cuda.amp import GradScaler, autocast  # torch.cuda.amp is a module

    assert callable(GradScaler) and callable(autocast)
    assert gpugrad.cuda.amp.autocast is autocast
    assert repr(gpugrad.cuda.FloatTensor) == "<class 'gpugrad.cuda.FloatTensor'>"
    assert gpugrad.cuda.is_available() == (_N_GPUS > 0)


def test_device_arguments_are_read_as_pytorch_reads_them():
    from gpugrad.cuda._utils import get_device_index

    assert get_device_index(3) == 3
    assert get_device_index("cuda:1") == 1
    assert get_device_index(gpugrad.device("cuda", 2)) == 2
    assert get_device_index("cpu", allow_cpu=True) == -1
    with pytest.raises(ValueError, match="^Expected a cuda device, but got: cpu$"):
        get_device_index("cpu")
    with pytest.raises(ValueError, match="with a specified index or an integer, but got:cuda"):
        get_device_index("cuda")
    expected = gpugrad.cuda.current_device() if _N_GPUS else None
    assert get_device_index(None, optional=True) == expected


# --- on a GPU ------------------------------------------------------------------------------

MIB = 1 << 20


def _rounded(nbytes: int) -> int:
    return -(-nbytes // 512) * 512  # CuPy's pool hands out multiples of 512 bytes


@pytest.fixture
def cuda_ready():
    """A CUDA backend exists, nothing is queued, and the pool holds no cached blocks."""
    gpugrad.zeros(1, device="cuda")
    gpugrad.cuda.synchronize()
    gpugrad.cuda.empty_cache()
    yield
    gpugrad.cuda.synchronize()


@needs_cuda
def test_cuda_memory_allocated_follows_a_tensor(cuda_ready):
    before = gpugrad.cuda.memory_allocated()
    x = gpugrad.empty(1000, 1001, device="cuda")  # 4_004_000 bytes of float32
    assert gpugrad.cuda.memory_allocated() - before == _rounded(1000 * 1001 * 4)
    assert gpugrad.cuda.memory_allocated(0) == gpugrad.cuda.memory_allocated("cuda:0")
    del x
    assert gpugrad.cuda.memory_allocated() == before


@needs_cuda
def test_cuda_peaks_hold_until_reset(cuda_ready):
    cuda = gpugrad.cuda
    cuda.reset_peak_memory_stats()
    base = cuda.memory_allocated()
    assert cuda.max_memory_allocated() == base
    assert cuda.max_memory_reserved() == cuda.memory_reserved()
    x = gpugrad.empty(4 * MIB // 4, device="cuda")
    peak = cuda.max_memory_allocated()
    assert peak == base + 4 * MIB
    del x
    assert cuda.memory_allocated() == base and cuda.max_memory_allocated() == peak
    stats = cuda.memory_stats()
    assert stats["allocated_bytes.all.peak"] == peak
    assert stats["reserved_bytes.all.peak"] >= stats["reserved_bytes.all.current"]
    cuda.reset_peak_memory_stats()
    assert cuda.max_memory_allocated() == cuda.memory_allocated() == base
    assert cuda.max_memory_reserved() == cuda.memory_reserved()
    with pytest.warns(FutureWarning, match="reset_peak_memory_stats"):
        cuda.reset_max_memory_allocated()


@needs_cuda
def test_cuda_reserved_covers_allocated_and_empty_cache_lowers_it(cuda_ready):
    cuda = gpugrad.cuda
    x = gpugrad.empty(8 * MIB // 4, device="cuda")
    assert cuda.memory_reserved() >= cuda.memory_allocated() >= 8 * MIB
    del x
    cached = cuda.memory_reserved()
    assert cached - cuda.memory_allocated() >= 8 * MIB  # the pool keeps the freed block
    cuda.empty_cache()
    assert cuda.memory_reserved() <= cached - 8 * MIB
    assert cuda.memory_reserved() >= cuda.memory_allocated()


@needs_cuda
def test_cuda_mem_get_info_and_summary(cuda_ready):
    free, total = gpugrad.cuda.mem_get_info()
    assert 0 < free <= total
    assert gpugrad.cuda.mem_get_info(0)[1] == total
    x = gpugrad.empty(MIB, device="cuda")
    text = gpugrad.cuda.memory_summary()
    assert "memory summary, device ID 0" in text and "Allocated memory" in text
    assert "GPU reserved memory" in text and "CUDA OOMs" in text
    assert gpugrad.cuda.memory_summary(abbreviated=True) == text
    del x


@needs_cuda
def test_cuda_out_of_memory_fails_cleanly_and_cuda_stays_usable(cuda_ready):
    cuda = gpugrad.cuda
    _, total = cuda.mem_get_info()
    ooms = cuda.memory_stats()["num_ooms"]
    allocated = cuda.memory_allocated()
    n = (2 * total) // 4  # float32 elements for twice the card
    with pytest.raises(cuda.OutOfMemoryError) as info:
        gpugrad.empty(n, device="cuda")
    e = info.value
    assert isinstance(e, RuntimeError) and isinstance(e, gpugrad.OutOfMemoryError)
    text = str(e)
    assert text.startswith(f"CUDA out of memory. Tried to allocate {n * 4 / 2**30:.2f} GiB.")
    assert "GPU 0 has a total capacity of " in text and " is free." in text
    assert "is allocated by gpugrad, and " in text and "reserved by gpugrad but unallocated" in text
    assert cuda.memory_stats()["num_ooms"] == ooms + 1
    assert cuda.memory_allocated() == allocated  # nothing was left half-allocated

    # afterwards a model still trains, and its step equals the CPU's
    model = gpugrad.nn.Linear(8, 4)
    twin = copy.deepcopy(model).to("cuda")
    x = gpugrad.randn(16, 8)
    want = _sgd_step(model, x)
    got = _sgd_step(twin, x.to("cuda"))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def _sgd_step(model, x) -> np.ndarray:
    opt = gpugrad.optim.SGD(model.parameters(), lr=0.1)
    model(x).pow(2).mean().backward()
    opt.step()
    return model.weight.detach().cpu().numpy()


@needs_cuda
def test_cuda_event_times_a_matmul(cuda_ready):
    Event = gpugrad.cuda.Event
    a = gpugrad.randn(2048, 2048, device="cuda")
    start, end = Event(enable_timing=True), Event(enable_timing=True)
    assert start.query() and repr(start).endswith("Event uninitialized>")
    start.record()
    b = a @ a
    end.record()
    end.synchronize()
    assert start.query() and end.query()
    assert start.elapsed_time(end) > 0
    assert b.shape == (2048, 2048)
    with pytest.raises(ValueError, match=r"^Both events must be created with argument"):
        start.elapsed_time(Event())
    with pytest.raises(ValueError, match=r"^Both events must be recorded before"):
        Event(enable_timing=True).elapsed_time(end)


@needs_cuda
def test_cuda_default_and_current_streams(cuda_ready):
    cuda = gpugrad.cuda
    d = cuda.default_stream()
    assert d.cuda_stream == 0 and d.device == gpugrad.device("cuda", 0)
    assert cuda.current_stream() == d and cuda.current_stream(0) == d
    s = cuda.Stream(priority=-1)
    assert s.cuda_stream != 0 and s != d and s.device_index == 0
    assert s.priority == -1
    assert repr(s).startswith("<gpugrad.cuda.Stream device=cuda:0 cuda_stream=0x")
    assert s.query()
    with cuda.stream(None):  # a no-op, as PyTorch's
        assert cuda.current_stream() == d
    cuda.set_stream(s)
    assert cuda.current_stream() == s
    cuda.set_stream(d)
    assert cuda.current_stream() == d
    with pytest.raises(AttributeError, match="'int' object has no attribute 'stream_id'"):
        cuda.set_stream(1)


def _busy(a, steps: int):
    """A long queue of GPU work (4096-square matmuls: tens of milliseconds, far longer than
    the Python that queues it), values kept bounded."""
    b = a
    for _ in range(steps):
        b = (b @ a).tanh()
    return b


@needs_cuda
def test_cuda_work_in_a_stream_block_runs_on_that_stream(cuda_ready):
    cuda = gpugrad.cuda
    a = gpugrad.randn(4096, 4096, device="cuda") / 64.0
    want = _busy(a, 20).sum(dim=0).cpu().numpy()  # on the default stream
    cuda.synchronize()
    s = cuda.Stream()
    s.wait_stream(cuda.current_stream())  # a was made on the default stream
    with cuda.stream(s) as entered:
        assert entered is None  # PyTorch's context gives nothing to bind
        assert cuda.current_stream() == s
        out = _busy(a, 20).sum(dim=0)
        assert not s.query()  # still running there...
        assert cuda.default_stream().query()  # ...and nothing of it on the default stream
        import cupy

        with cupy.cuda.Stream(non_blocking=True):  # a nested CuPy context (NCCL's AVG does)
            pass
        assert cuda.current_stream() == s  # ...pops back to s, not to the default stream
    assert cuda.current_stream() == cuda.default_stream()
    s.synchronize()
    assert s.query()
    np.testing.assert_allclose(out.cpu().numpy(), want, rtol=1e-4, atol=1e-5)
    with s:  # a Stream is its own context manager too
        assert cuda.current_stream() == s
    assert cuda.current_stream() == cuda.default_stream()


@needs_cuda
def test_cuda_wait_stream_orders_two_streams(cuda_ready):
    cuda = gpugrad.cuda
    a = gpugrad.randn(4096, 4096, device="cuda") / 64.0
    s1, s2 = cuda.Stream(), cuda.Stream()
    s1.wait_stream(cuda.current_stream())
    with cuda.stream(s1):
        b = _busy(a, 30)
    with cuda.stream(s2):
        s2.wait_stream(s1)  # s2's work starts after all of s1's queued so far
        c = b + 1
    done = s2.record_event()
    done.synchronize()
    assert s1.query()  # s2 finished, so s1 had finished before it started
    s1.synchronize()
    np.testing.assert_allclose(c.cpu().numpy(), b.cpu().numpy() + 1, rtol=1e-6)
    e = cuda.Event()
    e.record(s1)
    e.wait(s2)
    s2.synchronize()
    assert e.query()
