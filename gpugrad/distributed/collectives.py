"""The collectives and point-to-point calls, with PyTorch's signatures.

Each call checks its arguments on the caller's thread (PyTorch's errors), then runs on the
process group's ordered queue: the fingerprint check, then the engine's call on the
tensors' arrays, in place. ``async_op=True`` returns a ``Work``; otherwise the call returns
when the tensors hold the result.
"""

from __future__ import annotations

from .. import Tensor
from . import fingerprint
from .process_group import ProcessGroup, _default_group
from .reduce_op import ReduceOp, as_reduce_op
from .work import Work


def _check_tensor(t, param: str) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(
            f"Invalid function argument. Expected parameter `{param}` of type gpugrad.Tensor\n"
            f"             but got {type(t)} instead."
        )


def _check_list(ts, param: str) -> None:
    if not isinstance(ts, (list, tuple)) or not all(isinstance(t, Tensor) for t in ts):
        raise TypeError(
            f"Invalid function argument. Expected parameter `{param}` of type "
            f"List[gpugrad.Tensor]\n             but got {type(ts)} instead."
        )


def _engine(pg: ProcessGroup, what: str, *tensors):
    dev = tensors[0].device
    for t in tensors[1:]:
        if t.device != dev:
            raise RuntimeError(
                f"{what}: all tensors must be on one device, got {dev} and {t.device}"
            )
    return pg.engine_for(dev.type, what)


def _root(pg: ProcessGroup, rank, group_rank, what: str, label: str) -> int:
    """A root given as a global rank (or ``group_<label>``) as the group's rank."""
    if group_rank is not None:
        if rank is not None:
            raise ValueError(f"Can not specify both {label} and group_{label}")
        r = int(group_rank)
    else:
        r = 0 if rank is None else int(rank)
        if r in pg._ranks:
            r = pg._ranks.index(r)
        else:
            raise RuntimeError(f"ProcessGroup{_name(pg)}::{what}: invalid root rank: {r}")
    if not 0 <= r < pg.size():
        raise RuntimeError(f"ProcessGroup{_name(pg)}::{what}: invalid root rank: {r}")
    return r


def _name(pg: ProcessGroup) -> str:
    return "".join(e.name.upper() for e in pg._engines.values())


class _Arrays:
    """A tensor's array to communicate in place: itself when contiguous, else a copy
    written back afterwards (MPI); NCCL refuses non-contiguous tensors as PyTorch's."""

    def __init__(self, t: Tensor, engine, what: str) -> None:
        self.tensor = t
        a = t._data
        self.array = a
        self.copy = None
        if not a.flags.c_contiguous:
            if getattr(engine, "stream_ordered", False):
                raise RuntimeError(f"{what}: Tensors must be contiguous")
            self.copy = a.copy(order="C")
            self.array = self.copy

    def modified(self) -> None:
        """Mark the tensor written (its version moves, as an in-place op's does)."""
        self.tensor._vc[0] += 1

    def write_back(self) -> None:
        if self.copy is not None:
            self.tensor._data[...] = self.copy


def _issue(pg: ProcessGroup, engine, what: str, job, async_op: bool, result=None):
    """Run ``job`` (returns None, or a finish() for stream-ordered engines) in order."""
    if getattr(engine, "stream_ordered", False):
        finish = pg._queue.run_now(job)  # only enqueues on the engine's stream
        if not async_op:
            finish()
            return None
        work = Work(what, result)
        work._finish = finish
        work._complete()
        return work
    if async_op:
        work = Work(f"ProcessGroup{_name(pg)}: {what}", result, engine.timeout_s)
        return pg._queue.submit(job, work)
    pg._queue.run_now(job)
    return None


def all_reduce(tensor: Tensor, op=ReduceOp.SUM, group=None, async_op: bool = False):
    """Reduce ``tensor`` over all ranks, in place, with ``op``."""
    _check_tensor(tensor, "tensor")
    op = as_reduce_op(op)
    pg = _default_group(group)
    eng = _engine(pg, "all_reduce", tensor)
    a = _Arrays(tensor, eng, "all_reduce")
    a.modified()

    def job():
        fingerprint.check(pg, eng, "ALLREDUCE", a.array, op)
        finish = eng.all_reduce(a.array, op)
        a.write_back()
        return finish

    return _issue(pg, eng, "all_reduce", job, async_op, tensor)


