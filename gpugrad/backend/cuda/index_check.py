"""Index checks on the device, raised at the next host synchronisation (as PyTorch's CUDA
kernels assert on the device instead of reading indices back).

A reading index op (gather, index_select, take, embedding, a fancy-index read, class targets)
gets one launch of ``index_check`` (``index_check_source.py``) instead of a min/max read back:
the kernel writes a safe copy of the indices (in range, negatives wrapped where allowed, 0 for
a bad entry), which the op then uses, so no kernel reads out of bounds; a bad entry lands in
the device's error record, pinned host memory the kernel writes through its device pointer.
Every CuPy-backend path that waits for the device or copies to the host (``to_host``: item,
tolist, printing, ``.cpu()``; ``synchronize``: ``gpugrad.cuda.synchronize()``; ``minmax``,
``index_top``) calls ``raise_pending`` after the wait: a set record is cleared and the failed
check's own exception (its op's IndexError / RuntimeError text) raised. PyTorch raises "CUDA
error: device-side assert triggered" there and the context is lost; here it stays usable.

The first failure wins: later checks, until the record is cleared, keep writing safe copies
and report nothing. Which check failed is an id into a ring of ``RING`` pending checks (their
exception builders); a failure older than ``RING`` checks raises a generic text.

Only reads are deferred. The writing ops (scatter_, index_add_, index_copy_, index_fill_,
index_put_, put_, fancy-index assignment) check synchronously: a failed call must change
nothing, and an error raised later could not undo the write.

On by default (``GPUGRAD_CUDA_INDEX_CHECKS=sync`` keeps every check synchronous, with its
min/max read back per op), and always inside a CUDA graph capture, where a synchronous check
cannot run. Before a device's first deferred check, a known-answer self-test runs the kernel
on that device (``self_test``: bad entries on both sides, both index dtypes, an ignore value,
a good check after a failed one) and waits for it, once per process and device; a wrong safe
copy or record, or a kernel that cannot be built, turns the deferred checks off for the
process with the engine's warning, and the synchronous ones serve instead.
"""

from __future__ import annotations

import ctypes
import os
import threading

import numpy as np

from ... import _dtype as D
from ..base import IndexChecks
from . import ENGINE, _is_failure
from .compile import function
from .index_check_source import (
    INDEX_TYPES,
    NO_POSITION,
    RECORD_DTYPE,
    SCRATCH_WORDS,
    kernel_name,
    source,
)
from .launch import BLOCK, grid_for, sm_count

RING = 4096  # pending checks remembered per device (their exception builders)
NAME = "index_check"  # the engine's name for it in ENGINE.failed and its warning
_INT32_MAX = (1 << 31) - 1
_PINNED = 1 << 30  # the first id of checks captured in CUDA graphs


class PendingChecks:
    """The host's table of checks queued on a device: check id -> the function building its
    exception from the bad value. Ids count up (wrapping at 2^30); the table keeps the last
    ``RING`` of them. A check captured into a CUDA graph runs again at every replay, however
    many checks came after it, so it is pinned: its id (from 2^30 up, within the record's
    int32) keeps its builder for the process."""

    def __init__(self, ring: int = RING) -> None:
        self._ring = ring
        self._table: list = [None] * ring
        self._next = 0
        self._pinned: dict[int, object] = {}
        self._lock = threading.Lock()

    def add(self, make_error, pinned: bool = False) -> int:
        with self._lock:
            if pinned:
                check = _PINNED + len(self._pinned)
                self._pinned[check] = make_error
                return check
            check = self._next
            self._next = (check + 1) & (_PINNED - 1)
        self._table[check % self._ring] = (check, make_error)
        return check

    def error(self, check: int, value: int, position: int) -> BaseException:
        """The exception of ``check`` for the bad ``value`` (at ``position``)."""
        if check >= _PINNED and check in self._pinned:
            return self._pinned[check](value)
        entry = self._table[check % self._ring]
        if entry is None or entry[0] != check:  # overwritten: more than RING checks ago
            return RuntimeError(
                f"CUDA error: device-side assert triggered: index {value} (element {position} "
                f"of its index tensor) was out of bounds in an index check more than {RING} "
                "checks before this synchronisation"
            )
        return entry[1](value)


