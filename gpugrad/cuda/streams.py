"""CUDA streams and events as PyTorch's (``torch.cuda.streams``), over CuPy's.

gpugrad's CUDA ops launch on CuPy's current stream of their device, so making a stream
current (``with gpugrad.cuda.stream(s):``, :func:`set_stream`) puts every op, copy and
allocation in the block on it. As PyTorch's, new streams do not synchronise with the default
stream: order them with :meth:`Stream.wait_stream` or events.
"""

from __future__ import annotations

import os
from typing import Any

from .. import _dtype as D
from .._device import device as Device
from ..backend import cupy_backend
from ._utils import available, check_index, get_device_index, lazy_init

__all__ = [
    "Event",
    "Stream",
    "StreamContext",
    "current_stream",
    "default_stream",
    "set_stream",
    "stream",
]

_CUDA_DEVICE_TYPE = 1  # PyTorch's DeviceType.CUDA, what Stream.device_type answers


def _on(index: int):
    """CuPy's context for device ``index``: handle 0 means the current device's default
    stream, so every stream and event call runs with its own device current (a CUDAGuard in
    PyTorch). A Stream or Event exists only once CuPy is loaded."""
    return cupy_backend._cupy.cuda.Device(index)


class Stream:
    """A queue of GPU work on one device (``torch.cuda.Stream``). ``device`` None or a
    negative int means the current device; a lower ``priority`` runs first (clamped to the
    device's range)."""

    def __new__(cls, device=None, priority: int = 0) -> Stream:
        if not available():
            raise RuntimeError("torch.cuda.Stream requires CUDA support")
        cp = lazy_init()
        if device is None or (isinstance(device, int) and device < 0):
            index = cp.cuda.runtime.getDevice()
        else:
            index = check_index(get_device_index(device, optional=True))
        # PyTorch's streams are non-blocking: they do not wait for the legacy default stream
        kwargs = {"priority": priority} if priority else {}  # CuPy 13 has no priority
        with cp.cuda.Device(index):
            raw = cp.cuda.Stream(non_blocking=True, **kwargs)
        return cls._wrap(raw, index)

    @classmethod
    def _wrap(cls, raw, index: int) -> Stream:
        """A Stream over CuPy's stream ``raw`` on device ``index`` (no new CUDA stream)."""
        s = object.__new__(cls)
        s._raw, s._index, s._contexts = raw, index, []
        return s

    @property
    def cuda_stream(self) -> int:
        """The ``cudaStream_t`` handle as an int (0 for the legacy default stream)."""
        return self._raw.ptr

    @property
    def stream_id(self) -> int:
        return self._raw.ptr

    @property
    def device_index(self) -> int:
        return self._index

    @property
    def device_type(self) -> int:
        return _CUDA_DEVICE_TYPE

    @property
    def device(self) -> Device:
        return Device("cuda", self._index)

    @property
    def priority(self) -> int:
        with _on(self._index):
            return cupy_backend._cupy.cuda.runtime.streamGetPriority(self._raw.ptr)

    def query(self) -> bool:
        """Whether all work queued on the stream has finished."""
        with _on(self._index):
            return self._raw.done

    def synchronize(self) -> None:
        """Wait until all work queued on the stream has finished (and raise a failed
        device-side index check, as every wait does)."""
        with _on(self._index):
            self._raw.synchronize()
        _raise_pending(self._index)

    def wait_event(self, event: Event) -> None:
        """Work queued on this stream from now on waits for ``event`` (returns at once)."""
        event.wait(self)

    def wait_stream(self, stream: Stream) -> None:
        """Work queued on this stream from now on waits for what ``stream`` has queued."""
        self.wait_event(stream.record_event())

    def record_event(self, event: Event | None = None) -> Event:
        """Record ``event`` (a new one if None) on this stream and return it."""
        if event is None:
            event = Event()
        event.record(self)
        return event

    def __enter__(self) -> Stream:
        ctx = StreamContext(self)
        ctx.__enter__()
        self._contexts.append(ctx)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._contexts.pop().__exit__(*exc)

    def __cuda_stream__(self) -> tuple[int, int]:
        """The CUDA stream protocol: (version, handle)."""
        return (0, self._raw.ptr)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Stream):
            return self.cuda_stream == other.cuda_stream and self._index == other._index
        return False

    def __hash__(self) -> int:
        return hash((self.cuda_stream, self.device))

    def __repr__(self) -> str:
        return (
            f"<{D.PRINTED_MODULE}.cuda.Stream device={self.device} "
            f"cuda_stream={self.cuda_stream:#x}>"
        )