def broadcast(
    tensor: Tensor, src: int | None = None, group=None, async_op: bool = False, group_src=None
):
    """Copy rank ``src``'s ``tensor`` into every rank's ``tensor``."""
    _check_tensor(tensor, "tensor")
    pg = _default_group(group)
    root = _root(pg, src, group_src, "broadcast", "src")
    eng = _engine(pg, "broadcast", tensor)
    a = _Arrays(tensor, eng, "broadcast")
    a.modified()

    def job():
        fingerprint.check(pg, eng, "BROADCAST", a.array, root=root)
        finish = eng.broadcast(a.array, root)
        a.write_back()
        return finish

    return _issue(pg, eng, "broadcast", job, async_op, tensor)


def reduce(
    tensor: Tensor,
    dst: int | None = None,
    op=ReduceOp.SUM,
    group=None,
    async_op: bool = False,
    group_dst=None,
):
    """Reduce ``tensor`` over all ranks into rank ``dst``'s ``tensor``."""
    _check_tensor(tensor, "tensor")
    op = as_reduce_op(op)
    pg = _default_group(group)
    root = _root(pg, dst, group_dst, "reduce", "dst")
    eng = _engine(pg, "reduce", tensor)
    a = _Arrays(tensor, eng, "reduce")
    a.modified()

    def job():
        fingerprint.check(pg, eng, "REDUCE", a.array, op, root)
        finish = eng.reduce(a.array, op, root)
        a.write_back()
        return finish

    return _issue(pg, eng, "reduce", job, async_op, tensor)


def _same_layout(pg, what: str, outs, t: Tensor, expect_len: int) -> None:
    n = _name(pg)
    if len(outs) != expect_len:
        raise RuntimeError(
            f"ProcessGroup{n}::{what}: invalid output tensor list at index 0 (expected length "
            f"{expect_len}, got {len(outs)})"
        )
    for i, o in enumerate(outs):
        if tuple(o.shape) != tuple(t.shape):
            raise RuntimeError(
                f"ProcessGroup{n}::{what}: invalid tensor size at index {i} (expected "
                f"({', '.join(map(str, t.shape))}), got ({', '.join(map(str, o.shape))}))"
            )
        if o.dtype != t.dtype:
            raise RuntimeError(
                f"ProcessGroup{n}::{what}: invalid tensor type at index {i} (expected "
                f"{t.dtype}, got {o.dtype})"
            )


def all_gather(tensor_list: list, tensor: Tensor, group=None, async_op: bool = False):
    """Every rank's ``tensor`` into ``tensor_list[rank]``, on every rank."""
    _check_list(tensor_list, "tensor_list")
    _check_tensor(tensor, "tensor")
    pg = _default_group(group)
    eng = _engine(pg, "all_gather", tensor, *tensor_list)
    _same_layout(pg, "allgather", tensor_list, tensor, pg.size())
    src = _Arrays(tensor, eng, "all_gather")
    xp = tensor._device.backend.xp
    for o in tensor_list:
        o._vc[0] += 1

    def job():
        fingerprint.check(pg, eng, "ALLGATHER", src.array)
        recv = xp.empty((pg.size(),) + tuple(src.array.shape), src.array.dtype)
        finish = eng.all_gather(src.array, recv)

        def unpack():
            for o, part in zip(tensor_list, recv):
                o._data[...] = part

        if finish is None:
            unpack()
            return None
        return lambda: (finish(), unpack())

    return _issue(pg, eng, "all_gather", job, async_op, tensor_list)


