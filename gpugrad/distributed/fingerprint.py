"""The check every collective starts with: all ranks run the same collective on tensors of
the same dtype and shape (PyTorch's TORCH_DISTRIBUTED_DEBUG=DETAIL check, always on).

Each rank contributes one row of int64s; a mismatch gives every rank the same error,
naming the collective each rank is in, instead of a hang or a silently wrong result.
"""

from __future__ import annotations

import numpy as np

# PyTorch's scalar-type names for the NumPy/CuPy dtypes a tensor can hold
_DTYPES = [
    ("float16", "Half"),
    ("float32", "Float"),
    ("float64", "Double"),
    ("int8", "Char"),
    ("int16", "Short"),
    ("int32", "Int"),
    ("int64", "Long"),
    ("uint8", "Byte"),
    ("bool", "Bool"),
    ("complex64", "ComplexFloat"),
    ("complex128", "ComplexDouble"),
    ("uint16", "UInt16"),
    ("uint32", "UInt32"),
    ("uint64", "UInt64"),
]
_DTYPE_CODE = {np.dtype(n): i for i, (n, _) in enumerate(_DTYPES)}
# PyTorch's OpType names, and the call each one is
_OPS = {
    "ALLREDUCE": "all_reduce",
    "BROADCAST": "broadcast",
    "REDUCE": "reduce",
    "ALLGATHER": "all_gather",
    "_ALLGATHER_BASE": "all_gather_into_tensor",
    "_REDUCE_SCATTER_BASE": "reduce_scatter_tensor",
    "GATHER": "gather",
    "SCATTER": "scatter",
    "BARRIER": "barrier",
    "ALLGATHER_OBJECT": "all_gather_object",
    "BROADCAST_OBJECT": "broadcast_object_list",
}
_OP_NAMES = list(_OPS)
_MAX_DIMS = 8
_ROW = 6 + _MAX_DIMS


def check(pg, engine, op_type: str, arr=None, reduce_op=None, root: int = -1) -> None:
    """Exchange this rank's fingerprint; raise on every rank if any two differ."""
    seq = pg._seq
    pg._seq += 1
    row = np.full(_ROW, -1, np.int64)
    row[0] = seq
    row[1] = _OP_NAMES.index(op_type)
    row[2] = -1 if reduce_op is None else reduce_op.value
    row[3] = root
    if arr is not None:
        shape = tuple(arr.shape)
        row[4] = _DTYPE_CODE.get(np.dtype(arr.dtype), 99)
        row[5] = len(shape)
        dims = list(shape[: _MAX_DIMS - 1])
        if len(shape) >= _MAX_DIMS:  # the rest folded into one number
            dims.append(hash(shape[_MAX_DIMS - 1 :]) & (2**62 - 1))
        row[6 : 6 + len(dims)] = dims
    rows = engine.exchange(row, f"{_OPS[op_type]} (collective number {seq} of the group)")
    if (rows != rows[0]).any():
        bad = int(np.nonzero((rows != rows[0]).any(axis=1))[0][0])
        raise RuntimeError(
            f"Detected mismatch between collectives on ranks. Rank 0 is running collective: "
            f"{_describe(rows[0])}, but Rank {bad} is running collective: {_describe(rows[bad])}."
        )


def _describe(row: np.ndarray) -> str:
    parts = [f"SequenceNumber={row[0]}", f"OpType={_OP_NAMES[row[1]]}"]
    if row[4] >= 0:
        ndim = int(row[5])
        dims = [str(int(d)) for d in row[6 : 6 + min(ndim, _MAX_DIMS - 1)]]
        if ndim >= _MAX_DIMS:
            dims.append("...")
        parts.append(f"TensorShape=[{', '.join(dims)}]")
        parts.append(f"TensorDtypes={_DTYPES[row[4]][1] if row[4] < len(_DTYPES) else '?'}")
    if row[2] >= 0:
        from .reduce_op import RedOpType

        parts.append(f"ReduceOp={RedOpType(int(row[2])).name}")
    if row[3] >= 0:
        parts.append(f"Root={row[3]}")
    return f"CollectiveFingerPrint({', '.join(parts)})"
