"""The DataLoader's worker processes: what runs inside one, and ``get_worker_info``.

Each worker gets a copy of the dataset (forked, or pickled for ``spawn``), seeds Python's,
NumPy's and gpugrad's generators from ``base_seed + worker_id`` as PyTorch does, runs
``worker_init_fn``, then answers ``(task index, batch indices)`` requests from its index queue
with ``(task index, batch)``, pickled, on its own result pipe, until told to stop or its
parent dies. One pipe per worker: a worker that dies mid-message corrupts only its own
pipe, and the main process sees the pipe close at once.
"""

from __future__ import annotations

import os
import queue
import random
import warnings
from dataclasses import dataclass
from multiprocessing.reduction import ForkingPickler
from typing import Any

import numpy as np

from .._exception_wrapper import ExceptionWrapper
from . import fetch

STATUS_CHECK_INTERVAL = 1.0  # seconds between liveness checks while a queue is empty


@dataclass(frozen=True)
class WorkerInfo:
    """What ``get_worker_info()`` tells code running in a worker (PyTorch's fields)."""

    id: int
    num_workers: int
    seed: int
    dataset: Any
    rng: Any = None
    worker_method: str | None = "multiprocessing"


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """This worker's ``WorkerInfo`` (id, num_workers, seed, dataset); None in the main process."""
    return _worker_info


@dataclass(frozen=True)
class IterableDatasetStopIteration:
    """A worker's iterable dataset is exhausted."""

    worker_id: int


@dataclass(frozen=True)
class ResumeIteration:
    """Start a new pass with the same (persistent) workers."""


def generate_state(base_seed: int, worker_id: int) -> list[int]:
    """NumPy's seed for a worker: PyTorch's SeedSequence-style hash of (worker_id, base_seed),
    so NumPy streams differ between workers and between passes."""
    init_a, mult_a, init_b, mult_b = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
    mix_mult_l, mix_mult_r, xshift, mask32 = 0xCA01F9DD, 0x4973F715, 16, 0xFFFFFFFF
    entropy = [worker_id, base_seed & mask32, base_seed >> 32, 0]
    hash_const_a = init_a

    def hash32(value: int) -> int:
        nonlocal hash_const_a
        value = (value ^ hash_const_a) & mask32
        hash_const_a = (hash_const_a * mult_a) & mask32
        value = (value * hash_const_a) & mask32
        return (value ^ (value >> xshift)) & mask32

    def mix(x: int, y: int) -> int:
        result = (((mix_mult_l * x) & mask32) - ((mix_mult_r * y) & mask32)) & mask32
        return (result ^ (result >> xshift)) & mask32

    pool = [hash32(e) for e in entropy]
    for i_src in range(4):
        for i_dst in range(4):
            if i_src != i_dst:
                pool[i_dst] = mix(pool[i_dst], hash32(pool[i_src]))
    hash_const_b, state = init_b, []
    for value in pool:
        value = (value ^ hash_const_b) & mask32
        hash_const_b = (hash_const_b * mult_b) & mask32
        value = (value * hash_const_b) & mask32
        state.append((value ^ (value >> xshift)) & mask32)
    return state


def _set_up_process(base_seed: int, worker_id: int) -> int:
    import gpugrad

    with warnings.catch_warnings():  # without threadpoolctl the count stays; no noise per worker
        warnings.simplefilter("ignore")
        # one BLAS thread per worker, as PyTorch's torch.set_num_threads(1): N workers with
        # a thread per core each would oversubscribe the machine
        gpugrad.set_num_threads(1)
    seed = base_seed + worker_id
    random.seed(seed)
    gpugrad.manual_seed(seed)
    np.random.seed(generate_state(base_seed, worker_id))
    return seed


def _send(pipe, task, data, worker_id: int) -> None:
    """Pickle and send; a batch that cannot be pickled goes back as the error it raised."""
    try:
        payload = ForkingPickler.dumps((task, data))
    except Exception:
        where = f"in DataLoader worker process {worker_id} (pickling the batch)"
        payload = ForkingPickler.dumps((task, ExceptionWrapper(where=where)))
    pipe.send_bytes(payload)


def worker_loop(
    iterable: bool,
    dataset,
    index_queue,
    result_pipe,
    done_event,
    auto_collation: bool,
    collate_fn,
    drop_last: bool,
    base_seed: int,
    init_fn,
    worker_id: int,
    num_workers: int,
) -> None:
    """The body of worker ``worker_id``."""
    from .. import _tensor_pickling  # noqa: F401  (spawned workers register the reducer too)

    global _worker_info
    try:
        seed = _set_up_process(base_seed, worker_id)
        _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed, dataset=dataset)
        where = f"in DataLoader worker process {worker_id}"
        init_exception = fetcher = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
            fetcher = fetch.create_fetcher(iterable, dataset, auto_collation, collate_fn, drop_last)
        except Exception:
            init_exception = ExceptionWrapper(where=where)
        iteration_end = False
        parent = os.getppid()
        while os.getppid() == parent:  # the parent died: nobody will read what we load
            try:
                r = index_queue.get(timeout=STATUS_CHECK_INTERVAL)
            except queue.Empty:
                if done_event.is_set():  # the main process is shutting down
                    break
                continue
            if isinstance(r, ResumeIteration):
                _send(result_pipe, r, None, worker_id)
                iteration_end = False
                try:
                    fetcher = fetch.create_fetcher(
                        iterable, dataset, auto_collation, collate_fn, drop_last
                    )
                except Exception:
                    init_exception = ExceptionWrapper(where=where)
                continue
            if r is None:  # shut down
                break
            if done_event.is_set() or iteration_end:
                continue
            task, index = r
            if init_exception is not None:
                data, init_exception = init_exception, None
            else:
                try:
                    data = fetcher.fetch(index)
                except StopIteration:
                    if not iterable:
                        data = ExceptionWrapper(where=where)
                    else:
                        data = IterableDatasetStopIteration(worker_id)
                        iteration_end = True
                except Exception:
                    data = ExceptionWrapper(where=where)
            _send(result_pipe, task, data, worker_id)
            del data, index, r  # do not hold the last batch while waiting for the next task
    except KeyboardInterrupt:  # the main process handles Ctrl-C
        pass
    except BrokenPipeError:  # the main process is gone or stopped reading: nothing to do
        pass
    finally:
        result_pipe.close()
