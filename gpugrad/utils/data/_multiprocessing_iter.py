"""The DataLoader iterator with worker processes (PyTorch's ``_MultiProcessingDataLoaderIter``).

The main process keeps ``prefetch_factor * num_workers`` tasks in flight, handing batches of
indices to the workers round-robin, and returns results in task order (``in_order=True``),
holding any that arrive early. Each worker answers on a pipe of its own; a pipe that closes
(or a worker found dead while waiting) is an error, not a hang. Workers stop when the pass
ends (unless persistent), when the iterator is deleted, or at exit.
"""

from __future__ import annotations

import atexit
import itertools
import multiprocessing
import pickle
import time
from multiprocessing.connection import wait

from . import _tensor_pickling  # noqa: F401  (registers the Tensor reducer for the queues)
from ._exception_wrapper import ExceptionWrapper
from ._utils.pin_memory import pin_memory as _pin
from ._utils.worker import (
    STATUS_CHECK_INTERVAL,
    IterableDatasetStopIteration,
    ResumeIteration,
    worker_loop,
)
from .dataloader import _BaseDataLoaderIter

_python_exiting = False


def _mark_exiting() -> None:
    global _python_exiting
    _python_exiting = True


atexit.register(_mark_exiting)  # at exit multiprocessing itself ends the (daemonic) workers