class Event:
    """A marker in a stream's work (``torch.cuda.Event``) to wait on, synchronise with or
    time between. The CUDA event is made on first :meth:`record`, on the stream's device."""

    def __init__(
        self,
        enable_timing: bool = False,
        blocking: bool = False,
        interprocess: bool = False,
        external: bool = False,  # only means something under CUDA graph capture: none here
    ) -> None:
        if not available():
            raise RuntimeError("Tried to instantiate dummy base class Event")
        self.enable_timing, self.blocking, self.interprocess = enable_timing, blocking, interprocess
        self._raw = None
        self._index: int | None = None

    @property
    def cuda_event(self) -> int:
        """The ``cudaEvent_t`` handle as an int (0 before the first record)."""
        return 0 if self._raw is None else self._raw.ptr

    @property
    def device(self) -> Device | None:
        return None if self._index is None else Device("cuda", self._index)

    def record(self, stream: Stream | None = None) -> None:
        """Mark the work queued so far on ``stream`` (the current stream by default)."""
        if stream is None:
            stream = current_stream()
        index = stream.device_index
        if self._raw is not None and self._index != index:
            raise RuntimeError(
                f"Event device {self._index} does not match recording stream's device {index}."
            )
        with _on(index):
            if self._raw is None:
                self._raw = cupy_backend._cupy.cuda.Event(
                    block=self.blocking,
                    disable_timing=not self.enable_timing,
                    interprocess=self.interprocess,
                )
                self._index = index
            self._raw.record(stream._raw)

    def wait(self, stream: Stream | None = None) -> None:
        """Work queued on ``stream`` (the current one) from now on waits for this event."""
        if stream is None:
            stream = current_stream()
        if self._raw is not None:  # never recorded: nothing to wait for
            with _on(stream.device_index):
                stream._raw.wait_event(self._raw)

    def query(self) -> bool:
        """Whether the work the event marks has finished (True if never recorded)."""
        if self._raw is None:
            return True
        with _on(self._index):
            return self._raw.done

    def synchronize(self) -> None:
        """Wait until the work the event marks has finished (and raise a failed device-side
        index check)."""
        if self._raw is not None:
            with _on(self._index):
                self._raw.synchronize()
            _raise_pending(self._index)

    def elapsed_time(self, end_event: Event) -> float:
        """Milliseconds from this event to ``end_event``; both recorded with
        ``enable_timing=True`` and completed (synchronize first)."""
        if not (self.enable_timing and end_event.enable_timing):
            raise ValueError("Both events must be created with argument 'enable_timing=True'.")
        if self._raw is None or end_event._raw is None:
            raise ValueError("Both events must be recorded before calculating elapsed time.")
        if not (self.query() and end_event.query()):
            raise RuntimeError("Both events must be completed before calculating elapsed time.")
        with _on(self._index):
            return cupy_backend._cupy.cuda.get_elapsed_time(self._raw, end_event._raw)

    def __repr__(self) -> str:
        if self._raw is None:
            return f"<{D.PRINTED_MODULE}.cuda.Event uninitialized>"
        return f"<{D.PRINTED_MODULE}.cuda.Event {self._raw.ptr:#x}>"


def _checked_index(device) -> int:
    return check_index(get_device_index(device, optional=True))


def current_stream(device=None) -> Stream:
    """The stream the device's work goes to now (the current device by default)."""
    cp = lazy_init()
    index = _checked_index(device)
    return Stream._wrap(cp.cuda.get_current_stream(index), index)


def default_stream(device=None) -> Stream:
    """The device's default stream (the legacy one, ``cuda_stream`` 0, as PyTorch's;
    per-thread when CuPy runs with CUPY_CUDA_PER_THREAD_DEFAULT_STREAM=1)."""
    cp = lazy_init()
    index = _checked_index(device)
    ptds = os.environ.get("CUPY_CUDA_PER_THREAD_DEFAULT_STREAM", "0") not in ("", "0")
    return Stream._wrap(cp.cuda.Stream.ptds if ptds else cp.cuda.Stream.null, index)


def set_stream(stream: Stream | None) -> None:
    """Make ``stream`` current on its device, and its device current (None: a no-op).
    Prefer the :func:`stream` context manager."""
    if stream is None:
        return
    if not isinstance(stream, Stream):  # PyTorch's fails reading its stream_id
        raise AttributeError(f"'{type(stream).__name__}' object has no attribute 'stream_id'")
    index = stream.device_index
    cp = lazy_init()
    if cp.cuda.runtime.getDevice() != index:
        cp.cuda.runtime.setDevice(index)
    stream._raw.use()


class StreamContext:
    """Run the block's GPU work on ``stream`` (PyTorch's context manager; ``None``, or no
    CUDA, makes it a no-op). The previous current stream comes back on exit."""

    def __init__(self, stream: Stream | None) -> None:
        self.stream = stream
        self.idx = lazy_init().cuda.runtime.getDevice() if available() else -1
        self.src_prev_stream: Stream | None = None
        self.dst_prev_stream: Stream | None = None

    def __enter__(self) -> None:
        cur = self.stream
        if cur is None or self.idx == -1:
            return
        self.src_prev_stream = current_stream(None)  # PyTorch's attributes, for inspection
        if self.src_prev_stream.device != cur.device:
            self.dst_prev_stream = current_stream(cur.device)
        cp = lazy_init()
        if cp.cuda.runtime.getDevice() != cur.device_index:
            cp.cuda.runtime.setDevice(cur.device_index)
        # CuPy's own context (its per-device stack), not use(): a `with stream:` CuPy or
        # gpugrad opens inside the block pops back to this stream, not to the default one
        cur._raw.__enter__()

    def __exit__(self, *exc: Any) -> None:
        cur = self.stream
        if cur is None or self.idx == -1:
            return
        cur._raw.__exit__(*exc)
        cp = lazy_init()
        if cp.cuda.runtime.getDevice() != self.idx:
            cp.cuda.runtime.setDevice(self.idx)


def stream(stream: Stream | None) -> StreamContext:
    """``with gpugrad.cuda.stream(s):`` runs the block's GPU work on ``s``."""
    return StreamContext(stream)


def _raise_pending(index: int) -> None:
    from ..backend.cuda.index_check import raise_pending

    raise_pending(index)
