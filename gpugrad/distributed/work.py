"""``Work`` (the handle of an ``async_op=True`` collective) and the queue that runs them.

A communicator's collectives must be issued in the same order on every rank, so each
process group runs its work on one ordered queue: asynchronous work on a background
thread (MPI releases the GIL while it communicates, so backward goes on meanwhile), and
synchronous work on the caller's thread once the queued work has finished. Only one
thread calls into the engine at a time (MPI_THREAD_SERIALIZED is all this needs).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .errors import DistTimeoutError

_thread = threading.local()


def in_background() -> bool:
    """True on a queue's thread (asynchronous work), False on the caller's."""
    return getattr(_thread, "background", False)


class Work:
    """An asynchronous collective: ``wait()`` for it, then its tensors hold the result."""

    def __init__(self, what: str, result: Any = None, timeout_s: float | None = None) -> None:
        self._what = what
        self._timeout_s = timeout_s  # wait()'s default: the process group's timeout
        self._result = result
        self._done = threading.Event()
        self._exc: BaseException | None = None
        self._finish: Callable[[], None] | None = None  # runs in wait(), in the caller's thread
        self._started = self._ended = 0.0  # perf_counter() around the engine's call (profiling)

    def _complete(self, exc: BaseException | None = None) -> None:
        self._exc = exc
        self._done.set()

    def wait(self, timeout=None) -> bool:
        """Block until the collective finished (at most ``timeout``, default the group's);
        re-raise its error if it failed."""
        seconds = self._timeout_s if timeout is None else _seconds(timeout)
        if not self._done.wait(seconds):
            raise DistTimeoutError(
                f"{self._what} timed out after {seconds:g} s (Work.wait): not every rank of "
                f"the group reached it (each rank must call the same collectives in the same "
                f"order)"
            )
        if self._exc is not None:
            raise self._exc
        finish, self._finish = self._finish, None
        if finish is not None:
            finish()
        return True

    def is_completed(self) -> bool:
        return self._done.is_set()

    def is_success(self) -> bool:
        return self._done.is_set() and self._exc is None

    def exception(self) -> BaseException | None:
        return self._exc

    def result(self) -> list:
        """The output tensors (after ``wait``)."""
        self.wait()
        r = self._result
        return list(r) if isinstance(r, (list, tuple)) else ([] if r is None else [r])

    def __repr__(self) -> str:
        state = "completed" if self.is_completed() else "pending"
        return f"<gpugrad.distributed.Work {self._what} {state}>"


def _seconds(timeout) -> float:
    return timeout.total_seconds() if hasattr(timeout, "total_seconds") else float(timeout)


class OrderedQueue:
    """Runs one process group's communication in the order it was issued."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._items: deque = deque()
        self._cv = threading.Condition()
        self._busy = False
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, fn: Callable[[], None], work: Work) -> Work:
        """Run ``fn()`` after everything issued before it; ``work`` completes with it."""
        with self._cv:
            if self._closed:
                raise RuntimeError(f"{self._name}: the process group was destroyed")
            self._items.append((fn, work))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name=f"gpugrad-{self._name}", daemon=True
                )
                self._thread.start()
            self._cv.notify_all()
        return work

    def run_now(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn()`` in this thread once the queued work is done (a synchronous call)."""
        with self._cv:
            while self._items or self._busy:
                self._cv.wait()
            self._busy = True
        try:
            return fn()
        finally:
            with self._cv:
                self._busy = False
                self._cv.notify_all()

    def close(self) -> None:
        """Finish the queued work, then stop the thread."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            # (bounded: after a timeout the thread may wait in the engine for good)
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        _thread.background = True
        while True:
            with self._cv:
                while (not self._items or self._busy) and not (self._closed and not self._items):
                    self._cv.wait()
                if not self._items:
                    return  # closed and drained
                fn, work = self._items.popleft()
                self._busy = True
            work._started = time.perf_counter()
            try:
                fn()
            except BaseException as e:  # the error belongs to whoever waits on the work
                work._ended = time.perf_counter()
                work._complete(e)
            else:
                work._ended = time.perf_counter()
                work._complete()
            finally:
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()
