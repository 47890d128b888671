"""The deprecated ``size_average`` / ``reduce`` loss flags, mapped onto ``reduction`` as PyTorch's
``torch.nn._reduction`` does (for ``nn.functional``'s losses and ``nn``'s loss modules)."""

from __future__ import annotations

from .. import _warn


def legacy_reduction(size_average, reduce, reduction: str) -> str:
    """``reduction`` itself when neither legacy flag is given; else PyTorch's mapping of the
    two flags (with its deprecation warning, pointed at the caller's caller)."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    ret = "mean" if size_average and reduce else "sum" if reduce else "none"
    _warn.warn(
        f"size_average and reduce args will be deprecated, please use reduction='{ret}' instead."
    )
    return ret
