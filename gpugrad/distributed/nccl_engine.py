"""The NCCL engine (CuPy's ``cupyx.distributed``): collectives on CuPy arrays, for cuda tensors.

NCCL needs one GPU per rank. Its calls only enqueue work: each runs on the engine's own
stream after the caller's stream has reached it, so gradient all-reduces overlap the rest
of backward; finishing (``wait()`` or a synchronous call) makes the caller's stream wait
for it, as PyTorch's ProcessGroupNCCL does. The NCCL id is handed out over MPI, which also
carries each collective's fingerprint check and its timeout.
"""

from __future__ import annotations

from .reduce_op import RedOpType

INSTALL_HINT = (
    'pip install "gpugrad[cuda12,distributed]" (cupy-cuda12x, the nvidia-nccl-cu12 wheel, '
    "mpi4py, mpich)"
)

_OPS = {
    RedOpType.SUM: "sum",
    RedOpType.AVG: "sum",  # then divided by the group's size
    RedOpType.PRODUCT: "prod",
    RedOpType.MIN: "min",
    RedOpType.MAX: "max",
}


def nccl_status() -> str:
    """'' when NCCL can run here, else why not and what to install."""
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # CuPy warns when libnccl is missing; we say why
            from cupy.cuda import nccl
    except Exception as e:
        why = f"{type(e).__name__}: {e}"
        return f"CuPy's NCCL bindings could not be imported ({why}); {INSTALL_HINT}"
    if not getattr(nccl, "available", False):
        return f"the NCCL library (libnccl.so.2) could not be loaded; {INSTALL_HINT}"
    from ..backend import cuda_status

    n, why = cuda_status()
    if n == 0:
        return f"NCCL needs a CUDA GPU: {why}"
    return ""


class NCCLEngine:
    """One NCCL communicator over the group's ranks, one GPU each."""

    name = "nccl"
    device_type = "cuda"
    stream_ordered = True  # calls enqueue on a stream: no host thread needed

    def __init__(self, host, device_id=None) -> None:
        why = nccl_status()
        if why:
            raise RuntimeError(f"the nccl backend cannot start: {why}")
        import cupy
        import cupyx.distributed

        from ..backend import current_cuda_index

        self._cupy = cupy
        self.host = host  # an MPIEngine: the rendezvous, fingerprints and timeouts
        self.rank, self.size = host.rank, host.size
        if device_id is None:
            self.device_index = current_cuda_index()
        else:
            self.device_index = device_id if isinstance(device_id, int) else device_id.index
        with cupy.cuda.Device(self.device_index):
            self.comm = cupyx.distributed.init_process_group(
                self.size, self.rank, backend="nccl", use_mpi=True
            )
            self.stream = cupy.cuda.Stream(non_blocking=True)

    @property
    def timeout_s(self) -> float:
        return self.host.timeout_s

    def exchange(self, row, what: str):
        return self.host.exchange(row, what)

    def _enqueue(self, fn):
        """Run ``fn(stream)`` on the comm stream after the caller's stream; return finish()."""
        cp = self._cupy
        with cp.cuda.Device(self.device_index):
            ready = cp.cuda.get_current_stream().record()
            self.stream.wait_event(ready)
            fn(self.stream)
            done = self.stream.record()

        def finish() -> None:
            cp.cuda.get_current_stream().wait_event(done)

        return finish

    def _op(self, op: RedOpType, dtype) -> str:
        name = _OPS.get(op)
        if name is None:
            raise RuntimeError(f"ReduceOp.{op.name} is not supported by the nccl backend")
        if op is RedOpType.AVG and dtype.kind != "f":
            raise RuntimeError(f"ReduceOp.AVG needs floating point tensors, got {dtype}")
        return name

    def all_reduce(self, arr, op: RedOpType):
        name = self._op(op, arr.dtype)

        def run(stream):
            self.comm.all_reduce(arr, arr, name, stream)
            if op is RedOpType.AVG:
                with stream:
                    self._cupy.true_divide(arr, self.size, out=arr)

        return self._enqueue(run)

    def reduce(self, arr, op: RedOpType, root: int):
        name = self._op(op, arr.dtype)

        def run(stream):
            self.comm.reduce(arr, arr, root, name, stream)
            if op is RedOpType.AVG and self.rank == root:
                with stream:
                    self._cupy.true_divide(arr, self.size, out=arr)

        return self._enqueue(run)

    def broadcast(self, arr, root: int):
        return self._enqueue(lambda stream: self.comm.broadcast(arr, root, stream))

    def all_gather(self, send, recv):
        return self._enqueue(lambda stream: self.comm.all_gather(send, recv, send.size, stream))

    def reduce_scatter(self, send, recv, op: RedOpType):
        name = self._op(op, send.dtype)

        def run(stream):
            self.comm.reduce_scatter(send, recv, recv.size, name, stream)
            if op is RedOpType.AVG:
                with stream:
                    self._cupy.true_divide(recv, self.size, out=recv)

        return self._enqueue(run)

    def gather(self, send, recv, root: int):
        if recv is None:  # CuPy checks the shape on every rank; only root's is written
            recv = self._cupy.empty((self.size,) + send.shape, send.dtype)
        return self._enqueue(lambda stream: self.comm.gather(send, recv, root, stream))

    def scatter(self, send, recv, root: int):
        if send is None:  # (as for gather: CuPy reads the shape on every rank)
            send = self._cupy.empty((self.size,) + recv.shape, recv.dtype)
        return self._enqueue(lambda stream: self.comm.scatter(send, recv, root, stream))

    def send(self, arr, dst: int, tag: int):
        return self._enqueue(lambda stream: self.comm.send(arr, dst, stream))

    def recv(self, arr, src: int | None, tag: int):
        if src is None:
            raise RuntimeError("the nccl backend needs recv's src (NCCL has no any-source)")
        return self._enqueue(lambda stream: self.comm.recv(arr, src, stream))

    def barrier(self) -> None:
        self._cupy.cuda.Device(self.device_index).synchronize()
        self.host.barrier()

    def close(self) -> None:
        self.comm.stop()
        self.host.close()
