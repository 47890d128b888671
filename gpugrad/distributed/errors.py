"""The errors gpugrad.distributed raises besides PyTorch's ValueError/TypeError/RuntimeError."""

from __future__ import annotations


class DistTimeoutError(RuntimeError):
    """A collective's ranks did not all arrive within the process group's timeout.

    The group cannot be used afterwards (its engine may still wait for the missing ranks);
    left uncaught, it ends the job.
    """
