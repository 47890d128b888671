"""``torch.sparse``: products and sums of sparse COO tensors (see gpugrad/ops/sparse.py)."""

from __future__ import annotations

import warnings

from .. import _warn
from .._tensor import Tensor
from ..ops.sparse import sparse_coo_tensor
from ..ops.sparse import sparse_mm as mm
from ..ops.sparse import sparse_sum as sum  # noqa: A004 - PyTorch's name

__all__ = ["addmm", "check_sparse_tensor_invariants", "mm", "sum"]

_LEGACY_NAMES = (
    "FloatTensor",
    "DoubleTensor",
    "HalfTensor",
    "LongTensor",
    "IntTensor",
    "ShortTensor",
    "CharTensor",
    "ByteTensor",
)


def _legacy_constructor(name: str):
    def make(indices: Tensor, values: Tensor, size=None, *, device=None) -> Tensor:
        _warn.warn(
            "torch.sparse.SparseTensor(indices, values, shape, *, device=) is deprecated.  "
            "Please use torch.sparse_coo_tensor(indices, values, shape, dtype=, device=).",
            UserWarning,
        )
        return sparse_coo_tensor(indices, values, size, device=device)

    make.__name__ = make.__qualname__ = name
    make.__doc__ = (
        f"PyTorch's legacy ``torch.sparse.{name}(indices, values, size)``, as old graph "
        "network code calls it: ``sparse_coo_tensor`` (keeping the values' dtype, as PyTorch)."
    )
    return make


for _name in _LEGACY_NAMES:
    globals()[_name] = _legacy_constructor(_name)


def addmm(mat: Tensor, mat1: Tensor, mat2: Tensor, *, beta: float = 1.0, alpha: float = 1.0):
    """``beta * mat + alpha * (mat1 @ mat2)`` with a sparse COO ``mat1``."""
    product = mm(mat1, mat2)
    if alpha != 1:
        product = product * alpha
    return product + (mat if beta == 1 else mat * beta)


class check_sparse_tensor_invariants:
    """PyTorch's switch for checking indices at construction: gpugrad always checks them
    (an out-of-range index is an error at ``sparse_coo_tensor``), so this changes nothing."""

    def __init__(self, enable: bool = True) -> None:
        pass

    @staticmethod
    def is_enabled() -> bool:
        return True

    @staticmethod
    def enable() -> None:
        pass

    @staticmethod
    def disable() -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    def __call__(self, fn):
        return fn