class ErrorRecord:
    """A device's error record (``view``, RECORD_DTYPE over host memory the kernel writes
    through ``device_ptr``) and the host's side of it: its pending checks and the claim word
    the kernel takes before writing (``reset_claim`` frees it again)."""

    def __init__(self, view, device_ptr: int, claim_ptr: int, reset_claim, keep=None) -> None:
        self.view = view
        self.keep = keep  # whatever owns the memory behind the pointers
        self.flag = view["flag"].reshape(1)  # a live int32 view: the cheap read of every wait
        self.device_ptr = device_ptr
        self.claim_ptr = claim_ptr
        self.reset_claim = reset_claim
        self.pending = PendingChecks()
        self.scratch: dict = {}  # stream (pointer, or pointer and thread) -> its scratch
        self.clear()

    def clear(self) -> None:
        self.view[...] = (0, 0, -1, 0)

    def take(self) -> BaseException | None:
        """The failure the record holds (clearing it and the claim), or None."""
        if not self.flag[0]:
            return None
        check = int(self.view["check"])
        position = int(self.view["position"])
        value = int(self.view["value"])
        self.clear()
        self.reset_claim()
        return self.pending.error(check, value, position)


_records: dict[int, ErrorRecord] = {}
_records_lock = threading.Lock()


def _mapped_record(device_id: int) -> ErrorRecord:
    """Device ``device_id``'s record in pinned, mapped (portable) host memory, made once."""
    import cupy
    from cupy.cuda import runtime

    with cupy.cuda.Device(device_id):
        size = RECORD_DTYPE.itemsize
        host = runtime.hostAlloc(size, runtime.hostAllocPortable | runtime.hostAllocMapped)
        # under unified addressing the device pointer is the host pointer; ask anyway (the
        # record lives as long as the process: it is never freed)
        device_ptr = runtime.pointerGetAttributes(host).devicePointer or host
        buf = (ctypes.c_char * size).from_address(host)
        view = np.ndarray((), RECORD_DTYPE, buffer=buf)
        claim = cupy.zeros(2, np.int32)  # [claim, padding]

    def reset_claim() -> None:
        # only after a failed check (rare): wait for the whole device first, since the legacy
        # stream's memset is not ordered after non-blocking streams' checks still running
        with cupy.cuda.Device(device_id):
            runtime.deviceSynchronize()
            runtime.memset(claim.data.ptr, 0, 4)

    return ErrorRecord(view, device_ptr, claim.data.ptr, reset_claim, keep=claim)


def record_of(device_id: int) -> ErrorRecord:
    rec = _records.get(device_id)
    if rec is None:
        with _records_lock:
            rec = _records.get(device_id)
            if rec is None:
                rec = _records[device_id] = _mapped_record(device_id)
    return rec


def raise_pending(device_id: int) -> None:
    """Raise the first failed index check recorded on ``device_id`` (and clear the record);
    call after the host has waited for the device (the record is read without a copy)."""
    rec = _records.get(device_id)
    if rec is None or not rec.flag[0]:
        return
    err = rec.take()
    if err is not None:
        raise err


def pending(device_id: int) -> bool:
    """Whether ``device_id``'s record holds a failure (tests; valid after a wait)."""
    rec = _records.get(device_id)
    return rec is not None and bool(rec.flag[0])


PER_THREAD_STREAM = 2  # cudaStreamPerThread: one handle, a different stream in each thread


def _scratch(xp, rec: ErrorRecord, stream_ptr: int, capturing: bool = False):
    """The stream's scratch: launches on one stream run in order and share it; concurrent
    streams each have their own (the done-counter must count one launch's blocks). The
    per-thread default stream is one handle for many streams: keyed by thread as well.
    Made inside a capture (a stream the capture forked), its initialising fills are only
    recorded: the graph's own copy then, set up again by each replay, and never cached."""
    key = (stream_ptr, threading.get_ident()) if stream_ptr == PER_THREAD_STREAM else stream_ptr
    s = rec.scratch.get(key)
    if s is None:
        s = xp.full(SCRATCH_WORDS, np.uint64(NO_POSITION), dtype=np.uint64)
        s[1:] = 0  # the done-counter
        if not capturing:
            rec.scratch[key] = s
    return s