def all_gather_into_tensor(
    output_tensor: Tensor, input_tensor: Tensor, group=None, async_op: bool = False
):
    """Every rank's ``input_tensor``, concatenated (or stacked) in ``output_tensor``."""
    _check_tensor(output_tensor, "output_tensor")
    _check_tensor(input_tensor, "input_tensor")
    pg = _default_group(group)
    eng = _engine(pg, "all_gather_into_tensor", output_tensor, input_tensor)
    if output_tensor.numel() != pg.size() * input_tensor.numel():
        raise ValueError("output tensor size must be equal to world_size times input tensor size")
    if output_tensor.dtype != input_tensor.dtype:
        raise TypeError("output tensor must have the same type as input tensor")
    src = _Arrays(input_tensor, eng, "all_gather_into_tensor")
    out = _Arrays(output_tensor, eng, "all_gather_into_tensor")
    out.modified()

    def job():
        fingerprint.check(pg, eng, "_ALLGATHER_BASE", src.array)
        finish = eng.all_gather(src.array, out.array)
        out.write_back()
        return finish

    return _issue(pg, eng, "all_gather_into_tensor", job, async_op, output_tensor)


def reduce_scatter_tensor(
    output: Tensor, input: Tensor, op=ReduceOp.SUM, group=None, async_op: bool = False
):
    """Reduce ``input`` (``world_size`` blocks along dim 0) and keep this rank's block."""
    _check_tensor(output, "output")
    _check_tensor(input, "input")
    op = as_reduce_op(op)
    pg = _default_group(group)
    eng = _engine(pg, "reduce_scatter_tensor", output, input)
    if input.numel() != pg.size() * output.numel():
        raise ValueError("input tensor must be the same size as output size times world size")
    if output.dtype != input.dtype:
        raise TypeError("input tensor must be the same type as the output tensor.")
    src = _Arrays(input, eng, "reduce_scatter_tensor")
    out = _Arrays(output, eng, "reduce_scatter_tensor")
    out.modified()

    def job():
        fingerprint.check(pg, eng, "_REDUCE_SCATTER_BASE", src.array, op)
        finish = eng.reduce_scatter(src.array, out.array, op)
        out.write_back()
        return finish

    return _issue(pg, eng, "reduce_scatter_tensor", job, async_op, output)


def gather(
    tensor: Tensor,
    gather_list: list | None = None,
    dst: int | None = None,
    group=None,
    async_op: bool = False,
    group_dst=None,
):
    """Every rank's ``tensor`` into rank ``dst``'s ``gather_list``."""
    _check_tensor(tensor, "tensor")
    pg = _default_group(group)
    root = _root(pg, dst, group_dst, "gather", "dst")
    here = pg.rank() == root
    if here:
        if not gather_list:
            raise ValueError("Argument ``gather_list`` must be specified on destination rank.")
        _check_list(gather_list, "gather_list")
        _same_layout(pg, "gather", gather_list, tensor, pg.size())
    elif gather_list:
        raise ValueError("Argument ``gather_list`` must NOT be specified on non-destination ranks.")
    eng = _engine(pg, "gather", tensor, *(gather_list or []))
    src = _Arrays(tensor, eng, "gather")
    xp = tensor._device.backend.xp
    for o in gather_list or []:
        o._vc[0] += 1

    def job():
        fingerprint.check(pg, eng, "GATHER", src.array, root=root)
        recv = xp.empty((pg.size(),) + tuple(src.array.shape), src.array.dtype) if here else None
        finish = eng.gather(src.array, recv, root)

        def unpack():
            if here:
                for o, part in zip(gather_list, recv):
                    o._data[...] = part

        if finish is None:
            unpack()
            return None
        return lambda: (finish(), unpack())

    return _issue(pg, eng, "gather", job, async_op, gather_list)