class MultiProcessingDataLoaderIter(_BaseDataLoaderIter):
    """Iterates once over the loader's dataset (or once per pass, with persistent workers)."""

    def __init__(self, loader) -> None:
        super().__init__(loader)
        self._prefetch_factor = loader.prefetch_factor
        if self._prefetch_factor <= 0:
            raise AssertionError(
                "prefetch_factor must be greater than 0 for MultiProcessingDataLoaderIter"
            )
        self._in_order = loader.in_order
        ctx = loader.multiprocessing_context or multiprocessing.get_context()
        self._workers_done_event = ctx.Event()
        self._shutdown = False
        self._index_queues, self._workers, self._result_pipes = [], [], []
        for i in range(self._num_workers):
            index_queue = ctx.Queue()
            index_queue.cancel_join_thread()
            reader, writer = ctx.Pipe(duplex=False)
            w = ctx.Process(
                target=worker_loop,
                args=(
                    self._iterable,
                    self._dataset,
                    index_queue,
                    writer,
                    self._workers_done_event,
                    self._auto_collation,
                    self._collate_fn,
                    self._drop_last,
                    self._base_seed,
                    loader.worker_init_fn,
                    i,
                    self._num_workers,
                ),
                daemon=True,
            )
            w.start()
            writer.close()  # the worker holds the only write end: its exit closes the pipe
            self._index_queues.append(index_queue)
            self._workers.append(w)
            self._result_pipes.append(reader)
        self._open_pipes = dict(enumerate(self._result_pipes))
        self._reset(loader, first_iter=True)

    def _reset(self, loader, first_iter: bool = False) -> None:
        super()._reset(loader)
        self._send_idx = 0  # the next task to hand out
        self._rcvd_idx = 0  # the next task to return
        self._task_info: dict[int, tuple] = {}  # task -> (worker,) or (worker, data)
        self._tasks_outstanding = 0
        self._workers_status = [True] * self._num_workers
        self._workers_num_tasks = [0] * self._num_workers
        self._worker_queue_idx_cycle = itertools.cycle(range(self._num_workers))
        if not first_iter:  # persistent workers: start a new pass, drop the old one's leftovers
            for q in self._index_queues:
                q.put(ResumeIteration())
            remaining = self._num_workers
            while remaining > 0:
                task, _ = self._get_data()
                if isinstance(task, ResumeIteration):
                    remaining -= 1
        for _ in range(self._prefetch_factor * self._num_workers):
            self._try_put_index()

    def _try_get_data(self, timeout: float = STATUS_CHECK_INTERVAL):
        """(True, (task, data)) from whichever worker answers first, or (False, None)."""
        failed = []
        for pipe in wait(list(self._open_pipes.values()), timeout):
            worker = self._result_pipes.index(pipe)
            try:
                return True, pickle.loads(pipe.recv_bytes())
            except EOFError:  # the worker exited; fine once it was told to
                del self._open_pipes[worker]
                if self._workers_status[worker] or self._persistent_workers:
                    failed.append(worker)
        failed += [
            i
            for i, w in enumerate(self._workers)
            if self._workers_status[i] and not w.is_alive() and i not in failed
        ]
        if failed:
            for i in failed:
                self._workers_status[i] = False
            pids = ", ".join(str(self._workers[i].pid) for i in sorted(failed))
            self._shutdown_workers()
            raise RuntimeError(f"DataLoader worker (pid(s) {pids}) exited unexpectedly")
        return False, None

    def _get_data(self):
        if self._timeout > 0:
            ok, data = self._try_get_data(self._timeout)
            if not ok:
                raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")
            return data
        while True:
            ok, data = self._try_get_data()
            if ok:
                return data

    def _next_data(self):
        while True:
            # skip tasks of workers that have finished their stream
            while self._rcvd_idx < self._send_idx:
                info = self._task_info.get(self._rcvd_idx)
                if info and (len(info) == 2 or self._workers_status[info[0]]):
                    break
                self._task_info.pop(self._rcvd_idx, None)
                self._rcvd_idx += 1
            else:
                if not self._persistent_workers:
                    self._shutdown_workers()
                raise StopIteration
            if len(self._task_info[self._rcvd_idx]) == 2:  # arrived earlier, out of order
                worker_id, data = self._task_info.pop(self._rcvd_idx)
                self._rcvd_idx += 1
                return self._process_data(data, worker_id)
            task, data = self._get_data()
            self._tasks_outstanding -= 1
            if isinstance(data, IterableDatasetStopIteration):
                if self._persistent_workers:
                    self._workers_status[data.worker_id] = False
                else:
                    self._mark_worker_as_unavailable(data.worker_id)
                self._try_put_index()
                continue
            if task != self._rcvd_idx:
                if not self._in_order:
                    worker_id = self._task_info.pop(task)[0]
                    return self._process_data(data, worker_id)
                self._task_info[task] += (data,)
                continue
            worker_id = self._task_info.pop(task)[0]
            self._rcvd_idx += 1
            return self._process_data(data, worker_id)

    def _try_put_index(self) -> None:
        try:
            index = self._next_index()
        except StopIteration:
            return
        max_tasks = self._prefetch_factor * self._num_workers
        for _ in range(self._num_workers):  # the next active worker, if any
            worker = next(self._worker_queue_idx_cycle)
            if self._workers_status[worker] and (
                self._in_order
                or self._workers_num_tasks[worker] < max_tasks // sum(self._workers_status)
            ):
                break
        else:
            return
        self._index_queues[worker].put((self._send_idx, index))
        self._task_info[self._send_idx] = (worker,)
        self._workers_num_tasks[worker] += 1
        self._tasks_outstanding += 1
        self._send_idx += 1

    def _process_data(self, data, worker_id: int):
        self._workers_num_tasks[worker_id] -= 1
        self._try_put_index()
        if isinstance(data, ExceptionWrapper):
            data.reraise()
        return _pin(data) if self._pin_memory else data

    def _mark_worker_as_unavailable(self, worker_id: int) -> None:
        self._workers_status[worker_id] = False
        try:
            self._index_queues[worker_id].put(None)  # the worker exits when it reads this
        except (OSError, ValueError):  # the queue is already closed (garbage collection)
            pass

    def _shutdown_workers(self) -> None:
        if _python_exiting is not False or self._shutdown:  # None: the module is torn down
            return
        self._shutdown = True
        try:
            self._workers_done_event.set()  # workers also exit on this alone, within a second
            for i in range(len(self._workers)):
                if self._persistent_workers or self._workers_status[i]:
                    self._mark_worker_as_unavailable(i)
            deadline = time.monotonic() + STATUS_CHECK_INTERVAL
            for w in self._workers:
                w.join(timeout=max(0.0, deadline - time.monotonic()))
        finally:
            for w in self._workers:
                if w.is_alive():  # stuck in user code: it would never read the stop request
                    w.terminate()
                    w.join(timeout=STATUS_CHECK_INTERVAL)
            for conn in [*self._index_queues, *self._result_pipes]:
                try:
                    if hasattr(conn, "cancel_join_thread"):
                        conn.cancel_join_thread()
                    conn.close()
                except OSError:  # already closed by its own finalizer
                    pass

    def __del__(self) -> None:
        self._shutdown_workers()
