"""``ReduceOp``: how a collective combines the ranks' tensors (PyTorch's names and values)."""

from __future__ import annotations

import enum


class RedOpType(enum.Enum):
    """One reduction; ``ReduceOp.SUM`` and the others are its members."""

    SUM = 0
    AVG = 1
    PRODUCT = 2
    MIN = 3
    MAX = 4
    BAND = 5
    BOR = 6
    BXOR = 7
    PREMUL_SUM = 8


class ReduceOp:
    """PyTorch's ``torch.distributed.ReduceOp``: ``ReduceOp.SUM``, ``AVG``, ``PRODUCT`` ..."""

    RedOpType = RedOpType
    SUM = RedOpType.SUM
    AVG = RedOpType.AVG
    PRODUCT = RedOpType.PRODUCT
    MIN = RedOpType.MIN
    MAX = RedOpType.MAX
    BAND = RedOpType.BAND
    BOR = RedOpType.BOR
    BXOR = RedOpType.BXOR
    PREMUL_SUM = RedOpType.PREMUL_SUM


def as_reduce_op(op) -> RedOpType:
    """``op`` as a RedOpType; PyTorch's TypeError for anything else (a string included)."""
    if isinstance(op, RedOpType):
        if op is RedOpType.PREMUL_SUM:
            raise ValueError("ReduceOp.PREMUL_SUM is not supported by gpugrad.distributed")
        return op
    raise TypeError(
        f"op must be a gpugrad.distributed.ReduceOp (ReduceOp.SUM, AVG, PRODUCT, MIN, MAX, "
        f"BAND, BOR, BXOR), got {op!r}"
    )
