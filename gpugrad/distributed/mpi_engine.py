"""The MPI engine (mpi4py): collectives on NumPy arrays, for cpu tensors.

Every call takes C-contiguous arrays and works in place where PyTorch's collective does.
Before each collective the ranks exchange a small fingerprint (which collective, dtype,
shape, root) with a non-blocking all-gather polled against the group's timeout: a rank
that calls another collective, or none, gives every rank a clear error instead of a hang
or a silently wrong result, and that exchange costs a few microseconds.
"""

from __future__ import annotations

import time

import numpy as np

from .errors import DistTimeoutError
from .reduce_op import RedOpType
from .work import in_background

INSTALL_HINT = 'pip install "gpugrad[distributed]"  (installs mpi4py and the mpich wheel)'


def load_mpi():
    """mpi4py's MPI module (initialising MPI), or one clear error saying what to install."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise RuntimeError(
            f"the mpi backend needs mpi4py and an MPI library ({e}); install them with: "
            f"{INSTALL_HINT}"
        ) from None
    return MPI


SPIN_S = 0.002  # how long a wait spins before it sleeps between polls


def _mpi_op(MPI, op: RedOpType, dtype: np.dtype):  # noqa: N803 - the module's own name
    if dtype.kind == "b":
        table = {
            RedOpType.SUM: MPI.LOR,
            RedOpType.MAX: MPI.LOR,
            RedOpType.MIN: MPI.LAND,
            RedOpType.PRODUCT: MPI.LAND,
            RedOpType.BAND: MPI.LAND,
            RedOpType.BOR: MPI.LOR,
            RedOpType.BXOR: MPI.LXOR,
        }
    else:
        table = {
            RedOpType.SUM: MPI.SUM,
            RedOpType.AVG: MPI.SUM,  # then divided by the group's size
            RedOpType.PRODUCT: MPI.PROD,
            RedOpType.MIN: MPI.MIN,
            RedOpType.MAX: MPI.MAX,
            RedOpType.BAND: MPI.BAND,
            RedOpType.BOR: MPI.BOR,
            RedOpType.BXOR: MPI.BXOR,
        }
    if op in (RedOpType.BAND, RedOpType.BOR, RedOpType.BXOR) and dtype.kind == "f":
        raise RuntimeError(f"ReduceOp.{op.name} needs integer or bool tensors, got {dtype}")
    if op is RedOpType.AVG and dtype.kind != "f":
        raise RuntimeError(f"ReduceOp.AVG needs floating point tensors, got {dtype}")
    return table[op]


class MPIEngine:
    """One MPI communicator's collectives."""

    name = "mpi"
    device_type = "cpu"

    def __init__(self, comm, timeout_s: float) -> None:
        self.MPI = load_mpi()
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self.timeout_s = timeout_s

    # ---- the rendezvous every collective starts with ------------------------------
    def exchange(self, row: np.ndarray, what: str) -> np.ndarray:
        """All ranks' ``row`` (int64) as a (size, len) array, within the timeout."""
        out = np.empty((self.size, row.size), np.int64)
        req = self.comm.Iallgather(row, out)
        self.wait(req, what)
        return out

    def wait(self, req, what: str):
        """Wait for a request, polling so that the timeout can end a hang.

        On the queue's thread it blocks instead (one release of the GIL, not one per poll,
        so the training thread keeps running): there ``Work.wait`` keeps the timeout.
        """
        status = self.MPI.Status()
        if in_background():
            req.Wait(status)
            return status
        test, clock = req.Test, time.perf_counter
        if test(status):
            return status
        start = clock()
        spin_until, deadline = start + SPIN_S, start + self.timeout_s
        delay = 5e-5
        while not test(status):
            now = clock()
            if now < spin_until:  # ranks usually arrive within microseconds: spin first
                continue
            if now > deadline:
                raise DistTimeoutError(
                    f"ProcessGroupMPI: {what} timed out after {self.timeout_s:g} s: not every "
                    f"rank of the group reached it (each rank must call the same collectives "
                    f"in the same order); rank {self.rank} of {self.size} waited"
                )
            time.sleep(delay)  # a long wait: release the core (and the GIL)
            delay = min(delay * 2, 5e-4)
        return status

    # ---- collectives on arrays --------------------------------------------------------
    def all_reduce(self, arr: np.ndarray, op: RedOpType) -> None:
        buf = _reducible(arr)
        self.comm.Allreduce(self.MPI.IN_PLACE, buf, op=_mpi_op(self.MPI, op, arr.dtype))
        if op is RedOpType.AVG:
            buf /= self.size  # true division keeps floats; ints were refused above
        _write_back(arr, buf)

    def reduce(self, arr: np.ndarray, op: RedOpType, root: int) -> None:
        buf = _reducible(arr)
        mop = _mpi_op(self.MPI, op, arr.dtype)
        if self.rank == root:
            self.comm.Reduce(self.MPI.IN_PLACE, buf, op=mop, root=root)
            if op is RedOpType.AVG:
                buf /= self.size
            _write_back(arr, buf)
        else:
            self.comm.Reduce(buf, None, op=mop, root=root)

    def broadcast(self, arr: np.ndarray, root: int) -> None:
        self.comm.Bcast(_bytes(arr), root=root)

    def all_gather(self, send: np.ndarray, recv: np.ndarray) -> None:
        """``recv`` holds ``size`` copies of ``send``'s layout, rank order."""
        self.comm.Allgather(_bytes(send), _bytes(recv))

    def reduce_scatter(self, send: np.ndarray, recv: np.ndarray, op: RedOpType) -> None:
        """Reduce ``send`` (``size`` blocks) and keep this rank's block in ``recv``."""
        rbuf = _reducible(recv)
        mop = _mpi_op(self.MPI, op, send.dtype)
        self.comm.Reduce_scatter_block(_reducible(send), rbuf, op=mop)
        if op is RedOpType.AVG:
            rbuf /= self.size
        _write_back(recv, rbuf)

    def gather(self, send: np.ndarray, recv: np.ndarray | None, root: int) -> None:
        self.comm.Gather(_bytes(send), None if recv is None else _bytes(recv), root=root)

    def scatter(self, send: np.ndarray | None, recv: np.ndarray, root: int) -> None:
        self.comm.Scatter(None if send is None else _bytes(send), _bytes(recv), root=root)

    def barrier(self) -> None:
        self.wait(self.comm.Ibarrier(), "barrier")

    def send(self, arr: np.ndarray, dst: int, tag: int) -> None:
        self.wait(self.comm.Isend(_bytes(arr), dest=dst, tag=tag), f"send to rank {dst}")

    def recv(self, arr: np.ndarray, src: int | None, tag: int) -> int:
        """Receive into ``arr``; returns the sender's rank (``src=None``: any rank)."""
        source = self.MPI.ANY_SOURCE if src is None else src
        buf = _bytes(arr)
        try:
            status = self.wait(self.comm.Irecv(buf, source=source, tag=tag), "recv")
        except self.MPI.Exception as e:
            raise RuntimeError(
                f"ProcessGroupMPI::recv: the message does not fit the tensor of "
                f"{arr.nbytes} bytes ({e.Get_error_string().splitlines()[0]})"
            ) from None
        got = status.Get_count(self.MPI.BYTE)
        if got != arr.nbytes:
            raise RuntimeError(
                f"ProcessGroupMPI::recv: received {got} bytes from rank "
                f"{status.Get_source()} for a tensor of {arr.nbytes} bytes"
            )
        return status.Get_source()

    # ---- bytes, for the object collectives ---------------------------------------------
    def broadcast_bytes(self, data: bytes | None, root: int) -> bytes:
        n = np.array([0 if data is None else len(data)], np.int64)
        self.comm.Bcast(n, root=root)
        buf = np.frombuffer(data, np.uint8).copy() if self.rank == root else None
        if buf is None:
            buf = np.empty(int(n[0]), np.uint8)
        self.comm.Bcast(buf, root=root)
        return buf.tobytes()

    def all_gather_bytes(self, data: bytes) -> list[bytes]:
        sizes = np.empty(self.size, np.int64)
        self.comm.Allgather(np.array([len(data)], np.int64), sizes)
        out = np.empty(int(sizes.sum()), np.uint8)
        displs = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self.comm.Allgatherv(
            np.frombuffer(data, np.uint8), [out, sizes.tolist(), displs.tolist(), self.MPI.BYTE]
        )
        return [out[o : o + s].tobytes() for o, s in zip(displs, sizes)]

    def split(self, ranks: list[int]):
        """A communicator of ``ranks`` (None on the ranks outside it); collective on all."""
        color = 0 if self.rank in ranks else self.MPI.UNDEFINED
        key = ranks.index(self.rank) if self.rank in ranks else 0
        sub = self.comm.Split(color, key)
        return None if sub == self.MPI.COMM_NULL else MPIEngine(sub, self.timeout_s)

    def close(self) -> None:
        if self.comm != self.MPI.COMM_WORLD:
            self.comm.Free()


def _reducible(arr: np.ndarray) -> np.ndarray:
    """An array MPI can reduce: bools as bytes (logical ops), float16 through float32."""
    if arr.dtype.kind == "b":
        return arr.view(np.uint8)
    if arr.dtype == np.float16:  # MPI has no half type
        return arr.astype(np.float32)
    return arr


def _write_back(arr: np.ndarray, buf: np.ndarray) -> None:
    if buf.base is not arr and buf is not arr:
        arr[...] = buf


def _bytes(arr: np.ndarray) -> np.ndarray:
    """A byte view: moving data needs no MPI datatype (float16, bool ... all move)."""
    return arr.reshape(-1).view(np.uint8)