def prepare(xp, device_id: int, stream_ptr: int) -> None:
    """Make the device's record, the stream's scratch and the check kernels now, before a
    CUDA graph capture begins on that stream: made inside it, their initialising fills would
    only be recorded, not run, and later checks outside the graph would read garbage."""
    rec = record_of(device_id)
    _scratch(xp, rec, stream_ptr)
    for dtype in INDEX_TYPES:
        _kernel(dtype)
    if device_id not in _tested and NAME not in ENGINE.failed:
        wrong = _device_self_test(xp, device_id)
        _tested[device_id] = wrong is None
        if wrong is not None:  # a capture cannot fall back: refuse it with the reason
            ENGINE._fall_back(NAME, RuntimeError(f"the device's self-test failed: {wrong}"))
            raise RuntimeError(
                f"gpugrad: the device index check failed its self-test on cuda:{device_id} "
                f"({wrong}); a CUDA graph cannot capture the synchronous check"
            )


_kernels: dict = {}


def _kernel(dtype: str):
    fn = _kernels.get(dtype)
    if fn is None:
        fn = _kernels[dtype] = function(source(), kernel_name(dtype))
    return fn


def launch(xp, idx, lo: int, hi: int, make_error, ignore: int | None = None, pinned: bool = False):
    """Queue the check of every entry of the int32/int64 CuPy array ``idx`` against
    ``[lo, hi)`` (``ignore``, if given, always passes; its entries become 0): returns the safe
    copy (contiguous, ``idx``'s shape) and adds no host synchronisation. ``xp`` is the
    backend's array module (while gpugrad.compile records, using it stops the recording);
    ``pinned``: the launch is captured into a CUDA graph (its error text is kept for good)."""
    import cupy

    if not idx.flags.c_contiguous:
        idx = xp.ascontiguousarray(idx)
    if idx.dtype == np.int32 and lo < 0 and hi > _INT32_MAX:  # a wrapped entry would overflow
        idx = idx.astype(np.int64)
    dtype = D.np_name(idx.dtype)
    device_id = idx.device.id
    rec = record_of(device_id)
    scratch = _scratch(xp, rec, cupy.cuda.get_current_stream().ptr, pinned)
    fn = _kernel(dtype)
    out = xp.empty_like(idx)
    check = rec.pending.add(make_error, pinned)
    args = kernel_args(idx, out, lo, hi, ignore, check, scratch, rec.claim_ptr, rec.device_ptr)
    fn((grid_for(idx.size, sm_count(device_id)),), (BLOCK,), args)  # the current stream
    return out


def kernel_args(idx, out, lo, hi, ignore, check, scratch, claim_ptr, record_ptr) -> tuple:
    """The kernel's arguments in ``index_check_source.PARAMS`` order (arrays as given: CuPy
    arrays on the GPU, NumPy ones in the host build's tests)."""
    has_ignore = ignore is not None and -(1 << 63) <= ignore < (1 << 63)  # else none can match
    return (
        idx,
        out,
        np.int64(idx.size),
        np.int64(lo),
        np.int64(hi),
        np.int64(ignore if has_ignore else 0),
        np.int32(has_ignore),
        np.int32(check),
        scratch,
        np.uint64(claim_ptr),
        np.uint64(record_ptr),
    )


def deferred_by_default() -> bool:
    """Whether reading checks defer to the device outside a capture (the default)."""
    return os.environ.get("GPUGRAD_CUDA_INDEX_CHECKS", "device").strip() != "sync"


# (indices, lo, hi, ignore, safe copy, (position, value) of the first bad entry or None)
_SELF_TEST = (
    (np.array([0, 2, -1, 7, 1], np.int64), 0, 3, None, [0, 2, 0, 0, 1], (2, -1)),
    (np.array([-3, 2, 5, -1, 9], np.int32), -3, 3, None, [0, 2, 0, 2, 0], (2, 5)),
    (np.array([1, -100, 0, 1], np.int64), 0, 2, -100, [1, 0, 0, 1], None),
    # every entry in range: a launch of several blocks with nothing bad, negatives wrapped
    (np.arange(-700, 700, dtype=np.int64), -700, 700, None, np.arange(1400) % 700, None),
)


