"""Collectives on picklable Python objects (PyTorch's ``*_object`` calls).

Objects travel pickled, as in PyTorch: only exchange objects with ranks of your own job,
since unpickling runs code the sender chose. They move as bytes over the cpu engine (MPI)
whatever the group's tensor backend.
"""

from __future__ import annotations

import pickle
from typing import Any

from . import fingerprint
from .process_group import _default_group


def _host_engine(pg):
    eng = pg._engines.get("cpu")
    return eng if eng is not None else pg._engines["cuda"].host


def all_gather_object(object_list: list, obj: Any, group=None) -> None:
    """Every rank's ``obj`` into ``object_list[rank]``, on every rank."""
    pg = _default_group(group)
    if len(object_list) != pg.size():
        raise ValueError(
            f"all_gather_object: object_list must have length {pg.size()} (the group's "
            f"size), got {len(object_list)}"
        )
    eng = _host_engine(pg)
    data = pickle.dumps(obj)

    def job():
        fingerprint.check(pg, eng, "ALLGATHER_OBJECT")
        return eng.all_gather_bytes(data)

    for i, b in enumerate(pg._queue.run_now(job)):
        object_list[i] = pickle.loads(b)


def broadcast_object_list(
    object_list: list, src: int | None = None, group=None, device=None, group_src=None
) -> None:
    """Replace ``object_list``'s items with rank ``src``'s, on every rank."""
    pg = _default_group(group)
    if group_src is not None:
        root = int(group_src)
    else:
        root = pg.group_rank(0 if src is None else int(src), "broadcast_object_list")
    eng = _host_engine(pg)
    data = pickle.dumps(list(object_list)) if pg.rank() == root else None

    def job():
        fingerprint.check(pg, eng, "BROADCAST_OBJECT", root=root)
        return eng.broadcast_bytes(data, root)

    got = pickle.loads(pg._queue.run_now(job))
    if len(got) != len(object_list):
        raise RuntimeError(
            f"broadcast_object_list: rank {pg._ranks[root]} sent {len(got)} objects, this "
            f"rank's list has {len(object_list)}"
        )
    object_list[:] = got


def gather_object(obj: Any, object_gather_list: list | None = None, dst: int = 0, group=None):
    """Every rank's ``obj`` into rank ``dst``'s ``object_gather_list``."""
    pg = _default_group(group)
    gathered = [None] * pg.size()
    all_gather_object(gathered, obj, group)  # small objects: all-gather is simplest
    if pg.rank() == pg.group_rank(dst, "gather_object"):
        if object_gather_list is None or len(object_gather_list) != pg.size():
            raise ValueError(
                "Argument ``object_gather_list`` must be specified on destination rank, with "
                "one slot per rank."
            )
        object_gather_list[:] = gathered


def scatter_object_list(
    scatter_object_output_list: list,
    scatter_object_input_list: list | None = None,
    src: int = 0,
    group=None,
) -> None:
    """Rank ``src``'s ``scatter_object_input_list[r]`` into rank r's output list's slot 0."""
    pg = _default_group(group)
    root = pg.group_rank(src, "scatter_object_list")
    if not isinstance(scatter_object_output_list, list) or not scatter_object_output_list:
        raise ValueError(
            "Expected argument scatter_object_output_list to be a list of size at least 1."
        )
    objs = [None]
    if pg.rank() == root:
        if scatter_object_input_list is None or len(scatter_object_input_list) != pg.size():
            raise ValueError(
                "scatter_object_list: the source rank needs one input object per rank "
                f"({pg.size()})"
            )
        objs = [list(scatter_object_input_list)]
    broadcast_object_list(objs, src=src, group=group)  # small objects: every rank picks its own
    scatter_object_output_list[0] = objs[0][pg.rank()]