def scatter(
    tensor: Tensor,
    scatter_list: list | None = None,
    src: int | None = None,
    group=None,
    async_op: bool = False,
    group_src=None,
):
    """Rank ``src``'s ``scatter_list[r]`` into rank r's ``tensor``."""
    _check_tensor(tensor, "tensor")
    pg = _default_group(group)
    root = _root(pg, src, group_src, "scatter", "src")
    here = pg.rank() == root
    if here:
        if not scatter_list:
            raise ValueError("Argument ``scatter_list`` must be specified on source rank.")
        _check_list(scatter_list, "scatter_list")
        _same_layout(pg, "scatter", scatter_list, tensor, pg.size())
    elif scatter_list:
        raise ValueError("Argument ``scatter_list`` must NOT be specified on non-source ranks.")
    eng = _engine(pg, "scatter", tensor, *(scatter_list or []))
    out = _Arrays(tensor, eng, "scatter")
    out.modified()
    xp = tensor._device.backend.xp

    def job():
        fingerprint.check(pg, eng, "SCATTER", out.array, root=root)
        send = xp.stack([s._data for s in scatter_list]) if here else None
        finish = eng.scatter(send, out.array, root)
        out.write_back()
        return finish

    return _issue(pg, eng, "scatter", job, async_op, tensor)


def barrier(group=None, async_op: bool = False, device_ids=None, timeout=None):
    """Return once every rank of the group has called barrier."""
    pg = _default_group(group)
    eng = next(iter(pg._engines.values()))

    def job():
        fingerprint.check(pg, eng, "BARRIER")
        eng.barrier()
        return (lambda: None) if getattr(eng, "stream_ordered", False) else None

    return _issue(pg, eng, "barrier", job, async_op)


def _peer(pg, rank, group_rank, what: str, label: str) -> int:
    if group_rank is not None:
        peer = int(group_rank)
    elif rank is None:
        raise ValueError(f"{what}: {label} must be given")
    else:
        peer = pg.group_rank(int(rank), what)
    if peer == pg.rank():
        kind = "destination" if label == "dst" else "source"
        raise ValueError(
            f"Invalid {kind} rank: {kind} rank should not be the same as the rank of the "
            f"current process."
        )
    if not 0 <= peer < pg.size():
        raise ValueError(f"{what}: invalid {label} rank {peer} for a group of {pg.size()}")
    return peer


def isend(tensor: Tensor, dst: int | None = None, group=None, tag: int = 0, group_dst=None):
    """Send ``tensor`` to rank ``dst``; returns a Work."""
    _check_tensor(tensor, "tensor")
    pg = _default_group(group)
    peer = _peer(pg, dst, group_dst, "send", "dst")
    eng = _engine(pg, "send", tensor)
    a = _Arrays(tensor, eng, "send")
    what = f"send to rank {pg._ranks[peer]}"
    return _issue(pg, eng, what, lambda: eng.send(a.array, peer, tag), True, tensor)


def send(tensor: Tensor, dst: int | None = None, group=None, tag: int = 0, group_dst=None):
    """Send ``tensor`` to rank ``dst`` and return when it was sent."""
    isend(tensor, dst, group, tag, group_dst).wait()


def irecv(tensor: Tensor, src: int | None = None, group=None, tag: int = 0, group_src=None) -> Work:
    """Receive into ``tensor`` from rank ``src`` (any rank when None); returns a Work."""
    _check_tensor(tensor, "tensor")
    pg = _default_group(group)
    peer = None if src is None and group_src is None else _peer(pg, src, group_src, "recv", "src")
    eng = _engine(pg, "recv", tensor)
    a = _Arrays(tensor, eng, "recv")
    a.modified()
    work = Work(f"ProcessGroup{_name(pg)}: recv", tensor, eng.timeout_s)

    def job():
        got = eng.recv(a.array, peer, tag)
        a.write_back()
        if not getattr(eng, "stream_ordered", False):
            work._source = pg._ranks[got]
            return None
        work._source = pg._ranks[peer]
        return got

    if getattr(eng, "stream_ordered", False):
        work._finish = pg._queue.run_now(job)
        work._complete()
        return work
    return pg._queue.submit(job, work)


def recv(tensor: Tensor, src: int | None = None, group=None, tag: int = 0, group_src=None) -> int:
    """Receive into ``tensor``; returns the sender's rank."""
    work = irecv(tensor, src, group, tag, group_src)
    work.wait()
    return work._source