def self_test(run, take) -> str | None:
    """The known-answer test of the check on one device: ``run(idx, lo, hi, ignore,
    make_error)`` launches it on a NumPy array's device copy and returns the safe copy once
    the device has finished; ``take()`` is the record's ``ErrorRecord.take``. None where every
    case gave the expected safe copy and record, else what differed."""
    for k, (idx, lo, hi, ignore, safe, first) in enumerate(_SELF_TEST):
        out = run(idx, lo, hi, ignore, lambda v, k=k: IndexError(f"self-test {k}: {v}"))
        if not np.array_equal(np.asarray(out), np.asarray(safe)):
            return f"case {k}: safe copy {np.asarray(out).tolist()}, expected {list(safe)}"
        err = take()
        want = None if first is None else f"self-test {k}: {first[1]}"
        if (None if err is None else str(err)) != want:
            return f"case {k}: the record reported {err!r}, expected {want!r}"
    return None


_tested: dict[int, bool] = {}
_tested_lock = threading.Lock()


def _device_self_test(xp, device_id: int) -> str | None:
    import cupy

    def run(idx, lo, hi, ignore, make_error):
        out = launch(xp, xp.asarray(idx), lo, hi, make_error, ignore)
        return cupy.asnumpy(out)  # waits for the stream, so the record is written too

    rec = record_of(device_id)
    if rec.flag[0]:  # a failure of an earlier check (the engine's) is the user's: keep it
        return None if _tested.get(device_id) else "the record held a failure"
    return self_test(run, rec.take)


class DeviceIndexChecks(IndexChecks):
    """The CUDA backend's reading index checks: with the kernel engine on, one ``index_check``
    launch each (deferred: the error is raised at the next synchronisation, see the module);
    otherwise, and for index dtypes other than int32/int64, the synchronous checks."""

    def _defer(self, idx) -> bool:
        if D.np_name(idx.dtype) not in INDEX_TYPES or NAME in ENGINE.failed:
            return False
        # inside a CUDA graph capture the synchronous check cannot run at all: defer there
        # (the check then runs on every replay; ``prepare`` ran the self-test before it)
        if self.backend.capturing:
            return True
        if not (deferred_by_default() or ENGINE.enabled()):
            return False
        return _tested.get(idx.device.id) or self._self_test(idx.device.id)

    def _self_test(self, device_id: int) -> bool:
        """Run the device's known-answer test once; False (and the synchronous checks from
        now on, with the engine's warning) where it failed."""
        with _tested_lock:
            if device_id in _tested:
                return _tested[device_id]
            try:
                wrong = _device_self_test(self.backend.xp, device_id)
            except Exception as e:
                if not _is_failure(e):
                    raise
                wrong = f"{type(e).__name__}: {e}"
            _tested[device_id] = wrong is None
        if wrong is not None:
            ENGINE._fall_back(NAME, RuntimeError(f"the device's self-test failed: {wrong}"))
        return wrong is None

    def _launch(self, idx, lo: int, hi: int, make_error, ignore=None):
        """The safe copy, or None where the engine could not build the check (it then falls
        back to the synchronous one for the rest of the process, with the engine's warning)."""
        try:
            be = self.backend
            return launch(be.xp, idx, lo, hi, make_error, ignore, be.capturing)
        except Exception as e:
            if not _is_failure(e):
                raise
            ENGINE._fall_back(NAME, e)
            return None

    def checked(self, idx, n: int, negative: bool, make_error, *, wrap: bool = False):
        """See ``IndexChecks.checked``; deferred, the result is always wrapped into [0, n)."""
        # n == 0: every index is bad, and a safe copy could not be read either (the op
        # would raise CuPy's text at once): the synchronous check raises the op's own
        if idx.size and n > 0 and self._defer(idx):
            safe = self._launch(idx, -n if negative else 0, n, make_error)
            if safe is not None:
                return safe
        return super().checked(idx, n, negative, make_error, wrap=wrap)

    def class_targets(self, tgt, c: int, ignore_index: int, make_error) -> tuple:
        """See ``IndexChecks.class_targets``; deferred, the host cannot know whether any
        target is ignored, so the mask is always made (an elementwise compare)."""
        if tgt.size and c > 0 and self._defer(tgt):
            safe = self._launch(tgt, 0, c, make_error, ignore=ignore_index)
            if safe is not None:
                return tgt == ignore_index, safe
        return super().class_targets(tgt, c, ignore_index, make_error)
