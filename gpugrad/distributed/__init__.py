"""``gpugrad.distributed``: PyTorch's ``torch.distributed`` on MPI (cpu) and NCCL (cuda).

Backends: "mpi" for cpu tensors (mpi4py with the mpich wheel), also reached by the name
"gloo" so PyTorch scripts run unchanged (gloo itself is not used); "nccl" for cuda
tensors (CuPy's NCCL). Start jobs with ``python -m gpugrad.distributed.run
--nproc-per-node N script.py`` (torchrun's flags) or ``mpiexec -n N python script.py``.
Importing this package loads no engine; the first ``init_process_group`` does.
"""

from __future__ import annotations

from .collectives import (
    all_gather,
    all_gather_into_tensor,
    all_reduce,
    barrier,
    broadcast,
    gather,
    irecv,
    isend,
    recv,
    reduce,
    reduce_scatter_tensor,
    scatter,
    send,
)
from .errors import DistTimeoutError
from .object_collectives import (
    all_gather_object,
    broadcast_object_list,
    gather_object,
    scatter_object_list,
)
from .process_group import (
    Backend,
    GroupMember,
    ProcessGroup,
    default_pg_timeout,
    destroy_process_group,
    get_backend,
    get_process_group_ranks,
    get_rank,
    get_world_size,
    init_process_group,
    is_available,
    is_gloo_available,
    is_initialized,
    is_mpi_available,
    is_nccl_available,
    is_torchelastic_launched,
    new_group,
)
from .reduce_op import ReduceOp
from .work import Work

DistError = RuntimeError  # PyTorch's base of distributed errors (a RuntimeError there too)
DistBackendError = DistTimeoutError

__all__ = [
    "Backend",
    "DistBackendError",
    "DistError",
    "GroupMember",
    "ProcessGroup",
    "ReduceOp",
    "Work",
    "all_gather",
    "all_gather_into_tensor",
    "all_gather_object",
    "all_reduce",
    "barrier",
    "broadcast",
    "broadcast_object_list",
    "default_pg_timeout",
    "destroy_process_group",
    "gather",
    "gather_object",
    "get_backend",
    "get_process_group_ranks",
    "get_rank",
    "get_world_size",
    "init_process_group",
    "irecv",
    "is_available",
    "is_gloo_available",
    "is_initialized",
    "is_mpi_available",
    "is_nccl_available",
    "is_torchelastic_launched",
    "isend",
    "new_group",
    "recv",
    "reduce",
    "reduce_scatter_tensor",
    "scatter",
    "scatter_object_list",
    "send",
]
