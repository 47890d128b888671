"""Process groups: the default (world) group set up by ``init_process_group``, and others.

The MPI launcher (hydra's ``mpiexec``, started by ``gpugrad.distributed.run`` or by hand)
owns process start-up and rendezvous, so ``init_method``, ``store``, MASTER_ADDR and
MASTER_PORT are accepted for PyTorch scripts but not needed: MPI's COMM_WORLD says who
the ranks are. RANK and WORLD_SIZE, when set, must agree with it.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from datetime import timedelta

from .mpi_engine import MPIEngine, load_mpi
from .work import OrderedQueue

default_pg_timeout = timedelta(minutes=30)


class Backend(str):
    """A backend name, lower case: ``Backend("GLOO") == "gloo"``."""

    UNDEFINED = "undefined"
    GLOO = "gloo"
    NCCL = "nccl"
    MPI = "mpi"

    def __new__(cls, name: str) -> Backend:
        if not isinstance(name, str):
            raise ValueError(f"Backend constructor parameter must be string-ish, got {name!r}")
        value = name.lower()
        if value not in (cls.GLOO, cls.NCCL, cls.MPI) and ":" not in value:
            raise ValueError(
                f"Invalid backend: '{name}'; gpugrad.distributed runs 'mpi' (cpu tensors, "
                f"'gloo' is accepted as its name), 'nccl' (cuda tensors) or a mapping such "
                f"as 'cpu:gloo,cuda:nccl'"
            )
        return super().__new__(cls, value)


def _engines_by_device(name: str) -> dict[str, str]:
    """{'cpu': 'mpi', 'cuda': 'nccl'} style mapping from a backend string."""
    if ":" not in name:
        return {"cuda": "nccl"} if name == "nccl" else {"cpu": "mpi"}
    out = {}
    for part in name.split(","):
        dev, _, eng = part.partition(":")
        dev, eng = dev.strip(), eng.strip()
        if dev not in ("cpu", "cuda") or eng not in ("gloo", "mpi", "nccl"):
            raise ValueError(f"Invalid backend mapping entry '{part}' in '{name}'")
        if (dev == "cuda") != (eng == "nccl"):
            raise ValueError(
                f"'{part}': gpugrad.distributed serves cpu tensors with mpi (or its name gloo) "
                f"and cuda tensors with nccl"
            )
        out[dev] = "nccl" if eng == "nccl" else "mpi"
    return out


class ProcessGroup:
    """A set of ranks that run collectives together (PyTorch's ``ProcessGroup``)."""

    def __init__(self, backend: str, engines: dict, ranks: list[int], queue: OrderedQueue):
        self._backend = backend
        self._engines = engines  # device type -> engine
        self._ranks = ranks  # global ranks, in group-rank order
        self._queue = queue
        self._seq = 0  # collectives issued, for the fingerprint
        self._rank = next(iter(engines.values())).rank
        self._size = len(ranks)

    def rank(self) -> int:
        return self._rank

    def size(self) -> int:
        return self._size

    def name(self) -> str:
        return self._backend

    def engine_for(self, device_type: str, what: str):
        eng = self._engines.get(device_type)
        if eng is None:
            served = ", ".join(f"{d} tensors ({e.name})" for d, e in self._engines.items())
            raise RuntimeError(
                f"{what}: No backend type associated with device type {device_type}: the "
                f"process group's backend '{self._backend}' serves {served}; use "
                f"{'nccl' if device_type == 'cuda' else 'mpi (or gloo)'} for {device_type} "
                f"tensors, or a mapping such as 'cpu:gloo,cuda:nccl'"
            )
        return eng

    def group_rank(self, global_rank: int, what: str) -> int:
        if global_rank not in self._ranks:
            raise ValueError(
                f"{what}: rank {global_rank} is not part of the group (ranks {self._ranks})"
            )
        return self._ranks.index(global_rank)

    def __repr__(self) -> str:
        return f"<gpugrad.distributed.ProcessGroup {self._backend} ranks={self._ranks}>"


class GroupMember:
    """PyTorch's markers: ``WORLD`` is the default group; ``NON_GROUP_MEMBER`` is what
    ``new_group`` returns on a rank outside the new group."""

    WORLD: ProcessGroup | None = None
    NON_GROUP_MEMBER = object()


class _State:
    default: ProcessGroup | None = None
    groups: list = []
    queue: OrderedQueue | None = None
    hook_installed = False
    switch_interval: float | None = None  # the interpreter's, restored by destroy


# How soon a waiting thread gets the GIL from a running one. CPython's 5 ms would let a
# bucket's all-reduce start only ~5 ms after backward made it ready (measured: 5-7 ms;
# 1-2 ms at this value), so the communication thread could not overlap backward.
SWITCH_INTERVAL_S = 0.0005


_state = _State()
_lock = threading.Lock()


def is_available() -> bool:
    """True: gpugrad.distributed is importable everywhere; engines are loaded on use."""
    return True


def is_mpi_available() -> bool:
    """Whether mpi4py (the engine of the mpi and gloo backends) can be imported."""
    import importlib.util

    return importlib.util.find_spec("mpi4py") is not None


def is_gloo_available() -> bool:
    """gloo runs on MPI here: available when MPI is."""
    return is_mpi_available()


def is_nccl_available() -> bool:
    """Whether CuPy's NCCL bindings load (they need the nvidia-nccl wheel and a GPU build)."""
    from .nccl_engine import nccl_status

    return nccl_status() == ""


def is_initialized() -> bool:
    return _state.default is not None


def is_torchelastic_launched() -> bool:
    """True when started by ``gpugrad.distributed.run`` (as torchrun sets it)."""
    return os.environ.get("TORCHELASTIC_RUN_ID") is not None


def _default_group(group=None) -> ProcessGroup:
    if group is GroupMember.NON_GROUP_MEMBER:
        raise ValueError("this rank is not a member of the group")
    if group is not None:
        return group
    if _state.default is None:
        raise ValueError(
            "Default process group has not been initialized, please make sure to call "
            "init_process_group."
        )
    return _state.default


def _timeout_seconds(timeout) -> float:
    if timeout is None:
        return default_pg_timeout.total_seconds()
    s = timeout.total_seconds() if hasattr(timeout, "total_seconds") else float(timeout)
    if s <= 0:
        raise ValueError(f"timeout must be positive, got {timeout}")
    return s


def init_process_group(
    backend: str | None = None,
    init_method: str | None = None,
    timeout: timedelta | None = None,
    world_size: int = -1,
    rank: int = -1,
    store=None,
    group_name: str = "",
    pg_options=None,
    device_id=None,
) -> None:
    """Join this process to the job's default group (PyTorch's arguments).

    ``backend``: "mpi" or "gloo" (cpu tensors, on MPI), "nccl" (cuda tensors), a mapping
    "cpu:gloo,cuda:nccl", or None (nccl when the default device is cuda, else mpi).
    """
    with _lock:
        if _state.default is not None:
            raise ValueError("trying to initialize the default process group twice!")
        if backend is None:
            import gpugrad

            backend = "nccl" if gpugrad.get_default_device().type == "cuda" else "mpi"
        name = Backend(backend)
        by_device = _engines_by_device(name)
        timeout_s = _timeout_seconds(timeout)
        MPI = load_mpi()  # noqa: N806 - the module's own name
        world = MPI.COMM_WORLD
        _check_launch(world.Get_size(), world.Get_rank(), world_size, rank)
        engines: dict = {}
        try:
            if "cpu" in by_device:
                engines["cpu"] = MPIEngine(world.Dup(), timeout_s)
            if "cuda" in by_device:
                from .nccl_engine import NCCLEngine

                engines["cuda"] = NCCLEngine(MPIEngine(world.Dup(), timeout_s), device_id)
        except BaseException:
            for eng in engines.values():  # a failed start leaves nothing behind
                eng.close()
            raise
        queue = _state.queue = _state.queue or OrderedQueue("comm")
        if sys.getswitchinterval() > SWITCH_INTERVAL_S:
            _state.switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(SWITCH_INTERVAL_S)
        group = ProcessGroup(name, engines, list(range(world.Get_size())), queue)
        _state.default = GroupMember.WORLD = group
        _state.groups = [group]
        if not _state.hook_installed and world.Get_size() > 1:
            _install_abort_on_error(MPI)
            _state.hook_installed = True


def _check_launch(mpi_size: int, mpi_rank: int, world_size: int, rank: int) -> None:
    """RANK / WORLD_SIZE (arguments or environment) must describe the MPI job that runs."""
    env_size, env_rank = os.environ.get("WORLD_SIZE"), os.environ.get("RANK")
    want_size = world_size if world_size != -1 else (int(env_size) if env_size else mpi_size)
    want_rank = rank if rank != -1 else (int(env_rank) if env_rank else mpi_rank)
    if want_size != mpi_size:
        raise RuntimeError(
            f"world_size is {want_size} but MPI started {mpi_size} process"
            f"{'es' if mpi_size != 1 else ''}: start the job with "
            f"`python -m gpugrad.distributed.run --nproc-per-node {want_size} script.py` "
            f"or `mpiexec -n {want_size} python script.py`"
        )
    if want_rank != mpi_rank:
        raise RuntimeError(
            f"rank is {want_rank} but MPI gave this process rank {mpi_rank}: gpugrad takes "
            f"the rank from the MPI launcher"
        )


def _install_abort_on_error(MPI) -> None:  # noqa: N803
    """An uncaught error on one rank ends the whole job (after printing its traceback):
    otherwise the other ranks would wait for it in their next collective forever."""
    previous = sys.excepthook

    def hook(kind, value, tb):
        previous(kind, value, tb)
        rank = MPI.COMM_WORLD.Get_rank()
        sys.stderr.write(f"gpugrad.distributed: rank {rank} raised {kind.__name__}; ending job\n")
        sys.stderr.flush()
        sys.stdout.flush()
        time.sleep(0.3)  # let mpiexec's proxy forward the traceback before Abort kills it
        MPI.COMM_WORLD.Abort(1)

    sys.excepthook = hook


def destroy_process_group(group: ProcessGroup | None = None) -> None:
    """Release a group (the default one and every other when ``group`` is None)."""
    with _lock:
        if group is None:
            if _state.default is None:
                raise ValueError(
                    "Default process group has not been initialized, please make sure to "
                    "call init_process_group."
                )
            groups, _state.groups = _state.groups, []
            _state.default = GroupMember.WORLD = None
            if _state.queue is not None:
                _state.queue.close()
                _state.queue = None
            if _state.switch_interval is not None:
                sys.setswitchinterval(_state.switch_interval)
                _state.switch_interval = None
        else:
            groups = [group]
            _state.groups = [g for g in _state.groups if g is not group]
        for g in groups:
            for eng in g._engines.values():
                eng.close()


def new_group(ranks=None, timeout=None, backend=None, pg_options=None, **kwargs):
    """A group of ``ranks`` (all ranks when None); every rank of the world must call it."""
    world = _default_group()
    size = world.size()
    members = list(range(size)) if ranks is None else sorted(int(r) for r in ranks)
    for r in members:
        if not 0 <= r < size:
            raise ValueError(f"new_group: rank {r} is out of range for world size {size}")
    name = Backend(backend) if backend is not None else world._backend
    by_device = _engines_by_device(name)
    engines = {}
    for dev in by_device:
        base = world.engine_for(dev, "new_group")
        if dev == "cuda":
            if len(members) != size:
                raise RuntimeError("new_group: nccl groups must hold every rank here")
            engines[dev] = base  # the world's communicator: same ranks, same order
        else:
            sub = base.split(members)
            if sub is not None and timeout is not None:
                sub.timeout_s = _timeout_seconds(timeout)
            engines[dev] = sub
    if any(e is None for e in engines.values()):
        return GroupMember.NON_GROUP_MEMBER
    group = ProcessGroup(name, engines, members, world._queue)
    _state.groups.append(group)
    return group


def get_rank(group: ProcessGroup | None = None) -> int:
    """This process's rank in ``group`` (-1 outside it)."""
    if group is GroupMember.NON_GROUP_MEMBER:
        return -1
    return _default_group(group).rank()


def get_world_size(group: ProcessGroup | None = None) -> int:
    if group is GroupMember.NON_GROUP_MEMBER:
        return -1
    return _default_group(group).size()


def get_backend(group: ProcessGroup | None = None) -> str:
    """The backend's name as given ('gloo' stays 'gloo' though MPI runs it)."""
    return str(_default_group(group)._backend)


def get_process_group_ranks(group: ProcessGroup) -> list[int]:
    return list(_default_group(group)._ranks)
